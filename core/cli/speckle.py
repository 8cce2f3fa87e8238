"""`python -m core despeckle`: speckle filtering of one image or a folder of images, with the functions the page uses."""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path

from core import batch
from core import io as sio
from core.compute import DEVICES
from core.errors import UserError
from core.files import IMAGE_SUFFIXES, check_outputs, list_images, output_bytes, skip_own_outputs
from core.speckle import (
    FILTERS,
    MERLIN_MODELS,
    check_params,
    despeckle_raster,
    display_limits,
    filter_spec,
    input_intensity,
    render_with_limits,
)

# The options a filter may take, in the order of the registry's parameters (None: the filter's default).
PARAM_OPTIONS = ("window", "looks", "damping", "sigma", "sigma_space", "sigma_db", "model", "keep_mean")


def add_cli(sub) -> None:
    p = sub.add_parser(
        "despeckle",
        help="speckle filtering of one image or a folder of images",
        description="Filter SAR images on linear intensity. Filters: " + ", ".join(FILTERS) + ".",
    )
    p.add_argument("input", help="image file (GeoTIFF, TIFF, PNG, JPEG) or folder of images")
    p.add_argument(
        "output",
        help="output file (.tif keeps values and georeference, .png is a dB display) "
        "or folder (one <name>_<filter>.tif per input)",
    )
    p.add_argument(
        "--filter", required=True, choices=list(FILTERS), metavar="NAME", help="one of " + ", ".join(FILTERS)
    )
    p.add_argument("--window", type=int, help="window side in pixels (odd)")
    p.add_argument("--looks", type=float, help="equivalent number of looks (default: estimated from the image)")
    p.add_argument("--damping", type=float, help="Frost damping factor K (default 2)")
    p.add_argument("--sigma", type=float, help="Gaussian sigma in pixels")
    p.add_argument("--sigma-space", type=float, dest="sigma_space", help="bilateral spatial sigma in pixels")
    p.add_argument("--sigma-db", type=float, dest="sigma_db", help="bilateral range sigma in dB")
    p.add_argument("--model", choices=list(MERLIN_MODELS), help="MERLIN weights (default sentinel_tops)")
    p.add_argument(
        "--no-keep-mean",
        dest="keep_mean",
        action="store_const",
        const=False,
        default=None,
        help="MERLIN: skip the local mean correction (raw network output, biased on detected data)",
    )
    p.add_argument("--kind", choices=["auto", *sio.KINDS], default="auto", help="what the input values are")
    p.add_argument("--device", choices=list(DEVICES), default="auto", help="for MERLIN")
    batch.add_batch_options(p)
    p.set_defaults(func=run_despeckle)


def run_despeckle(args: argparse.Namespace) -> int:
    spec = filter_spec(args.filter)
    params = {k: getattr(args, k) for k in PARAM_OPTIONS if getattr(args, k) is not None}
    params = check_params(spec, params)  # fail before reading anything
    src, dst = Path(args.input), Path(args.output)
    if src.is_dir():
        files, skipped = skip_own_outputs(list_images(src), tuple(FILTERS))  # our own earlier outputs: not again
        if skipped:
            print(
                f"note: skipped {len(skipped)} earlier outputs of despeckle (e.g. {skipped[0].name}).", file=sys.stderr
            )
        if not files:
            raise UserError(f"{src} holds no TIFF, PNG or JPEG images; pick another folder.")
        if dst.exists() and not dst.is_dir():
            raise UserError(f"{dst} is a file but the input is a folder; give an output folder.")
        jobs = [batch.Job(f, dst / f"{f.stem}_{args.filter}.tif") for f in files]
        # before any work: one line, nothing written
        check_outputs([(j.src, j.dst) for j in jobs], sum(output_bytes(f) for f in files))
        summary = batch.run_files(
            jobs,
            functools.partial(_despeckle_job, args=args, params=params),
            workers=args.workers,
            scheduler=args.scheduler,
            skip_existing=args.skip_existing,
            progress=getattr(args, "progress", None),
        )
        return batch.report_summary(summary, dst)
    if dst.is_dir():
        dst = dst / f"{src.stem}_{args.filter}.tif"
    check_outputs([(src, dst)], output_bytes(src))
    despeckle_file(src, dst, args, params)
    print(f"{src.name} -> {dst}")
    return 0


def _despeckle_job(job: batch.Job, args: argparse.Namespace, params: dict) -> tuple[str, list[str]]:
    """One file of a folder run (serial or on a Dask worker)."""
    despeckle_file(job.src, job.dst, args, params)
    return f"{job.src.name} -> {job.dst}", []


def despeckle_file(src: Path, dst: Path, args: argparse.Namespace, params: dict) -> None:
    """Filter one file into `dst`: .tif keeps the values (in the input's kind) and georeference, .png is the dB
    display on the input's own stretch."""
    suffix = dst.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise UserError(f"{dst.name}: unknown output format {suffix or '(none)'}; use .tif or .png.")
    raster = sio.read_raster(src, kind=args.kind)
    notes: list[str] = []
    result = despeckle_raster(raster, args.filter, notes=notes, device=args.device, **params)
    for n in notes:
        print(f"note: {n}", file=sys.stderr)
    blank = sio.constant_output_note(result.data, dst.name)
    if blank:
        print(f"warning: {blank}", file=sys.stderr)
    if suffix in (".tif", ".tiff"):
        sio.write_image(dst, result.data, raster.geo, raster.band_names)
    else:
        limits = display_limits(input_intensity(raster))
        sio.write_image(dst, render_with_limits(input_intensity(result), limits))
