"""`python -m core despeckle`: speckle filtering of one image, a folder of images, any raster GDAL opens or a
Sentinel-1 product (SAFE folder, manifest.safe or zip), with the functions the page uses.

GeoTIFF outputs of the classic filters are streamed (core.speckle.stream: bounded memory, any scene size, same
values as in memory); PNG outputs (display images) and MERLIN read the image whole.
"""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path

from core import batch
from core import io as sio
from core.budget import keep_window_heap
from core.cli.args import positive_float, positive_int
from core.cli.map_options import add_map_options, map_step, wants_map
from core.cli.options import add_compress_option
from core.compute import DEVICES
from core.errors import UserError
from core.files import IMAGE_SUFFIXES, check_outputs, list_images, output_bytes, skip_own_outputs
from core.io.products import safe_manifest
from core.progress import add_progress_option, cli_progress
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
from core.speckle.registry import split_params
from core.speckle.stream import despeckle_scene

# The options a filter may take, in the order of the registry's parameters (None: the filter's default).
PARAM_OPTIONS = ("window", "looks", "damping", "sigma", "sigma_space", "sigma_db", "model", "keep_mean")
_IN_MEMORY_INPUTS = (".png", ".jpg", ".jpeg")  # decoded whole (palette, alpha) as read_raster does


def add_cli(sub) -> None:
    p = sub.add_parser(
        "despeckle",
        help="speckle filtering of one image, a folder of images or a Sentinel-1 product",
        description="Filter SAR images on linear intensity. Filters: " + ", ".join(FILTERS) + " (SNAP's names, "
        "e.g. 'Refined Lee', refined-lee, gamma-map, are accepted too).",
    )
    p.add_argument(
        "input",
        help="image file (GeoTIFF, TIFF, PNG, JPEG, any raster GDAL opens), a Sentinel-1 product "
        "(.SAFE folder, manifest.safe or .zip) or a folder of images",
    )
    p.add_argument(
        "output",
        help="output file (.tif keeps values and georeference, .png is a display on the input's scale) "
        "or folder (one <name>_<filter>.tif per input)",
    )
    p.add_argument("--filter", required=True, metavar="NAME", help="one of " + ", ".join(FILTERS))
    p.add_argument("--window", "--window-size", dest="window", type=positive_int, help="window side in pixels (odd)")
    p.add_argument(
        "--looks", type=positive_float, help="equivalent number of looks (default: estimated from the image)"
    )
    p.add_argument("--damping", type=positive_float, help="Frost damping factor K (default 2)")
    p.add_argument("--sigma", type=positive_float, help="Gaussian sigma in pixels")
    p.add_argument("--sigma-space", type=positive_float, dest="sigma_space", help="bilateral spatial sigma in pixels")
    p.add_argument("--sigma-db", type=positive_float, dest="sigma_db", help="bilateral range sigma in dB")
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
    p.add_argument(
        "--calibration",
        choices=list(sio.CALIBRATIONS),
        help="Sentinel-1 products: sigma0 (default), beta0, gamma0 or none (the result is linear intensity)",
    )
    p.add_argument("--pol", default="all", help="polarisation to filter: VV, VH, ... or all (default)")
    p.add_argument("--swath", help="SLC products: the swath (IW1, IW2, IW3, ...), or all to merge a TOPS SLC's swaths")
    p.add_argument(
        "--noise",
        choices=["remove", "keep"],
        help="Sentinel-1 products: thermal noise removal, remove (default) or keep (default with --calibration none)",
    )
    p.add_argument("--cog", action="store_true", help="write a Cloud-Optimized GeoTIFF with overviews")
    add_map_options(p)  # products only: the filtered radar geometry onto a map (core.products.geocode / terrain)
    add_compress_option(p)
    p.add_argument("--device", choices=list(DEVICES), default="auto", help="for MERLIN")
    add_progress_option(p)
    batch.add_batch_options(p)
    p.set_defaults(func=run_despeckle)


