"""`python -m core translate`: SAR images (a file or a folder) to optical-like RGB with a generator."""

from __future__ import annotations

import argparse
import functools
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from core import batch, worker_models
from core import io as sio
from core.cli.args import count_int, positive_int
from core.cli.map_options import add_map_options, map_step, wants_map
from core.cli.options import add_compress_option
from core.compute import DEVICES
from core.errors import UserError
from core.files import IMAGE_SUFFIXES, check_outputs, list_images, output_bytes
from core.io.products import safe_manifest
from core.progress import add_progress_option, cli_progress
from core.speckle.prepare import prefilter_params
from core.translate import (
    BACKEND_CHOICES,
    DUALPOL_MODES,
    TranslateOptions,
    Translator,
    check_size,
    estimate_duration,
    open_translator,
    translate_many,
    write_result,
)
from core.translate.inputs import SCALINGS
from core.translate.stream import translate_scene

TIFF = (".tif", ".tiff")


def plan_outputs(input_path: Path, output_path: Path, fmt: str) -> list[tuple[Path, Path]]:
    """(input file, output file) pairs for a file or a folder of images; refuses plans that would overwrite inputs."""
    if not input_path.exists():
        raise UserError(f"{input_path}: not found; give an image file or a folder of images.")
    if safe_manifest(input_path) is not None:  # a Sentinel-1 product (folder, manifest or zip): one scene
        stem = input_path.parent.stem if input_path.name.lower() == "manifest.safe" else input_path.stem
        if output_path.is_dir():
            return [(input_path, output_path / (stem.removesuffix(".SAFE") + ".tif"))]
        if output_path.suffix.lower() not in TIFF:
            raise UserError(
                f"{output_path.name}: a Sentinel-1 product is translated as a whole scene, streamed into a GeoTIFF; "
                f"give a .tif output."
            )
        return [(input_path, output_path)]
    if input_path.is_dir():
        files = list_images(input_path)
        if not files:
            raise UserError(f"{input_path} holds no PNG, JPEG or TIFF images; pick another folder.")
        if output_path.exists() and not output_path.is_dir():
            raise UserError(f"{output_path} is a file; with a folder as input, give an output folder.")
        if output_path.resolve() == input_path.resolve():
            raise UserError("the output folder is the input folder; choose another output folder.")
        return [(p, output_path / (p.stem + _suffix_for(p, fmt))) for p in files]
    if output_path.is_dir():
        return [(input_path, output_path / (input_path.stem + _suffix_for(input_path, fmt)))]
    if output_path.suffix.lower() not in IMAGE_SUFFIXES:
        raise UserError(
            f"{output_path.name}: unknown output format {output_path.suffix or '(none)'}; "
            f"use .png, .jpg or .tif (GeoTIFF), or an existing folder."
        )
    return [(input_path, output_path)]


def _suffix_for(src: Path, fmt: str) -> str:
    if fmt == "png":
        return ".png"
    if fmt == "tif":
        return ".tif"
    return ".tif" if src.suffix.lower() in (".tif", ".tiff") else ".png"


