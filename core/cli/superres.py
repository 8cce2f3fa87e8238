"""`python -m core superres` (x4 reference-based super-resolution) and `superres-onnx` (export such a model)."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from core import io as sio
from core.compute import DEVICES, resolve_device
from core.errors import UserError
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
    p.add_argument("lr", metavar="LR", help="low-resolution image (PNG, JPEG or GeoTIFF)")
    p.add_argument("output", metavar="OUTPUT", help="output file, .tif or .png")
    p.add_argument("--ref", required=True, help="reference image of the same area (any size; resized to 4x LR)")
    p.add_argument("--model", required=True, help="our .safetensors RGTGAN checkpoint or RGTGAN's {iter}_G.pth")
    p.add_argument("--hr", help="true HR image: prints PSNR / SSIM of bicubic and of the model (border 4 cropped)")
    p.add_argument("--device", default="auto", choices=DEVICES)
    p.add_argument("--tile", type=int, default=DEFAULT_TILE, help="tile size in LR pixels (default 64)")
    p.add_argument("--overlap", type=int, default=DEFAULT_OVERLAP, help="tile overlap in LR pixels (default 8)")
    p.add_argument("--bicubic", help="also write the bicubic x4 baseline to this file")
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


def run_with_progress(lr, ref, model, hr, device: str, args: argparse.Namespace):
    """superres_rasters with a tile progress bar (rate, ETA) on stderr; see core.progress."""
    with cli_progress("superres", unit="tile", force=args.progress) as bar:

        def progress(frac: float, msg: str) -> None:
            m = re.search(r"(\d+)/(\d+)", msg)  # core.tiling reports "tile 3/12"
            if m:
                bar(int(m.group(1)), int(m.group(2)))

        return superres_rasters(lr, ref, model, hr, device, args.tile, args.overlap, progress)


def run(args: argparse.Namespace) -> int:
    out = Path(args.output)
    if out.suffix.lower() not in (".tif", ".tiff", ".png"):
        raise UserError(f"{out.name}: unknown output format {out.suffix or '(none)'}; use .tif or .png.")
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
