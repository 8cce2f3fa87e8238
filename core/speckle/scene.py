"""What a filter needs from the whole scene, taken from the same sample whether the scene is in memory or streamed.

A few filter inputs are scene-wide, not local: the equivalent number of looks (estimated when not given), refined
Lee's fallback for sub-windows with no valid pixel, the median's fill value for windows with none, MERLIN's gain.
They are computed once per band from `sample_windows` (the whole image when it has at most SAMPLE_PIXELS pixels,
else a grid of full-resolution 256 x 256 windows, 16-aligned so the ENL estimator's 16 x 16 tiles are the image's
own) and passed to the filter explicitly, so a streamed scene and the same scene in memory get the same values.
`halo` is how far each filter's output looks: a window streamed with that halo equals the whole-image result.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from core.io import Window
from core.speckle.looks import estimate_enl
from core.speckle.registry import FilterSpec

SAMPLE_SIZE = 256  # side of each sample window
SAMPLE_GRID = 8  # sample windows per side: 64 windows, 4.2 Mpixel per band
SAMPLE_PIXELS = 2048 * 2048  # scenes up to this size are sampled whole; larger ones by SAMPLE_GRID² windows


def sample_windows(height: int, width: int) -> list[Window]:
    """The windows the scene parameters come from: the whole image, or an 8 x 8 grid of 256 x 256 windows."""
    if height * width <= SAMPLE_PIXELS or height < SAMPLE_SIZE or width < SAMPLE_SIZE:
        return [Window(0, 0, height, width)]

    def starts(n: int) -> list[int]:
        last = n - SAMPLE_SIZE
        return sorted({(round(i * last / (SAMPLE_GRID - 1)) // 16) * 16 for i in range(SAMPLE_GRID)})

    return [Window(r, c, SAMPLE_SIZE, SAMPLE_SIZE) for r in starts(height) for c in starts(width)]


def halo(spec: FilterSpec, params: dict) -> int:
    """Pixels each side of a window that its output depends on (checked by tests/speckle/test_speckle_stream.py).

    Local-statistics filters (boxcar, Lee, Kuan, Gamma-MAP, Frost, Gaussian, bilateral) and refined Lee (sub-window
    means at +-(window-3)/2, each 3x3, and half windows of the full window) see window//2; the median fills
    invalid pixels with their own window mean first, so it sees twice that."""
    window = int(params.get("window", next((p.default for p in spec.params if p.name == "window"), 7)))
    r = window // 2
    return 2 * r if spec.name == "median" else r


def scene_params(
    spec: FilterSpec,
    params: dict,
    read_band: Callable[[Window], tuple[np.ndarray, np.ndarray]],
    height: int,
    width: int,
) -> dict:
    """`params` completed with the scene-wide values `spec` needs for one band. `read_band(window)` gives that
    band's (intensity, valid) over a window."""
    wants_looks = "looks" in spec.param_names and params.get("looks") in (None, 0)
    wants = {"refined_lee": "fallback", "median": "fill", "merlin": "scene_median"}.get(spec.name)
    if not wants_looks and wants is None:
        return dict(params)
    parts = [read_band(w) for w in sample_windows(height, width)]
    x = parts[0][0] if len(parts) == 1 else np.concatenate([p[0] for p in parts], axis=0)
    ok = parts[0][1] if len(parts) == 1 else np.concatenate([p[1] for p in parts], axis=0)
    out = dict(params)
    if wants_looks:
        out["looks"] = estimate_enl(x, ok)
    if wants is not None and wants not in out:
        vals = x[ok & np.isfinite(x)]
        if wants == "fallback":
            out["fallback"] = float(vals.mean()) if vals.size else 0.0
        elif wants == "fill":
            out["fill"] = float(np.median(vals)) if vals.size else 0.0
        else:
            pos = vals[vals > 0]
            out["scene_median"] = float(np.median(pos)) if pos.size else None
    return out
