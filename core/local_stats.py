"""Windowed statistics shared by the speckle filters and core.metrics: box and kernel sums, local mean/variance
over valid pixels (below both, so that core.metrics does not import core.speckle).

Pixels outside the image and invalid pixels (NaN, nodata) are treated alike: they are left out of every window.
Sums come from OpenCV, whose cost per pixel does not grow with the window.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable

import numpy as np

from core.errors import UserError


@functools.cache
def opencv():
    """OpenCV, imported on first use with its thread count set (importing it costs ~25 MB, which a command's
    `--help` or a page that only lists filters should not pay)."""
    import cv2  # heavy: ~25 MB, only when a window is summed

    cv2.setNumThreads(max(1, min(4, os.cpu_count() or 1)))
    return cv2


def box_sum(x: np.ndarray, window: int) -> np.ndarray:
    """Sum over a window x window neighbourhood, zero outside the image (float32, cost independent of window)."""
    cv2 = opencv()
    return cv2.boxFilter(x, -1, (window, window), normalize=False, borderType=cv2.BORDER_CONSTANT)


def kernel_sum(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Correlation with `kernel` (centred), zero outside the image."""
    cv2 = opencv()
    return cv2.filter2D(x, -1, kernel.astype(np.float32), borderType=cv2.BORDER_CONSTANT)


def prepare(intensity: np.ndarray, valid: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, bool]:
    """(values with invalid pixels set to 0, mask as float32, whether everything is valid)."""
    x = np.asarray(intensity, dtype=np.float32)
    if valid is None:
        valid = np.isfinite(x)
    valid = valid & np.isfinite(x)
    all_valid = bool(valid.all())
    xs = x if all_valid else np.where(valid, x, 0).astype(np.float32)
    return np.ascontiguousarray(xs), valid.astype(np.float32), all_valid


@functools.lru_cache(maxsize=8)
def count_all_valid(h: int, w: int, window: int) -> tuple[np.ndarray, np.ndarray]:
    """(count, 1/count) of pixels inside each window of an h x w image with every pixel valid."""
    c = box_sum(np.ones((h, w), np.float32), window)
    inv = (np.float32(1.0) / c).astype(np.float32)
    c.setflags(write=False)
    inv.setflags(write=False)
    return c, inv


def local_moments(
    intensity: np.ndarray, window: int, valid: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, variance, count) over the valid pixels of each window (population variance)."""
    x, m, all_valid = prepare(intensity, valid)
    if all_valid:
        n, inv = count_all_valid(*x.shape, window)
    else:
        n = box_sum(m, window)
        inv = np.zeros_like(n)
        np.divide(np.float32(1.0), n, out=inv, where=n > 0)
    mean = box_sum(x, window)
    mean *= inv
    var = box_sum(x * x, window)
    var *= inv
    var -= mean * mean
    np.maximum(var, 0, out=var)
    return mean, var, n


def check_window(window, lo: int = 3, hi: int = 101) -> int:
    try:
        w = int(window)
    except (TypeError, ValueError):
        raise UserError(f"window must be an odd whole number, got {window!r}; use for example 5 or 7.") from None
    if w != window or w % 2 == 0 or w < lo or w > hi:
        raise UserError(f"window must be an odd whole number from {lo} to {hi}, got {window}; use for example 5 or 7.")
    return w


def weight_lee(mean: np.ndarray, var: np.ndarray, cu2: float) -> np.ndarray:
    """max(0, 1 - Cu²/Ci²) with Ci² = var/mean²; 0 where the window is flat."""
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.where(var > 0, 1.0 - cu2 * mean * mean / var, 0.0)
    return np.clip(w, 0.0, 1.0).astype(np.float32)


def by_rows(fn: Callable, x: np.ndarray, m: np.ndarray, halo: int, rows: int = 256) -> np.ndarray:
    """Run fn(x_block, m_block) on blocks of rows with `halo` extra rows each side and keep the centre rows.
    Exact for filters whose output depends on pixels at most `halo` rows away; faster because the many
    whole-image temporaries of these filters then stay in the CPU cache."""
    h = x.shape[0]
    if h <= rows + 2 * halo:
        return fn(x, m)
    out = np.empty(x.shape, np.float32)
    for r0 in range(0, h, rows):
        r1 = min(h, r0 + rows)
        a, b = max(0, r0 - halo), min(h, r1 + halo)
        out[r0:r1] = fn(x[a:b], m[a:b])[r0 - a : r0 - a + (r1 - r0)]
    return out
