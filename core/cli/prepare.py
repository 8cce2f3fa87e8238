"""`python -m core prepare PRODUCT OUT.tif`: a Sentinel-1 product to analysis-ready values.

Thermal noise removal (default), calibration (sigma0 default), TOPS SLC deburst, optional speckle filter, then
optionally a map step (--geocode: core.products.geocode; --dem [--rtc]: core.products.terrain), dB and COG,
streamed with a progress bar. Without a map step the GeoTIFF is in radar geometry with the product's GCPs; tags
record what was applied. The same chain is `core.products.chain.prepare_product(..., geometry=...)` in Python.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.budget import keep_window_heap
from core.cli.args import positive_float, positive_int
from core.cli.map_options import add_map_options, map_step
from core.errors import UserError
from core.io.sentinel1.calibration import CALIBRATIONS
from core.io.sentinel1.noise import NOISE_CHOICES
from core.products.chain import PrepareOptions, prepare_product
from core.progress import add_progress_option, cli_progress


def add_cli(sub) -> None:
    p = sub.add_parser(
        "prepare",
        help="Sentinel-1 product -> calibrated, noise-removed GeoTIFF (radar geometry, GCPs), optionally filtered",
        description="Prepare a Sentinel-1 product (.SAFE folder, manifest.safe or .zip; IW, EW or SM; GRD or SLC) "
        "as SNAP's standard chain does before terrain correction: thermal noise removal, calibration, TOPS "
        "deburst, optional speckle filter, optional dB. Streamed: memory does not grow with the scene.",
    )
    p.add_argument("product", metavar="PRODUCT")
    p.add_argument("output", metavar="OUT.tif")
    p.add_argument("--pol", default="all", help="VV, VH, HH, HV, a list such as VV,VH, or all (default)")
    p.add_argument(
        "--swath",
        help="SLC products: one swath (IW1, IW2, EW1, ...), or several merged: all, or a list such as IW1,IW2 (TOPS SLC)",
    )
    p.add_argument(
        "--calibration", choices=list(CALIBRATIONS), help="default sigma0 (beta0 with --rtc, which needs it)"
    )
    p.add_argument(
        "--noise",
        choices=list(NOISE_CHOICES),
        default="remove",
        help="thermal noise: remove (default; refused when the product says it was already removed) or keep",
    )
    p.add_argument("--filter", metavar="NAME", help="a classic speckle filter (see despeckle --help)")
    p.add_argument(
        "--window", "--window-size", dest="window", type=positive_int, help="filter window side in pixels (odd)"
    )
    p.add_argument("--looks", type=positive_float, help="filter: equivalent number of looks (default: estimated)")
    add_map_options(p)
    p.add_argument("--db", action="store_true", help="write 10*log10 of the values (nodata NaN)")
    p.add_argument("--cog", action="store_true", help="write a Cloud-Optimized GeoTIFF with overviews")
    add_progress_option(p)
    p.set_defaults(func=run_prepare)


def run_prepare(args: argparse.Namespace) -> int:
    if args.rtc and args.calibration not in (None, "beta0"):
        raise UserError(f"--rtc flattens beta0; drop --calibration {args.calibration} (beta0 is used with --rtc).")
    geometry = map_step(args)
    options = PrepareOptions(
        pol=args.pol,
        swath=args.swath,
        calibration=args.calibration or ("beta0" if args.rtc else "sigma0"),
        noise=args.noise,
        db=args.db,
        cog=args.cog,
    )
    if args.filter:
        from core.cli.speckle import filter_options  # noqa: PLC0415 - start-up: core.cli.speckle loads the speckle registry, only for --filter

        options.filter, options.filter_params = filter_options(args)
    elif args.window is not None or args.looks is not None:
        print("note: --window and --looks apply with --filter; ignored.", file=sys.stderr)
    keep_window_heap()  # the command's own process streams one product window by window (as despeckle's, there)
    with cli_progress(f"prepare {Path(args.product).name}", unit="%", force=args.progress) as bar:
        result = prepare_product(args.product, args.output, options, geometry=geometry, progress=bar)
    for n in result.notes:
        print(f"note: {n}", file=sys.stderr)
    print(f"{args.product} -> {result.path} ({result.width} x {result.height}, {', '.join(result.bands)})")
    return 0
