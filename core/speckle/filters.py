"""Classic speckle filters on linear intensity: boxcar, Lee, Kuan, Gamma-MAP, Frost, Gaussian, median, bilateral.

Each takes intensity (float32, (H, W)) and a validity mask and returns intensity; local statistics are taken over
the valid pixels of each window. With Cu² = 1/L and Ci² = local variance / local mean²:
  Lee        x = m + W (I - m),  W = max(0, 1 - Cu²/Ci²)
  Kuan       x = m + W (I - m),  W = max(0, (1 - Cu²/Ci²) / (1 + Cu²))
  Gamma-MAP  m where Ci <= Cu; I where Ci >= sqrt(2) Cu; between, with a = (1 + Cu²)/(Ci² - Cu²) and
             B = a - L - 1: x = (B m + sqrt(m² B² + 4 a L I m)) / (2 a)
  Frost      weighted mean with weights exp(-K Ci² d), d the Euclidean distance to the centre pixel
  Boxcar, Gaussian  (weighted) mean; median  median (invalid pixels filled with the local mean first);
  bilateral  on dB values, spatial and range Gaussian weights, then back to intensity.
Refined Lee is in core.speckle.refined_lee. L is the number of looks (core.speckle.looks), Cu the speckle's
coefficient of variation.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from core import io as sio
from core.errors import UserError
from core.local_stats import (
    box_sum,
    by_rows,
    check_window,
    count_all_valid,
    kernel_sum,
    local_moments,
    opencv,
    prepare,
    weight_lee,
)
from core.speckle.looks import check_looks


def boxcar_filter(intensity: np.ndarray, window: int = 5, valid: np.ndarray | None = None) -> np.ndarray:
    window = check_window(window)
    x, m, all_valid = prepare(intensity, valid)
    n = count_all_valid(*x.shape, window)[0] if all_valid else box_sum(m, window)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (box_sum(x, window) / n).astype(np.float32)


def lee_filter(
    intensity: np.ndarray, window: int = 7, looks: float | None = None, valid: np.ndarray | None = None
) -> np.ndarray:
    return _moment_filter(intensity, window, looks, valid, _lee_rule)


def kuan_filter(
    intensity: np.ndarray, window: int = 7, looks: float | None = None, valid: np.ndarray | None = None
) -> np.ndarray:
    return _moment_filter(intensity, window, looks, valid, _kuan_rule)


def gamma_map_filter(
    intensity: np.ndarray, window: int = 7, looks: float | None = None, valid: np.ndarray | None = None
) -> np.ndarray:
    return _moment_filter(intensity, window, looks, valid, _gamma_map_rule)


def _moment_filter(
    intensity: np.ndarray, window: int, looks: float | None, valid: np.ndarray | None, rule: Callable
) -> np.ndarray:
    """A filter computed from the pixel and its window's mean and variance, in cache-sized blocks of rows."""
    window = check_window(window)
    L = check_looks(looks, intensity, valid)
    x, m, _ = prepare(intensity, valid)

    def block(xb: np.ndarray, mb: np.ndarray) -> np.ndarray:
        mean, var, _ = local_moments(xb, window, mb > 0)
        return rule(xb, mean, var, L)

    return by_rows(block, x, m, window // 2, rows=512)


def _lee_rule(x: np.ndarray, mean: np.ndarray, var: np.ndarray, L: float) -> np.ndarray:
    w = weight_lee(mean, var, 1.0 / L)
    return mean + w * (x - mean)


def _kuan_rule(x: np.ndarray, mean: np.ndarray, var: np.ndarray, L: float) -> np.ndarray:
    cu2 = 1.0 / L
    w = weight_lee(mean, var, cu2) / np.float32(1.0 + cu2)
    return mean + w * (x - mean)


def _gamma_map_rule(x: np.ndarray, mean: np.ndarray, var: np.ndarray, L: float) -> np.ndarray:
    cu2 = 1.0 / L
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        ci2 = np.where(mean > 0, var / (mean * mean), 0).astype(np.float32)
        mid = (ci2 > cu2) & (ci2 < 2 * cu2)
        alpha = (1 + cu2) / np.where(mid, ci2 - cu2, 1)
        b = alpha - L - 1
        d = mean * mean * b * b + 4 * alpha * L * x * mean
        xmap = (b * mean + np.sqrt(np.maximum(d, 0))) / (2 * alpha)
    out = np.where(ci2 <= cu2, mean, np.where(ci2 >= 2 * cu2, x, xmap))
    return out.astype(np.float32)


def _rings(window: int) -> list[tuple[float, np.ndarray]]:
    """(distance, kernel selecting the pixels at that distance from the centre) for a square window."""
    r = window // 2
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    d2 = yy * yy + xx * xx
    return [(math.sqrt(v), (d2 == v).astype(np.float32)) for v in np.unique(d2)]


def frost_filter(
    intensity: np.ndarray, window: int = 7, damping: float = 2.0, valid: np.ndarray | None = None
) -> np.ndarray:
    window = check_window(window)
    try:
        k = float(damping)
    except (TypeError, ValueError):
        k = float("nan")
    if not (math.isfinite(k) and k > 0):
        raise UserError(f"damping must be a positive number, got {damping!r}; the usual value is 2.")
    x, m, _ = prepare(intensity, valid)
    return by_rows(lambda xb, mb: _frost_block(xb, mb, window, k), x, m, window // 2)


def _frost_block(x: np.ndarray, m: np.ndarray, window: int, k: float) -> np.ndarray:
    mean, var, _ = local_moments(x, window, m > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        a = np.where(mean > 0, k * var / (mean * mean), 0).astype(np.float32)
    num = np.zeros_like(x)
    den = np.zeros_like(x)
    wgt = np.empty_like(x)
    for dist, kern in _rings(window):
        if dist > 0:
            np.multiply(a, np.float32(-dist), out=wgt)
            np.exp(wgt, out=wgt)
        else:
            wgt.fill(1.0)
        num += wgt * kernel_sum(x, kern)
        den += wgt * kernel_sum(m, kern)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.nan).astype(np.float32)


def gaussian_filter(
    intensity: np.ndarray, window: int = 5, sigma: float = 0.0, valid: np.ndarray | None = None
) -> np.ndarray:
    """Gaussian-weighted mean over the valid pixels; sigma 0 means OpenCV's rule from the window size."""
    window = check_window(window)
    try:
        s = float(sigma)
    except (TypeError, ValueError):
        s = float("nan")
    if not (math.isfinite(s) and s >= 0):
        raise UserError(f"sigma must be zero (automatic) or a positive number, got {sigma!r}.")
    cv2 = opencv()
    g = cv2.getGaussianKernel(window, s, cv2.CV_32F).ravel()
    x, m, _ = prepare(intensity, valid)
    num = cv2.sepFilter2D(x, -1, g, g, borderType=cv2.BORDER_CONSTANT)
    den = cv2.sepFilter2D(m, -1, g, g, borderType=cv2.BORDER_CONSTANT)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.maximum(den, 1e-30), np.nan).astype(np.float32)


def median_filter(
    intensity: np.ndarray, window: int = 5, valid: np.ndarray | None = None, fill: float | None = None
) -> np.ndarray:
    """Median of the window (edges replicated). Invalid pixels are first filled with the local mean, or `fill`
    (default: the median of the valid pixels) where their window holds no valid pixel."""
    window = check_window(window)
    x, m, all_valid = prepare(intensity, valid)
    if not all_valid:
        mean, _, n = local_moments(intensity, window, valid)
        if fill is None:
            fill = float(np.median(x[m > 0]))
        x = np.where(m > 0, x, np.where(n > 0, mean, fill)).astype(np.float32)
    if window <= 5:
        return opencv().medianBlur(x, window)
    from scipy import ndimage  # heavy (about 1 s): only medians over windows larger than 5 need it

    return ndimage.median_filter(x, size=window, mode="nearest")


def bilateral_filter(
    intensity: np.ndarray,
    window: int = 5,
    sigma_space: float = 1.5,
    sigma_db: float = 3.0,
    valid: np.ndarray | None = None,
) -> np.ndarray:
    """Bilateral filter on dB values (spatial Gaussian sigma_space pixels, range Gaussian sigma_db dB)."""
    window = check_window(window)
    for nm, v in (("sigma_space", sigma_space), ("sigma_db", sigma_db)):
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
            raise UserError(f"{nm} must be a positive number, got {v!r}.")
    x, m, all_valid = prepare(intensity, valid)
    r = window // 2
    return by_rows(lambda xb, mb: _bilateral_block(xb, mb, r, sigma_space, sigma_db, all_valid), x, m, r, rows=64)


def _bilateral_block(
    x: np.ndarray, m: np.ndarray, r: int, sigma_space: float, sigma_db: float, all_valid: bool
) -> np.ndarray:
    db = sio.to_db(x)
    h, w = x.shape
    dbp = np.pad(db, r)
    mp = np.pad(m, r)
    num = np.zeros_like(db)
    den = np.zeros_like(db)
    wgt = np.empty_like(db)
    tmp = np.empty_like(db)
    inv_s = np.float32(-0.5 / (sigma_db * sigma_db))
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            ws = np.float32(math.exp(-(dy * dy + dx * dx) / (2 * sigma_space * sigma_space)))
            q = dbp[r + dy : r + dy + h, r + dx : r + dx + w]
            np.subtract(q, db, out=wgt)
            np.multiply(wgt, wgt, out=wgt)
            np.multiply(wgt, inv_s, out=wgt)
            np.exp(wgt, out=wgt)
            np.multiply(wgt, ws, out=wgt)
            np.multiply(wgt, mp[r + dy : r + dy + h, r + dx : r + dx + w], out=wgt)
            np.multiply(wgt, q, out=tmp)
            num += tmp
            den += wgt
    with np.errstate(invalid="ignore", divide="ignore"):
        out_db = np.where(den > 0, num / den, np.nan)
    return np.power(np.float32(10.0), out_db / np.float32(10.0)).astype(np.float32)
