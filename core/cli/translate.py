"""`python -m core translate`: SAR images (a file or a folder) to optical-like RGB with a generator."""

from __future__ import annotations

import argparse
import functools
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from core import batch
from core import io as sio
from core.compute import DEVICES
from core.errors import UserError
from core.files import IMAGE_SUFFIXES, check_outputs, list_images, output_bytes
from core.translate import BACKENDS, DUALPOL_MODES, TranslateOptions, open_translator, translate_many, write_result


def plan_outputs(input_path: Path, output_path: Path, fmt: str) -> list[tuple[Path, Path]]:
    """(input file, output file) pairs for a file or a folder of images; refuses plans that would overwrite inputs."""
    if not input_path.exists():
        raise UserError(f"{input_path}: not found; give an image file or a folder of images.")
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
    p.add_argument("--backend", choices=BACKENDS, default="torch", help="PyTorch eager or ONNX Runtime (default torch)")
    p.add_argument("--device", choices=DEVICES, default="auto")
    p.add_argument("--half", action="store_true", help="float16 on CUDA (PyTorch backend)")
    p.add_argument("--lora", default=None, help="LoRA adapter: peft folder or SAR2Optical adapter file")
    p.add_argument("--lora-strength", type=float, default=1.0, help="adapter strength (default 1.0)")
    p.add_argument("--tile", type=int, default=None, help="tile size (default: the model's, 256 for the U-Nets)")
    p.add_argument("--overlap", type=int, default=32, help="tile overlap in pixels (default 32)")
    p.add_argument("--batch", type=int, default=4, help="tiles or images per forward pass (default 4)")
    p.add_argument("--prefilter", default=None, help="speckle filter applied to SAR intensity first (e.g. lee)")
    p.add_argument("--dualpol", choices=DUALPOL_MODES, default="auto", help="how two-band VV/VH input is fed")
    p.add_argument("--kind", choices=("auto",) + sio.KINDS, default="auto", help="what the input values are")
    p.add_argument(
        "--format",
        choices=("auto", "png", "tif"),
        default="auto",
        help="output format in folder mode (auto: .tif for TIFF inputs, .png otherwise)",
    )
    batch.add_batch_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    plan = plan_outputs(Path(args.input), Path(args.output), args.format)
    check_outputs(plan, sum(output_bytes(src, 3, per_band=False) for src, _ in plan))  # before loading the model
    opts = TranslateOptions(
        backend=args.backend,
        device=args.device,
        half=args.half,
        tile=args.tile,
        overlap=args.overlap,
        batch_size=args.batch,
        adapter=args.lora,
        adapter_strength=args.lora_strength,
        prefilter=args.prefilter,
        dualpol=args.dualpol,
    )
    if batch.wants_cluster(args) or args.skip_existing:  # one task per file, failures reported per file
        job = functools.partial(_translate_job, model=str(Path(args.model).resolve()), opts=opts, kind=args.kind)
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
        targets = dict(plan)

        def rasters() -> Iterator[sio.Raster]:
            for src, _ in plan:
                try:
                    yield sio.read_raster(src, kind=None if args.kind == "auto" else args.kind)
                except UserError as exc:
                    raise UserError(f"{src.name}: {exc}" if not str(exc).startswith(src.name) else str(exc)) from None

        start = time.perf_counter()
        shown: set[str] = set()
        for (src, _), result in zip(plan, translate_many(rasters(), translator, opts, total=len(plan))):
            dst = targets[src]
            write_result(result, dst)
            for n in result.notes:
                if n not in shown:
                    print(f"warning: {n[9:]}" if n.startswith("Warning: ") else f"note: {n}", file=sys.stderr)
                    shown.add(n)
            h, w = result.output.shape[:2]
            print(f"{src.name} -> {dst} ({w}x{h}, {result.tiles} tile{'s' if result.tiles != 1 else ''})")
        print(
            f"translated {len(plan)} image{'s' if len(plan) != 1 else ''} in {time.perf_counter() - start:.1f} s",
            file=sys.stderr,
        )
    finally:
        translator.close()
    return 0


def _translate_job(job: batch.Job, model: str, opts: TranslateOptions, kind: str) -> tuple[str, list[str]]:
    """One file of a folder run (serial or on a Dask worker); the translator is loaded once per process."""
    adapter = opts.adapter and (batch.model_digest(opts.adapter) if Path(opts.adapter).is_file() else opts.adapter)
    key = ("translate", batch.model_digest(model), adapter, repr(opts))
    translator = batch.cached_model(key, lambda: _ready_translator(model, opts))
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
