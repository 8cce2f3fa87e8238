"""Argument types and the parser every `python -m core` command uses: bad options end in one line, exit 2.

argparse's own errors print a usage block and `prog: error: …`; `OneLineParser` prints `error: <what>; see
<prog> --help.` instead, the same shape as every UserError. `positive_int` / `positive_float` / `count_int` refuse
zero and negative sizes (a tile of 0, a batch of -3, 0 looks) at parse time, before anything is read.
"""

from __future__ import annotations

import argparse
import math
import sys
from typing import NoReturn


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line: `error: <message>; see <prog> --help.` and exit status 2."""

    def error(self, message: str) -> NoReturn:
        text = " ".join(str(message).split())
        self.exit(2, f"error: {text}; see `{self.prog} --help`.\n")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            sys.stderr.write(message)
        raise SystemExit(status)


def positive_int(text: str) -> int:
    """A whole number of at least 1 (tile sizes, batches, steps)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def count_int(text: str) -> int:
    """A whole number of at least 0 (overlaps)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def positive_float(text: str) -> float:
    """A finite number above 0 (looks, sigmas)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a number above 0, got {text}")
    return value
