"""`python -m core info INPUT [--json]`: what a raster or Sentinel-1 product holds, before a long run."""

from __future__ import annotations

import argparse
import json

from core.io.products import describe, format_description


def add_cli(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "info",
        help="describe a raster or Sentinel-1 product (size, bands, kind, georeference, calibration, memory)",
        description="Describe INPUT: any raster GDAL opens (GeoTIFF, COG, VRT, ...) or a Sentinel-1 product "
        "(.SAFE folder, its manifest.safe, or the .zip as downloaded).",
    )
    p.add_argument("input", metavar="INPUT")
    p.add_argument("--json", action="store_true", help="print the description as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    info = describe(args.input)
    print(json.dumps(info, indent=2) if args.json else format_description(info))
    return 0
