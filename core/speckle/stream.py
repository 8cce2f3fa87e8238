"""Despeckle a whole scene in bounded memory: windows (with the filter's halo) read from the source, filtered,
written block by block into a tiled GeoTIFF (or COG) through core.io.stream_filter.

The result equals the in-memory `despeckle` of the same scene: every filter here depends only on pixels within
`core.speckle.scene.halo` of each output pixel, and the scene-wide values (looks, ...) are resolved once per band
from the same sample the in-memory path uses. Values are written back in the input's kind (as
`result_raster` does); invalid pixels get the input's nodata value (NaN when it has none).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from core import io as sio
from core.errors import UserError
from core.speckle.apply import check_size, filter_band
from core.speckle.registry import check_params, filter_spec
from core.speckle.scene import halo, scene_params

STREAM_BLOCK = 512  # output block (GeoTIFF tile) side; a window is this plus twice the halo
GDAL_CACHE_MB = 64  # GDAL's block cache while streaming


def stream_despeckle(
    src: sio.Source,
    dst: str | os.PathLike,
    name: str,
    cog: bool = False,
    block: int = STREAM_BLOCK,
    progress: Callable[[int, int], None] | None = None,
    notes: list[str] | None = None,
    **params,
) -> Path:
    """Filter every band of `src` with filter `name` into the GeoTIFF `dst`, keeping its georeference. A warning
    is appended to `notes` when the whole output holds one value (core.io.constant_output_note)."""
    return stream_despeckle_many(src, [(name, params, dst)], cog, block, progress, notes)[0]


def stream_despeckle_many(
    src: sio.Source,
    runs: Sequence[tuple[str, dict, str | os.PathLike]],
    cog: bool = False,
    block: int = STREAM_BLOCK,
    progress: Callable[[int, int], None] | None = None,
    notes: list[str] | None = None,
    phase: Callable[[str], None] | None = None,
) -> list[Path]:
    """Several filters over one read of the scene: `runs` is [(filter name, params, output path)]. Each window is
    read once with the largest halo any filter needs; each filter writes its own GeoTIFF (COG with `cog`).
    `phase(text)` names what is happening: the scene statistics, the blocks, the overviews."""
    kind = src.kind
    nodata = src.geo.nodata
    checked = []
    for name, params, dst in runs:
        spec = filter_spec(name)
        if spec.deep:
            raise UserError(
                "MERLIN runs on the whole image in memory; write a .png or crop the scene (streaming: later)."
            )
        p = check_params(spec, params)
        check_size(src.height, src.width, spec, p)
        checked.append((spec, p, Path(dst)))

    def band_of(data: np.ndarray, b: int) -> tuple[np.ndarray, np.ndarray]:
        raw = data if data.ndim == 2 else data[..., b]
        x = raw.astype(np.float32, copy=False) if kind == "intensity" else sio.to_intensity(raw, kind)
        ok = np.isfinite(raw) if raw.dtype.kind in "fc" else np.ones(raw.shape, bool)
        if nodata is not None and np.isfinite(nodata):
            ok &= raw != nodata
        return x, ok

    if phase is not None:
        phase("reading the scene: looking for valid pixels")
    if not any(_any_valid(src, band_of, b) for b in range(src.count)):
        raise UserError(f"{src.name} holds no valid pixels (all NaN, infinite or nodata); check the export.")
    fill = np.float32(nodata) if nodata is not None and np.isfinite(nodata) else np.float32(np.nan)
    outputs, ranges = [], []
    for spec, params, dst in checked:
        if phase is not None:
            phase(f"reading the scene: statistics for {spec.label} (sample windows)")
        per_band = []
        for b in range(src.count):

            def read_band(win: sio.Window, b: int = b) -> tuple[np.ndarray, np.ndarray]:
                return band_of(src.read(win), b)

            per_band.append(scene_params(spec, params, read_band, src.height, src.width))
        value_range = [np.inf, -np.inf]  # over every output window: a blank result is told, as in memory
        ranges.append(value_range)
        outputs.append(
            (dst, _block_filter(spec, params, per_band, src.count, band_of, kind, fill, nodata, value_range))
        )

    import rasterio  # only streaming needs it here

    if phase is not None:
        phase("filtering blocks")
    # GDAL's block cache defaults to 5 % of the RAM and would fill with blocks already written: cap it, so the
    # peak stays a few windows whatever the scene (measured in bench/scene.py)
    reach = max(halo(spec, params) for spec, params, _ in checked)
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB * 1024 * 1024):
        out = sio.stream_filters(src, outputs, halo=reach, block=block, cog=cog, progress=progress, phase=phase)
    if notes is not None:
        for value_range, (_, _, dst) in zip(ranges, checked):
            if np.isfinite(value_range[0]):
                blank = sio.constant_output_note(np.array(value_range, np.float32), dst.name)
                if blank:
                    notes.append(blank)
    return out


def _block_filter(spec, params, per_band, count, band_of, kind, fill, nodata, value_range):
    """The per-window function of one filter (every band, values back in the input's kind, nodata kept)."""

    def fn(data: np.ndarray) -> np.ndarray:
        planes = []
        for b in range(count):
            x, ok = band_of(data, b)
            res = filter_band(spec, params, x, ok, scene=per_band[b]) if ok.any() else np.full(x.shape, np.nan)
            out = sio.from_intensity(res, kind)
            if out.dtype.kind == "f":
                out = np.where(np.isfinite(res), out, fill).astype(np.float32)
            planes.append(out)
        result = planes[0] if len(planes) == 1 else np.stack(planes, axis=-1)
        finite = np.isfinite(result) if result.dtype.kind == "f" else np.ones(result.shape, bool)
        if nodata is not None and np.isfinite(nodata):
            finite &= result != nodata
        if finite.any():
            value_range[0] = min(value_range[0], float(result[finite].min()))
            value_range[1] = max(value_range[1], float(result[finite].max()))
        return result

    return fn


def _any_valid(src: sio.Source, band_of, b: int) -> bool:
    """Whether band b has a valid pixel (reads 2048 x 2048 windows until it finds one)."""
    for win in sio.iter_windows(src.height, src.width, 2048):
        if band_of(src.read(win), b)[1].any():
            return True
    return False
