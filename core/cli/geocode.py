"""`python -m core geocode SRC DST [--crs C] [--resolution M] [--db] [--cog] [--dem DEM [--rtc] [--product P]]`.

Without --dem: a radar-geometry raster with GCPs (or a Sentinel-1 product, calibrated as `despeckle` reads it) onto
a north-up map grid through its geolocation grid (thin-plate spline), streamed: core.products.geocode.
With --dem: terrain correction onto the DEM's grid (or --crs/--resolution) from the product's orbit, optionally
terrain-flattened (--rtc, gamma0_T from beta0): core.products.terrain. SRC is the product, or a radar-geometry
raster made from the product named by --product.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from core import io as sio
from core.errors import UserError
from core.files import check_outputs
from core.io.products import safe_manifest
from core.products.geocode import RESAMPLINGS, geocode_raster
from core.products.terrain import terrain_correct
from core.progress import add_progress_option, cli_progress


def add_cli(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "geocode",
        help="radar geometry (GCPs) to a north-up map grid through the geolocation grid, without a DEM",
        description="Geocode SRC (a GeoTIFF with GCPs, e.g. written by `prepare`, or a Sentinel-1 product) onto a "
        "north-up grid through its ground control points with a thin-plate spline (exact at every point). "
        "Between the points this is not terrain-corrected. Nodata (NaN) outside the swath. With --dem: terrain "
        "correction from the product's orbit onto the DEM's grid (or --crs/--resolution), --rtc for gamma0_T.",
    )
    p.add_argument("src", metavar="SRC", help="raster with GCPs, or a Sentinel-1 product (.SAFE, manifest.safe, .zip)")
    p.add_argument("dst", metavar="DST", help="output GeoTIFF (float32, NaN nodata)")
    p.add_argument("--crs", help="target CRS, e.g. EPSG:32632 (default: the UTM zone of the scene's centre)")
    p.add_argument(
        "--resolution", type=float, help="pixel size in the CRS's units (default: the input's pixel spacing)"
    )
    p.add_argument("--db", action="store_true", help="write 10·log10 of the values (converted after resampling)")
    p.add_argument("--cog", action="store_true", help="write a Cloud-Optimized GeoTIFF with overviews")
    p.add_argument(
        "--resampling", choices=list(RESAMPLINGS), default="bilinear", help="bilinear (on linear values) or nearest"
    )
    p.add_argument(
        "--calibration",
        choices=list(sio.CALIBRATIONS),
        help="Sentinel-1 products: sigma0 (default), beta0, gamma0 or none",
    )
    p.add_argument("--pol", default="all", help="polarisation: VV, VH, ... or all (default)")
    p.add_argument("--swath", help="SLC products: the swath (IW1, IW2, IW3, ...)")
    p.add_argument(
        "--noise", choices=["remove", "keep"], help="Sentinel-1 products: thermal noise, remove (default) or keep"
    )
    p.add_argument("--dem", help="terrain-correct with this DEM (any raster GDAL reads; heights in metres)")
    p.add_argument("--rtc", action="store_true", help="with --dem: radiometric terrain flattening (gamma0_T)")
    p.add_argument(
        "--product", help="with --dem and a radar-geometry SRC: the Sentinel-1 product it was made from (orbit, timing)"
    )
    add_progress_option(p)
    p.set_defaults(func=run)


# GDAL's block cache defaults to 5 % of RAM and fills with every block read and written, so a process's peak RSS
# grows with the scene (bench/RESULTS.md "geocode": 336 -> 192 MB for an 8192² block copy with 64 MB). One command
# per process here, so the cap is set for the whole run.
GDAL_CACHE_MB = 64


def run(args: argparse.Namespace) -> int:
    import rasterio  # heavy: only this command's run needs it here

    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB * 1024 * 1024):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    check_outputs([(Path(args.src), Path(args.dst))])  # not the input, a file path, a writable folder
    if args.dem is None and (args.rtc or args.product):
        raise UserError("--rtc and --product belong to terrain correction; give --dem DEM.tif as well.")
    if args.dem is not None:
        return _terrain(args)
    with sio.open_source(
        args.src, calibration=args.calibration, pol=args.pol, swath=args.swath, noise=args.noise
    ) as source:
        with cli_progress(f"geocode {source.name}", unit="block", force=args.progress) as bar:
            result = geocode_raster(
                source,
                args.dst,
                crs=args.crs,
                resolution=args.resolution,
                db=args.db,
                cog=args.cog,
                resampling=args.resampling,
                progress=bar,
            )
    print(result.summary())
    return 0


def _terrain(args: argparse.Namespace) -> int:
    src_is_product = safe_manifest(Path(args.src)) is not None
    product = args.src if src_is_product else args.product
    if product is None:
        raise UserError(
            f"{Path(args.src).name} is not a Sentinel-1 product; with --dem give --product PRODUCT (the product "
            "it was made from), or give the product itself as SRC."
        )
    if args.swath is not None or args.resampling != "bilinear":
        raise UserError("--swath and --resampling are not used by terrain correction (GRD, bilinear); drop them.")
    pol = None if args.pol.lower() == "all" else args.pol
    if src_is_product:
        calibration = args.calibration or ("beta0" if args.rtc else "sigma0")
        radar = sio.open_source(args.src, calibration=calibration, pol=args.pol, noise=args.noise)
    else:
        if args.calibration is not None or args.noise is not None:
            raise UserError(
                "--calibration and --noise apply to a product SRC; the radar-geometry raster is already calibrated."
            )
        radar = sio.open_source(args.src, pol=args.pol)
    with radar, cli_progress(f"terrain {radar.name}", unit="block", force=args.progress) as bar:
        result = terrain_correct(
            product,
            radar,
            args.dst,
            args.dem,
            rtc=args.rtc,
            crs=args.crs,
            resolution=args.resolution,
            db=args.db,
            cog=args.cog,
            pol=pol,
            progress=bar,
        )
    print(result.summary())
    return 0
