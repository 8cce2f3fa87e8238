"""Folders on a local Dask cluster against the serial run, each as its own `python -m core despeckle` process.

8 scenes of 4096x4096 float32 (single-look speckle), Lee 7x7 (looks 1): serial vs `--workers 2`, wall time and
peak RSS (the sum over the command's whole process tree, sampled every 0.1 s by psutil, and its largest process).
Task overhead per file: 41 tiny 32x32 files minus 1 tiny file, divided by 40, serial and on the cluster.
The cluster's start-up (workers spawned, about a second or two) is inside the cluster times.

    python bench/cluster.py [--size 4096] [--scenes 8]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import write_section  # noqa: E402
from core import io as sio  # noqa: E402


def run_cli(argv: list[str]) -> tuple[float, float, float]:
    """(wall s, peak RSS of the process tree in MB, peak RSS of its largest process in MB)."""
    start = time.perf_counter()
    proc = psutil.Popen([sys.executable, "-m", "core", *argv], cwd=ROOT, stdout=subprocess.DEVNULL)
    peak_sum = peak_one = 0.0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak_sum, peak_one
        while not stop.is_set():
            try:
                procs = [proc, *proc.children(recursive=True)]
                rss = []
                for p in procs:
                    try:
                        rss.append(p.memory_info().rss)
                    except psutil.Error:
                        pass
                peak_sum = max(peak_sum, sum(rss) / 1e6)
                peak_one = max(peak_one, max(rss, default=0) / 1e6)
            except psutil.Error:
                pass
            time.sleep(0.1)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    code = proc.wait()
    stop.set()
    t.join()
    wall = time.perf_counter() - start
    if code != 0:
        raise SystemExit(f"python -m core {' '.join(argv)} exited {code}")
    return wall, peak_sum, peak_one


def make_scenes(folder: Path, n: int, size: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        sio.write_geotiff(folder / f"scene{i}.tif", rng.exponential(0.1, (size, size)).astype(np.float32))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--scenes", type=int, default=8)
    a = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(dir=ROOT / "bench") as tmp:
        t = Path(tmp)
        make_scenes(t / "big", a.scenes, a.size)
        lee = ["--filter", "lee", "--window", "7", "--looks", "1"]
        serial = run_cli(["despeckle", str(t / "big"), str(t / "o1"), *lee])
        cluster = run_cli(["despeckle", str(t / "big"), str(t / "o2"), *lee, "--workers", "2"])
        same = all((t / "o1" / p.name).read_bytes() == p.read_bytes() for p in (t / "o2").iterdir())
        rows.append(("serial", serial))
        rows.append(("--workers 2", cluster))
        make_scenes(t / "tiny41", 41, 32)
        make_scenes(t / "tiny1", 1, 32)
        over = {}
        for label, extra in (("serial", []), ("--workers 2", ["--workers", "2"])):
            many = run_cli(["despeckle", str(t / "tiny41"), str(t / f"t41{len(extra)}"), *lee, *extra])
            one = run_cli(["despeckle", str(t / "tiny1"), str(t / f"t1{len(extra)}"), *lee, *extra])
            over[label] = ((many[0] - one[0]) / 40, one[0], many[1])
    mp = a.size * a.size * a.scenes / 1e6
    body = [
        f"{a.scenes} scenes of {a.size}x{a.size} float32 ({mp:.0f} Mpixel), `despeckle --filter lee --window 7 "
        "--looks 1`, each run its own process; peak RSS sampled every 0.1 s over the whole process tree "
        "(command, nanny and worker processes) and for its largest process. Outputs of both runs byte-identical: "
        f"**{same}**.",
        "",
        "| run | wall s | Mpixel/s | time / serial | peak RSS, all processes (MB) | peak RSS, largest process (MB) |",
        "|---|---|---|---|---|---|",
    ]
    for label, (wall, rss_sum, rss_one) in rows:
        body.append(
            f"| {label} | {wall:.1f} | {mp / wall:.1f} | {wall / serial[0]:.2f} | {rss_sum:.0f} | {rss_one:.0f} |"
        )
    body += [
        "",
        "Task overhead per file: (41 tiny 32x32 files - 1 tiny file) / 40.",
        "",
        "| run | s per file | run of 1 tiny file (s, start-up included) | peak RSS of the 41-file run (MB) |",
        "|---|---|---|---|",
    ]
    for label, (per, one, rss) in over.items():
        body.append(f"| {label} | {per * 1000:.0f} ms | {one:.1f} | {rss:.0f} |")
    text = "\n".join(body)
    print(text)
    write_section("cluster", text)


if __name__ == "__main__":
    main()
