"""Despeckle a whole scene in bounded memory: windows (with the filters' halo) read once from the source, filtered,
written block by block into one tiled GeoTIFF (or COG) per filter through core.io.stream_filters.

`despeckle_scene` is the one function of the job, for the page's whole-scene job (core.speckle.jobs) and for
`python -m core despeckle`: it checks and opens the file, streams it (serially or with a Dask cluster's workers
taking the windows) and words a file GDAL cannot read in one line. `stream_despeckle_many` does the same on a
source already open; `stream_despeckle` is its case of one filter.

The result equals the in-memory `despeckle` of the same scene: every filter here depends only on pixels within
`core.speckle.scene.halo` of each output pixel, and the scene-wide values (looks, ...) are resolved once per band
from the same sample the in-memory path uses. Values are written back in the input's kind (as
`result_raster` does); invalid pixels get the input's nodata value (NaN when it has none).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core import io as sio
from core.batch import map_ordered, task_groups
from core.budget import keep_window_heap
from core.errors import UserError
from core.io.confine import Confine
from core.progress import ProgressFn
from core.speckle.apply import check_size, filter_band
from core.speckle.registry import check_params, filter_spec
from core.speckle.scene import halo, scene_params

STREAM_BLOCK = 512  # output block (GeoTIFF tile) side; a window is this plus twice the halo


FilterRun = tuple[str, dict, str | os.PathLike]  # (filter name, its parameters, output path)
_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


def despeckle_scene(
    path: str | os.PathLike,
    runs: Sequence[FilterRun],
    *,
    calibration: str | None = None,
    pol: str = "all",
    swath: str | None = None,
    noise: str | None = None,
    kind: str | None = None,
    confine: Confine | None = None,
    cog: bool = False,
    progress: Callable[[sio.Source], AbstractContextManager[ProgressFn | None]] | None = None,
    phase: Callable[[str], None] | None = None,
    opened: Callable[[sio.Source], None] | None = None,
    client: Any = None,
    geometry: Callable[[Path, Path, ProgressFn | None], None] | None = None,  # core.products.chain.GeometryStep
) -> list[str]:
    """Despeckle the scene or product at `path` with every (filter, params, output) of `runs` in one streamed read:
    the one function of the page's whole-scene job and of `python -m core despeckle` (one filter: a list of one).
    Returns the notes to show: the source's, then the outputs' (a blank result).

    It checks the file first (empty, a .tif that is no TIFF), opens it (product options; `kind` overrides what
    the values are; `confine`: a browser-reached path, core.io.confine), and says a file GDAL cannot read in one
    line ("truncated or corrupt"). `progress(source)` opens the progress display once the source's name is known
    and gives the (done, total) callback; `opened(source)` sees the open source first. With a Dask `client` the
    windows are tasks on its workers (same bytes). `geometry`: one filter, whose radar-geometry result the map
    step (core.products.chain) turns into the output."""
    import rasterio  # heavy: GDAL's error class, only when a scene is read

    path = Path(path)
    check_file(path)
    open_args: dict[str, Any] = dict(
        source=str(path.absolute()), calibration=calibration, pol=pol, swath=swath, noise=noise
    )
    if confine is not None:
        open_args["confine"] = confine
    try:
        with sio.open_source(**open_args) as source:
            if kind not in (None, "auto"):
                source.kind = kind
            if opened is not None:
                opened(source)
            produced: list[str] = []
            with progress(source) if progress is not None else nullcontext() as bar:
                if geometry is None:
                    stream_despeckle_many(
                        source, runs, cog=cog, progress=bar, notes=produced, phase=phase, client=client,
                        source_args=open_args,
                    )  # fmt: skip
                else:  # filtered radar geometry in a hidden folder beside the output, then the map step writes it
                    ((name, params, dst),) = runs
                    work = Path(tempfile.mkdtemp(prefix=".despeckle-", dir=Path(dst).parent.absolute()))
                    try:
                        radar = work / "radar.tif"
                        stream_despeckle_many(source, [(name, params, radar)], progress=bar, notes=produced)
                        geometry(radar, Path(dst), bar)
                    finally:
                        shutil.rmtree(work, ignore_errors=True)
            return list(source.notes) + produced
    except rasterio.errors.RasterioError as exc:
        msg = " ".join(str(exc).split())[:120]
        raise UserError(
            f"{path.name} could not be read ({msg}); the file is truncated or corrupt, export it again."
        ) from None


def check_file(src: Path) -> None:
    """The messages read_raster gives for an empty file or a .tif that is no TIFF, before GDAL sees it."""
    if not src.is_file():
        return
    if src.stat().st_size == 0:
        raise UserError(f"{src.name} is empty (0 bytes); upload the image again.")
    if src.suffix.lower() in (".tif", ".tiff"):
        with open(src, "rb") as fh:
            head = fh.read(4)
        if head not in _TIFF_MAGIC:
            raise UserError(f"{src.name} is not a PNG, JPEG or TIFF image; convert it to one of these formats.")


def stream_despeckle(
    src: sio.Source,
    dst: str | os.PathLike,
    name: str,
    cog: bool = False,
    block: int = STREAM_BLOCK,
    progress: Callable[[int, int], None] | None = None,
    notes: list[str] | None = None,
    compress: str | None = None,
    **params: Any,
) -> Path:
    """Filter every band of the open `src` with filter `name` into the GeoTIFF `dst`: stream_despeckle_many with
    one filter."""
    runs = [(name, params, dst)]
    return stream_despeckle_many(src, runs, cog, block, progress, notes, compress=compress)[0]


def stream_despeckle_many(
    src: sio.Source,
    runs: Sequence[FilterRun],
    cog: bool = False,
    block: int = STREAM_BLOCK,
    progress: Callable[[int, int], None] | None = None,
    notes: list[str] | None = None,
    phase: Callable[[str], None] | None = None,
    compress: str | None = None,
    client: Any = None,  # a dask.distributed Client: windows as tasks (core.batch.map_ordered)
    source_args: dict | None = None,
) -> list[Path]:
    """Several filters over one read of the open `src`, keeping its georeference: `runs` is [(filter name, params,
    output path)]. Each window is read once with the largest halo any filter needs (core.io.stream_filters); each
    filter writes its own GeoTIFF (COG with `cog`). `phase(text)` names what is happening: the scene statistics,
    the blocks, the overviews. A warning is appended to `notes` for an output that holds one value
    (core.io.constant_output_note).

    With a Dask `client`, the windows (with their halo) are tasks on its workers: each worker opens the source
    itself from `source_args` (open_source's arguments: an absolute path every worker sees, calibration, pol,
    swath) and returns its output blocks; blocks are written here in the serial order (core.batch.map_ordered), so
    the files have the same bytes as the serial run."""
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
    for wf, _, spec in filters:
        if phase is not None:
            phase(f"reading the scene: statistics for {spec.label} (sample windows)")
        for b in range(src.count):

            def read_band(win: sio.Window, b: int = b, wf: WindowFilter = wf) -> tuple[np.ndarray, np.ndarray]:
                return wf.band_of(src.read(win), b)

            wf.per_band.append(scene_params(spec, wf.params, read_band, src.height, src.width))
    if phase is not None:
        phase("filtering blocks")
    band_filters = [wf for wf, _, _ in filters]
    reach = max(halo(spec, wf.params) for wf, _, spec in filters)
    ranges = [[np.inf, -np.inf] for _ in filters]  # over every output block: a blank result is told, as in memory

    def blocks(windows: list[sio.Window]) -> Iterator[list[np.ndarray]]:
        if client is not None:  # the workers track the value ranges of what they return
            job_args = {**(source_args or {}), "kind": src.kind}
            yield from cluster_blocks(client, job_args, band_filters, reach, windows, filters[0][2].name, ranges)
            return
        for outs in (sio.window_cores(src, band_filters, win, reach) for win in windows):
            for out, value_range in zip(outs, ranges):
                _track_range(out, nodata, value_range)
            yield outs

    outputs = [(dst, wf) for wf, dst, _ in filters]
    out = sio.stream_filters(
        src, outputs, halo=reach, block=block, cog=cog, progress=progress, phase=phase, compress=compress,
        map_windows=blocks,
    )  # fmt: skip
    if notes is not None:
        for value_range, (_, dst, _) in zip(ranges, filters):
            if np.isfinite(value_range[0]):
                blank = sio.constant_output_note(np.array(value_range, np.float32), dst.name)
                if blank:
                    notes.append(blank)
    return out


def cluster_blocks(
    client: Any,
    source_args: dict,
    band_filters: list[WindowFilter],
    h: int,
    windows: list[sio.Window],
    name: str,
    ranges: list[list[float]],
) -> Iterator[list[np.ndarray]]:
    """The output blocks of every filter at each window, computed on the Dask cluster of `client`, in the order
    of `windows` (groups of consecutive windows as tasks, a bounded number in flight: core.batch.map_ordered);
    each filter's `ranges` entry is widened by the value ranges the workers found."""
    if not source_args.get("source"):
        raise ValueError("a cluster run needs source_args to open the source on the workers")
    job = SceneJob(dict(source_args), band_filters, h)
    groups = [(job, g) for g in task_groups(windows, client)]
    for outs, task_ranges in map_ordered(client, despeckle_windows, groups, name=f"despeckle-{name}"):
        for value_range, (lo, hi) in zip(ranges, task_ranges):
            value_range[0], value_range[1] = min(value_range[0], lo), max(value_range[1], hi)
        yield from outs


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
    """What a Dask worker needs to filter windows of one scene: how to open it, the filters, the halo."""

    source_args: dict
    band_filters: list[WindowFilter]
    halo: int


