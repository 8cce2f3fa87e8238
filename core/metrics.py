"""Image quality figures for SAR filtering and translation: ENL, mean ratio, EPI, PSNR, SSIM.

A plain module of functions on numpy arrays. ENL, mean ratio and EPI take linear intensity.
"""
from __future__ import annotations

import numpy as np

from core.errors import UserError

Region = tuple[int, int, int, int]  # row, column, height, width


def _valid(x: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    ok = np.isfinite(x)
    return ok if mask is None else ok & mask


def find_homogeneous_region(intensity: np.ndarray, size: int = 32, mask: np.ndarray | None = None) -> Region:
    """The size x size window with the highest ENL (lowest coefficient of variation) among windows that hold
    only valid pixels. Found on the input, then reused for every filtered result."""
    from core.speckle import local_moments

    x = np.asarray(intensity, np.float32)
    h, w = x.shape
    size = int(min(size, h, w))
    if size < 3:
        raise UserError(f"the image ({w}x{h}) is too small to find a homogeneous area; use at least 3x3 pixels.")
    ok = _valid(x, mask)
    mean, var, n = local_moments(x, size, ok)
    half = size // 2
    # windows centred at (r, c) span r-half .. r-half+size-1: keep those fully inside the image and valid
    full = n >= size * size - 0.5
    inside = np.zeros_like(full)
    inside[half:h - (size - 1 - half), half:w - (size - 1 - half)] = True
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.where(full & inside & (mean > 0) & (var > 0), mean * mean / var, -np.inf)
    if not np.isfinite(score).any():
        raise UserError("no fully valid homogeneous area was found; give an ENL region explicitly.")
    r, c = np.unravel_index(int(np.argmax(score)), score.shape)
    return int(r - half), int(c - half), size, size


def enl(intensity: np.ndarray, region: Region | None = None, size: int = 32,
        mask: np.ndarray | None = None) -> float:
    """Equivalent number of looks mean² / variance over `region` (row, col, height, width), or over the most
    homogeneous size x size window when region is None. Invalid pixels are left out."""
    x = np.asarray(intensity, np.float64)
    if region is None:
        region = find_homogeneous_region(intensity, size, mask)
    r, c, hh, ww = (int(v) for v in region)
    if hh < 2 or ww < 2 or r < 0 or c < 0 or r + hh > x.shape[0] or c + ww > x.shape[1]:
        raise UserError(f"ENL region (row {r}, column {c}, {hh}x{ww}) is not inside the {x.shape[1]}x{x.shape[0]} "
                        f"image; choose a region inside it.")
    ok = _valid(x, mask)[r:r + hh, c:c + ww]
    v = x[r:r + hh, c:c + ww][ok]
    if v.size < 4:
        raise UserError("the ENL region holds fewer than 4 valid pixels; choose another region.")
    var = v.var()
    return float(v.mean() ** 2 / var) if var > 0 else float("inf")


def mean_ratio(filtered: np.ndarray, original: np.ndarray, mask: np.ndarray | None = None) -> float:
    """mean(filtered) / mean(original) over pixels valid in both: 1 means the radiometry is kept."""
    f = np.asarray(filtered, np.float64)
    o = np.asarray(original, np.float64)
    ok = _valid(f, mask) & np.isfinite(o)
    if not ok.any():
        raise UserError("no pixel is valid in both images; check the inputs.")
    return float(f[ok].mean() / o[ok].mean())


def edge_preservation_index(filtered: np.ndarray, reference: np.ndarray, mask: np.ndarray | None = None) -> float:
    """EPI as the ratio of summed absolute differences between neighbouring pixels (horizontal and vertical),
    filtered over reference. With the noisy input as reference (no clean image available) it is below 1 for
    any smoothing; higher means edges (and speckle) kept. Pairs with an invalid pixel are left out."""
    f = np.asarray(filtered, np.float64)
    g = np.asarray(reference, np.float64)
    ok = _valid(f, mask) & np.isfinite(g)
    num = den = 0.0
    for axis in (0, 1):
        pair = np.logical_and(np.take(ok, range(1, ok.shape[axis]), axis), np.take(ok, range(ok.shape[axis] - 1), axis))
        df = np.abs(np.diff(np.where(ok, f, 0), axis=axis))[pair]
        dg = np.abs(np.diff(np.where(ok, g, 0), axis=axis))[pair]
        num += df.sum()
        den += dg.sum()
    if den == 0:
        raise UserError("the reference image is flat, so the edge preservation index is undefined.")
    return float(num / den)


def psnr(reference: np.ndarray, test: np.ndarray, data_range: float) -> float:
    """Peak signal-to-noise ratio (dB) from scikit-image, with an explicit data range."""
    from skimage.metrics import peak_signal_noise_ratio

    return float(peak_signal_noise_ratio(np.asarray(reference, np.float64), np.asarray(test, np.float64),
                                         data_range=float(data_range)))


def ssim(reference: np.ndarray, test: np.ndarray, data_range: float) -> float:
    """Structural similarity from scikit-image, with an explicit data range (channels last for RGB)."""
    from skimage.metrics import structural_similarity

    a = np.asarray(reference, np.float64)
    b = np.asarray(test, np.float64)
    kw = {"channel_axis": -1} if a.ndim == 3 else {}
    return float(structural_similarity(a, b, data_range=float(data_range), **kw))


def speckle_metrics(original: np.ndarray, filtered: np.ndarray, region: Region) -> dict:
    """The figures the speckle page and CLI report for one band: ENL over `region`, mean ratio, EPI."""
    return {"ENL": enl(filtered, region), "mean ratio": mean_ratio(filtered, original),
            "EPI": edge_preservation_index(filtered, original)}