def filter_options(args: argparse.Namespace) -> tuple[str, dict]:
    """(our filter name, the parameters it takes); options it does not take are ignored with a note on stderr."""
    spec = filter_spec(args.filter)
    given = {k: getattr(args, k) for k in PARAM_OPTIONS if getattr(args, k, None) is not None}
    params, notes = split_params(spec, given)
    for n in notes:
        print(f"note: {n}", file=sys.stderr)
    return spec.name, check_params(spec, params)  # fail before reading anything


def run_despeckle(args: argparse.Namespace) -> int:
    name, params = filter_options(args)
    src, dst = Path(args.input), Path(args.output)
    args.geometry = None
    if wants_map(args):
        if safe_manifest(src) is None:
            raise UserError(
                "--geocode, --dem, --rtc, --crs and --resolution apply to a Sentinel-1 product input; for a GeoTIFF "
                "with GCPs use `python -m core geocode`."
            )
        if dst.suffix.lower() not in (".tif", ".tiff") or FILTERS[name].deep:
            raise UserError("a map output is streamed: write a .tif with a classic filter (MERLIN reads whole).")
        if args.rtc and args.calibration not in (None, "beta0"):
            raise UserError(f"--rtc flattens beta0; drop --calibration {args.calibration}.")
        if args.rtc:
            args.calibration = "beta0"
        args.geometry = map_step(args, product=str(src), cog=args.cog)
    if src.is_dir() and not (src / "manifest.safe").is_file():
        files, skipped = skip_own_outputs(list_images(src), tuple(FILTERS))  # our own earlier outputs: not again
        if skipped:
            print(
                f"note: skipped {len(skipped)} earlier outputs of despeckle (e.g. {skipped[0].name}).", file=sys.stderr
            )
        if not files:
            raise UserError(f"{src} holds no TIFF, PNG or JPEG images; pick another folder.")
        if dst.exists() and not dst.is_dir():
            raise UserError(f"{dst} is a file but the input is a folder; give an output folder.")
        jobs = [batch.Job(f, dst / f"{f.stem}_{name}.tif") for f in files]
        # before any work: one line, nothing written
        check_outputs([(j.src, j.dst) for j in jobs], sum(output_bytes(f) for f in files))
        summary = batch.run_files(
            jobs,
            functools.partial(_despeckle_job, args=args, name=name, params=params),
            workers=args.workers,
            scheduler=args.scheduler,
            skip_existing=args.skip_existing,
            progress=getattr(args, "progress", None),
        )
        return batch.report_summary(summary, dst)
    if dst.is_dir():
        dst = dst / f"{src.stem}_{name}.tif"
    check_outputs([(src, dst)], output_bytes(src))
    if batch.wants_cluster(args):  # one scene: its windows are the tasks
        if dst.suffix.lower() not in (".tif", ".tiff") or FILTERS[name].deep or src.suffix.lower() in _IN_MEMORY_INPUTS:
            raise UserError(
                "--workers / --scheduler split one scene only for a classic filter writing a .tif from a raster GDAL "
                "opens; drop the option or write a .tif."
            )
        with batch.cluster_client(args.workers, args.scheduler) as client:
            stream_file(src, dst, args, name, params, client=client)
    else:
        despeckle_file(src, dst, args, name, params)
    print(f"{src.name} -> {dst}")
    return 0


def _despeckle_job(job: batch.Job, args: argparse.Namespace, name: str, params: dict) -> tuple[str, list[str]]:
    """One file of a folder run (serial or on a Dask worker)."""
    despeckle_file(job.src, job.dst, args, name, params)
    return f"{job.src.name} -> {job.dst}", []