_OPEN: dict[str, sio.Source] = {}  # per process (so per worker): the scene opened once for all its windows


def despeckle_windows(
    job: SceneJob, wins: tuple[sio.Window, ...]
) -> tuple[list[list[np.ndarray]], list[tuple[float, float]]]:
    """Output blocks (one per filter) of consecutive windows of a scene, and each filter's (min, max) of valid
    values over them, as one Dask task: pure (the same job and windows give the same blocks), so windows lost with a
    killed worker are simply computed again elsewhere. The ranges are found here, on the worker, so that the client
    only writes."""
    keep_window_heap()  # this worker filters windows of one size: no fresh mapping per temporary (see its note)
    outs = [despeckle_window(job, win) for win in wins]
    ranges = [[np.inf, -np.inf] for _ in job.band_filters]
    for per_filter in outs:
        for out, value_range, wf in zip(per_filter, ranges, job.band_filters):
            _track_range(out, wf.nodata, value_range)
    return outs, [(lo, hi) for lo, hi in ranges]


def despeckle_window(job: SceneJob, win: sio.Window) -> list[np.ndarray]:
    """The output blocks (one per filter) of one window of a scene (the worker opens the scene once and keeps it
    for the next windows; the client passes the kind it found, so the worker does not read the whole file again
    to detect it)."""
    key = repr(sorted(job.source_args.items()))
    if key not in _OPEN:
        for old in _OPEN.values():  # one scene at a time per worker: close the previous one
            old.close()
        _OPEN.clear()
        _OPEN[key] = sio.open_source(**job.source_args)
    return sio.window_cores(_OPEN[key], job.band_filters, win, job.halo)


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
