"""Scale and speed (issue 24), each run as its own `python -m core despeckle` child: wall time, CPU time (user + sys
of the child and the processes it waited for, Dask workers included) and the child's peak RSS (os.wait4).

1. GeoTIFF codec on an 8192² float32 Lee 7x7 output: today's single-threaded DEFLATE (SAR_STUDIO_THREADS=1,
   --compress deflate) against ZSTD level 1 with the thread budget (the new default), ZSTD single-threaded, none.
2. One 8192² scene: serial against `--workers 2` (windows as tasks), byte-identical outputs checked.
3. 8 files of 2048²: serial and `--workers 2`, baseline checkout (e.g. main) against this one.

    .venv/bin/python bench/scale.py --baseline /work/main [--size 8192] [--files 8] [--file-size 2048]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import measure_child  # noqa: E402
from tests.support.scale_scene import write_scene  # noqa: E402

LEE = ["--filter", "lee", "--window", "7", "--looks", "1", "--no-progress"]


def child(root: Path, argv: list[str], env: dict | None = None) -> tuple[float, float, float]:
    """(wall s, CPU s, peak RSS MiB) of `python -m core argv` run in `root`."""
    c = measure_child(["-m", "core", *argv], env, cwd=root)
    if c.rc != 0:
        raise SystemExit(f"{argv} failed: {c.err}")
    return c.wall, c.cpu, c.peak


def fmt(r: tuple[float, float, float]) -> str:
    return f"{r[0]:.1f} | {r[1]:.1f} | {r[2]:.0f}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--baseline", type=Path, required=True)
    ap.add_argument("--size", type=int, default=8192)
    ap.add_argument("--files", type=int, default=8)
    ap.add_argument("--file-size", type=int, default=2048)
    ap.add_argument("--skip", default="", help="comma-separated parts to skip: codec,scene,files")
    a = ap.parse_args()
    skip = set(a.skip.split(","))
    out: list[str] = [f"Load average (1 / 5 / 15 min) at start: {' / '.join(f'{x:.1f}' for x in os.getloadavg())} "
                      f"on {os.cpu_count()} CPUs (above about 1 before a run, other work shared the machine and "
                      "wall ratios of parallel runs mean little; CPU time is the figure to compare).", ""]  # fmt: skip
    with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
        t = Path(tmp)
        scene = write_scene(t / "scene.tif", a.size, a.size)
        if "codec" not in skip:
            out += [f"### GeoTIFF codec, {a.size}² float32 Lee 7x7 output", "",
                    "| codec | wall s | CPU s | peak MiB | output MB | CPU / DEFLATE 1 thread |", "|---|---|---|---|---|---|"]  # fmt: skip
            rows = {}
            for label, comp, env in (
                ("DEFLATE, 1 thread (before)", "deflate", {"SAR_STUDIO_THREADS": "1"}),
                ("ZSTD 1 + budget threads (default)", "zstd", {}),
                ("ZSTD 1, 1 thread", "zstd", {"SAR_STUDIO_THREADS": "1"}),
                ("DEFLATE + budget threads", "deflate", {}),
                ("none", "none", {}),
            ):
                dst = t / f"c_{comp}_{len(env)}.tif"
                rows[label] = (child(ROOT, ["despeckle", str(scene), str(dst), *LEE, "--compress", comp], env),
                               dst.stat().st_size / 1e6)  # fmt: skip
                dst.unlink()
            base = rows["DEFLATE, 1 thread (before)"][0][1]
            for label, (r, mb) in rows.items():
                out.append(f"| {label} | {fmt(r)} | {mb:.0f} | {r[1] / base:.2f} |")
            out.append("")
        if "scene" not in skip:
            serial = child(ROOT, ["despeckle", str(scene), str(t / "s1.tif"), *LEE])
            dask = child(ROOT, ["despeckle", str(scene), str(t / "s2.tif"), *LEE, "--workers", "2"])
            same = (t / "s1.tif").read_bytes() == (t / "s2.tif").read_bytes()
            out += [f"### One {a.size}² scene on a local cluster (windows as tasks)", "",
                    "| run | wall s | CPU s | peak MiB (client) | wall / serial |", "|---|---|---|---|---|",
                    f"| serial | {fmt(serial)} | 1.00 |", f"| --workers 2 | {fmt(dask)} | {dask[0] / serial[0]:.2f} |",
                    "", f"Outputs byte-identical: **{same}**.", ""]  # fmt: skip
        scene.unlink()
        if "files" not in skip:
            folder = t / "files"
            folder.mkdir()
            for i in range(a.files):
                write_scene(folder / f"f{i}.tif", a.file_size, a.file_size)
            out += [f"### {a.files} files of {a.file_size}², baseline ({a.baseline}) against this branch", "",
                    "| run | baseline wall s / CPU s / peak MiB | this branch wall s / CPU s / peak MiB | CPU ratio |",
                    "|---|---|---|---|"]  # fmt: skip
            for label, extra in (("serial", []), ("--workers 2", ["--workers", "2"])):
                res = {}
                for tag, root in (("base", a.baseline), ("new", ROOT)):
                    dst = t / f"o_{tag}_{len(extra)}"
                    res[tag] = child(root, ["despeckle", str(folder), str(dst), *LEE[:-1], *extra])
                b, n = res["base"], res["new"]
                out.append(f"| {label} | {b[0]:.1f} / {b[1]:.1f} / {b[2]:.0f} | {n[0]:.1f} / {n[1]:.1f} / {n[2]:.0f} | "
                           f"{n[1] / b[1]:.2f} |")  # fmt: skip
            out.append("")
    out.append(f"Load average at end: {' / '.join(f'{x:.1f}' for x in os.getloadavg())}.")
    print("\n".join(out))


if __name__ == "__main__":
    main()
