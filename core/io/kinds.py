"""What the values of a SAR image mean (display / amplitude / intensity / dB), detection and conversion."""

from __future__ import annotations

import numpy as np

from core.errors import UserError

KINDS = ("display", "amplitude", "intensity", "db")
KIND_LABELS = {
    "display": "8-bit display image (no radiometry)",
    "amplitude": "amplitude (sqrt of intensity)",
    "intensity": "linear intensity (sigma0 / power)",
    "db": "decibels (10·log10 intensity)",
}
DB_FLOOR = 1e-10  # intensity floor before log10, i.e. -100 dB


def detect_kind(data: np.ndarray) -> str:
    """Guess what the values are from dtype and range. uint8 -> display; uint16/int -> amplitude;
    float with a negative median -> dB; float >= 0 -> intensity (calibrated products are mostly sigma0)."""
    if data.dtype == np.uint8:
        return "display"
    if data.dtype.kind in "iu":
        return "amplitude"
    finite = data[np.isfinite(data)]
    if finite.size == 0:
        return "intensity"
    sample = finite if finite.size <= 1_000_000 else finite[:: finite.size // 1_000_000]
    if (sample < 0).mean() > 0.05 and np.median(sample) < 5 and sample.min() > -200:
        return "db"
    return "intensity"


def to_intensity(data: np.ndarray, kind: str) -> np.ndarray:
    """Linear intensity as float32. Display images have no radiometry: their values are taken as they are."""
    x = data.astype(np.float32, copy=False)
    if kind == "intensity" or kind == "display":
        return x.astype(np.float32, copy=True)
    if kind == "amplitude":
        return np.square(x, dtype=np.float32)
    if kind == "db":
        return np.power(np.float32(10.0), x / np.float32(10.0), dtype=np.float32)
    raise UserError(f"unknown input kind {kind!r}; use one of {', '.join(KINDS)}.")


def from_intensity(intensity: np.ndarray, kind: str) -> np.ndarray:
    """Back from linear intensity to `kind` (float32; display is clipped to 0..255 and rounded to uint8)."""
    x = intensity.astype(np.float32, copy=False)
    if kind == "intensity":
        return x.copy()
    if kind == "amplitude":
        return np.sqrt(np.maximum(x, 0), dtype=np.float32)
    if kind == "db":
        return to_db(x)
    if kind == "display":
        return np.clip(np.rint(x), 0, 255).astype(np.uint8)
    raise UserError(f"unknown output kind {kind!r}; use one of {', '.join(KINDS)}.")


def to_db(intensity: np.ndarray) -> np.ndarray:
    x = np.asarray(intensity, dtype=np.float32)
    return (10.0 * np.log10(np.maximum(x, DB_FLOOR))).astype(np.float32)
