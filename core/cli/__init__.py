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

from core.cli import crossband, fid, info, onnx, prepare, preprocess, speckle, superres, train, translate
from core.errors import UserError

# Order is the order in --help.
COMMAND_GROUPS = (info, prepare, speckle, preprocess, translate, onnx, superres, crossband, train, fid)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core", description="SAR Studio command line.")
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
        print("error: out of memory; use a smaller tile or batch, or a smaller image.", file=sys.stderr)
        return 2
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


# Failures of the output folder that are the user's setup, not a bug: one line, exit 2.
DISK_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EDQUOT, errno.EFBIG}


def _exit_on_sigterm():
    """SIGTERM raises SystemExit, so every `finally` (temporary files removed) runs; returns the old handler."""

    def on_term(signum, frame):
        raise SystemExit(143)

    try:
        return signal.signal(signal.SIGTERM, on_term)
    except ValueError:  # not the main thread
        return None
