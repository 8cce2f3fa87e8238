"""Showing filtered results on the input's own dB scale (grey, or VV/VH false colour for two bands).

Rendering: these belong with core.io's render/stretch once that module is restructured; kept here until then.
"""

from __future__ import annotations

import numpy as np

from core import io as sio
from core.io import view as cview


def display_limits(intensity: np.ndarray, lo: float = 2.0, hi: float = 98.0) -> list[tuple[float, float]]:
    """dB stretch limits of an input, per displayed channel (1 band: dB; 2 bands: VV dB, VH dB, VV/VH dB),
    so that every filtered result can be shown on the same scale as the input."""
    db = sio.to_db(intensity)
    if intensity.ndim == 2:
        return [sio.percentile_limits(np.where(np.isfinite(intensity), db, np.nan), lo, hi)]
    chans = display_channels(intensity)
    return [sio.percentile_limits(c, lo, hi) for c in chans]


def display_channels(intensity: np.ndarray) -> list[np.ndarray]:
    bad = ~np.isfinite(intensity)
    db = np.where(bad, np.nan, sio.to_db(np.where(bad, 1, intensity)))
    if intensity.ndim == 2:
        return [db]
    if intensity.shape[2] == 2:
        return [db[..., 0], db[..., 1], db[..., 0] - db[..., 1]]
    return [db[..., i] for i in range(intensity.shape[2])]


def render_with_limits(intensity: np.ndarray, limits: list[tuple[float, float]]) -> np.ndarray:
    """uint8 display (grey, or VV/VH false colour for two bands) with fixed dB limits."""
    chans = [sio.stretch(c, limits=lim) for c, lim in zip(display_channels(intensity), limits)]
    return chans[0] if len(chans) == 1 else np.stack(chans, axis=-1)


def view_panel(
    intensity: np.ndarray,
    label: str,
    limits: list[tuple[float, float]],
    geo: sio.GeoInfo | None = None,
    max_side: int = 512,
) -> sio.view.ViewPanel:
    """A viewer panel (core.io.view) of a filtered result on the input's dB limits: one band in dB with σ⁰ in the
    read-out; two or three bands as the false colour above, with each band's linear value in the read-out."""

    if intensity.ndim == 2:
        return cview.intensity_panel(intensity, label, limits[0], geo=geo, max_side=max_side)
    step = cview.display_step(intensity.shape, max_side)
    small = cview.decimate(intensity, step)
    panel = cview.rgb_panel(render_with_limits(small, limits), label, linear=small, value_name="σ⁰ per band")
    panel.step, panel.shape = step, intensity.shape[:2]
    panel.corners_lonlat = cview.footprint_lonlat(geo, intensity.shape)
    return panel
