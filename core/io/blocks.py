"""Whole scenes in bounded memory: windowed reads with a halo, a block-by-block GeoTIFF/COG writer, stream_filter.

No size limit applies here: peak memory is a few windows, whatever the scene (the pixel limit of read_raster is
for what must sit in memory whole).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import numpy as np

from core.io.gdal_config import configure_gdal, ensure_gdal_cache
from core.io.georef import GeoInfo
from core.io.products import open_source
from core.io.source import Source, Window, gdal_itemsize
from core.io.write import atomic_output, cog_options, geotiff_profile, write_georef


@dataclass
class WindowRead:
    data: np.ndarray  # (h', w') or (h', w', C): the window grown by the halo, clipped at the image edges
    valid: np.ndarray  # (h', w') bool: finite and not nodata in every band
    core: tuple[slice, slice]  # where the requested window sits inside `data`
    window: Window  # the requested window
    outer: Window  # the window actually read


def iter_windows(height: int, width: int, block: int = 512) -> Iterator[Window]:
    """Row-major blocks of `block` x `block` (smaller at the right and bottom edges)."""
    for r in range(0, height, block):
        for c in range(0, width, block):
            yield Window(r, c, min(block, height - r), min(block, width - c))


def read_window(src: Source, window: Window, halo: int = 0) -> WindowRead:
    """Read `window` plus `halo` pixels on each side, clipped at the image edges, with its valid mask."""
    r0, c0 = max(0, window.row - halo), max(0, window.col - halo)
    r1 = min(src.height, window.row + window.height + halo)
    c1 = min(src.width, window.col + window.width + halo)
    outer = Window(r0, c0, r1 - r0, c1 - c0)
    data = src.read(outer)
    valid = np.isfinite(data) if data.dtype.kind in "fc" else np.ones(data.shape, bool)
    nodata = src.geo.nodata
    if nodata is not None and np.isfinite(nodata):
        valid &= data != nodata
    if valid.ndim == 3:
        valid = valid.all(axis=-1)
    core = (
        slice(window.row - r0, window.row - r0 + window.height),
        slice(window.col - c0, window.col - c0 + window.width),
    )
    return WindowRead(data, valid, core, window, outer)


class BlockWriter:
    """Write a tiled GeoTIFF block by block to a temporary file beside `path`, renamed at the end.

    Use as a context manager; on an exception nothing is left at `path` (an existing file is untouched).
    `cog=True` converts the finished file to a Cloud-Optimized GeoTIFF with overviews (GDAL's COG driver)."""

    def __init__(
        self,
        path: str | os.PathLike,
        width: int,
        height: int,
        count: int,
        dtype: np.dtype | str,
        geo: GeoInfo | None = None,
        band_names: list[str] | None = None,
        block: int = 512,
        cog: bool = False,
        compress: str | None = None,
    ) -> None:
        self.path = Path(path)
        self.compress = compress
        self.shape = (height, width, count)
        self.dtype = np.dtype(dtype)
        self.geo, self.band_names, self.cog = geo, band_names, cog
        self.block = max(16, (block // 16) * 16)  # GeoTIFF tiles are multiples of 16
        self._atomic = atomic_output(self.path)
        self._ds = None

    def __enter__(self) -> BlockWriter:
        import rasterio

        configure_gdal()
        tmp = self._atomic.__enter__()
        self._tmp = tmp
        h, w, c = self.shape
        # the COG pass recompresses: its work file is written uncompressed (no encoder cost twice)
        profile = geotiff_profile(
            w, h, c, self.dtype, self.geo, block=self.block, compress="none" if self.cog else self.compress
        )
        profile.update(tiled=True, blockxsize=self.block, blockysize=self.block)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
                self._ds = rasterio.open(self._work_path, "w", **profile)
            write_georef(self._ds, self.geo, self.band_names)
        except BaseException as err:  # __exit__ is not called when __enter__ fails: remove the temporary file here
            if self._ds is not None:
                self._ds.close()
            self._cleanup()
            self._atomic.__exit__(type(err), err, err.__traceback__)
            raise
        return self

    @property
    def _work_path(self) -> Path:
        return self._tmp.with_suffix(".gtiff.part") if self.cog else self._tmp

    def write(self, window: Window, data: np.ndarray) -> None:
        """Write (h, w) or (h, w, C) values at `window`."""
        from rasterio.windows import Window as RWindow

        assert self._ds is not None, "use BlockWriter as a context manager"
        arr = data if data.ndim == 3 else data[..., None]
        if arr.shape[:2] != (window.height, window.width):
            raise ValueError(f"block {arr.shape[:2]} does not match window {window}")
        self._ds.write(
            np.moveaxis(arr.astype(self.dtype, copy=False), -1, 0),
            window=RWindow(window.col, window.row, window.width, window.height),
        )

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        try:
            if self._ds is not None:
                self._ds.close()
            if exc_type is None and self.cog:
                _to_cog(self._work_path, self._tmp, self.block, cog_options(self.dtype, self.compress))
        except BaseException as err:
            self._cleanup()
            self._atomic.__exit__(type(err), err, err.__traceback__)
            raise
        self._cleanup()
        return bool(self._atomic.__exit__(exc_type, exc, tb))

    def _cleanup(self) -> None:
        if self.cog:
            self._work_path.unlink(missing_ok=True)


def _to_cog(src: Path, dst: Path, block: int, options: dict) -> None:
    import rasterio
    from rasterio.shutil import copy as rio_copy

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        dst.unlink(missing_ok=True)
        rio_copy(str(src), str(dst), driver="COG", BLOCKSIZE=block, OVERVIEWS="AUTO", BIGTIFF="IF_SAFER", **options)


def window_cache_bytes(source: Source, block: int, halo: int) -> int:
    """GDAL cache one window needs: twice the file blocks a (block + 2 halo)² window touches, in every band (a
    striped file's blocks are whole rows, so a window of it needs its full-width strips to stay cached)."""
    side = block + 2 * halo
    total = 0
    for ds, b in source._bands:
        bh, bw = ds.block_shapes[b - 1]
        rows, cols = min(ds.height, side + bh), min(ds.width, side + bw)
        total += rows * cols * gdal_itemsize(ds.dtypes[b - 1])
    return 2 * total


def stream_filter(
    src: str | os.PathLike | Source,
    dst: str | os.PathLike,
    fn: Callable[[np.ndarray], np.ndarray],
    halo: int,
    block: int = 512,
    dtype: np.dtype | str | None = None,
    cog: bool = False,
    band_names: list[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
    compress: str | None = None,
    map_windows: Callable[[list[Window]], Iterable[np.ndarray]] | None = None,
) -> Path:
    """Apply `fn` to every window (grown by `halo`, clipped at the edges) and write the cores block by block:
    `stream_filters` with one output.

    `fn` takes the (h', w') or (h', w', C) window and returns an array of the same height and width (any band
    count); it must depend only on pixels within `halo` of each output pixel, and then the result equals
    fn(whole image). `progress(done, total)` is called after each block. Peak memory: a few windows.

    `map_windows(windows)`, when given, computes the output cores itself (for instance on a Dask cluster,
    core.batch.map_ordered) and yields them in the order of `windows`; they are written in that order, so the file
    has the same bytes as the serial run."""
    per_window = None if map_windows is None else _one_each(map_windows)
    outputs = [(dst, fn)]
    return stream_filters(
        src, outputs, halo, block, dtype, cog, band_names, progress, compress=compress, map_windows=per_window
    )[0]


def _one_each(
    map_windows: Callable[[list[Window]], Iterable[np.ndarray]],
) -> Callable[[list[Window]], Iterator[list[np.ndarray]]]:
    def each(windows: list[Window]) -> Iterator[list[np.ndarray]]:
        return ([core] for core in map_windows(windows))

    return each


def filter_window(source: Source, fn: Callable[[np.ndarray], np.ndarray], win: Window, halo: int) -> np.ndarray:
    """fn over `win` grown by `halo`, cut back to `win`: one output block of stream_filter."""
    return window_cores(source, [fn], win, halo)[0]


def window_cores(
    source: Source, fns: Sequence[Callable[[np.ndarray], np.ndarray]], win: Window, halo: int
) -> list[np.ndarray]:
    """Each fn over `win` grown by `halo` (one read for all of them), cut back to `win`: the output blocks of
    stream_filters at one window."""
    wr = read_window(source, win, halo)
    cores = []
    for fn in fns:
        out = np.asarray(fn(wr.data))
        if out.shape[:2] != wr.data.shape[:2]:
            raise ValueError(f"fn changed the window size from {wr.data.shape[:2]} to {out.shape[:2]}")
        cores.append(out[wr.core])
    return cores


def stream_filters(
    src: str | os.PathLike | Source,
    outputs: Sequence[tuple[str | os.PathLike, Callable[[np.ndarray], np.ndarray]]],
    halo: int,
    block: int = 512,
    dtype: np.dtype | str | None = None,
    cog: bool = False,
    band_names: list[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
    phase: Callable[[str], None] | None = None,
    compress: str | None = None,
    map_windows: Callable[[list[Window]], Iterable[Sequence[np.ndarray]]] | None = None,
) -> list[Path]:
    """Several functions sharing one read: each window is read once (with the largest halo any of them needs; a
    function that looks less far gets the same core values) and every (dst, fn) writes its own file, as
    `stream_filter` describes. `phase(text)` says when the blocks are done and the COG overviews are being built.

    `map_windows(windows)`, when given, computes the cores itself and yields, for each window in order, one core per
    output (for instance from a Dask cluster); they are written in that order, so the files have the bytes of the
    serial run."""
    own = not isinstance(src, Source)
    source: Source = src if isinstance(src, Source) else open_source(src)
    writers: list[BlockWriter | None] = [None] * len(outputs)
    opened: list[BlockWriter] = []
    try:
        ensure_gdal_cache(window_cache_bytes(source, block, halo))
        windows = list(iter_windows(source.height, source.width, block))
        if map_windows is None:
            fns = [fn for _, fn in outputs]
            cores: Iterable[Sequence[np.ndarray]] = (window_cores(source, fns, win, halo) for win in windows)
        else:
            cores = map_windows(windows)
        try:
            for k, (win, outs) in enumerate(zip(windows, cores, strict=True)):
                for i, ((dst, _), out) in enumerate(zip(outputs, outs, strict=True)):
                    writer = writers[i]
                    if writer is None:
                        count = 1 if out.ndim == 2 else out.shape[2]
                        names = band_names or (source.band_names if count == source.count else None)
                        writer = BlockWriter(
                            dst, source.width, source.height, count, dtype or out.dtype, source.geo, names, block, cog,
                            compress,
                        )  # fmt: skip
                        writer.__enter__()
                        writers[i] = writer
                        opened.append(writer)
                    writer.write(win, out)
                if progress is not None:
                    progress(k + 1, len(windows))
        except BaseException as err:
            for w in opened:
                w.__exit__(type(err), err, err.__traceback__)
            raise
        for n, w in enumerate(opened):
            if phase is not None and cog:
                phase(f"building overviews ({n + 1}/{len(opened)}: {w.path.name})")
            try:
                w.__exit__(None, None, None)
            except BaseException as err:  # the files not finished yet are removed too
                for rest in opened[n + 1 :]:
                    rest.__exit__(type(err), err, err.__traceback__)
                raise
    finally:
        if own:
            source.close()
    return [Path(dst) for dst, _ in outputs]
