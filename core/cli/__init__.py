"""`python -m core <command>`: argparse subcommands over the same functions the pages call.

One module per command group in this package; each defines `add_cli(subparsers)`, which adds its subcommand(s)
with `set_defaults(func=...)`; `func(args)` returns an exit status. UserError -> `error: <sentence>` on stderr
and exit status 2.
"""

from __future__ import annotations

import argparse
import errno
import os
import signal
import sys
import warnings

from core.cli import crossband, fid, geocode, info, onnx, prepare, preprocess, speckle, superres, train, translate
from core.cli.args import OneLineParser
from core.errors import UserError, silence_expected_warnings

# Order is the order in --help.
COMMAND_GROUPS = (info, prepare, geocode, speckle, preprocess, translate, onnx, superres, crossband, train, fid)


def build_parser() -> argparse.ArgumentParser:  # every subparser is a OneLineParser too (argparse's parser_class)
    parser = OneLineParser(prog="python -m core", description="SAR Studio command line.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for group in COMMAND_GROUPS:
        group.add_cli(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    previous = _exit_on_sigterm()
    try:
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
