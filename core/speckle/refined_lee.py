"""Refined Lee (Lee 1981): Lee inside the best of 8 edge-aligned half windows.

The direction is the strongest gradient of a 3x3 grid of 3x3 sub-window means (4 directions x 2 sides), the
side the one whose sub-window mean is closer to the centre's.
"""

from __future__ import annotations

import numpy as np

from core.local_stats import (
    box_sum,
    by_rows,
    check_window,
    kernel_sum,
    local_moments,
    opencv,
    prepare,
    weight_lee,
)
from core.speckle.looks import check_looks


def refined_lee_masks(window: int) -> list[np.ndarray]:
    """The 8 edge-aligned half windows (each includes the centre line): left, right, top, bottom,
    top-left triangle, bottom-right triangle, top-right triangle, bottom-left triangle."""
    c = window // 2
    i, j = np.mgrid[0:window, 0:window]
    masks = [j <= c, j >= c, i <= c, i >= c, i + j <= 2 * c, i + j >= 2 * c, j >= i, j <= i]
    return [mk.astype(np.float32) for mk in masks]


def refined_lee_choice(sub: list[list[np.ndarray]]) -> np.ndarray:
    """Which of the 8 half windows to use, from sub-window means: sub[row][col] for the 3x3 grid (arrays)."""
    (s00, s01, s02), (s10, s11, s12), (s20, s21, s22) = sub
    g = [
        np.abs((s02 + s12 + s22) - (s00 + s10 + s20)),  # left/right: vertical edge
        np.abs((s20 + s21 + s22) - (s00 + s01 + s02)),  # top/bottom: horizontal edge
        np.abs((s00 + s01 + s10) - (s22 + s21 + s12)),  # top-left / bottom-right
        np.abs((s02 + s01 + s12) - (s20 + s10 + s21)),  # top-right / bottom-left
    ]
    direction = np.zeros(s11.shape, np.intp)
    best = g[0]
    for k in range(1, 4):  # first maximum wins, as argmax
        better = g[k] > best
        direction[better] = k
        best = np.maximum(best, g[k])
    d0, d1, d2 = direction == 0, direction == 1, direction == 2
    a = np.where(d0, s10, np.where(d1, s01, np.where(d2, s00, s02)))
    b = np.where(d0, s12, np.where(d1, s21, np.where(d2, s22, s20)))
    return 2 * direction + (np.abs(s11 - a) > np.abs(s11 - b))


def refined_lee_filter(
    intensity: np.ndarray,
    window: int = 7,
    looks: float | None = None,
    valid: np.ndarray | None = None,
    fallback: float | None = None,
) -> np.ndarray:
    """`fallback`: the sub-window mean used where a 3x3 sub-window holds no valid pixel (default: the mean of the
    valid pixels; core.speckle.scene gives the scene's, so streamed windows agree)."""
    window = check_window(window, lo=5)
    L = check_looks(looks, intensity, valid)
    x, m, all_valid = prepare(intensity, valid)
    if fallback is None:
        fallback = float(x[m > 0].mean()) if (m > 0).any() else 0.0
    return by_rows(lambda xb, mb: _refined_lee_block(xb, mb, window, L, fallback), x, m, window // 2)


def _refined_lee_block(x: np.ndarray, m: np.ndarray, window: int, L: float, fallback: float) -> np.ndarray:
    h, w = x.shape
    # 3x3 sub-window means on a 3x3 grid with spacing d; positions outside the image take the nearest edge value
    mean3, _, n3 = local_moments(x, 3, m > 0)
    mean3 = np.where(n3 > 0, mean3, fallback).astype(np.float32)
    d = (window - 3) // 2
    padded = np.pad(mean3, d, mode="edge")
    sub = [[padded[d + dy : d + dy + h, d + dx : d + dx + w] for dx in (-d, 0, d)] for dy in (-d, 0, d)]
    choice = refined_lee_choice(sub)
    del sub, padded
    xx = x * x
    sums = np.empty((3, 8, h, w), np.float32)  # count, sum, sum of squares for each half window
    c = window // 2
    masks = refined_lee_masks(window)
    anti = np.fliplr(np.eye(window, dtype=np.float32))  # the i + j = 2c line
    diag = np.eye(window, dtype=np.float32)  # the i = j line
    cv2 = opencv()
    const = cv2.BORDER_CONSTANT
    for j, src in enumerate((m, x, xx)):
        # rectangular halves: box sums anchored on the centre line (cost independent of the window)
        for k, (size, anchor) in enumerate(
            (((c + 1, window), (c, c)), ((c + 1, window), (0, c)), ((window, c + 1), (c, c)), ((window, c + 1), (c, 0)))
        ):
            cv2.boxFilter(src, -1, size, dst=sums[j, k], anchor=anchor, normalize=False, borderType=const)
        # triangles: two by correlation, their complements from the full window plus the shared diagonal
        full = box_sum(src, window)
        cv2.filter2D(src, -1, masks[4], dst=sums[j, 4], borderType=const)
        sums[j, 5] = full + kernel_sum(src, anti) - sums[j, 4]
        cv2.filter2D(src, -1, masks[6], dst=sums[j, 6], borderType=const)
        sums[j, 7] = full + kernel_sum(src, diag) - sums[j, 6]
    idx = choice[None, None].astype(np.intp)
    n, s1, s2 = np.take_along_axis(sums, np.broadcast_to(idx, (3, 1, h, w)), axis=1)[:, 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = s1 / n
        var = np.maximum(s2 / n - mean * mean, 0)
    wgt = weight_lee(mean, var, 1.0 / L)
    return (mean + wgt * (x - mean)).astype(np.float32)
