"""`python -m core <command>`: argparse subcommands over the same functions the pages call.

One module per command group in this package; each defines `add_cli(subparsers)`, which adds its subcommand(s)
with `set_defaults(func=...)`; `func(args)` returns an exit status. UserError -> `error: <sentence>` on stderr
and exit status 2.

Start-up: COMMANDS maps each command name to its module and a one-line help, so `python -m core --help` imports no
command module and `python -m core CMD ...` imports only CMD's module (each pulls numpy, GDAL, torch, ... as it
needs). Adding a command: one row here, and `add_cli` in its module. A test checks the rows against the modules.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import signal
import sys
import warnings

from core.cli.args import OneLineParser
from core.errors import UserError, silence_expected_warnings

# name -> (module in core.cli, one-line help for `python -m core --help`). Order is the order in --help.
COMMANDS: dict[str, tuple[str, str]] = {
    "info": (
        "info",
        "describe a raster or Sentinel-1 product (size, bands, kind, georeference, calibration, memory)",
    ),
    "prepare": (
        "prepare",
        "Sentinel-1 product -> calibrated, noise-removed GeoTIFF (radar geometry, GCPs), optionally filtered",
    ),
    "geocode": (
        "geocode",
        "radar geometry (GCPs) to a north-up map grid through the geolocation grid, without a DEM",
    ),
    "despeckle": ("speckle", "speckle filtering of one image, a folder of images or a Sentinel-1 product"),
    "preprocess": (
        "preprocess",
        "speckle filter + percentile stretch + gamma of 8/16-bit SAR images (SAR2Optical's preprocess_qxslab.py "
        "options); a folder in gives a folder out with the same file names",
    ),
    "translate": ("translate", "translate SAR images to optical-like RGB with a generator"),
    "export-onnx": ("onnx", "export a translation generator to ONNX (opset 17, dynamic shapes)"),
    "superres": ("superres", "x4 reference-based super-resolution (RGTGAN, RRSGAN)"),
    "superres-onnx": ("superres", "export a super-resolution model to ONNX"),
    "crossband": ("crossband", "cross-band generation: content of one band, Gram statistics of another"),
    "gram": ("crossband", "accumulate a folder's mean Gram statistics into a Gram file"),
    "crossband-visualise": (
        "crossband",
        "what a feature layer responds to: images that excite channels or Gram elements, as a grid PNG",
    ),
    "train": (
        "train",
        "train or fine-tune a SAR-to-optical generator (pix2pix, pix2pixHD, C-HR-GAN, LoRA); resumable; runs "
        "under torchrun for several processes",
    ),
    "evaluate": (
        "train",
        "PSNR / SSIM (and FID with an Inception weights file) of a generator on a paired dataset; CSV per image "
        "and a summary",
    ),
    "fid": ("fid", "FID between two folders of images (pytorch-fid's definition; SAR2Optical's variant on request)"),
}


def command_module(name: str):
    """The module (core.cli.<module>) that defines command `name`."""
    return importlib.import_module(f"core.cli.{COMMANDS[name][0]}")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser with `command`'s module loaded (all of them when command is "*"); the other commands are
    listed with their one-line help only, and their modules are not imported."""
    parser = OneLineParser(prog="python -m core", description="SAR Studio command line.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    modules = list(dict.fromkeys(m for m, _ in COMMANDS.values())) if command == "*" else []
    if command in COMMANDS:
        modules = [COMMANDS[command][0]]
    for m in modules:
        importlib.import_module(f"core.cli.{m}").add_cli(sub)
    for name, (_, text) in COMMANDS.items():  # the others: listed in --help, their modules not imported
        if name not in sub.choices:
            sub.add_parser(name, help=text, add_help=False)
    return parser


def _chosen(argv: list[str]) -> str | None:
    """The command name in argv (the first word that is not an option), or None."""
    for a in argv:
        if not a.startswith("-"):
            return a if a in COMMANDS else None
    return None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(_chosen(argv))
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    previous = _exit_on_sigterm()
    try:
        from core.cli.options import apply_compress  # noqa: PLC0415 - start-up: `--help` loads no command module (tests/core/test_cli_startup.py)
        from core.compute import apply_thread_budget  # noqa: PLC0415 - start-up: `--help` loads only the parser (tests/core/test_cli_startup.py)

        apply_thread_budget()  # before the command loads torch, ONNX Runtime, BLAS or GDAL
        apply_compress(args)
        with warnings.catch_warnings():
            _warnings_as_notes()
            return int(args.func(args) or 0)
    except OSError as exc:
        if exc.errno not in DISK_ERRNOS:
            raise
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"error: {os.strerror(exc.errno)}{where}; free space or choose a writable folder.", file=sys.stderr)
        return 2
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted; no output was written for the unfinished file.", file=sys.stderr)
        return 130
    except MemoryError:
        print(f"error: {OUT_OF_MEMORY}", file=sys.stderr)
        return 2
    except RuntimeError as exc:  # torch's allocators (CPU and CUDA) raise RuntimeError, not MemoryError
        if not _out_of_memory(exc):
            raise
        print(f"error: {OUT_OF_MEMORY}", file=sys.stderr)
        return 2
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


OUT_OF_MEMORY = "out of memory; use a smaller tile or batch, or a smaller image."
_OOM_TEXT = ("out of memory", "can't allocate memory", "not enough memory", "failed to allocate")


def _out_of_memory(exc: RuntimeError) -> bool:
    """torch.OutOfMemoryError, or an allocator's RuntimeError (DefaultCPUAllocator: can't allocate memory ...)."""
    text = str(exc).lower()
    return type(exc).__name__ == "OutOfMemoryError" or any(t in text for t in _OOM_TEXT)


# Failures of the output folder that are the user's setup, not a bug: one line, exit 2.
DISK_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EDQUOT, errno.EFBIG}


def _warnings_as_notes() -> None:
    """Inside main's catch_warnings: expected library warnings are silenced, any other becomes one `note:` line
    (never Python's two-line warning with a source line)."""
    silence_expected_warnings()

    def note(message, category, filename, lineno, file=None, line=None) -> None:
        print(f"note: {' '.join(str(message).split())}", file=sys.stderr)

    warnings.showwarning = note


def _exit_on_sigterm():
    """SIGTERM raises SystemExit, so every `finally` (temporary files removed) runs; returns the old handler."""

    def on_term(signum, frame):
        raise SystemExit(143)

    try:
        return signal.signal(signal.SIGTERM, on_term)
    except ValueError:  # not the main thread
        return None
