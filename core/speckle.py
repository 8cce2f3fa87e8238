"""Speckle filters on linear intensity, MERLIN deep despeckling, and the `despeckle` command.

Every classic filter takes linear intensity (float32, (H, W)) and a validity mask and returns intensity.
Pixels outside the image and invalid pixels (NaN, nodata) are treated alike: they are left out of every
window (local statistics are taken over the valid pixels inside the window), and invalid pixels stay invalid
in the output. Moment-based filters (boxcar, Lee, Kuan, Gamma-MAP, Frost's coefficient of variation, refined
Lee's sub-windows) use box sums from OpenCV, whose cost per pixel does not grow with the window.

Definitions (see shared/spec/sar-basics.md), with Cu² = 1/L and Ci² = local variance / local mean²:
  Lee        x = m + W (I - m),  W = max(0, 1 - Cu²/Ci²)
  Kuan       x = m + W (I - m),  W = max(0, (1 - Cu²/Ci²) / (1 + Cu²))
  Gamma-MAP  m where Ci <= Cu; I where Ci >= sqrt(2) Cu; between, with a = (1 + Cu²)/(Ci² - Cu²) and
             B = a - L - 1: x = (B m + sqrt(m² B² + 4 a L I m)) / (2 a)
  Frost      weighted mean with weights exp(-K Ci² d), d the Euclidean distance to the centre pixel
  Refined Lee  Lee inside the best of 8 edge-aligned half windows (4 directions x 2 sides), the direction
             being the strongest gradient of a 3x3 grid of 3x3 sub-window means, the side the one whose
             sub-window mean is closer to the centre's
  Boxcar, Gaussian  (weighted) mean; median  median (invalid pixels filled with the local mean first);
  bilateral  on dB values, spatial and range Gaussian weights, then back to intensity.
MERLIN: the pretrained networks of the `deepdespeckling` package, preprocessing as in its MerlinDenoiser.
"""

from __future__ import annotations

import functools
import importlib.util
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from core import io as sio
from core.errors import UserError

ProgressFn = Callable[[float, str], None]


# ------------------------------------------------------------------------------------------- local sums


def _cv2():
    import cv2

    cv2.setNumThreads(max(1, min(4, __import__("os").cpu_count() or 1)))
    return cv2


def box_sum(x: np.ndarray, window: int) -> np.ndarray:
    """Sum over a window x window neighbourhood, zero outside the image (float32, cost independent of window)."""
    cv2 = _cv2()
    return cv2.boxFilter(x, -1, (window, window), normalize=False, borderType=cv2.BORDER_CONSTANT)


