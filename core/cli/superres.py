"""`python -m core superres` (x4 reference-based super-resolution) and `superres-onnx` (export such a model)."""

from __future__ import annotations

import argparse
import functools
import io
import json
import re
import sys
from pathlib import Path

from core import batch, worker_models
from core import io as sio
from core.cli.args import count_int, positive_int
from core.cli.options import add_compress_option
from core.compute import DEVICES, resolve_device
from core.errors import UserError
from core.files import check_outputs, list_images, output_bytes
from core.progress import add_progress_option, cli_progress
from core.superres import (
    DEFAULT_OVERLAP,
    DEFAULT_TILE,
    SCALE,
    check_memory,
    export_superres_file,
    load_superres_model,
    output_geo,
    superres_rasters,
    to_output,
)


def add_cli(subparsers) -> None:
    p = subparsers.add_parser(
        "superres",
        help="x4 reference-based super-resolution (RGTGAN, RRSGAN)",
        description="x4 super-resolution of LR with a sharper reference image of the same "
        "area. Writes OUTPUT (.tif keeps the georeference, scaled 4x; .png).",
    )
    p.add_argument("lr", metavar="LR", help="low-resolution image (PNG, JPEG or GeoTIFF), or a folder of them")
    p.add_argument("output", metavar="OUTPUT", help="output file (.tif, .png or .jpg), or a folder for a LR folder")
    p.add_argument(
        "--ref",
        required=True,
        help="reference image of the same area (any size; resized to 4x LR), or for a LR folder the folder of "
        "references with the same file names (RGTGAN's Ref/ or google_Ref/)",
    )
    p.add_argument("--model", required=True, help="our .safetensors RGTGAN checkpoint or RGTGAN's {iter}_G.pth")
    p.add_argument(
        "--hr",
        help="true HR image (or folder): PSNR / SSIM of bicubic and of the model (border 4 cropped); for folders "
        "also per_image.csv and summary.json in OUTPUT, as RGTGAN's val.sh reports",
    )
    p.add_argument("--format", default="png", choices=["png", "jpg", "tif"], help="output format of a folder run")
    p.add_argument("--device", default="auto", choices=DEVICES)
    p.add_argument("--tile", type=positive_int, default=DEFAULT_TILE, help="tile size in LR pixels (default 64)")
    p.add_argument("--overlap", type=count_int, default=DEFAULT_OVERLAP, help="tile overlap in LR pixels (default 8)")
    p.add_argument("--bicubic", help="also write the bicubic x4 baseline to this file")
    add_compress_option(p)
    batch.add_batch_options(p)
    add_progress_option(p)
    p.set_defaults(func=run)
    q = subparsers.add_parser(
        "superres-onnx",
        help="export a super-resolution model to ONNX",
        description="Export an RGTGAN model (.safetensors or {iter}_G.pth) to one ONNX file "
        "(opset 17, dynamic batch / height / width), checked against PyTorch.",
    )
    q.add_argument("model", metavar="MODEL")
    q.add_argument("output", metavar="OUTPUT", help="output .onnx file")
    q.set_defaults(func=run_export)


def run_export(args: argparse.Namespace) -> int:
    desc, diff = export_superres_file(args.model, args.output)
    print(f"wrote {Path(args.output)} from {desc}; max difference to PyTorch on a 12x12 check: {diff:.2e}")
    return 0


OUTPUT_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg")


def run_with_progress(lr, ref, model, hr, device: str, args: argparse.Namespace):
    """superres_rasters with a tile progress bar (rate, ETA) on stderr; see core.progress."""
    with cli_progress("superres", unit="tile", force=args.progress) as bar:

        def progress(frac: float, msg: str) -> None:
            m = re.search(r"(\d+)/(\d+)", msg)  # core.tiling reports "tile 3/12"
            if m:
                bar(int(m.group(1)), int(m.group(2)))

        return superres_rasters(lr, ref, model, hr, device, args.tile, args.overlap, progress)