def add_cli(subparsers) -> None:
    p = subparsers.add_parser(
        "translate",
        help="translate SAR images to optical-like RGB with a generator",
        description="Translate SAR to optical-like images at native size. INPUT and OUTPUT "
        "are files or folders. .tif outputs are GeoTIFFs with the input's "
        "georeference.",
    )
    p.add_argument("input", metavar="INPUT", help="image file or folder of images (PNG, JPEG, (Geo)TIFF)")
    p.add_argument("output", metavar="OUTPUT", help="output file (.png, .jpg, .tif) or folder")
    p.add_argument("--model", required=True, help="generator: SAR Studio .safetensors, foreign .pth, or .onnx")
    p.add_argument(
        "--backend",
        choices=BACKEND_CHOICES,
        default="auto",
        help="PyTorch eager, ONNX Runtime, or auto (default): the faster one here, measured once and cached",
    )
    p.add_argument("--device", choices=DEVICES, default="auto")
    p.add_argument("--half", action="store_true", help="float16 on CUDA (PyTorch backend)")
    p.add_argument("--lora", default=None, help="LoRA adapter: peft folder or SAR2Optical adapter file")
    p.add_argument("--lora-strength", type=float, default=1.0, help="adapter strength (default 1.0)")
    p.add_argument(
        "--tile", type=positive_int, default=None, help="tile size (default: the model's, 256 for the U-Nets)"
    )
    p.add_argument("--overlap", type=count_int, default=32, help="tile overlap in pixels (default 32)")
    p.add_argument(
        "--batch",
        type=positive_int,
        default=None,
        help="tiles or images per forward pass (default: measured by auto, else 4)",
    )
    p.add_argument("--prefilter", default=None, help="speckle filter applied to SAR intensity first (e.g. lee)")
    p.add_argument("--prefilter-window", type=int, default=None, help="--prefilter window (odd; default: the filter's)")
    p.add_argument("--dualpol", choices=DUALPOL_MODES, default="auto", help="how two-band VV/VH input is fed")
    p.add_argument(
        "--input-scaling",
        choices=SCALINGS,
        default="auto",
        help="how dB becomes the network's 0..255 input: sen1-2 (sigma0 VV [-25, 0] dB, VH [-32.5, 0] dB, fixed), "
        "stretch (per-image 2-98 %%), display (8-bit as it is), or auto (default): as the checkpoint records, "
        "else sen1-2 for calibrated input and stretch otherwise",
    )
    p.add_argument("--kind", choices=("auto",) + sio.KINDS, default="auto", help="what the input values are")
    p.add_argument(
        "--format",
        choices=("auto", "png", "tif"),
        default="auto",
        help="output format in folder mode (auto: .tif for TIFF inputs, .png otherwise)",
    )
    p.add_argument(
        "--max-minutes",
        type=float,
        default=60.0,
        help="refuse a run whose estimated duration (tiles x time per tile measured before it starts) is longer "
        "(default 60)",
    )
    add_scene_options(p)
    batch.add_batch_options(p)
    p.set_defaults(func=run)


def add_scene_options(p) -> None:
    """Whole-scene options: Sentinel-1 calibration / polarisation / swath, COG output, progress bar."""
    p.add_argument(
        "--calibration",
        choices=sio.CALIBRATIONS,
        default=None,
        help="Sentinel-1 products: sigma0 (default), beta0, gamma0 or none (DN)",
    )
    p.add_argument("--pol", default="all", help="polarisation of a product or multi-band file: VV, VH, ... or all")
    p.add_argument("--swath", default=None, help="swath of an SLC product (IW1, IW2, IW3), or all to merge them")
    p.add_argument(
        "--noise",
        choices=["remove", "keep"],
        default=None,
        help="Sentinel-1 products: thermal noise removal, remove (default) or keep (default with --calibration none)",
    )
    p.add_argument("--cog", action="store_true", help="write a Cloud-Optimized GeoTIFF (with overviews)")
    add_map_options(p)  # products: the analysis-ready chain's map step before the network (core.products)
    add_compress_option(p)
    add_progress_option(p)


def streamed(src: Path, dst: Path) -> bool:
    """GeoTIFF outputs and Sentinel-1 products stream tile by tile; PNG/JPEG outputs are made in memory."""
    return dst.suffix.lower() in TIFF or safe_manifest(src) is not None


def translate_streamed(src: Path, dst: Path, translator: Translator, args: argparse.Namespace) -> list[str]:
    """One scene, read and written tile by tile with a progress bar; returns the notes. A product with a map step
    (--geocode / --dem) goes through the analysis-ready chain first (core.products.chain: thermal noise removal,
    calibration, the map step; linear values, so the model's scaling sees σ⁰ as SEN1-2 did), into a hidden folder
    beside the output that is removed whatever happens."""
    if getattr(args, "geometry", None) is None:
        return _translate_source(src, dst, translator, args, src)
    from core.products.chain import PrepareOptions, prepare_product  # noqa: PLC0415 - start-up: the product chain (13 modules) only for a product input, not `translate --help`

    work = Path(tempfile.mkdtemp(prefix=".translate-", dir=dst.parent.absolute()))
    try:
        mapped = work / "analysis_ready.tif"
        calibration = args.calibration or "sigma0"
        noise = args.noise or ("keep" if calibration == "none" else "remove")
        opts = PrepareOptions(pol=args.pol, swath=args.swath, calibration=calibration, noise=noise)
        with cli_progress(f"{src.name}: analysis-ready", unit="step", force=args.progress) as bar:
            prepared = prepare_product(src, mapped, opts, geometry=args.geometry, progress=bar)
        return prepared.notes + _translate_source(mapped, dst, translator, args, src)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _translate_source(path: Path, dst: Path, translator: Translator, args: argparse.Namespace, src: Path) -> list[str]:
    product_args = () if path != src else (args.calibration, args.pol, args.swath, getattr(args, "noise", None))
    with sio.open_source(path, *product_args) as source:
        check_size(src.name, source.height, source.width, translator)
        with cli_progress(src.name, unit="tile", force=args.progress) as bar:
            res = translate_scene(source, dst, translator, kind=args.kind, cog=args.cog, progress=bar)
        print(f"{src.name} -> {dst} ({res.width}x{res.height}, {res.tiles} tile{'s' if res.tiles != 1 else ''})")
        return source.notes + res.notes


