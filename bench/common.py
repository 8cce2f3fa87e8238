"""Shared by the benchmarks: timing and writing one section of bench/RESULTS.md.

Every benchmark reports ratios against a baseline run side by side in the same process, and records the
command that produced it. Each script owns one section, between `<!-- bench:NAME -->` markers.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")
ROOT = RESULTS.parent.parent

# The kernel keeps, in a child's ru_maxrss, the resident size it had before exec: a child started from a large
# process (a bench that wrote a scene, pytest with torch loaded) reports at least its parent's size. A small launcher
# process starts the real child and reports that child's own peak and CPU time (its waited-for processes included:
# Dask workers, the launcher's own few MB not).
_LAUNCH = """
import os, subprocess, sys
p = subprocess.Popen(sys.argv[2:])
_, status, u = os.wait4(p.pid, 0)
open(sys.argv[1], "w").write(f"{u.ru_maxrss} {u.ru_utime + u.ru_stime}")
sys.exit(os.waitstatus_to_exitcode(status))
"""


@dataclass(frozen=True)
class Child:
    wall: float  # s
    cpu: float  # s, user + sys of the child and the processes it waited for
    peak: float  # MiB, the child's own peak RSS
    rc: int
    out: str  # stdout
    err: str  # stderr tail


def measure_child(argv: list[str], env: dict | None = None, cwd: Path = ROOT, stdout: bool = False) -> Child:
    """Run `python argv...` in `cwd` (PYTHONPATH=cwd) through the launcher: wall, CPU and the child's own peak."""
    with tempfile.TemporaryDirectory() as tmp:
        usage = os.path.join(tmp, "usage")
        t = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-c", _LAUNCH, usage, sys.executable, *argv], cwd=cwd,
            stdout=subprocess.PIPE if stdout else subprocess.DEVNULL, stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(cwd), **(env or {})},
        )  # fmt: skip
        wall = time.perf_counter() - t
        peak_kb, cpu = (float(v) for v in open(usage).read().split()) if os.path.exists(usage) else (0.0, 0.0)
    out = proc.stdout.decode(errors="replace") if stdout else ""
    return Child(wall, cpu, peak_kb / 1024, proc.returncode, out, proc.stderr.decode(errors="replace").strip()[-400:])


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
