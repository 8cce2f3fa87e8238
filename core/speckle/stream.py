"""Despeckle a whole scene in bounded memory: windows (with the filter's halo) read from the source, filtered,
written block by block into a tiled GeoTIFF (or COG) through core.io.stream_filter.

The result equals the in-memory `despeckle` of the same scene: every filter here depends only on pixels within
`core.speckle.scene.halo` of each output pixel, and the scene-wide values (looks, ...) are resolved once per band
from the same sample the in-memory path uses. Values are written back in the input's kind (as
`result_raster` does); invalid pixels get the input's nodata value (NaN when it has none).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core import io as sio
from core.errors import UserError
from core.speckle.apply import check_size, filter_band
from core.speckle.registry import check_params, filter_spec
from core.speckle.scene import halo, scene_params

STREAM_BLOCK = 512  # output block (GeoTIFF tile) side; a window is this plus twice the halo
# windows per Dask task: fewer, larger tasks spread the scheduler's per-task cost (256 single-window tasks of an
# 8192² scene cost 17 CPU-s more than the serial run); the client holds in-flight tasks x this many blocks
TASK_WINDOWS = 4


def stream_despeckle(
    src: sio.Source,
    dst: str | os.PathLike,
    name: str,
    cog: bool = False,
    block: int = STREAM_BLOCK,
    progress: Callable[[int, int], None] | None = None,
    notes: list[str] | None = None,
    compress: str | None = None,
    client: Any = None,  # a dask.distributed Client: windows as tasks (core.batch.map_ordered)
    source_args: dict | None = None,
    **params: Any,
) -> Path:
    """Filter every band of `src` with filter `name` into the GeoTIFF `dst`, keeping its georeference. A warning
    is appended to `notes` when the whole output holds one value (core.io.constant_output_note).

    With a Dask `client`, the windows (with their halo) are tasks on its workers: each worker opens the source
    itself from `source_args` (open_source's arguments: an absolute path every worker sees, calibration, pol,
    swath) and returns its output block; blocks are written here in the serial order (core.batch.map_ordered), so
    the file has the same bytes as the serial run."""
    spec = filter_spec(name)
    if spec.deep:
        raise UserError("MERLIN runs on the whole image in memory; write a .png or crop the scene (streaming: later).")
    params = check_params(spec, params)
    check_size(src.height, src.width, spec, params)
    kind = src.kind
    nodata = src.geo.nodata
    band_filter = WindowFilter(spec.name, params, kind, nodata, src.count, [])
    if not any(_any_valid(src, band_filter, b) for b in range(src.count)):
        raise UserError(f"{src.name} holds no valid pixels (all NaN, infinite or nodata); check the export.")
    for b in range(src.count):

        def read_band(win: sio.Window, b: int = b) -> tuple[np.ndarray, np.ndarray]:
            return band_filter.band_of(src.read(win), b)

        band_filter.per_band.append(scene_params(spec, params, read_band, src.height, src.width))
    h = halo(spec, params)
    value_range = [np.inf, -np.inf]  # over every output block: a blank result is told, as in memory

    def blocks(windows: list[sio.Window]) -> Iterator[np.ndarray]:
        if client is None:
            cores = (sio.filter_window(src, band_filter, win, h) for win in windows)
        else:
            from core.batch import map_ordered  # noqa: PLC0415 - start-up: core.batch (Dask's scheduling, argparse) only when a stream runs, not a page's first draw

            if source_args is None:
                raise ValueError("a cluster run needs source_args to open the source on the workers")
            job = SceneJob(dict(source_args), band_filter, h)
            groups = [tuple(windows[i : i + TASK_WINDOWS]) for i in range(0, len(windows), TASK_WINDOWS)]
            done = map_ordered(client, despeckle_windows, [(job, g) for g in groups], name=f"despeckle-{name}")
            cores = (out for outs in done for out in outs)
        for out in cores:
            _track_range(out, nodata, value_range)
            yield out

    out = sio.stream_filter(
        src, dst, band_filter, halo=h, block=block, cog=cog, progress=progress, compress=compress, map_windows=blocks
    )
    if notes is not None and np.isfinite(value_range[0]):
        blank = sio.constant_output_note(np.array(value_range, np.float32), Path(dst).name)
        if blank:
            notes.append(blank)
    return out


def stream_despeckle_many(
    src: sio.Source,
    runs: Sequence[tuple[str, dict, str | os.PathLike]],
    cog: bool = False,
    block: int = STREAM_BLOCK,
    progress: Callable[[int, int], None] | None = None,
    notes: list[str] | None = None,
    phase: Callable[[str], None] | None = None,
    compress: str | None = None,
) -> list[Path]:
    """Several filters over one read of the scene (the page's whole-scene job): `runs` is [(filter name, params,
    output path)]. Each window is read once with the largest halo any filter needs (core.io.stream_filters); each
    filter writes its own GeoTIFF (COG with `cog`). `phase(text)` names what is happening: the scene statistics,
    the blocks, the overviews. One filter on the command line goes through stream_despeckle (cluster, same bytes)."""
    nodata = src.geo.nodata
    filters: list[tuple[WindowFilter, Path, Any]] = []
    for name, params, dst in runs:
        spec = filter_spec(name)
        if spec.deep:
            raise UserError(
                "MERLIN runs on the whole image in memory; write a .png or crop the scene (streaming: later)."
            )
        p = check_params(spec, params)
        check_size(src.height, src.width, spec, p)
        filters.append((WindowFilter(spec.name, p, src.kind, nodata, src.count, []), Path(dst), spec))
    if phase is not None:
        phase("reading the scene: looking for valid pixels")
    if not any(_any_valid(src, filters[0][0], b) for b in range(src.count)):
        raise UserError(f"{src.name} holds no valid pixels (all NaN, infinite or nodata); check the export.")
    outputs, ranges = [], []
    for wf, dst, spec in filters:
        if phase is not None:
            phase(f"reading the scene: statistics for {spec.label} (sample windows)")
        for b in range(src.count):

            def read_band(win: sio.Window, b: int = b, wf: WindowFilter = wf) -> tuple[np.ndarray, np.ndarray]:
                return wf.band_of(src.read(win), b)

            wf.per_band.append(scene_params(spec, wf.params, read_band, src.height, src.width))
        value_range = [np.inf, -np.inf]  # over every output window: a blank result is told, as in memory
        ranges.append(value_range)
        outputs.append((dst, _tracked(wf, nodata, value_range)))
    if phase is not None:
        phase("filtering blocks")
    reach = max(halo(spec, wf.params) for wf, _, spec in filters)
    out = sio.stream_filters(
        src, outputs, halo=reach, block=block, cog=cog, progress=progress, phase=phase, compress=compress
    )
    if notes is not None:
        for value_range, (_, dst, _) in zip(ranges, filters):
            if np.isfinite(value_range[0]):
                blank = sio.constant_output_note(np.array(value_range, np.float32), dst.name)
                if blank:
                    notes.append(blank)
    return out


def _tracked(wf: WindowFilter, nodata: float | None, value_range: list[float]) -> Callable[[np.ndarray], np.ndarray]:
    """`wf` over a window, keeping the running value range of its outputs."""

    def fn(data: np.ndarray) -> np.ndarray:
        out = wf(data)
        _track_range(out, nodata, value_range)
        return out

    return fn


@dataclass
class WindowFilter:
    """The filter of one scene as a picklable callable: (h, w[, C]) window in the input's kind -> the filtered
    window in the same kind, invalid pixels set to the input's nodata (NaN when it has none)."""

    name: str
    params: dict
    kind: str
    nodata: float | None
    count: int
    per_band: list[dict]  # scene-wide values per band (core.speckle.scene.scene_params)

    def band_of(self, data: np.ndarray, b: int) -> tuple[np.ndarray, np.ndarray]:
        raw = data if data.ndim == 2 else data[..., b]
        x = raw.astype(np.float32, copy=False) if self.kind == "intensity" else sio.to_intensity(raw, self.kind)
        ok = np.isfinite(raw) if raw.dtype.kind in "fc" else np.ones(raw.shape, bool)
        if self.nodata is not None and np.isfinite(self.nodata):
            ok &= raw != self.nodata
        return x, ok

    def __call__(self, data: np.ndarray) -> np.ndarray:
        spec = filter_spec(self.name)
        nodata = self.nodata
        fill = np.float32(nodata) if nodata is not None and np.isfinite(nodata) else np.float32(np.nan)
        planes = []
        for b in range(self.count):
            x, ok = self.band_of(data, b)
            res = (
                filter_band(spec, self.params, x, ok, scene=self.per_band[b]) if ok.any() else np.full(x.shape, np.nan)
            )
            out = sio.from_intensity(res, self.kind)
            if out.dtype.kind == "f":
                out = np.where(np.isfinite(res), out, fill).astype(np.float32)
            planes.append(out)
        return planes[0] if len(planes) == 1 else np.stack(planes, axis=-1)


