"""The baselines on the demo model cards are recomputed here from their definitions (the card's own text):
fitted on the first 120 training scenes of the sensor, scored on the 32 held-out scenes (seeds 100000-100031) with
scikit-image PSNR / SSIM (data range 255, RGB), so a card whose baseline row is edited no longer passes.

- mean colour: every pixel painted with the mean optical colour (rounded to 8 bits);
- grey-level lookup: each SAR display level, after a 5x5 mean (mirror-symmetric border, rounded), mapped to the
  mean optical colour seen at that level (rounded; levels never seen take the mean colour).
Regenerating 152 scenes per sensor takes a while: each sensor is computed once per session, over the cores."""

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from functools import cache

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from core.train.datasets import synthetic_sources
from tests.support.repo import ROOT

CKPT = ROOT / "checkpoints"
CARDS = {"pix2pix_unet_demo": "A", "chrgan_demo": "A", "pix2pix_unet_demo_sensorB_lora": "B"}


def _mean5(grey: np.ndarray) -> np.ndarray:
    """5x5 box mean, border mirrored with the edge pixel repeated, by summed-area table; rounded to 8 bits."""
    p = np.pad(grey.astype(np.float64), 2, mode="symmetric")
    c = np.zeros((p.shape[0] + 1, p.shape[1] + 1))
    c[1:, 1:] = p.cumsum(0).cumsum(1)
    s = c[5:, 5:] - c[:-5, 5:] - c[5:, :-5] + c[:-5, :-5]
    return np.rint(s / 25).astype(np.int64)


def _fit_chunk(args):
    sensor, seeds = args
    colour_sum, count = np.zeros((256, 3)), np.zeros(256)
    total, n = np.zeros(3), 0
    for src in synthetic_sources(seeds, sensor, 256):
        sar, opt = src.load()
        levels = _mean5(sar if sar.ndim == 2 else sar[..., 0]).ravel()
        o = opt.reshape(-1, 3).astype(np.float64)
        for ch in range(3):
            colour_sum[:, ch] += np.bincount(levels, o[:, ch], minlength=256)
        count += np.bincount(levels, minlength=256)
        total += o.sum(0)
        n += len(o)
    return colour_sum, count, total, n


def _score_chunk(args):
    sensor, seeds, mean, lut = args
    rows = []
    for src in synthetic_sources(seeds, sensor, 256):
        sar, opt = src.load()
        grey = sar if sar.ndim == 2 else sar[..., 0]
        row = {}
        for name, pred in (
            ("mean colour", np.broadcast_to(mean, opt.shape).copy()),
            ("grey-level lookup", lut[_mean5(grey)]),
        ):
            row[name] = (
                peak_signal_noise_ratio(opt, pred, data_range=255),
                structural_similarity(opt, pred, data_range=255, channel_axis=2),
            )
        rows.append(row)
    return rows


@cache
def _baselines(sensor: str) -> dict:
    # scenes are independent: spread them over the cores (spawned workers: no fork of a process holding torch)
    workers = max(1, min(8, len(os.sched_getaffinity(0))))
    chunks = lambda seeds: [(sensor, list(seeds[i::workers])) for i in range(workers)]  # noqa: E731
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        parts = list(pool.map(_fit_chunk, chunks(list(range(120)))))
        colour_sum, count = sum(p[0] for p in parts), sum(p[1] for p in parts)
        total, n = sum(p[2] for p in parts), sum(p[3] for p in parts)
        mean = np.rint(total / n).astype(np.uint8)
        lut = np.rint(colour_sum / np.maximum(count, 1)[:, None]).astype(np.uint8)
        lut[count == 0] = mean
        rows = [
            r
            for part in pool.map(_score_chunk, [c + (mean, lut) for c in chunks(list(range(100000, 100032)))])
            for r in part
        ]
    assert len(rows) == 32
    return {
        k: tuple(float(np.mean([r[k][i] for r in rows])) for i in (0, 1)) for k in ("mean colour", "grey-level lookup")
    }


def _card_rows(name):
    import re

    text = (CKPT / f"{name}.md").read_text()
    return {
        m.group(1).strip(): (float(m.group(2)), float(m.group(3)))
        for m in re.finditer(r"^\| ([^|]+) \| ([0-9.]+) \| ([0-9.]+) \|$", text, re.M)
    }


@pytest.mark.parametrize("name", sorted(CARDS))
def test_card_baselines_are_recomputed(name):
    rows = _card_rows(name)
    for baseline, (psnr, ssim) in _baselines(CARDS[name]).items():
        card_psnr, card_ssim = rows[f"baseline: {baseline}"]
        assert card_psnr == pytest.approx(psnr, abs=0.006), (name, baseline, "PSNR")
        assert card_ssim == pytest.approx(ssim, abs=0.00006), (name, baseline, "SSIM")
