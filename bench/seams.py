"""Seams of an instance-normalised generator on a large sigma0 scene, before and after frozen statistics (issue 20).

    python bench/seams.py --size 6000 --out /tmp/seams

Writes a synthetic sigma0 scene (core.train.synthetic, speckled) of SIZE x SIZE, translates it with the bundled
C-HR-GAN demo (pix2pixHD global, instance norm, SE blocks) twice, streamed: "before" with per-tile statistics (the
code before issue 20, by switching the frozen statistics off) and "after" (frozen image-wide statistics), and
prints a seam metric for each: the mean tone jump (grey levels, mean of RGB, 16-px strips either side) across the
middle of each tile overlap, against the same jump across tile centres (where no border is). A seam-free output has
a ratio near 1. Wall, CPU time and peak RSS are printed beside each run; crops are saved as PNG to look at.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core import io as sio  # noqa: E402
from core.tiling import tile_starts  # noqa: E402
from core.translate import TranslateOptions, open_translator  # noqa: E402
from core.translate.stream import translate_scene  # noqa: E402

DEMO = ROOT / "checkpoints" / "chrgan_demo.safetensors"


def make_scene(path: Path, size: int) -> None:
    from core.train.synthetic import SyntheticScene

    sigma = SyntheticScene(7).render_sigma0(size).astype(np.float32)
    sigma *= np.random.default_rng(0).gamma(4.0, 0.25, sigma.shape).astype(np.float32)
    sio.write_geotiff(path, sigma, None, ["VV"])


def seam_metric(path: Path, tile: int = 256, overlap: int = 32) -> tuple[float, float]:
    """(mean jump across tile borders, mean jump across tile centres) in grey levels, per tile row."""
    img = sio.read_raster(path).data.astype(np.float32).mean(axis=2)
    h, w = img.shape
    xs, ys = tile_starts(w, tile, overlap), tile_starts(h, tile, overlap)
    rows = [(y + overlap, y + tile - overlap) for y in ys]

    def jump(cols: list[int]) -> float:
        return float(
            np.mean(
                [abs(img[a:b, c + 4 : c + 20].mean() - img[a:b, c - 20 : c - 4].mean()) for a, b in rows for c in cols]
            )
        )

    return jump([s + overlap // 2 for s in xs[1:]]), jump([s + tile // 2 for s in xs[:-1]])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=2048)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    scene = args.out / f"scene{args.size}.tif"
    if not scene.exists():
        make_scene(scene, args.size)
    for mode in ("before", "after"):
        tr = open_translator(DEMO, TranslateOptions(backend="torch", device="cpu", batch_size=4))
        if mode == "before":
            tr.sample_norms = None  # per-tile statistics, as before issue 20
        t0, c0 = time.perf_counter(), time.process_time()
        out = args.out / f"out{args.size}_{mode}.tif"
        with sio.open_source(scene) as src:
            res = translate_scene(src, out, tr)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        border, centre = seam_metric(out)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
        print(
            f"{mode}: {res.tiles} tiles, wall {wall:.0f} s, CPU {cpu:.0f} s, peak RSS {rss:.2f} GB; tone jump across "
            f"tile borders {border:.2f} vs across tile centres {centre:.2f} grey levels (ratio {border / centre:.2f})",
            flush=True,
        )
        crop = sio.read_raster(out).data[: min(900, args.size), : min(900, args.size)]
        sio.write_png(args.out / f"crop{args.size}_{mode}.png", crop)


if __name__ == "__main__":
    main()
