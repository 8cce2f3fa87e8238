"""How long a translation will take here, said before it starts: tiles x the time per tile measured now on this
machine (one warm-up tile, then two timed batches of random tiles), plus the statistics pass of a generator with
per-sample layers (core.translate.sample_norms). The CLI prints it and refuses runs above --max-minutes; the page
shows it and asks for confirmation above its limit.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from core.tiling import count_tiles
from core.translate.sample_norms import STATS_PIXELS
from core.translate.translator import TranslateOptions, Translator


@dataclass
class Estimate:
    """How long a translation will take here: tiles x the time per tile measured now on this machine."""

    tiles: int
    per_tile: float  # seconds per tile, measured on a batch of random tiles
    seconds: float

    def text(self) -> str:
        return (
            f"estimated duration {format_duration(self.seconds)}: {self.tiles} tiles × "
            f"{1000 * self.per_tile:.0f} ms per tile, measured now on this machine"
        )


def format_duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def seconds_per_tile(translator: Translator, tile: int | None = None, batch_size: int | None = None) -> float:
    """Seconds per tile of this translator at this tile and batch size: one warm-up tile, then the mean of two
    timed batches of random tiles (the mean, not the best: a loaded machine runs the real job as loaded).
    Cached on the translator (the page asks on every rerun)."""

    t = translator.tile_size(tile)
    bs = max(1, int(batch_size or translator.options.batch_size or translator.batch_size))
    cache = translator.__dict__.setdefault("_per_tile", {})
    if (t, bs) not in cache:
        x = np.random.default_rng(0).uniform(0, 255, (bs, t, t, translator.gen.in_channels)).astype(np.float32)
        # no lock: a scene job holding it (frozen statistics) must not block the page's estimate; timing a batch
        # under another image's frozen statistics is as fast, and its output is thrown away
        translator.run_batch(x[:1])
        t0 = time.perf_counter()
        for _ in range(2):
            translator.run_batch(x)
        spent = time.perf_counter() - t0
        cache[(t, bs)] = spent / (2 * bs)
    return float(cache[(t, bs)])


def estimate_duration(
    translator: Translator, sizes: Iterable[tuple[int, int]], options: TranslateOptions | None = None
) -> Estimate:
    """The estimated duration of translating images of these (height, width): their tiles (plus the statistics
    pass of a per-sample-normalised generator, counted as the tiles it holds) times the measured time per tile."""
    opts = options or translator.options
    t = translator.tile_size(opts.tile)
    ov = int(opts.overlap)
    tiles = 0.0
    n = 0
    for h, w in sizes:
        k = count_tiles(max(h, t), max(w, t), t, ov)
        n += k
        tiles += k
        if translator.sample_norms and k > 1:
            tiles += min(h * w, STATS_PIXELS) / (t * t)
    per = seconds_per_tile(translator, t, opts.batch_size)
    return Estimate(n, per, tiles * per)