def run(args: argparse.Namespace) -> int:
    if Path(args.lr).is_dir():
        return run_folder(args)
    out = Path(args.output)
    if out.suffix.lower() not in OUTPUT_SUFFIXES:
        raise UserError(f"{out.name}: unknown output format {out.suffix or '(none)'}; use .tif, .png or .jpg.")
    outs = [(Path(args.lr), out)] + ([(Path(args.lr), Path(args.bicubic))] if args.bicubic else [])
    also = [Path(p) for p in (args.ref, args.hr, args.model) if p]
    check_outputs(outs, 16 * len(outs) * output_bytes(Path(args.lr)), also)  # x4: 16 output pixels per input one
    device, note = resolve_device(args.device)
    if note:
        print(f"note: {note}", file=sys.stderr)
    lr = sio.read_raster(args.lr)
    check_memory(lr.height, lr.width, args.tile)  # before the reference, the HR and the model are read
    ref = sio.read_raster(args.ref)
    hr = sio.read_raster(args.hr) if args.hr else None
    model, desc = load_superres_model(args.model, device)
    res = run_with_progress(lr, ref, model, hr, device, args)
    for n in res.notes:
        print(f"note: {n}", file=sys.stderr)
    bands = 1 if lr.bands == 1 else 3
    geo = output_geo(lr.geo)
    sio.write_image(out, to_output(res.sr, bands), geo)
    if args.bicubic:
        sio.write_image(args.bicubic, to_output(res.bicubic, bands), geo)
    print(f"wrote {out} ({res.sr.shape[1]}x{res.sr.shape[0]}) with {desc}")
    if res.metrics:
        b, m = res.metrics["bicubic"], res.metrics["model"]
        print(
            f"PSNR bicubic {b['psnr']:.2f} dB, model {m['psnr']:.2f} dB; "
            f"SSIM bicubic {b['ssim']:.4f}, model {m['ssim']:.4f} (border {SCALE} cropped)"
        )
    return 0


def run_folder(args: argparse.Namespace) -> int:
    """A test set, as RGTGAN's val.sh runs it: every image of the LR folder with the reference (and HR) of the same
    name; OUTPUT/<name>.<format>, and with --hr OUTPUT/per_image.csv and OUTPUT/summary.json (mean PSNR / SSIM)."""
    if args.workers or args.scheduler or args.skip_existing:
        return _run_folder_batch(args)
    import csv  # noqa: PLC0415 - start-up: csv only for a folder run with --hr, not `superres --help`

    lr_dir, out_dir, ref_dir = Path(args.lr), Path(args.output), Path(args.ref)
    hr_dir = Path(args.hr) if args.hr else None
    if out_dir.suffix.lower() in OUTPUT_SUFFIXES:
        raise UserError(f"{out_dir.name}: a folder of LR images needs an output folder, not a file name.")
    for what, d in (("--ref", ref_dir), ("--hr", hr_dir)):
        if d is not None and not d.is_dir():
            raise UserError(f"{what} {d} is not a folder; with a folder of LR images give folders for {what} too.")
    lrs = list_images(lr_dir)
    if not lrs:
        raise UserError(f"{lr_dir} holds no PNG, JPEG or TIFF images; give a folder of LR images.")

    def partner(folder: Path, stem: str, what: str) -> Path:
        found = {p.stem: p for p in list_images(folder)}.get(stem)
        if found is None:
            raise UserError(f"{stem} has no {what} of the same name in {folder}; add it or remove the LR image.")
        return found

    pairs = [(p, partner(ref_dir, p.stem, "reference"), partner(hr_dir, p.stem, "HR") if hr_dir else None) for p in lrs]
    device, note = resolve_device(args.device)
    if note:
        print(f"note: {note}", file=sys.stderr)
    model, desc = load_superres_model(args.model, device)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, (lr_p, ref_p, hr_p) in enumerate(pairs):
        lr = sio.read_raster(lr_p)
        res = superres_rasters(
            lr, sio.read_raster(ref_p), model, sio.read_raster(hr_p) if hr_p else None, device, args.tile, args.overlap
        )
        bands = 1 if lr.bands == 1 else 3
        sio.write_image(out_dir / f"{lr_p.stem}.{args.format}", to_output(res.sr, bands), output_geo(lr.geo))
        row: dict = {"name": lr_p.stem}
        if res.metrics:
            b, m = res.metrics["bicubic"], res.metrics["model"]
            row.update(psnr_bicubic=b["psnr"], psnr_model=m["psnr"], ssim_bicubic=b["ssim"], ssim_model=m["ssim"])
        rows.append(row)
        print(f"[{i + 1}/{len(pairs)}] {lr_p.name}", file=sys.stderr)
    print(f"wrote {len(rows)} images to {out_dir} with {desc}")
    if hr_dir is None:
        return 0
    keys = ["psnr_bicubic", "psnr_model", "ssim_bicubic", "ssim_model"]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=["name", *keys])
    w.writeheader()
    for r in rows:
        w.writerow({"name": r["name"], **{k: f"{r[k]:.5f}" for k in keys}})
    sio.write_bytes(out_dir / "per_image.csv", buf.getvalue().encode())
    summary: dict = {f"{k}_mean": float(sum(r[k] for r in rows) / len(rows)) for k in keys}
    summary.update(count=len(rows), model=desc, border_cropped=SCALE, metric="PSNR / SSIM over RGB, data range 1")
    sio.write_bytes(out_dir / "summary.json", json.dumps(summary, indent=2).encode())
    print(
        f"average PSNR bicubic {summary['psnr_bicubic_mean']:.2f} dB, model {summary['psnr_model_mean']:.2f} dB; "
        f"average SSIM bicubic {summary['ssim_bicubic_mean']:.4f}, model {summary['ssim_model_mean']:.4f}"
    )
    return 0


