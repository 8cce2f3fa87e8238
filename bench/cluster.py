"""A local Dask cluster against one process (issue 24 item 2): 2 workers x 1 thread against 1 process x 1 thread,
on one large scene (its windows are the tasks) and on a folder of files (one task per file), per filter.

Each run is its own `python -m core despeckle` child: wall s, CPU s (user + system of the child and of the processes
it waited for, Dask workers included: os.wait4) and peak MiB (ru_maxrss: the largest of the child and its workers).
The serial run has SAR_STUDIO_THREADS=1 (GDAL, BLAS, OpenCV at one thread); `--workers 2` on two CPUs gives two
workers of one thread each. On a machine with more than two CPUs every child is pinned to two of them
(sched_setaffinity), so that the shape is the same everywhere. Outputs of both runs are compared byte for byte.
Runs alternate (serial, cluster, serial, ...); each cell is the best of `--repeat` runs (wall and CPU separately).
`--baseline DIR` adds the cluster run of another checkout (e.g. /work/main) in the same session: the CPU removed.

    .venv/bin/python bench/cluster.py [--size 8192] [--filters lee,refined_lee,gamma_map] [--files 8]
        [--file-size 2048] [--file-filters lee,refined_lee] [--repeat 2] [--baseline /work/main] [--write]

Prints the markdown; `--write` also replaces the `cluster` section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import write_section  # noqa: E402
from tests.support.scale_scene import write_scene  # noqa: E402

FILTER_ARGS = ["--window", "7", "--looks", "1", "--no-progress"]
Run = tuple[float, float, float]  # wall s, CPU s, peak MiB


def two_cpus() -> set[int] | None:
    """Two CPUs of this process's affinity when it has more (None: leave the children as they are)."""
    cpus = sorted(os.sched_getaffinity(0))
    return set(cpus[:2]) if len(cpus) > 2 else None


# The kernel counts what a child had before exec in its ru_maxrss, so a child forked from this (large) process would
# report at least this process's peak: a small launcher starts the command and reports the command's own usage.
_LAUNCH = """
import os, subprocess, sys
p = subprocess.Popen(sys.argv[2:], stdout=subprocess.DEVNULL)
_, status, ru = os.wait4(p.pid, 0)
open(sys.argv[1], "w").write(f"{ru.ru_utime + ru.ru_stime} {ru.ru_maxrss}")
sys.exit(os.waitstatus_to_exitcode(status))
"""
# The command with the heap policy of the scene workers (core.budget.keep_window_heap) set before it starts.
_WINDOW_HEAP_MAIN = (
    "import runpy, sys; from core.budget import keep_window_heap; keep_window_heap(); "
    "sys.argv = ['core', *sys.argv[1:]]; runpy.run_module('core', run_name='__main__', alter_sys=True)"
)


def child(root: Path, argv: list[str], env: dict | None = None, window_heap: bool = False) -> Run:
    """(wall s, CPU s, peak RSS MiB) of `python -m core argv` run in checkout `root`."""
    pin = two_cpus()
    cmd = [sys.executable, "-c", _WINDOW_HEAP_MAIN] if window_heap else [sys.executable, "-m", "core"]
    with tempfile.NamedTemporaryFile("r", suffix=".usage") as usage:
        t = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-c", _LAUNCH, usage.name, *cmd, *argv], cwd=root, stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(root), **(env or {})},
            preexec_fn=(lambda: os.sched_setaffinity(0, pin)) if pin else None,
        )  # fmt: skip
        wall = time.perf_counter() - t
        if proc.returncode != 0:
            raise SystemExit(f"python -m core {' '.join(argv)} failed: {proc.stderr.decode(errors='replace')[-600:]}")
        cpu, peak_kb = usage.read().split()
    return wall, float(cpu), int(peak_kb) / 1024


def best(runs: list[Run]) -> Run:
    return min(r[0] for r in runs), min(r[1] for r in runs), max(r[2] for r in runs)


def same_bytes(a: Path, b: Path) -> bool:
    if a.is_dir():
        names = sorted(p.name for p in a.iterdir())
        return names == sorted(p.name for p in b.iterdir()) and all(same_bytes(a / n, b / n) for n in names)
    return filecmp.cmp(a, b, shallow=False)


