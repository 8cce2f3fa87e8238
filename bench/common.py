"""Shared by the benchmarks: timing and writing one section of bench/RESULTS.md.

Every benchmark reports ratios against a baseline run side by side in the same process, and records the
command that produced it. Each script owns one section, between `<!-- bench:NAME -->` markers.
"""

from __future__ import annotations

import platform
import re
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")


def best_time(fn, repeat: int = 3, warmup: int = 1) -> float:
    """Best wall time of `repeat` calls after `warmup` calls, in seconds."""
    for _ in range(warmup):
        fn()
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def machine_line() -> str:
    import os

    try:
        import torch

        tv = f"torch {torch.__version__}, {torch.get_num_threads()} threads"
    except ImportError:  # pragma: no cover
        tv = "no torch"
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, {tv}"


def write_section(name: str, body: str, command: str | None = None) -> None:
    """Replace (or append) this benchmark's section in bench/RESULTS.md."""
    if command is None:
        script = Path(sys.argv[0]).resolve()
        try:
            script = script.relative_to(RESULTS.parent.parent)
        except ValueError:
            pass
        command = "python " + " ".join([script.as_posix(), *sys.argv[1:]])
    stamp = time.strftime("%Y-%m-%d")
    block = (
        f"<!-- bench:{name} -->\n## {name}\n\nCommand: `{command}`  \nRun {stamp} on {machine_line()}.\n\n"
        f"{body.strip()}\n<!-- /bench:{name} -->"
    )
    text = (
        RESULTS.read_text()
        if RESULTS.exists()
        else "# Benchmark results\n\nRatios against a baseline run in the same process. Regenerate with `make bench` or the command in each section.\n"
    )
    pat = re.compile(rf"<!-- bench:{re.escape(name)} -->.*?<!-- /bench:{re.escape(name)} -->", re.S)
    text = pat.sub(lambda _: block, text) if pat.search(text) else text.rstrip() + "\n\n" + block + "\n"
    tmp = RESULTS.with_suffix(".md.part")
    tmp.write_text(text)
    tmp.replace(RESULTS)
