"""Despeckling an image or a raster with a filter of the registry, band by band, keeping invalid pixels invalid."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from core import io as sio
from core.errors import UserError
from core.speckle.registry import FilterSpec, check_params, filter_spec
from core.speckle.scene import scene_params
from core.tiling import ProgressFn

if TYPE_CHECKING:
    from models.merlin import Merlin


def despeckle(
    source: sio.Raster | np.ndarray,
    name: str,
    progress: ProgressFn | None = None,
    notes: list | None = None,
    device: str = "auto",
    network: Merlin | None = None,
    **params: object,
) -> np.ndarray:
    """Filter `source` (a core.io.Raster, or an intensity array (H, W) or (H, W, C)) with filter `name`.

    Works per band on linear intensity, keeps NaN/nodata pixels invalid (NaN in the result), and returns
    float32 intensity of the same shape. Convert back with core.io.from_intensity (or use despeckle_raster).
    Scene-wide values (looks when not given, ...) come from core.speckle.scene, as for a streamed scene.
    """
    spec = filter_spec(name)
    params = check_params(spec, params)
    if isinstance(source, sio.Raster):
        data = source.data
        inten = (
            data.astype(np.float32, copy=False) if source.kind == "intensity" else sio.to_intensity(data, source.kind)
        )
        valid = band_valid(source)
    else:
        inten = np.asarray(source, dtype=np.float32)
        valid = np.isfinite(inten)
    if inten.ndim not in (2, 3):
        raise UserError(f"expected an image with one to three bands, got an array of shape {inten.shape}.")
    check_size(inten.shape[0], inten.shape[1], spec, params)
    if not valid.any():
        raise UserError("the image holds no valid pixels (all NaN or nodata); check the input.")
    bands = 1 if inten.ndim == 2 else inten.shape[2]
    out: np.ndarray | None = None
    for b in range(bands):
        band = inten if inten.ndim == 2 else inten[..., b]
        ok = valid if valid.ndim == 2 else valid[..., b]

        def sub(frac: float, msg: str = "", b: int = b) -> None:
            if progress is not None:
                progress((b + frac) / bands, f"band {b + 1}/{bands} {msg}".strip())

        if not ok.any():
            res = np.full(band.shape, np.nan, np.float32)
        else:
            res = filter_band(spec, params, band, ok, notes=notes, device=device, network=network, progress=sub)
        if inten.ndim == 2:
            out = res
        else:
            if out is None:
                out = np.empty(inten.shape, np.float32)
            out[..., b] = res
        sub(1.0, "done")
    assert out is not None
    return out


def filter_band(
    spec: FilterSpec, params: dict, band: np.ndarray, ok: np.ndarray, scene: dict | None = None, **deep: object
) -> np.ndarray:
    """One band through `spec` with NaN where invalid. `scene`: scene-wide values already resolved (streaming);
    None resolves them from this band (core.speckle.scene)."""
    h, w = band.shape
    all_ok = bool(ok.all())
    x = band if all_ok else np.where(ok, band, np.float32(np.nan)).astype(np.float32)
    if scene is None:
        scene = scene_params(spec, params, lambda win: (_cut(x, win), _cut(ok, win)), h, w)
    kwargs = dict(scene)
    if spec.deep:
        kwargs.update(deep)
    res = np.asarray(spec.fn(x, valid=ok, **kwargs), np.float32)
    if not all_ok:
        res[~ok] = np.nan
    return res


def _cut(a: np.ndarray, win: sio.Window) -> np.ndarray:
    return a[win.row : win.row + win.height, win.col : win.col + win.width]


def check_size(height: int, width: int, spec: FilterSpec, params: dict) -> None:
    """Refuse an image smaller than the filter's window, with one sentence."""
    window = params.get("window", next((p.default for p in spec.params if p.name == "window"), None))
    if window is not None and (height < int(window) or width < int(window)):
        raise UserError(
            f"the image is {width}x{height} pixels, smaller than the {window}x{window} window of {spec.name}; "
            f"use a larger image or a smaller window."
        )


def band_valid(raster: sio.Raster) -> np.ndarray:
    d = raster.data
    m = np.isfinite(d) if d.dtype.kind == "f" else np.ones(d.shape, bool)
    if raster.geo is not None and raster.geo.nodata is not None and np.isfinite(raster.geo.nodata):
        m &= d != raster.geo.nodata
    return m


def despeckle_raster(raster: sio.Raster, name: str, **kwargs: Any) -> sio.Raster:
    """Despeckle and convert back to the input's kind, same georeference; invalid pixels get nodata (or NaN)."""
    return result_raster(raster, despeckle(raster, name, **kwargs), filter_spec(name).name)


def result_raster(raster: sio.Raster, intensity: np.ndarray, name: str) -> sio.Raster:
    """A filtered intensity as a raster in the input's kind and georeference; invalid pixels get the input's
    nodata value (NaN when it has none)."""
    data = sio.from_intensity(intensity, raster.kind)
    if data.dtype.kind == "f":
        nodata = raster.geo.nodata if raster.geo is not None else None
        fill = np.float32(nodata) if nodata is not None and np.isfinite(nodata) else np.float32(np.nan)
        data = np.where(np.isfinite(intensity), data, fill).astype(np.float32)
    return replace(raster, data=data, name=f"{Path(raster.name).stem}_{name}")


def input_intensity(raster: sio.Raster) -> np.ndarray:
    """Linear intensity of a raster with NaN where a band is invalid (NaN or nodata)."""
    inten = sio.to_intensity(raster.data, raster.kind)
    return np.where(band_valid(raster), inten, np.nan).astype(np.float32)