def run(args: argparse.Namespace) -> int:
    args.geometry = None
    if wants_map(args):  # checked before anything is read or loaded
        src = Path(args.input)
        if safe_manifest(src) is None:
            raise UserError(
                "--geocode, --dem, --rtc, --crs and --resolution apply to a Sentinel-1 product input; for a GeoTIFF "
                "with GCPs run `python -m core geocode` first, then translate its output."
            )
        if batch.wants_cluster(args) or args.skip_existing:
            raise UserError("a product with a map step translates as one scene: leave out --workers/--scheduler.")
        if args.rtc and args.calibration not in (None, "beta0"):
            raise UserError(f"--rtc flattens beta0; drop --calibration {args.calibration}.")
        if args.rtc:
            args.calibration = "beta0"
        args.geometry = map_step(args, product=str(src))
    plan = plan_outputs(Path(args.input), Path(args.output), args.format)
    check_outputs(plan, sum(output_bytes(src, 3, per_band=False) for src, _ in plan))  # before loading the model
    opts = TranslateOptions(
        backend=args.backend,
        device=args.device,
        half=args.half,
        tile=args.tile,
        overlap=args.overlap,
        batch_size=args.batch if args.batch is not None or args.backend == "auto" else 4,
        adapter=args.lora,
        adapter_strength=args.lora_strength,
        prefilter=args.prefilter,
        prefilter_params=prefilter_params(args.prefilter, args.prefilter_window),  # core.speckle.prepare
        dualpol=args.dualpol,
        input_scaling=args.input_scaling,
    )
    if batch.wants_cluster(args) or args.skip_existing:  # one task per file, failures reported per file
        scene = {"calibration": args.calibration, "pol": args.pol, "swath": args.swath, "cog": args.cog}
        scene["noise"] = getattr(args, "noise", None)
        job = functools.partial(
            _translate_job, model=str(Path(args.model).resolve()), opts=opts, kind=args.kind, scene=scene
        )
        summary = batch.run_files(
            [batch.Job(s, d) for s, d in plan],
            job,
            workers=args.workers,
            scheduler=args.scheduler,
            skip_existing=args.skip_existing,
            progress=getattr(args, "progress", None),
        )
        return batch.report_summary(summary, Path(args.output))
    translator = open_translator(args.model, opts)
    try:
        translator.tile_size()
        for n in translator.notes:
            print(f"note: {n}", file=sys.stderr)
        check_duration(plan, translator, opts, args)
        start = time.perf_counter()
        shown: set[str] = set()

        def show(notes: list[str]) -> None:
            for n in notes:
                if n not in shown:
                    print(f"warning: {n[9:]}" if n.startswith("Warning: ") else f"note: {n}", file=sys.stderr)
                    shown.add(n)

        in_memory: list[tuple[Path, Path]] = []  # consecutive PNG/JPEG outputs, translated together (batches)
        for src, dst in [*plan, (Path(), Path())]:  # in input order; the empty pair flushes the last group
            if in_memory and (src == Path() or streamed(src, dst)):
                translate_in_memory(in_memory, translator, opts, args, show)
                in_memory = []
            if src == Path():
                break
            if not streamed(src, dst):
                in_memory.append((src, dst))
                continue
            try:
                show(translate_streamed(src, dst, translator, args))
            except UserError as exc:
                raise UserError(f"{src.name}: {exc}" if not str(exc).startswith(src.name) else str(exc)) from None
        print(
            f"translated {len(plan)} image{'s' if len(plan) != 1 else ''} in {time.perf_counter() - start:.1f} s",
            file=sys.stderr,
        )
    finally:
        translator.close()
    return 0


