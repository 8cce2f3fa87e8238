"""How SAR values become a translation network's 8-bit input, the same for a whole image and for one tile.

A conversion is split into a plan (which bands, which display mode: decided from the kind and band count), the
stretch limits (2-98 % of the dB values, computed once: from the whole image in memory, or from a decimated read
of a scene when streaming) and a pointwise mapping to uint8 that needs only those limits, so any window of a scene
converts exactly as the same pixels of the whole image would.

Input scaling (how dB values become 0..255; part of the model's contract, chosen by `resolve_scaling`):
- "sen1-2": a fixed range per channel, the same for every scene and every tile: sigma0 VV in dB clipped to
  [-25, 0] and scaled linearly to [0, 255], as the SEN1-2 data set's patches (Schmitt, Hughes, Zhu 2018, "The
  SEN1-2 dataset for deep learning in SAR-optical data fusion", ISPRS Annals IV-1) on which SAR2Optical and the
  usual pix2pix SAR weights were trained; VH (the second channel of two-channel models) clipped to [-32.5, 0] dB,
  the range the SEN12MS-CR / DSen2-CR data loaders use for VH (their `get_normalized_data` / `process_SAR`:
  clip_min [-25.0, -32.5], clip_max [0, 0] for S1 VV, VH). A third SAR band uses the VV range. There is no
  published fixed range for a VV/VH ratio channel, so false colour is refused with this scaling.
- "stretch": the 2-98 % percentiles of each channel's dB values over the image (or, when streaming, over a
  decimated read of the whole scene): what SAR Studio's own models were trained with (core.io.render).
- "display": 8-bit display inputs fed as they are.
A checkpoint records its scaling under "input_scaling" in its normalisation metadata; SAR Studio checkpoints
written before that key existed were all trained on core.io.render's stretch, so they read as "stretch".

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
SCALINGS = ("auto", "sen1-2", "stretch", "display")
SCALING_LABELS = {
    "auto": "as the model was trained (recorded in our checkpoints; SEN1-2 for calibrated input otherwise)",
    "sen1-2": "SEN1-2 fixed range: σ⁰ VV [−25, 0] dB, VH [−32.5, 0] dB → 0..255",
    "stretch": "per-image 2–98 % dB stretch",
    "display": "8-bit display image as it is",
}
SEN12_RANGES = ((-25.0, 0.0), (-32.5, 0.0), (-25.0, 0.0))  # dB per channel: VV, VH, third band (see module note)
NOT_TRAINING = "Warning: the input scaling ({used}) is not the one this model was trained with ({trained}); the output may be wrong."


@dataclass
class InputPlan:
    mode: str  # see the module note
    kind: str  # what the values are (core.io.KINDS)
    notes: list[str]
    scaling: str = "stretch"  # "sen1-2", "stretch" or "display" (resolved, never "auto")


def trained_scaling(translator: Any) -> str | None:
    """The input scaling the checkpoint was trained with, or None when it does not say (foreign files)."""
    gen = getattr(translator, "gen", None)
    norm = getattr(translator, "norm", None) or {}
    recorded = norm.get("input_scaling")
    if recorded in SCALINGS[1:]:
        return str(recorded)
    return "stretch" if getattr(gen, "format", None) == "sar-studio" else None


def is_calibrated(kind: str, dtype: Any, calibration: str | None = None) -> bool:
    """True when the values are calibrated sigma0: a product calibrated to sigma0, or a float SAR raster (taken as
    sigma0, as core.io.detect_kind does); 8-bit display images, integer DN and beta0 / gamma0 are not."""
    if calibration is not None and calibration != "none":
        return calibration == "sigma0" and kind != "display"
    if calibration == "none" or kind == "display":
        return False
    return np.dtype(dtype).kind == "f"


def resolve_scaling(choice: str, kind: str, translator: Any, calibrated: bool) -> tuple[str, list[str]]:
    """(the scaling to use, sentences saying why) for `choice` in SCALINGS on this input and checkpoint."""
    if choice not in SCALINGS:
        raise UserError(f"unknown input scaling {choice!r}; use one of {', '.join(SCALINGS)}.")
    trained = trained_scaling(translator)
    notes: list[str] = []
    if choice == "auto":
        if kind == "display":
            used = "display"
        elif trained is not None and trained != "display":
            used = trained
            notes.append(f"Input scaling {used}: as the checkpoint says the model was trained.")
        elif calibrated:
            used = "sen1-2"
            notes.append(
                "Input scaling sen1-2 (auto): the checkpoint records no input scaling and the input is calibrated "
                "σ⁰, so it is mapped as SEN1-2 was (VV [−25, 0] dB → 0..255), as SAR2Optical and the usual pix2pix "
                "SAR weights were trained."
            )
        else:
            used = "stretch"
            notes.append(
                "Input scaling stretch (auto): the input is not calibrated σ⁰, so it gets a per-image 2-98 % stretch."
            )
            if trained is None:
                notes.append(
                    NOT_TRAINING.format(used="per-image stretch", trained="unknown, usually SEN1-2's fixed range")
                )
    else:
        used = choice
    if used == "display" and kind != "display":
        raise UserError(
            "the display input scaling feeds 8-bit images as they are, but this input is SAR values; "
            "use --input-scaling sen1-2 or stretch."
        )
    if used == "sen1-2" and kind == "display":
        raise UserError(
            "an 8-bit display image has no dB values for the SEN1-2 scaling; give calibrated σ⁰, or use "
            "--input-scaling display."
        )
    if used == "sen1-2" and not calibrated:
        notes.append("Warning: the SEN1-2 scaling assumes calibrated σ⁰, and this input is not calibrated σ⁰.")
    if choice != "auto" and trained is not None and used != trained and kind != "display":
        notes.append(NOT_TRAINING.format(used=used, trained=trained))
    return used, notes


def plan_input(
    kind: str,
    bands: int,
    translator: Any,
    dualpol: str = "auto",
    scaling: str = "stretch",
    calibrated: bool = True,
) -> InputPlan:
    """Which conversion a `kind` image with `bands` bands gets for this translator (norm: channels, dualpol) and
    the input scaling `scaling` (one of SCALINGS; "auto" resolved by resolve_scaling)."""
    if dualpol not in DUALPOL_MODES:
        raise UserError(f"unknown dual-pol mode {dualpol!r}; use one of {', '.join(DUALPOL_MODES)}.")
    used, scaling_notes = resolve_scaling(scaling, kind, translator, calibrated)
    notes: list[str] = []
    if kind == "display":
        return InputPlan("display", kind, ["Input is an 8-bit display image: fed as it is.", *scaling_notes], used)
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
            notes.append(f"Dual-pol input fed as two channels, VV and VH, each in dB ({used} scaling).")
    elif bands >= 3:
        mode = "bands"
    if used == "sen1-2" and mode == "false_colour":
        raise UserError(
            "the SEN1-2 scaling has no fixed range for the VV/VH ratio channel of false colour; "
            "use --dualpol vv or vv_vh, or --input-scaling stretch."
        )
    how = (
        "dB on SEN1-2's fixed range: VV [−25, 0] dB, VH [−32.5, 0] dB → 0..255"
        if used == "sen1-2"
        else "dB, 2-98 % stretch"
    )
    notes.append(f"Input is {sio.KIND_LABELS[kind]}: converted to an 8-bit display image ({how}).")
    return InputPlan(mode, kind, notes + scaling_notes, used)


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
    if plan.scaling == "sen1-2":
        return fixed_limits(plan, data)
    vals, valid = channel_values(plan, data, nodata)
    if plan.mode == "display":
        return [sio.percentile_limits(vals[0])]
    return [sio.percentile_limits(v, mask=valid) for v in vals]


def fixed_limits(plan: InputPlan, data: np.ndarray | None = None) -> Limits:
    """SEN1-2's fixed dB range of every channel the plan feeds (no statistics of the image)."""
    if plan.mode in ("grey", "vv"):
        return [SEN12_RANGES[0]]
    if plan.mode == "vv_vh":
        return [SEN12_RANGES[0], SEN12_RANGES[1]]
    n = 3 if data is None or data.ndim == 2 else min(3, data.shape[2])
    return list(SEN12_RANGES[:n])


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
