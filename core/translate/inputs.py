"""How SAR values become a translation network's 8-bit input, the same for a whole image and for one tile.

A conversion is split into a plan (which bands, which display mode: decided from the kind and band count), the
stretch limits (2-98 % of the dB values, computed once: from the whole image in memory, or from a decimated read
of a scene when streaming) and a pointwise mapping to uint8 that needs only those limits, so any window of a scene
converts exactly as the same pixels of the whole image would.

Modes: "display" (8-bit input, fed as it is; other display dtypes are stretched), "grey" (one SAR band in dB),
"vv" (band 1 of a VV/VH pair in dB), "false_colour" (R = VV, G = VH, B = VV/VH ratio), "vv_vh" (two channels in
dB), "bands" (three SAR bands, each in dB). 8-bit inputs can be speckle pre-filtered as SAR2Optical's
preprocessing does: the 8-bit values are taken as amplitude-like display values, squared to intensity, filtered,
and brought back to 8 bits by the square root (`prefilter_display`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from core import io as sio
from core import speckle
from core.errors import UserError

DUALPOL_MODES = ("auto", "vv", "false_colour", "vv_vh")
DUALPOL_LABELS = {
    "auto": "as the model was trained (VV only for grey models)",
    "vv": "VV only (grey)",
    "false_colour": "false colour R = VV, G = VH, B = VV/VH",
    "vv_vh": "two channels VV, VH (two-channel models)",
}
Limits = list[tuple[float, float]]


@dataclass
class InputPlan:
    mode: str  # see the module note
    kind: str  # what the values are (core.io.KINDS)
    notes: list[str]


def plan_input(kind: str, bands: int, translator: Any, dualpol: str = "auto") -> InputPlan:
    """Which conversion a `kind` image with `bands` bands gets for this translator (norm: channels, dualpol)."""
    if dualpol not in DUALPOL_MODES:
        raise UserError(f"unknown dual-pol mode {dualpol!r}; use one of {', '.join(DUALPOL_MODES)}.")
    notes: list[str] = []
    if kind == "display":
        return InputPlan("display", kind, ["Input is an 8-bit display image: fed as it is."])
    norm = translator.norm
    mode = "grey"
    if bands == 2:
        dual = dualpol
        if dual == "auto":  # as the checkpoint says it was trained, else by its channel layout
            dual = (
                norm["dualpol"]
                if norm.get("dualpol") in DUALPOL_MODES[1:]
                else {"vv_vh": "vv_vh", "vv_vh_ratio": "false_colour"}.get(norm.get("channels", "grey3"), "vv")
            )
        mode = dual
        if dual == "vv":
            notes.append("Dual-pol input: VV band used (choose false colour to feed VV, VH and their ratio).")
        elif dual == "false_colour":
            notes.append(f"Dual-pol input fed as false colour: {sio.DUALPOL_CONVENTION}.")
        else:
            notes.append("Dual-pol input fed as two channels, VV and VH, each in dB with a 2-98 % stretch.")
    elif bands >= 3:
        mode = "bands"
    notes.append(
        f"Input is {sio.KIND_LABELS[kind]}: converted to an 8-bit display image (dB, 2-98 % stretch), "
        f"as the model was trained on display images."
    )
    return InputPlan(mode, kind, notes)


def _valid(data: np.ndarray, nodata: float | None) -> np.ndarray:
    m = np.isfinite(data) if data.dtype.kind == "f" else np.ones(data.shape, bool)
    if nodata is not None and np.isfinite(nodata):
        m &= data != nodata
    return np.asarray(m if m.ndim == 2 else m.all(axis=-1))


def channel_values(plan: InputPlan, data: np.ndarray, nodata: float | None) -> tuple[list[np.ndarray], np.ndarray]:
    """The values each channel is stretched from (dB, or raw display values) and the valid mask they share."""
    if plan.mode == "display":
        return [data], np.ones(data.shape[:2], bool)  # display images: every value counts (as core.io.render)
    if plan.mode in ("grey", "vv") and data.ndim == 3:
        data = data[..., 0]
    valid = _valid(data, nodata)
    inten = sio.to_intensity(data, plan.kind)
    if inten.ndim == 2:
        return [sio.to_db(inten)], valid
    vals = [sio.to_db(inten[..., i]) for i in range(min(3, inten.shape[2]))]
    if plan.mode == "false_colour":
        vals = [vals[0], vals[1], vals[0] - vals[1]]
    elif plan.mode == "vv_vh":
        vals = vals[:2]
    return vals, valid


def stretch_limits(plan: InputPlan, data: np.ndarray, nodata: float | None) -> Limits:
    """2-98 % limits of every channel over `data` (the whole image, or a decimated sample of a scene)."""
    if plan.mode == "display" and data.dtype == np.uint8:
        return []
    vals, valid = channel_values(plan, data, nodata)
    if plan.mode == "display":
        return [sio.percentile_limits(vals[0])]
    return [sio.percentile_limits(v, mask=valid) for v in vals]


def to_display(plan: InputPlan, data: np.ndarray, nodata: float | None, limits: Limits) -> np.ndarray:
    """uint8 display image of `data` (any window) on the given limits: (h, w) or (h, w, C)."""
    if plan.mode == "display" and data.dtype == np.uint8:
        return data if data.ndim == 2 or data.shape[2] == 3 else data[..., 0]
    vals, _ = channel_values(plan, data, nodata)
    if plan.mode == "display":
        return sio.stretch(vals[0], limits=limits[0])
    out = [sio.stretch(v, limits=lim) for v, lim in zip(vals, limits)]
    return out[0] if len(out) == 1 else np.stack(out, axis=-1)


def fit_channels(img: np.ndarray, want: int, notes: list[str]) -> np.ndarray:
    """(h, w) or (h, w, C) uint8 -> (h, w, want): grey copied to R = G = B, colour averaged to grey."""
    have = 1 if img.ndim == 2 else img.shape[2]
    if img.ndim == 3 and have == 1:
        img, have = img[..., 0], 1
    if have == want:
        return img if img.ndim == 3 else img[..., None]
    if have == 1 and want == 3:
        notes.append("Grey image copied to three channels (R = G = B), as the model expects.")
        return np.repeat(img[..., None], 3, axis=2)
    if have == 3 and want == 1:
        notes.append("Colour input averaged to one grey channel, as the model takes one channel.")
        return np.rint(img.astype(np.float32).mean(axis=2, keepdims=True)).astype(np.uint8)
    if have == 1 and want == 2:
        raise UserError("this model takes two channels (VV and VH) but the input has one band; give a dual-pol image.")
    if have == 2 and want == 3:
        raise UserError("two channels (VV, VH) do not fit a three-channel model; use the VV or false-colour option.")
    if have == 3 and want == 2:
        raise UserError("this model takes two channels (VV and VH); give the two-band SAR image, not a colour one.")
    raise UserError(f"the input has {have} channels but the model takes {want}; convert the input.")


# ------------------------------------------------------------------------------------------- pre-filter


PREFILTER_DISPLAY_NOTE = (
    "Speckle pre-filter: {name} on the 8-bit values taken as amplitude-like display values "
    "(squared to intensity, filtered, square root back to 8 bits), as SAR2Optical's preprocessing does."
)


def prefilter_display(data: np.ndarray, name: str, params: dict | None = None) -> np.ndarray:
    """Filter an 8-bit display image: values as amplitude, intensity = value², filter, sqrt, round to uint8."""
    amp = data.astype(np.float32)
    out = speckle.despeckle(amp * amp, name, **(params or {}))
    back = np.sqrt(np.nan_to_num(np.maximum(out, 0.0), nan=0.0))
    return np.clip(np.rint(back), 0, 255).astype(np.uint8)


def prefilter_values(data: np.ndarray, kind: str, name: str, params: dict | None, nodata: float | None) -> np.ndarray:
    """Filter SAR values of any kind on linear intensity and return them in the same kind (NaN where invalid)."""
    raster = sio.Raster(data, kind, "window", sio.GeoInfo(nodata=nodata) if nodata is not None else None)
    return speckle.despeckle_raster(raster, name, **(params or {})).data


def prefilter_halo(name: str, params: dict | None) -> int:
    """Pixels of context a pre-filter needs around each output pixel (its window's half side, plus one)."""
    spec = speckle.filter_spec(name)
    defaults = {p.name: p.default for p in spec.params}
    window = (params or {}).get("window") or defaults.get("window") or 7
    return int(str(window)) // 2 + 1 if not spec.deep else 32