def plan_sizes(plan: list[tuple[Path, Path]], args: argparse.Namespace) -> Iterator[tuple[int, int]]:
    """(height, width) of every input, read from headers only (files that cannot be opened are left out here:
    the run reports them)."""
    for src, _ in plan:
        product = safe_manifest(src) is not None
        try:
            with sio.open_source(
                src, calibration=args.calibration if product else None, pol=args.pol, swath=args.swath
            ) as s:
                yield s.height, s.width
        except UserError:
            continue


def check_duration(plan, translator: Translator, opts: TranslateOptions, args: argparse.Namespace) -> None:
    """Print the estimated duration (tiles x time per tile measured now) and refuse a run above --max-minutes."""
    est = estimate_duration(translator, plan_sizes(plan, args), opts)
    print(f"note: {est.text()}.", file=sys.stderr)
    if est.seconds > args.max_minutes * 60:
        raise UserError(
            f"{est.text()}, above --max-minutes {args.max_minutes:g}; raise --max-minutes to run it, or translate "
            f"a smaller area."
        )


def _translate_job(job: batch.Job, model: str, opts: TranslateOptions, kind: str, scene: dict) -> tuple[str, list[str]]:
    """One file of a folder run (serial or on a Dask worker); the translator is loaded once per process. The same
    path as the serial run: GeoTIFF outputs and products stream, PNG/JPEG are made in memory."""
    adapter = opts.adapter and (
        worker_models.model_digest(opts.adapter) if Path(opts.adapter).is_file() else opts.adapter
    )
    key = ("translate", worker_models.model_digest(model), adapter, repr(opts))
    translator = worker_models.cached_model(key, lambda: _ready_translator(model, opts))
    if streamed(job.src, job.dst):
        cog = scene.get("cog", False)
        args = (scene.get("calibration"), scene.get("pol", "all"), scene.get("swath"), scene.get("noise"))
        with sio.open_source(job.src, *args) as source:
            res = translate_scene(source, job.dst, translator, kind=kind, cog=cog)
            notes = [*translator.notes, *source.notes, *res.notes]
        tiles = f"{res.tiles} tile{'s' if res.tiles != 1 else ''}"
        return f"{job.src.name} -> {job.dst} ({res.width}x{res.height}, {tiles})", notes
    raster = sio.read_raster(job.src, kind=None if kind == "auto" else kind)
    result = next(translate_many([raster], translator, opts, total=1))
    write_result(result, job.dst)
    h, w = result.output.shape[:2]
    line = f"{job.src.name} -> {job.dst} ({w}x{h}, {result.tiles} tile{'s' if result.tiles != 1 else ''})"
    return line, [*translator.notes, *result.notes]


def _ready_translator(model: str, opts: TranslateOptions):
    translator = open_translator(model, opts)
    translator.tile_size()
    return translator


def translate_in_memory(plan, translator: Translator, opts: TranslateOptions, args: argparse.Namespace, show) -> None:
    """PNG/JPEG outputs: whole images in memory (the pixel limit of core.io.read_raster applies)."""
    targets = dict(plan)
    if args.calibration not in (None, "none"):
        raise UserError("--calibration applies to Sentinel-1 products; these inputs have no calibration tables.")
    if getattr(args, "noise", None) not in (None, "keep"):
        raise UserError("--noise applies to Sentinel-1 products; these inputs have no noise tables.")

    def rasters() -> Iterator[sio.Raster]:
        for src, _ in plan:
            try:
                yield sio.read_raster(src, kind=None if args.kind == "auto" else args.kind)
            except UserError as exc:
                raise UserError(f"{src.name}: {exc}" if not str(exc).startswith(src.name) else str(exc)) from None

    with cli_progress("translate", unit="%", force=args.progress) as bar:

        def progress(frac: float, msg: str) -> None:
            bar(round(100 * frac), 100)

        results = translate_many(rasters(), translator, opts, progress=progress, total=len(plan))
        for (src, _), result in zip(plan, results):
            dst = targets[src]
            write_result(result, dst)
            show(result.notes)
            h, w = result.output.shape[:2]
            print(f"{src.name} -> {dst} ({w}x{h}, {result.tiles} tile{'s' if result.tiles != 1 else ''})")
