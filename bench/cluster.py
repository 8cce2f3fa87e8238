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
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import write_section  # noqa: E402
from tests.scale_scene import write_scene  # noqa: E402

FILTER_ARGS = ["--window", "7", "--looks", "1", "--no-progress"]
Run = tuple[float, float, float]  # wall s, CPU s, peak MiB


def two_cpus() -> set[int] | None:
    """Two CPUs of this process's affinity when it has more (None: leave the children as they are)."""
    cpus = sorted(os.sched_getaffinity(0))
    return set(cpus[:2]) if len(cpus) > 2 else None


def child(root: Path, argv: list[str], env: dict | None = None) -> Run:
    """(wall s, CPU s, peak RSS MiB) of `python -m core argv` run in checkout `root`."""
    pin = two_cpus()
    t = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "core", *argv], cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(root), **(env or {})},
        preexec_fn=(lambda: os.sched_setaffinity(0, pin)) if pin else None,
    )  # fmt: skip
    assert proc.stderr is not None
    err = proc.stderr.read().decode(errors="replace")
    _, status, ru = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"python -m core {' '.join(argv)} failed: {err[-600:]}")
    return wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024


def best(runs: list[Run]) -> Run:
    return min(r[0] for r in runs), min(r[1] for r in runs), max(r[2] for r in runs)


def same_bytes(a: Path, b: Path) -> bool:
    if a.is_dir():
        names = sorted(p.name for p in a.iterdir())
        return names == sorted(p.name for p in b.iterdir()) and all(same_bytes(a / n, b / n) for n in names)
    return a.read_bytes() == b.read_bytes()


def load() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def compare(src: Path, out: Path, flt: str, repeat: int, baseline: Path | None) -> tuple[Run, Run, Run | None, bool]:
    """Serial and cluster runs of one filter on `src` (a file or a folder), alternating; the last outputs compared."""
    argv = ["despeckle", str(src), "", "--filter", flt, *FILTER_ARGS]
    serial, cluster, base = [], [], []
    suffix = ".tif" if src.is_file() else ""
    a, b = out / f"serial_{flt}{suffix}", out / f"cluster_{flt}{suffix}"
    same = True
    for _ in range(repeat):
        for p in (a, b):
            subprocess.run(["rm", "-rf", str(p)], check=True)
        serial.append(child(ROOT, [*argv[:2], str(a), *argv[3:]], {"SAR_STUDIO_THREADS": "1"}))
        cluster.append(child(ROOT, [*argv[:2], str(b), *argv[3:], "--workers", "2"]))
        same = same and same_bytes(a, b)
        if baseline is not None:
            c = out / f"base_{flt}{suffix}"
            subprocess.run(["rm", "-rf", str(c)], check=True)
            base.append(child(baseline, [*argv[:2], str(c), *argv[3:], "--workers", "2"]))
            same = same and same_bytes(a, c)
    return best(serial), best(cluster), (best(base) if base else None), same


def row(case: str, flt: str, s: Run, c: Run, base: Run | None, same: bool) -> str:
    cells = [case, flt, f"{s[0]:.2f} / {s[1]:.2f} / {s[2]:.0f}", f"{c[0]:.2f} / {c[1]:.2f} / {c[2]:.0f}"]
    if base is not None:
        cells.append(f"{base[0]:.2f} / {base[1]:.2f} / {base[2]:.0f}")
    cells += [f"{s[0] / c[0]:.2f}x", f"{c[1] - s[1]:+.2f}", "yes" if same else "**NO**"]
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
    head = ["case", "filter", "1 process x 1 thread: wall s / CPU s / peak MiB", "2 workers x 1 thread: same"]
    if a.baseline is not None:
        head.append(f"2 workers, {a.baseline}: same")
    head += ["speed-up (serial wall / cluster wall)", "extra CPU s of the cluster", "bytes identical"]
    body = [
        f"Load average (1 / 5 / 15 min) at start {start_load}, at end {load()}"
        + (f"; children pinned to CPUs {sorted(pin)}" if pin else f"; {os.cpu_count()} CPUs")
        + f". Best of {a.repeat} alternating runs per cell (wall and CPU separately); `despeckle --window 7 "
        "--looks 1`; serial with SAR_STUDIO_THREADS=1; peak = the largest process (client or worker).",
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
