"""The map step shared by `prepare` and `despeckle` of a product: --geocode, --dem, --rtc, --crs, --resolution.

`map_step` turns the options into the function core.products.chain runs after the radar-geometry stage through
core.products.jobs.geometry_step, the page's function too (core.products.geocode without a DEM,
core.products.terrain with one); nothing heavy is imported until a map step is asked for, so `despeckle --help`
stays light.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from core.cli.args import positive_float
from core.products.jobs import StepWords, geometry_step

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


CLI_WORDS = StepWords(
    "--rtc flattens the terrain of a DEM; give --dem DEM.tif as well.",
    "--rtc flattens beta0; drop --calibration {calibration}.",
    "--crs and --resolution apply to a map output; add --geocode or --dem DEM.tif.",
)


def map_step(args: argparse.Namespace, product: str | None = None, cog: bool = False) -> GeometryStep | None:
    """The map step `prepare` (and `despeckle` / `translate` of a product) runs after radar geometry, from
    --geocode / --dem / --rtc / --crs / --resolution (core.products.jobs.geometry_step, the page's too); None when
    none is asked. `product`: the product (default args.product); `cog`: the map step writes the COG itself."""
    rtc = getattr(args, "rtc", False)
    return geometry_step(
        product or args.product,
        geocode=getattr(args, "geocode", False),
        dem=getattr(args, "dem", None),
        rtc=rtc,
        calibration="beta0" if rtc else "sigma0",  # the commands refuse --rtc with another calibration first
        crs=getattr(args, "crs", None),
        resolution=getattr(args, "resolution", None),
        cog=cog,
        words=CLI_WORDS,
    )
