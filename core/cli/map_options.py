"""The map step shared by `prepare` and `despeckle` of a product: --geocode, --dem, --rtc, --crs, --resolution.

`geometry_step` turns the options into the function core.products.chain runs after the radar-geometry stage
(core.products.geocode without a DEM, core.products.terrain with one); nothing heavy is imported until a map step
is asked for, so `despeckle --help` stays light.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from core.cli.args import positive_float
from core.errors import UserError

if TYPE_CHECKING:
    from core.products.chain import GeometryStep


def add_map_options(p) -> None:
    """--geocode, --dem, --rtc, --crs, --resolution: the map step of `prepare` and of `despeckle` on a product."""
    p.add_argument(
        "--geocode",
        action="store_true",
        help="north-up map grid through the product's geolocation grid (thin-plate spline, no DEM)",
    )
    p.add_argument("--dem", metavar="DEM", help="terrain correction with this DEM (any raster GDAL reads)")
    p.add_argument("--rtc", action="store_true", help="with --dem: radiometric terrain flattening (gamma0_T)")
    p.add_argument("--crs", help="map CRS, e.g. EPSG:32632 (default: UTM zone of the scene; with --dem: the DEM's)")
    p.add_argument(
        "--resolution",
        type=positive_float,
        metavar="M",
        help="pixel size in CRS units (default: the product's / the DEM's)",
    )


def wants_map(args: argparse.Namespace) -> bool:
    return bool(args.geocode or args.dem or args.rtc or args.crs is not None or args.resolution is not None)


def geometry_step(args: argparse.Namespace, product: str | None = None, cog: bool = False) -> GeometryStep | None:
    """The map step `prepare` (and `despeckle` of a product) runs after radar geometry, from --geocode / --dem /
    --rtc / --crs / --resolution; None when none is asked. Checks what it can before any work starts.
    `product`: the product (default args.product); `cog`: the map step writes the COG itself."""
    product = product or args.product
    dem, rtc = getattr(args, "dem", None), getattr(args, "rtc", False)
    crs, resolution = getattr(args, "crs", None), getattr(args, "resolution", None)
    if rtc and dem is None:
        raise UserError("--rtc flattens the terrain of a DEM; give --dem DEM.tif as well.")
    if dem is None and not getattr(args, "geocode", False):
        if crs is not None or resolution is not None:
            raise UserError("--crs and --resolution apply to a map output; add --geocode or --dem DEM.tif.")
        return None
    if dem is not None:
        from core.products.terrain import read_radar_geometry, terrain_correct  # noqa: PLC0415 - start-up: the terrain chain loads numpy and core.io; `--help` does not

        if not Path(dem).is_file():
            raise UserError(f"{Path(dem).name}: DEM not found; check the path.")
        read_radar_geometry(product)  # GRD with orbit, timing and range conversion, or one line now

        def terrain(radar: Path, out: Path, progress) -> None:
            terrain_correct(product, radar, out, dem, rtc=rtc, crs=crs, resolution=resolution, progress=progress)

        return terrain
    from core.products.geocode import geocode_raster  # noqa: PLC0415 - start-up: geocoding loads numpy and core.io; `--help` does not

    def geocode(radar: Path, out: Path, progress) -> None:
        geocode_raster(radar, out, crs=crs, resolution=resolution, cog=cog, progress=progress)

    return geocode