def _run_folder_batch(args: argparse.Namespace) -> int:
    """LR folder + reference folder (same file names) -> output folder on a Dask cluster (--workers / --scheduler /
    --skip-existing). Images only: the per-image CSV and summary of `run_folder` need --hr and a serial run."""
    lr_dir, ref_dir, out = Path(args.lr), Path(args.ref), Path(args.output)
    if not ref_dir.is_dir():
        raise UserError(f"{lr_dir} is a folder, so --ref must be a folder of references with the same file names.")
    if args.hr or args.bicubic:
        raise UserError("--hr and --bicubic take one image; drop them for a folder run.")
    if out.exists() and not out.is_dir():
        raise UserError(f"{out} is a file but the input is a folder; give an output folder.")
    files = list_images(lr_dir)
    if not files:
        raise UserError(f"{lr_dir} holds no PNG, JPEG or TIFF images; pick another folder.")
    jobs = [batch.Job(f, out / f"{f.stem}.tif", (ref_dir / f.name,)) for f in files]
    summary = batch.run_files(
        jobs,
        functools.partial(
            _superres_job,
            model=str(Path(args.model).resolve()),
            device=args.device,
            tile=args.tile,
            overlap=args.overlap,
        ),
        workers=args.workers,
        scheduler=args.scheduler,
        skip_existing=args.skip_existing,
        progress=getattr(args, "progress", None),
    )
    return batch.report_summary(summary, out)


def _superres_job(job: batch.Job, model: str, device: str, tile: int, overlap: int) -> tuple[str, list[str]]:
    """One LR image and its reference (serial or on a Dask worker); the model is loaded once per process."""
    ref_path = job.extra[0]
    if not ref_path.exists():
        raise UserError(f"{job.src.name}: no reference {ref_path.name} in {ref_path.parent}; add it or remove the LR.")
    dev, note = resolve_device(device)
    net, desc = worker_models.cached_model(
        ("superres", worker_models.model_digest(model), dev), lambda: load_superres_model(model, dev)
    )
    lr = sio.read_raster(job.src)
    res = superres_rasters(lr, sio.read_raster(ref_path), net, None, dev, tile, overlap)
    sio.write_image(job.dst, to_output(res.sr, 1 if lr.bands == 1 else 3), output_geo(lr.geo))
    line = f"{job.src.name} -> {job.dst} ({res.sr.shape[1]}x{res.sr.shape[0]}) with {desc}"
    return line, [n for n in [note, *res.notes] if n]