def load() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def compare(
    src: Path, out: Path, flt: str, repeat: int, baseline: Path | None
) -> tuple[Run, Run, Run, Run | None, bool]:
    """Serial (as it is, and with the workers' heap policy) and cluster runs of one filter on `src` (a file or a
    folder), alternating; every output compared with the serial one."""
    argv = ["despeckle", str(src), "", "--filter", flt, *FILTER_ARGS]
    serial, heap, cluster, base = [], [], [], []
    suffix = ".tif" if src.is_file() else ""
    a, b, c = out / f"serial_{flt}{suffix}", out / f"cluster_{flt}{suffix}", out / f"other_{flt}{suffix}"
    same = True
    one = {"SAR_STUDIO_THREADS": "1"}
    for _ in range(repeat):
        for p in (a, b, c):
            subprocess.run(["rm", "-rf", str(p)], check=True)
        serial.append(child(ROOT, [*argv[:2], str(a), *argv[3:]], one))
        cluster.append(child(ROOT, [*argv[:2], str(b), *argv[3:], "--workers", "2"]))
        same = same and same_bytes(a, b)
        heap.append(child(ROOT, [*argv[:2], str(c), *argv[3:]], one, window_heap=True))
        same = same and same_bytes(a, c)
        if baseline is not None:
            subprocess.run(["rm", "-rf", str(c)], check=True)
            base.append(child(baseline, [*argv[:2], str(c), *argv[3:], "--workers", "2"]))
            same = same and same_bytes(a, c)
    return best(serial), best(heap), best(cluster), (best(base) if base else None), same


def row(case: str, flt: str, s: Run, h: Run, c: Run, base: Run | None, same: bool) -> str:
    cells = [case, flt] + [f"{r[0]:.2f} / {r[1]:.2f} / {r[2]:.0f}" for r in (s, h, c)]
    if base is not None:
        cells.append(f"{base[0]:.2f} / {base[1]:.2f} / {base[2]:.0f}")
    cells += [f"{s[0] / c[0]:.2f}x", f"{h[0] / c[0]:.2f}x", f"{c[1] - s[1]:+.2f}", "yes" if same else "**NO**"]
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=8192, help="side of the one scene (0: skip)")
    ap.add_argument("--filters", default="lee,refined_lee,gamma_map")
    ap.add_argument("--files", type=int, default=8, help="files in the folder (0: skip)")
    ap.add_argument("--file-size", type=int, default=2048)
    ap.add_argument("--file-filters", default="lee,refined_lee")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--baseline", type=Path, default=None, help="another checkout whose cluster run is shown too")
    ap.add_argument("--write", action="store_true", help="also write the table into bench/RESULTS.md")
    a = ap.parse_args()
    start_load = load()
    rows = []
    with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
        t = Path(tmp)
        if a.size:
            scene = write_scene(t / "scene.tif", a.size, a.size)
            for flt in a.filters.split(","):
                rows.append(row(f"one {a.size}² scene", flt, *compare(scene, t, flt, a.repeat, a.baseline)))
            scene.unlink()
        if a.files:
            folder = t / "files"
            folder.mkdir()
            for i in range(a.files):
                write_scene(folder / f"f{i}.tif", a.file_size, a.file_size)
            for flt in a.file_filters.split(","):
                case = f"{a.files} files of {a.file_size}²"
                rows.append(row(case, flt, *compare(folder, t, flt, a.repeat, a.baseline)))
    pin = two_cpus()
    head = ["case", "filter", "1 process x 1 thread: wall s / CPU s / peak MiB", "same, workers' heap policy",
            "2 workers x 1 thread"]  # fmt: skip
    if a.baseline is not None:
        head.append(f"2 workers x 1 thread, {a.baseline}")
    head += ["speed-up (serial wall / cluster wall)", "speed-up against the serial run with the workers' heap",
             "extra CPU s of the cluster", "bytes identical"]  # fmt: skip
    body = [
        f"Load average (1 / 5 / 15 min) at start {start_load}, at end {load()}"
        + (f"; children pinned to CPUs {sorted(pin)}" if pin else f"; {os.cpu_count()} CPUs")
        + f". Best of {a.repeat} alternating runs per cell (wall and CPU separately); `despeckle --window 7 "
        "--looks 1`; serial with SAR_STUDIO_THREADS=1; peak = the largest process (client or worker). \"Workers' "
        'heap policy": the serial command with core.budget.keep_window_heap set before it starts (the scene '
        "workers use it; since eed0b36 the despeckle command takes it too when it runs alone, so the two serial "
        "columns differ only by the machine's noise).",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
        *rows,
    ]
    text = "\n".join(body)
    print(text)
    if a.write:
        write_section("cluster", text)


if __name__ == "__main__":
    main()