def despeckle_file(src: Path, dst: Path, args: argparse.Namespace, name: str, params: dict) -> None:
    """Filter one input into `dst`: .tif keeps the values (in the input's kind) and the whole georeference and is
    streamed for the classic filters; .png is a display: an 8-bit input keeps its 8-bit scale, anything else is
    shown in dB on the input's own stretch."""
    suffix = dst.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise UserError(f"{dst.name}: unknown output format {suffix or '(none)'}; use .tif or .png.")
    tif = suffix in (".tif", ".tiff")
    if tif and not FILTERS[name].deep and src.suffix.lower() not in _IN_MEMORY_INPUTS:
        stream_file(src, dst, args, name, params)
        return
    if args.cog:
        print("note: --cog applies to streamed GeoTIFF outputs; this output is written whole.", file=sys.stderr)
    raster = read_whole(src, args)
    notes: list[str] = []
    result = despeckle_raster(raster, name, notes=notes, device=args.device, **params)
    for n in notes:
        print(f"note: {n}", file=sys.stderr)
    blank = sio.constant_output_note(result.data, dst.name)
    if blank:
        print(f"warning: {blank}", file=sys.stderr)
    if tif:
        sio.write_image(dst, result.data, raster.geo, raster.band_names)
    elif raster.kind == "display":
        sio.write_image(dst, result.data)  # 8-bit in, 8-bit out: the values are already display grey levels
    else:
        limits = display_limits(input_intensity(raster))
        sio.write_image(dst, render_with_limits(input_intensity(result), limits))


def open_input(src: Path, args: argparse.Namespace) -> sio.Source:
    """The input as a windowed Source (product options applied, --kind override)."""
    source = sio.open_source(
        src, calibration=args.calibration, pol=args.pol, swath=args.swath, noise=getattr(args, "noise", None)
    )
    if args.kind not in (None, "auto"):
        source.kind = args.kind
    return source


def stream_file(src: Path, dst: Path, args: argparse.Namespace, name: str, params: dict, client=None) -> None:
    """Stream `src` through one classic filter into the .tif `dst` (core.speckle.stream.despeckle_scene, the page's
    function too), the map step after it when one was asked; notes go to stderr.

    A command runs one scene in its own process, so without a cluster it takes the scene workers' heap policy
    (core.budget.keep_window_heap): every window needs the same memory, so the heap keeps one window's high-water
    mark instead of faulting each temporary in again (bench/RESULTS.md, cluster: refined Lee and gamma MAP 8192²).
    The app's server keeps bound_heap_growth (its jobs share one process with every session)."""
    if client is None:
        keep_window_heap()
    notes = despeckle_scene(
        src,
        [(name, params, dst)],
        calibration=args.calibration,
        pol=args.pol,
        swath=args.swath,
        noise=getattr(args, "noise", None),
        kind=args.kind,
        cog=args.cog,
        progress=lambda source: cli_progress(f"{name} {source.name}", unit="block", force=args.progress),
        client=client,
        geometry=getattr(args, "geometry", None),
    )
    for n in notes:
        print(f"warning: {n[9:]}" if n.startswith("Warning: ") else f"note: {n}", file=sys.stderr)


def read_whole(src: Path, args: argparse.Namespace) -> sio.Raster:
    """The whole image in memory: PNG/JPEG/TIFF as read_raster reads them, products and other rasters from
    their Source (under the same pixel limit)."""
    plain = src.suffix.lower() in (*_IN_MEMORY_INPUTS, ".tif", ".tiff") and args.calibration in (None, "none")
    plain = plain and getattr(args, "noise", None) is None
    if plain and args.pol == "all" and not src.is_dir():
        return sio.read_raster(src, kind=args.kind)
    with open_input(src, args) as source:
        limit = sio.max_pixels_default()
        if source.width * source.height > limit:
            raise UserError(
                f"{source.name} is {source.width}x{source.height}, above the {limit / 1e6:.0f} Mpixel limit for "
                f"whole-image filtering; write a .tif with a classic filter (streamed) or raise SAR_STUDIO_MAX_PIXELS."
            )
        data = source.read()
        return sio.Raster(data, source.kind, source.name, source.geo, list(source.band_names), source.kind)
