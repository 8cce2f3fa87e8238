"""Whole scenes (issue 10 §8): `despeckle` and `translate` on a 25,000 x 16,700 float32 scene and crops of it, each
run as `python -m core ...` in its own process; wall time, Mpixel/s and that child's peak RSS (os.wait4's
ru_maxrss, read through a small launcher so that it is the child's own). Also, in one process at 4096²: our Lee 7x7 and the `despeckle()` entry against a five-line OpenCV
boxFilter Lee.

    .venv/bin/python bench/scene.py [--sizes 2048,8192,full] [--refined-sizes 2048,8192] [--merlin-crop 1024]
                                    [--translate-sizes 2048] [--skip-despeckle] [--skip-translate]

Scenes are written to a temporary folder (deleted at the end): piecewise-constant reflectivity times single-look
Gamma speckle, tiled uncompressed GeoTIFF with a UTM transform; dual-pol has VV and VH bands.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import best_time, measure_child, write_section  # noqa: E402

FULL = (16_700, 25_000)  # rows, columns of a full IW GRD band
GEO = dict(crs="EPSG:32633", transform=(10.0, 0.0, 500_000.0, 0.0, -10.0, 5_000_000.0))


def write_scene(path: Path, height: int, width: int, bands: int) -> Path:
    """A speckled scene written block by block (never whole in memory)."""
    import rasterio
    from rasterio.transform import Affine
    from rasterio.windows import Window

    profile = dict(
        driver="GTiff", width=width, height=height, count=bands, dtype="float32", tiled=True, blockxsize=512,
        blockysize=512, BIGTIFF="YES", crs=GEO["crs"], transform=Affine(*GEO["transform"]),
    )  # fmt: skip
    rng = np.random.default_rng(0)
    with rasterio.open(path, "w", **profile) as ds:
        for r in range(0, height, 1024):
            h = min(1024, height - r)
            rows = np.arange(r, r + h)[:, None]
            cols = np.arange(width)[None, :]
            refl = np.where(((rows // 700) + (cols // 900)) % 2 == 0, 0.05, 0.3).astype(np.float32)
            for b in range(bands):
                x = refl * (0.25 if b else 1.0) * rng.gamma(1.0, 1.0, (h, width)).astype(np.float32)
                ds.write(x, b + 1, window=Window(0, r, width, h))
        if bands == 2:
            ds.descriptions = ("VV", "VH")
    return path


def run_child(argv: list[str], env: dict | None = None) -> tuple[float, float, int, str]:
    """(wall seconds, peak RSS in MiB of that child, exit code, stderr tail) of `python argv...`."""
    c = measure_child(argv, env)
    return c.wall, c.peak, c.rc, c.err[-300:]


IN_MEMORY = """
import sys
from core import io as sio, speckle as sp
r = sio.read_raster(sys.argv[1])
out = sp.despeckle_raster(r, "lee", window=7)
sio.write_geotiff(sys.argv[2], out.data, r.geo, r.band_names)
"""


def despeckle_rows(
    tmp: Path, sizes: list[str], refined: list[str], merlin_crop: int, dual: list[str]
) -> tuple[list[str], list[str]]:
    rows, notes = [], []
    scenes: dict[tuple[int, int, int], Path] = {}

    def scene(h: int, w: int, bands: int) -> Path:
        key = (h, w, bands)
        if key not in scenes:
            t = time.perf_counter()
            scenes[key] = write_scene(tmp / f"scene_{h}x{w}x{bands}.tif", h, w, bands)
            notes.append(f"wrote {w}x{h}x{bands} scene in {time.perf_counter() - t:.0f} s")
        return scenes[key]

    def dims(s: str) -> tuple[int, int]:
        return FULL if s == "full" else (int(s), int(s))

    jobs = []
    for s in sizes:
        for bands in (1, 2) if s in dual else (1,):
            jobs.append(("lee 7x7", ["--filter", "lee", "--window", "7"], s, bands))
    for s in refined:
        jobs.append(("refined Lee 7x7", ["--filter", "refined_lee", "--window", "7"], s, 1))
    if merlin_crop:
        jobs.append(("MERLIN (in memory)", ["--filter", "merlin", "--device", "cpu"], str(merlin_crop), 1))
    for label, opts, s, bands in jobs:
        h, w = dims(s)
        src = scene(h, w, bands)
        out = tmp / "out.tif"
        wall, rss, code, err = run_child(["-m", "core", "despeckle", str(src), str(out), *opts, "--no-progress"])
        out.unlink(missing_ok=True)
        mpx = h * w / 1e6
        status = "" if code == 0 else f" (exit {code}: {err})"
        pol = "dual-pol" if bands == 2 else "single"
        rows.append(f"| {label} | {w}x{h} {pol} | {wall:.1f} | {mpx / wall:.2f} | {rss:.0f}{status} |")
        print(rows[-1], flush=True)
    # the in-memory path of before (read_raster + despeckle_raster + write_geotiff) at the largest size run here
    big = max((dims(s) for s in sizes), key=lambda d: d[0] * d[1])
    if big[0] * big[1] <= 8192 * 8192:
        wall, rss, code, err = run_child(
            ["-c", IN_MEMORY, str(scene(big[0], big[1], 1)), str(tmp / "mem.tif")],
            env={"SAR_STUDIO_MAX_PIXELS": "1000000000"},
        )
    else:
        wall, rss, code, err = run_child(
            ["-c", IN_MEMORY, str(scene(8192, 8192, 1)), str(tmp / "mem.tif")],
            env={"SAR_STUDIO_MAX_PIXELS": "1000000000"},
        )
        big = (8192, 8192)
    (tmp / "mem.tif").unlink(missing_ok=True)
    status = "" if code == 0 else f" (exit {code}: {err})"
    rows.append(
        f"| lee 7x7, whole image in memory (read_raster) | {big[1]}x{big[0]} single | {wall:.1f} | "
        f"{big[0] * big[1] / 1e6 / wall:.2f} | {rss:.0f}{status} |"
    )
    print(rows[-1], flush=True)
    return rows, notes


def cv2_lee(x: np.ndarray, window: int, looks: float) -> np.ndarray:
    """The baseline: Lee in five lines of OpenCV (reflect borders, no NaN handling)."""
    import cv2

    mean = cv2.boxFilter(x, -1, (window, window))
    var = np.maximum(cv2.boxFilter(x * x, -1, (window, window)) - mean * mean, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.clip(np.where(var > 0, 1 - mean * mean / (looks * var), 0), 0, 1)
    return mean + w * (x - mean)


def in_process_rows(size: int = 4096) -> list[str]:
    from core import speckle as sp

    x = np.random.default_rng(1).gamma(1.0, 0.1, (size, size)).astype(np.float32)
    base = best_time(lambda: cv2_lee(x, 7, 1.0))
    ours = best_time(lambda: sp.lee_filter(x, 7, looks=1.0))
    entry = best_time(lambda: sp.despeckle(x, "lee", window=7, looks=1.0))
    return [
        f"| OpenCV boxFilter Lee (baseline) | {base:.3f} | 1.00 |",
        f"| `lee_filter` | {ours:.3f} | {ours / base:.2f} |",
        f"| `despeckle()` entry (CLI, pages) | {entry:.3f} | {entry / base:.2f} |",
    ]


def translate_rows(tmp: Path, sizes: list[int], backend: str) -> list[str]:
    rows = []
    model = ROOT / "checkpoints" / "pix2pix_unet_demo.safetensors"
    for s in sizes:
        src = write_scene(tmp / f"tr_{s}.tif", s, s, 1)
        out = tmp / "tr_out.tif"
        c = measure_child(
            ["-m", "core", "translate", str(src), str(out), "--model", str(model), "--device", "cpu", "--backend",
             backend, "--no-progress"],
            env={"SAR_STUDIO_MAX_PIXELS": "1000000000"},
        )  # fmt: skip
        out.unlink(missing_ok=True)
        status = "" if c.rc == 0 else f" (exit {c.rc}: {c.err[-300:]})"
        rows.append(
            f"| translate (demo U-Net, --backend {backend}) | {s}x{s} | {c.wall:.1f} | {c.cpu:.1f} | "
            f"{s * s / 1e6 / c.wall:.2f} | {c.peak:.0f}{status} |"
        )
        print(rows[-1], flush=True)
    return rows


def load_line() -> str:
    one, five, _ = os.getloadavg()
    return f"load average at the end: {one:.1f} (1 min), {five:.1f} (5 min) on {os.cpu_count()} cores"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="2048,8192,full", help="Lee 7x7 sizes (side, or full = 25000x16700)")
    ap.add_argument("--dual-sizes", default="2048,8192", help="sizes also run dual-pol")
    ap.add_argument("--refined-sizes", default="2048,8192", help="refined Lee sizes")
    ap.add_argument("--merlin-crop", type=int, default=1024, help="MERLIN crop side (0 = skip)")
    ap.add_argument("--translate-sizes", default="2048", help="translate sizes (side)")
    ap.add_argument("--skip-despeckle", action="store_true")
    ap.add_argument("--skip-translate", action="store_true")
    ap.add_argument("--backend", default="onnx", help="translate's --backend (auto, torch, onnx)")
    args = ap.parse_args()
    split = [s for s in args.sizes.split(",") if s]
    with tempfile.TemporaryDirectory(prefix="sar_scene_") as d:
        tmp = Path(d)
        if not args.skip_despeckle:
            rows, notes = despeckle_rows(
                tmp,
                split,
                [s for s in args.refined_sizes.split(",") if s],
                args.merlin_crop,
                args.dual_sizes.split(","),
            )
            table = "| run | scene | wall s | Mpixel/s | peak RSS MB |\n|---|---|---:|---:|---:|\n" + "\n".join(rows)
            side = "| 4096² in one process | s (best of 3) | × baseline |\n|---|---:|---:|\n" + "\n".join(
                in_process_rows()
            )
            body = (
                "Each row is `python -m core despeckle SCENE OUT.tif ...` in its own process (peak RSS of that "
                "child). GeoTIFF outputs of the classic filters are streamed in 512² blocks; MERLIN still reads "
                "the image whole.\n\n" + table + "\n\n" + side + "\n\n" + "; ".join(notes) + f"; {load_line()}."
            )
            write_section("scene: despeckle", body)
        if not args.skip_translate:
            rows = translate_rows(tmp, [int(s) for s in args.translate_sizes.split(",") if s], args.backend)
            table = (
                "| run | scene | wall s | CPU s | Mpixel/s | peak RSS MiB |\n|---|---|---:|---:|---:|---:|\n"
                + "\n".join(rows)
            )
            write_section("scene: translate", table + f"\n\n{load_line()}.")


if __name__ == "__main__":
    main()