@dataclass
class SceneJob:
    """What a Dask worker needs to filter windows of one scene: how to open it, the filter, the halo."""

    source_args: dict
    band_filter: WindowFilter
    halo: int


_OPEN: dict[str, sio.Source] = {}  # per process (so per worker): the scene opened once for all its windows


def despeckle_windows(job: SceneJob, wins: tuple[sio.Window, ...]) -> list[np.ndarray]:
    """Output blocks of consecutive windows of a scene, as one Dask task: pure (the same job and windows give the
    same blocks), so windows lost with a killed worker are simply computed again elsewhere."""
    return [despeckle_window(job, win) for win in wins]


def despeckle_window(job: SceneJob, win: sio.Window) -> np.ndarray:
    """One output block of a scene (the worker opens the scene once and keeps it for the next windows)."""
    key = repr(sorted(job.source_args.items()))
    if key not in _OPEN:
        for old in _OPEN.values():  # one scene at a time per worker: close the previous one
            old.close()
        _OPEN.clear()
        _OPEN[key] = sio.open_source(**job.source_args)
    return sio.filter_window(_OPEN[key], job.band_filter, win, job.halo)


def _track_range(out: np.ndarray, nodata: float | None, value_range: list[float]) -> None:
    finite = np.isfinite(out) if out.dtype.kind == "f" else np.ones(out.shape, bool)
    if nodata is not None and np.isfinite(nodata):
        finite &= out != nodata
    if finite.any():
        value_range[0] = min(value_range[0], float(out[finite].min()))
        value_range[1] = max(value_range[1], float(out[finite].max()))


def _any_valid(src: sio.Source, band_filter: WindowFilter, b: int) -> bool:
    """Whether band b has a valid pixel (reads 2048 x 2048 windows until it finds one)."""
    for win in sio.iter_windows(src.height, src.width, 2048):
        if band_filter.band_of(src.read(win), b)[1].any():
            return True
    return False
