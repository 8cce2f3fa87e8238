"""Progress for long work: one callback shape for engines, a tqdm bar with rate and ETA for the command line.

Engines take `progress: ProgressFn | None` and call it as `progress(done, total)` (units are the engine's: blocks,
tiles, files). They never print. The CLI makes the callback with `cli_progress(...)`: a bar on stderr when stderr is
a terminal, nothing otherwise (logs stay clean) unless `--progress` forces it. Pages pass a callback that updates
`st.progress`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

ProgressFn = Callable[[int, int], None]


def wants_bar(force: bool | None = None, stream: TextIO | None = None) -> bool:
    """True when a bar should be drawn: `force` (from --progress / --no-progress) wins, else stderr is a TTY."""
    if force is not None:
        return force
    stream = stream or sys.stderr
    return bool(getattr(stream, "isatty", lambda: False)())


@contextmanager
def cli_progress(desc: str, unit: str = "block", force: bool | None = None) -> Iterator[ProgressFn]:
    """A `progress(done, total)` callback drawing a tqdm bar (rate and ETA) on stderr, closed on exit.

    With no terminal and no `force`, the callback does nothing, so callers never need to check.
    """
    if not wants_bar(force):
        yield _silent
        return
    from tqdm import tqdm  # light, but only the CLI needs it

    bar = tqdm(total=0, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True, leave=True, mininterval=0.5)

    def update(done: int, total: int) -> None:
        if bar.total != total:
            bar.total = total
            bar.refresh()
        if done > bar.n:
            bar.update(done - bar.n)

    try:
        yield update
    finally:
        bar.close()


def _silent(done: int, total: int) -> None:
    return None


def add_progress_option(parser) -> None:
    """`--progress` / `--no-progress` on a command: default is a bar only when stderr is a terminal."""
    parser.add_argument(
        "--progress",
        action="store_true",
        default=None,
        help="show a progress bar with rate and ETA even when stderr is not a terminal (default: only on a terminal)",
    )
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="never show a progress bar")