def _kernel_sum(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Correlation with `kernel` (centred), zero outside the image."""
    cv2 = _cv2()
    return cv2.filter2D(x, -1, kernel.astype(np.float32), borderType=cv2.BORDER_CONSTANT)


def _prepare(intensity: np.ndarray, valid: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, bool]:
    """(values with invalid pixels set to 0, mask as float32, whether everything is valid)."""
    x = np.asarray(intensity, dtype=np.float32)
    if valid is None:
        valid = np.isfinite(x)
    valid = valid & np.isfinite(x)
    all_valid = bool(valid.all())
    xs = x if all_valid else np.where(valid, x, 0).astype(np.float32)
    return np.ascontiguousarray(xs), valid.astype(np.float32), all_valid


@functools.lru_cache(maxsize=8)
def _count_all_valid(h: int, w: int, window: int) -> tuple[np.ndarray, np.ndarray]:
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
    x, m, all_valid = _prepare(intensity, valid)
    if all_valid:
        n, inv = _count_all_valid(*x.shape, window)
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


def _check_window(window, lo: int = 3, hi: int = 101) -> int:
    try:
        w = int(window)
    except (TypeError, ValueError):
        raise UserError(f"window must be an odd whole number, got {window!r}; use for example 5 or 7.") from None
    if w != window or w % 2 == 0 or w < lo or w > hi:
        raise UserError(f"window must be an odd whole number from {lo} to {hi}, got {window}; use for example 5 or 7.")
    return w


def _check_looks(looks, intensity: np.ndarray, valid: np.ndarray | None) -> float:
    if looks is None or looks == 0:
        return estimate_enl(intensity, valid)
    try:
        L = float(looks)
    except (TypeError, ValueError):
        raise UserError(f"looks must be a positive number, got {looks!r}; use 1 for single-look data.") from None
    if not (math.isfinite(L) and L > 0):
        raise UserError(f"looks must be a positive number, got {looks}; use 1 for single-look data.")
    return L


def _weight_lee(mean: np.ndarray, var: np.ndarray, cu2: float) -> np.ndarray:
    """max(0, 1 - Cu²/Ci²) with Ci² = var/mean²; 0 where the window is flat."""
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.where(var > 0, 1.0 - cu2 * mean * mean / var, 0.0)
    return np.clip(w, 0.0, 1.0).astype(np.float32)


# --------------------------------------------------------------------------------------------- filters


def boxcar_filter(intensity, window: int = 5, valid=None):
    window = _check_window(window)
    x, m, all_valid = _prepare(intensity, valid)
    n = _count_all_valid(*x.shape, window)[0] if all_valid else box_sum(m, window)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (box_sum(x, window) / n).astype(np.float32)


def lee_filter(intensity, window: int = 7, looks: float | None = None, valid=None):
    return _moment_filter(intensity, window, looks, valid, _lee_rule)


def kuan_filter(intensity, window: int = 7, looks: float | None = None, valid=None):
    return _moment_filter(intensity, window, looks, valid, _kuan_rule)


def gamma_map_filter(intensity, window: int = 7, looks: float | None = None, valid=None):
    return _moment_filter(intensity, window, looks, valid, _gamma_map_rule)


def _moment_filter(intensity, window, looks, valid, rule: Callable) -> np.ndarray:
    """A filter computed from the pixel and its window's mean and variance, in cache-sized blocks of rows."""
    window = _check_window(window)
    L = _check_looks(looks, intensity, valid)
    x, m, _ = _prepare(intensity, valid)

    def block(xb, mb):
        mean, var, _ = local_moments(xb, window, mb > 0)
        return rule(xb, mean, var, L)

    return _by_rows(block, x, m, window // 2, rows=512)


def _lee_rule(x, mean, var, L):
    w = _weight_lee(mean, var, 1.0 / L)
    return mean + w * (x - mean)


def _kuan_rule(x, mean, var, L):
    cu2 = 1.0 / L
    w = _weight_lee(mean, var, cu2) / np.float32(1.0 + cu2)
    return mean + w * (x - mean)


def _gamma_map_rule(x, mean, var, L):
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


def frost_filter(intensity, window: int = 7, damping: float = 2.0, valid=None):
    window = _check_window(window)
    try:
        k = float(damping)
    except (TypeError, ValueError):
        k = float("nan")
    if not (math.isfinite(k) and k > 0):
        raise UserError(f"damping must be a positive number, got {damping!r}; the usual value is 2.")
    x, m, _ = _prepare(intensity, valid)
    return _by_rows(lambda xb, mb: _frost_block(xb, mb, window, k), x, m, window // 2)


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
        num += wgt * _kernel_sum(x, kern)
        den += wgt * _kernel_sum(m, kern)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.nan).astype(np.float32)


def refined_lee_masks(window: int) -> list[np.ndarray]:
    """The 8 edge-aligned half windows (each includes the centre line): left, right, top, bottom,
    top-left triangle, bottom-right triangle, top-right triangle, bottom-left triangle."""
    c = window // 2
    i, j = np.mgrid[0:window, 0:window]
    masks = [j <= c, j >= c, i <= c, i >= c, i + j <= 2 * c, i + j >= 2 * c, j >= i, j <= i]
    return [mk.astype(np.float32) for mk in masks]


def refined_lee_choice(sub) -> np.ndarray:
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


def _by_rows(fn: Callable, x: np.ndarray, m: np.ndarray, halo: int, rows: int = 256) -> np.ndarray:
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


def refined_lee_filter(intensity, window: int = 7, looks: float | None = None, valid=None):
    window = _check_window(window, lo=5)
    L = _check_looks(looks, intensity, valid)
    x, m, all_valid = _prepare(intensity, valid)
    fallback = float(x[m > 0].mean()) if (m > 0).any() else 0.0
    return _by_rows(lambda xb, mb: _refined_lee_block(xb, mb, window, L, fallback), x, m, window // 2)


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
    cv2 = _cv2()
    xx = x * x
    sums = np.empty((3, 8, h, w), np.float32)  # count, sum, sum of squares for each half window
    c = window // 2
    masks = refined_lee_masks(window)
    anti = np.fliplr(np.eye(window, dtype=np.float32))  # the i + j = 2c line
    diag = np.eye(window, dtype=np.float32)  # the i = j line
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
        sums[j, 5] = full + _kernel_sum(src, anti) - sums[j, 4]
        cv2.filter2D(src, -1, masks[6], dst=sums[j, 6], borderType=const)
        sums[j, 7] = full + _kernel_sum(src, diag) - sums[j, 6]
    idx = choice[None, None].astype(np.intp)
    n, s1, s2 = np.take_along_axis(sums, np.broadcast_to(idx, (3, 1, h, w)), axis=1)[:, 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = s1 / n
        var = np.maximum(s2 / n - mean * mean, 0)
    wgt = _weight_lee(mean, var, 1.0 / L)
    return (mean + wgt * (x - mean)).astype(np.float32)


def gaussian_filter(intensity, window: int = 5, sigma: float = 0.0, valid=None):
    """Gaussian-weighted mean over the valid pixels; sigma 0 means OpenCV's rule from the window size."""
    window = _check_window(window)
    cv2 = _cv2()
    try:
        s = float(sigma)
    except (TypeError, ValueError):
        s = float("nan")
    if not (math.isfinite(s) and s >= 0):
        raise UserError(f"sigma must be zero (automatic) or a positive number, got {sigma!r}.")
    g = cv2.getGaussianKernel(window, s, cv2.CV_32F).ravel()
    x, m, _ = _prepare(intensity, valid)
    num = cv2.sepFilter2D(x, -1, g, g, borderType=cv2.BORDER_CONSTANT)
    den = cv2.sepFilter2D(m, -1, g, g, borderType=cv2.BORDER_CONSTANT)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.maximum(den, 1e-30), np.nan).astype(np.float32)


def median_filter(intensity, window: int = 5, valid=None):
    """Median of the window (edges replicated). Invalid pixels are first filled with the local mean."""
    window = _check_window(window)
    x, m, all_valid = _prepare(intensity, valid)
    if not all_valid:
        mean, _, n = local_moments(intensity, window, valid)
        fill = float(np.median(x[m > 0]))
        x = np.where(m > 0, x, np.where(n > 0, mean, fill)).astype(np.float32)
    if window <= 5:
        return _cv2().medianBlur(x, window)
    from scipy import ndimage

    return ndimage.median_filter(x, size=window, mode="nearest")


def bilateral_filter(intensity, window: int = 5, sigma_space: float = 1.5, sigma_db: float = 3.0, valid=None):
    """Bilateral filter on dB values (spatial Gaussian sigma_space pixels, range Gaussian sigma_db dB)."""
    window = _check_window(window)
    for nm, v in (("sigma_space", sigma_space), ("sigma_db", sigma_db)):
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
            raise UserError(f"{nm} must be a positive number, got {v!r}.")
    x, m, all_valid = _prepare(intensity, valid)
    r = window // 2
    return _by_rows(lambda xb, mb: _bilateral_block(xb, mb, r, sigma_space, sigma_db, all_valid), x, m, r, rows=64)


def _bilateral_block(x, m, r, sigma_space, sigma_db, all_valid):
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


# ---------------------------------------------------------------------------------------------- ENL


def estimate_enl(intensity: np.ndarray, valid: np.ndarray | None = None, block: int = 16) -> float:
    """Equivalent number of looks estimated from the image itself.

    The image is cut into block x block tiles and each tile is split like a chequerboard into two halves.
    Tiles are ranked by the ENL (mean²/variance) of one half; the most homogeneous quarter is kept and the
    median ENL of the *other* half over those tiles is returned, so that picking the smooth tiles does not
    bias the estimate upwards on pure speckle. Textured scenes give a lower value than the true looks.
    """
    x = np.asarray(intensity, np.float64)
    if x.ndim != 2:
        raise ValueError("estimate_enl takes one band")
    ok = np.isfinite(x) if valid is None else (valid & np.isfinite(x))
    if ok.sum() < 16:
        raise UserError("too few valid pixels (under 16) to estimate the number of looks; give the looks explicitly.")
    h, w = x.shape
    b = block
    while b > 4 and (h // b) * (w // b) < 16:
        b //= 2
    nby, nbx = h // b, w // b
    if nby * nbx >= 4:
        xb = x[: nby * b, : nbx * b].reshape(nby, b, nbx, b).transpose(0, 2, 1, 3).reshape(nby * nbx, b * b)
        okb = ok[: nby * b, : nbx * b].reshape(nby, b, nbx, b).transpose(0, 2, 1, 3).reshape(nby * nbx, b * b)
        iy, ix = np.mgrid[0:b, 0:b]
        half = ((iy + ix) % 2 == 0).ravel()
        enls = []
        for sel in (half, ~half):
            v = np.where(okb[:, sel], xb[:, sel], np.nan)
            cnt = okb[:, sel].sum(1)
            with np.errstate(invalid="ignore", divide="ignore"):
                mu = np.nanmean(v, 1)
                var = np.nanvar(v, 1, ddof=1)
                enl = np.where((cnt >= 0.9 * sel.sum()) & (var > 0), mu * mu / var, np.nan)
            enls.append(enl)
        a, other = enls
        good = np.isfinite(a) & np.isfinite(other)
        if good.sum() >= 4:
            thr = np.quantile(a[good], 0.75)
            chosen = other[good & (a >= thr)]
            return float(np.median(chosen))
    v = x[ok]
    var = v.var(ddof=1)
    return float(v.mean() ** 2 / var) if var > 0 else 100.0


# -------------------------------------------------------------------------------------------- MERLIN

MERLIN_MODELS = {
    # name: (weights file in deepdespeckling/merlin/saved_models, M, m as in deepdespeckling.utils.constants,
    #        median intensity each band is scaled to before the network: measured best on simulated speckle)
    "sentinel_tops": ("sentinel_tops.pth", 12.385, -math.log(0.001), 3000.0),
    "stripmap": ("stripmap.pth", 10.089038980848645, -1.429329123112601, 300.0),
    "spotlight": ("spotlight.pth", 10.089038980848645, -1.429329123112601, 300.0),
}


def merlin_weights_path(variant: str) -> Path:
    if variant not in MERLIN_MODELS:
        raise UserError(f"unknown MERLIN model {variant!r}; use one of {', '.join(MERLIN_MODELS)}.")
    spec = importlib.util.find_spec("deepdespeckling")
    if spec is None or not spec.submodule_search_locations:
        raise UserError(
            "the deepdespeckling package is not installed, so MERLIN weights are missing; "
            "run `make install` (it installs deepdespeckling --no-deps)."
        )
    path = Path(list(spec.submodule_search_locations)[0]) / "merlin" / "saved_models" / MERLIN_MODELS[variant][0]
    if not path.is_file():
        raise UserError(f"MERLIN weights {path.name} are missing from the deepdespeckling package; reinstall it.")
    return path


@functools.lru_cache(maxsize=6)
def load_merlin(variant: str = "sentinel_tops", device: str = "cpu"):
    """The pretrained MERLIN network (eval mode) on `device`, loaded strictly with weights_only."""
    from core.checkpoints import load_state_strict, torch_load_weights
    from models.merlin import Merlin

    path = merlin_weights_path(variant)
    net = Merlin()
    load_state_strict(net, torch_load_weights(path), "merlin", path.name)
    return net.to(device).eval()


MERLIN_MEAN_WIDTH = 33  # box width of the bias correction (3 passes: about a Gaussian of sigma 16 px)


def merlin_filter(
    intensity,
    model: str = "sentinel_tops",
    keep_mean: bool = True,
    device: str = "auto",
    tile: int = 256,
    overlap: int = 32,
    seed: int = 0,
    valid=None,
    progress: ProgressFn | None = None,
    notes: list | None = None,
    network=None,
):
    """MERLIN despeckling of detected intensity.

    MERLIN was trained on the real and imaginary parts of single-look complex data. A detected intensity I
    has lost its phase; with a uniform random phase p, sqrt(I) cos p and sqrt(I) sin p are two independent
    zero-mean Gaussians of variance R/2 when I is single-look speckle of reflectivity R, which is exactly the
    SLC model MERLIN expects (their spectrum is flat, so deepdespeckling's spectrum symmetrisation has nothing
    to do and is skipped). Each part is normalised as in deepdespeckling's MerlinDenoiser,
    (log(part² + 1e-3) - 2m) / (2 (M - m)), run through the network tile by tile, de-normalised with
    exp((M - m) y + m), and the two estimates are combined as 0.5 (A_re² + A_im²), an intensity.
    The networks are not scale-invariant: each band is scaled so that its median intensity is the model's
    level in MERLIN_MODELS (3000 for sentinel_tops, close to the Sentinel-1 DN² of the samples, 300 for the
    TerraSAR-X models: where each worked best on simulated single-look speckle) and scaled back afterwards.
    On detected intensity the raw output is biased (mean 1.2-1.4x the input on simulated speckle, 1.9x on the
    Shanghai sample), so with keep_mean (default) it is multiplied by the ratio of input to output local means
    (three passes of a 33x33 box, close to a Gaussian of sigma 16 px) and then by one factor that makes the
    band mean equal the input's. On simulated single-look speckle with two bright point targets this lowered
    the relative error away from the targets from about 0.4 to about 0.15; a single 31x31 box did about as
    well but drew squares around bright targets on the real samples.
    """
    import torch

    from core.compute import resolve_device
    from core.tiling import tile_blend

    if model not in MERLIN_MODELS:
        raise UserError(f"unknown MERLIN model {model!r}; use one of {', '.join(MERLIN_MODELS)}.")
    if tile % 32 or tile < 32:
        raise UserError(f"MERLIN tile must be a multiple of 32, got {tile}; use 256.")
    dev, note = resolve_device(device)
    if note and notes is not None:
        notes.append(note)
    net = network if network is not None else load_merlin(model, dev)
    dev = next(net.parameters()).device
    _, big_m, small_m, level = MERLIN_MODELS[model]
    x, msk, _ = _prepare(intensity, valid)
    positive = x[(msk > 0) & (x > 0)]
    gain = np.float32(level / float(np.median(positive))) if positive.size else np.float32(1.0)
    amp = np.sqrt(np.maximum(x * gain, 0, dtype=np.float32))
    phase = np.random.default_rng(seed).uniform(0, 2 * np.pi, x.shape).astype(np.float32)
    parts = np.stack([amp * np.cos(phase), amp * np.sin(phase)], axis=-1)
    norm = (np.log(parts * parts + np.float32(1e-3)) - 2 * small_m) / (2 * (big_m - small_m))

    def run(batch: np.ndarray) -> np.ndarray:  # (N, t, t, 2) -> (N, t, t, 2)
        n, t, _, c = batch.shape
        inp = torch.from_numpy(np.ascontiguousarray(batch.transpose(0, 3, 1, 2).reshape(n * c, 1, t, t)))
        with torch.inference_mode():
            out = net(inp.to(dev)).float().cpu().numpy()
        return out.reshape(n, c, t, t).transpose(0, 2, 3, 1)

    y = tile_blend(norm.astype(np.float32), run, tile=tile, overlap=overlap, batch_size=2, progress=progress)
    a = np.exp((big_m - small_m) * y.astype(np.float64) + small_m)
    out = (0.5 * (a[..., 0] ** 2 + a[..., 1] ** 2) / gain).astype(np.float32)
    if keep_mean:
        out = _merlin_bias_correction(out, x, msk)
    return out.astype(np.float32)


def _smooth_masked(values: np.ndarray, m: np.ndarray, width: int) -> np.ndarray:
    """Mean of the valid pixels under three passes of a width x width box (close to a Gaussian of sigma
    about width/2), zero outside the image; cost independent of the width."""
    num, den = values * m, m.copy()
    for _ in range(3):
        num, den = box_sum(num, width), box_sum(den, width)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.maximum(den, 1e-30), 0).astype(np.float32)


def _merlin_bias_correction(out: np.ndarray, x: np.ndarray, msk: np.ndarray) -> np.ndarray:
    """Multiply by the smoothed (MERLIN_MEAN_WIDTH) ratio of input to output means, then by one factor so the
    band mean equals the input's exactly. The smooth kernel avoids the squares a plain box draws around
    bright targets."""
    ok = msk > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = _smooth_masked(x, msk, MERLIN_MEAN_WIDTH) / _smooth_masked(np.where(ok, out, 0), msk, MERLIN_MEAN_WIDTH)
    out = out * np.where(np.isfinite(ratio) & (ratio > 0), ratio, 1).astype(np.float32)
    total = float(out[ok].astype(np.float64).sum())
    if total > 0:
        out = out * np.float32(float(x[ok].astype(np.float64).sum()) / total)
    return out.astype(np.float32)


# ------------------------------------------------------------------------------------------ registry


@dataclass(frozen=True)
class Param:
    name: str
    kind: str  # "int", "float", "bool" or "choice"
    default: object
    help: str
    min: float | None = None
    max: float | None = None
    step: float | None = None
    choices: tuple = ()


@dataclass(frozen=True)
class FilterSpec:
    name: str
    label: str
    fn: Callable
    params: tuple[Param, ...]
    keeps_mean: bool
    description: str
    deep: bool = False
    param_names: tuple[str, ...] = field(init=False)

    def __post_init__(self):
        object.__setattr__(self, "param_names", tuple(p.name for p in self.params))


_WINDOW = Param("window", "int", 7, "side of the square window in pixels (odd)", 3, 101, 2)
_WINDOW5 = Param("window", "int", 5, "side of the square window in pixels (odd)", 3, 101, 2)
_LOOKS = Param(
    "looks",
    "float",
    None,
    "equivalent number of looks L (Cu² = 1/L); empty = estimated from the image",
    0.1,
    1000.0,
    0.5,
)

FILTERS: dict[str, FilterSpec] = {
    f.name: f
    for f in [
        FilterSpec("boxcar", "Boxcar (mean)", boxcar_filter, (_WINDOW5,), True, "plain mean over the window"),
        FilterSpec(
            "median",
            "Median",
            median_filter,
            (_WINDOW5,),
            False,
            "median over the window; lowers the mean of speckled areas (median < mean for speckle)",
        ),
        FilterSpec(
            "gaussian",
            "Gaussian",
            gaussian_filter,
            (_WINDOW5, Param("sigma", "float", 0.0, "Gaussian sigma in pixels (0 = from the window)", 0.0, 50.0, 0.5)),
            True,
            "Gaussian-weighted mean",
        ),
        FilterSpec(
            "bilateral",
            "Bilateral (dB)",
            bilateral_filter,
            (
                _WINDOW5,
                Param("sigma_space", "float", 1.5, "spatial sigma in pixels", 0.1, 50.0, 0.5),
                Param("sigma_db", "float", 3.0, "range sigma in dB", 0.1, 50.0, 0.5),
            ),
            False,
            "edge-preserving smoothing of dB values; averaging in dB lowers the mean intensity",
        ),
        FilterSpec("lee", "Lee", lee_filter, (_WINDOW, _LOOKS), True, "local linear MMSE (Lee 1980)"),
        FilterSpec(
            "refined_lee",
            "Refined Lee",
            refined_lee_filter,
            (Param("window", "int", 7, "side of the square window in pixels (odd, at least 5)", 5, 101, 2), _LOOKS),
            True,
            "Lee inside edge-aligned half windows (Lee 1981)",
        ),
        FilterSpec(
            "frost",
            "Frost",
            frost_filter,
            (_WINDOW, Param("damping", "float", 2.0, "damping factor K of the exponential weights", 0.01, 100.0, 0.5)),
            True,
            "exponentially weighted mean, sharper where the local variation is high (Frost 1982)",
        ),
        FilterSpec(
            "kuan", "Kuan", kuan_filter, (_WINDOW, _LOOKS), True, "local linear MMSE, multiplicative model (Kuan 1985)"
        ),
        FilterSpec(
            "gamma_map",
            "Gamma-MAP",
            gamma_map_filter,
            (_WINDOW, _LOOKS),
            True,
            "maximum a posteriori with a Gamma prior (Lopes 1990); the posterior mode sits a few % below "
            "the mean on single-look speckle",
        ),
        FilterSpec(
            "merlin",
            "MERLIN (deep)",
            merlin_filter,
            (
                Param(
                    "model",
                    "choice",
                    "sentinel_tops",
                    "pretrained MERLIN weights from deepdespeckling",
                    choices=tuple(MERLIN_MODELS),
                ),
                Param(
                    "keep_mean",
                    "bool",
                    True,
                    "correct the network's brightness bias (smooth local ratio, then the band mean equals the input's)",
                ),
            ),
            True,
            "self-supervised deep despeckling (Dalsasso et al. 2022), pretrained weights",
            deep=True,
        ),
    ]
}


def filter_spec(name: str) -> FilterSpec:
    if name not in FILTERS:
        raise UserError(f"unknown filter {name!r}; use one of {', '.join(FILTERS)}.")
    return FILTERS[name]


def _check_params(spec: FilterSpec, params: dict) -> dict:
    out = {}
    for k, v in params.items():
        if v is None:
            continue
        if k not in spec.param_names:
            allowed = ", ".join(spec.param_names) or "none"
            raise UserError(f"filter {spec.name} has no parameter {k!r} (its parameters: {allowed}); drop that option.")
        p = spec.params[spec.param_names.index(k)]
        if p.kind == "choice" and v not in p.choices:
            raise UserError(f"{k} for {spec.name} must be one of {', '.join(p.choices)}, got {v!r}.")
        out[k] = v
    return out


def despeckle(
    source,
    name: str,
    progress: ProgressFn | None = None,
    notes: list | None = None,
    device: str = "auto",
    network=None,
    **params,
) -> np.ndarray:
    """Filter `source` (a core.io.Raster, or an intensity array (H, W) or (H, W, C)) with filter `name`.

    Works per band on linear intensity, keeps NaN/nodata pixels invalid (NaN in the result), and returns
    float32 intensity of the same shape. Convert back with core.io.from_intensity (or use despeckle_raster).
    """
    spec = filter_spec(name)
    params = _check_params(spec, params)
    if isinstance(source, sio.Raster):
        inten = sio.to_intensity(source.data, source.kind)
        valid = _band_valid(source)
    else:
        inten = np.asarray(source, dtype=np.float32)
        valid = np.isfinite(inten)
    if inten.ndim not in (2, 3):
        raise UserError(f"expected an image with one to three bands, got an array of shape {inten.shape}.")
    if not valid.any():
        raise UserError("the image holds no valid pixels (all NaN or nodata); check the input.")
    bands = 1 if inten.ndim == 2 else inten.shape[2]
    out = np.empty(inten.shape, np.float32)
    for b in range(bands):
        band = inten if inten.ndim == 2 else inten[..., b]
        ok = valid if valid.ndim == 2 else valid[..., b]

        def sub(frac: float, msg: str = "", b=b) -> None:
            if progress is not None:
                progress((b + frac) / bands, f"band {b + 1}/{bands} {msg}".strip())

        kwargs = dict(params)
        if spec.deep:
            kwargs.update(progress=sub, notes=notes, device=device, network=network)
        if not ok.any():
            res = np.full(band.shape, np.nan, np.float32)
        else:
            res = np.asarray(spec.fn(np.where(ok, band, np.nan).astype(np.float32), valid=ok, **kwargs), np.float32)
        res = np.where(ok, res, np.nan).astype(np.float32)
        if inten.ndim == 2:
            out = res
        else:
            out[..., b] = res
        sub(1.0, "done")
    return out


def _band_valid(raster: sio.Raster) -> np.ndarray:
    d = raster.data
    m = np.isfinite(d) if d.dtype.kind == "f" else np.ones(d.shape, bool)
    if raster.geo is not None and raster.geo.nodata is not None and np.isfinite(raster.geo.nodata):
        m &= d != raster.geo.nodata
    return m


def despeckle_raster(raster: sio.Raster, name: str, **kwargs) -> sio.Raster:
    """Despeckle and convert back to the input's kind, same georeference; invalid pixels get nodata (or NaN)."""
    return result_raster(raster, despeckle(raster, name, **kwargs), name)


def result_raster(raster: sio.Raster, intensity: np.ndarray, name: str) -> sio.Raster:
    """A filtered intensity as a raster in the input's kind and georeference; invalid pixels get the input's
    nodata value (NaN when it has none)."""
    from dataclasses import replace

    data = sio.from_intensity(intensity, raster.kind)
    if data.dtype.kind == "f":
        nodata = raster.geo.nodata if raster.geo is not None else None
        fill = np.float32(nodata) if nodata is not None and np.isfinite(nodata) else np.float32(np.nan)
        data = np.where(np.isfinite(intensity), data, fill).astype(np.float32)
    return replace(raster, data=data, name=f"{Path(raster.name).stem}_{name}")


def input_intensity(raster: sio.Raster) -> np.ndarray:
    """Linear intensity of a raster with NaN where a band is invalid (NaN or nodata)."""
    inten = sio.to_intensity(raster.data, raster.kind)
    return np.where(_band_valid(raster), inten, np.nan).astype(np.float32)


# ---------------------------------------------------------------------------------------------- display


def display_limits(intensity: np.ndarray, lo: float = 2.0, hi: float = 98.0) -> list[tuple[float, float]]:
    """dB stretch limits of an input, per displayed channel (1 band: dB; 2 bands: VV dB, VH dB, VV/VH dB),
    so that every filtered result can be shown on the same scale as the input."""
    db = sio.to_db(intensity)
    if intensity.ndim == 2:
        return [sio.percentile_limits(np.where(np.isfinite(intensity), db, np.nan), lo, hi)]
    chans = _display_channels(intensity)
    return [sio.percentile_limits(c, lo, hi) for c in chans]


def _display_channels(intensity: np.ndarray) -> list[np.ndarray]:
    bad = ~np.isfinite(intensity)
    db = np.where(bad, np.nan, sio.to_db(np.where(bad, 1, intensity)))
    if intensity.ndim == 2:
        return [db]
    if intensity.shape[2] == 2:
        return [db[..., 0], db[..., 1], db[..., 0] - db[..., 1]]
    return [db[..., i] for i in range(intensity.shape[2])]


def render_with_limits(intensity: np.ndarray, limits: list[tuple[float, float]]) -> np.ndarray:
    """uint8 display (grey, or VV/VH false colour for two bands) with fixed dB limits."""
    chans = [sio.stretch(c, limits=lim) for c, lim in zip(_display_channels(intensity), limits)]
    return chans[0] if len(chans) == 1 else np.stack(chans, axis=-1)


# ------------------------------------------------------------------------------------------ command line


def add_cli(sub) -> None:
    p = sub.add_parser(
        "despeckle",
        help="speckle filtering of one image or a folder of images",
        description="Filter SAR images on linear intensity. Filters: " + ", ".join(FILTERS) + ".",
    )
    p.add_argument("input", help="image file (GeoTIFF, TIFF, PNG, JPEG) or folder of images")
    p.add_argument(
        "output",
        help="output file (.tif keeps values and georeference, .png is a dB display) "
        "or folder (one <name>_<filter>.tif per input)",
    )
    p.add_argument(
        "--filter", required=True, choices=list(FILTERS), metavar="NAME", help="one of " + ", ".join(FILTERS)
    )
    p.add_argument("--window", type=int, help="window side in pixels (odd)")
    p.add_argument("--looks", type=float, help="equivalent number of looks (default: estimated from the image)")
    p.add_argument("--damping", type=float, help="Frost damping factor K (default 2)")
    p.add_argument("--sigma", type=float, help="Gaussian sigma in pixels")
    p.add_argument("--sigma-space", type=float, dest="sigma_space", help="bilateral spatial sigma in pixels")
    p.add_argument("--sigma-db", type=float, dest="sigma_db", help="bilateral range sigma in dB")
    p.add_argument("--model", choices=list(MERLIN_MODELS), help="MERLIN weights (default sentinel_tops)")
    p.add_argument(
        "--no-keep-mean",
        dest="keep_mean",
        action="store_const",
        const=False,
        default=None,
        help="MERLIN: skip the local mean correction (raw network output, biased on detected data)",
    )
    p.add_argument("--kind", choices=["auto", *sio.KINDS], default="auto", help="what the input values are")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto", help="for MERLIN")
    p.set_defaults(func=_run_cli)


def _run_cli(args) -> int:
    import sys

    spec = filter_spec(args.filter)
    params = {
        k: getattr(args, k)
        for k in ("window", "looks", "damping", "sigma", "sigma_space", "sigma_db", "model", "keep_mean")
        if getattr(args, k) is not None
    }
    params = _check_params(spec, params)  # fail before reading anything
    src, dst = Path(args.input), Path(args.output)
    if src.is_dir():
        files = sorted(
            p for p in src.iterdir() if p.is_file() and p.suffix.lower() in (".tif", ".tiff", ".png", ".jpg", ".jpeg")
        )
        if not files:
            raise UserError(f"{src} holds no TIFF, PNG or JPEG images; pick another folder.")
        if dst.exists() and not dst.is_dir():
            raise UserError(f"{dst} is a file but the input is a folder; give an output folder.")
        failed = 0
        for f in files:
            out = dst / f"{f.stem}_{args.filter}.tif"
            try:
                _despeckle_file(f, out, args, params)
                print(f"{f.name} -> {out}")
            except UserError as exc:
                failed += 1
                print(f"error: {exc}", file=sys.stderr)
        if failed:
            print(f"error: {failed} of {len(files)} files failed; the others were written to {dst}.", file=sys.stderr)
            return 2
        return 0
    if dst.is_dir():
        dst = dst / f"{src.stem}_{args.filter}.tif"
    _despeckle_file(src, dst, args, params)
    print(f"{src.name} -> {dst}")
    return 0


def _despeckle_file(src: Path, dst: Path, args, params: dict) -> None:
    import sys

    suffix = dst.suffix.lower()
    if suffix not in (".tif", ".tiff", ".png", ".jpg", ".jpeg"):
        raise UserError(f"{dst.name}: unknown output format {suffix or '(none)'}; use .tif or .png.")
    raster = sio.read_raster(src, kind=args.kind)
    notes: list[str] = []
    result = despeckle_raster(raster, args.filter, notes=notes, device=args.device, **params)
    for n in notes:
        print(f"note: {n}", file=sys.stderr)
    if suffix in (".tif", ".tiff"):
        sio.write_image(dst, result.data, raster.geo, raster.band_names)
    else:
        limits = display_limits(input_intensity(raster))
        sio.write_image(dst, render_with_limits(input_intensity(result), limits))
