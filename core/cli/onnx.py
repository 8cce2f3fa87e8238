"""`python -m core export-onnx`: a translation generator (with an optional LoRA adapter merged) to one ONNX file."""

from __future__ import annotations

import argparse
import sys

from core.translate.export import export_generator_file


def add_cli(subparsers) -> None:
    p = subparsers.add_parser(
        "export-onnx",
        help="export a translation generator to ONNX (opset 17, dynamic shapes)",
        description="Export a generator (.safetensors / .pth) to one ONNX file with dynamic "
        "batch, height and width, checked against PyTorch before it is written.",
    )
    p.add_argument("output", metavar="OUT.onnx", help="ONNX file to write")
    p.add_argument("--model", required=True, help="generator file: SAR Studio .safetensors or a foreign .pth")
    p.add_argument("--lora", default=None, help="LoRA adapter (peft folder or SAR2Optical file) merged before export")
    p.add_argument("--lora-strength", type=float, default=1.0, help="adapter strength (default 1.0)")
    p.add_argument("--size", type=int, default=None, help="trace and check size (default: the model's tile, 256)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    report = export_generator_file(args.model, args.output, args.lora, args.lora_strength, args.size)
    for n in report["notes"]:
        print(n, file=sys.stderr)
    print(
        f"wrote {args.output}: opset {report['opset']}, {report['bytes'] / 1e6:.1f} MB, "
        f"max |ONNX - PyTorch| = {report['max_abs_diff']:.2e} at {report['size']}x{report['size']}"
    )
    return 0
