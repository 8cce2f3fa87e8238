"""The equivalent number of looks: estimated from the image, or checked when the user gives it."""

from __future__ import annotations

import math
import warnings

import numpy as np

from core.errors import UserError


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
            with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
                # blocks with no valid pixel (nodata borders) give NaN, left out below: numpy's warning is expected
                warnings.simplefilter("ignore", RuntimeWarning)
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


def check_looks(looks: float | None, intensity: np.ndarray, valid: np.ndarray | None) -> float:
    if looks is None or looks == 0:
        return estimate_enl(intensity, valid)
    try:
        L = float(looks)
    except (TypeError, ValueError):
        raise UserError(f"looks must be a positive number, got {looks!r}; use 1 for single-look data.") from None
    if not (math.isfinite(L) and L > 0):
        raise UserError(f"looks must be a positive number, got {looks}; use 1 for single-look data.")
    return L
