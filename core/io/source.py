"""A raster opened for windowed reads (`Source`): the bands the user chose, values as `read(window)` returns them,
and the full georeference. `open_source` (core.io.products) makes one from any GDAL raster; a Sentinel-1
product's is core.io.sentinel1.reader's `ProductSource`, which computes its calibrated values per window.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from core.io.georef import GeoInfo


class Window(NamedTuple):
    row: int
    col: int
    height: int
    width: int


@dataclass
class Source:
    """A raster opened for windowed reads: bands as the user chose them, calibrated, with the full georeference."""

    name: str
    driver: str
    width: int
    height: int
    band_names: list[str]
    dtype: np.dtype  # of what read() returns
    kind: str  # what read() returns: intensity after calibration, else detected
    geo: GeoInfo
    calibration: str = "none"
    product_type: str | None = None
    notes: list[str] = field(default_factory=list)
    _bands: list[tuple[Any, int]] = field(default_factory=list, repr=False)  # (dataset, band index) per band

    @property
    def count(self) -> int:
        return len(self._bands)

    def read(self, window: Window | None = None) -> np.ndarray:
        """(h, w) or (h, w, C) values of `window` (the whole raster when None)."""
        from rasterio.windows import Window as RWindow

        win = window or Window(0, 0, self.height, self.width)
        rwin = RWindow(win.col, win.row, win.width, win.height)
        planes = []
        for ds, b in self._bands:
            x = ds.read(b, window=rwin)
            if np.iscomplexobj(x):  # single-look complex: detected intensity |z|^2
                x = (x.real.astype(np.float32) ** 2 + x.imag.astype(np.float32) ** 2).astype(np.float32)
            planes.append(x.astype(self.dtype, copy=False))
        return planes[0] if len(planes) == 1 else np.stack(planes, axis=-1)

    def close(self) -> None:
        for ds in {id(ds): ds for ds, _ in self._bands}.values():
            ds.close()

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# GDAL's complex integer types, which numpy lacks: bytes a pixel in the file, and the array rasterio reads them into
_GDAL_ONLY: dict[str, tuple[int, np.dtype]] = {
    "complex_int16": (4, np.dtype(np.complex64)),
    "complex_int32": (8, np.dtype(np.complex128)),
}


def gdal_itemsize(gdal_dtype: str) -> int:
    """Bytes a pixel of a GDAL data type name takes in the file (complex_int16, a Sentinel-1 SLC's CInt16: 4)."""
    return _GDAL_ONLY[gdal_dtype][0] if gdal_dtype in _GDAL_ONLY else np.dtype(gdal_dtype).itemsize


def read_dtype(gdal_dtype: str) -> np.dtype:
    """The numpy dtype rasterio reads a GDAL data type into (complex_int16 -> complex64)."""
    return _GDAL_ONLY[gdal_dtype][1] if gdal_dtype in _GDAL_ONLY else np.dtype(gdal_dtype)


def work_dtype(dtype: np.dtype) -> np.dtype:
    """What reading gives, as read_raster does: complex -> float32 intensity, float64/ints -> float32."""
    if dtype.kind == "c" or dtype == np.float64 or (dtype.kind in "iu" and dtype not in (np.uint8, np.uint16)):
        return np.dtype(np.float32)
    return dtype


PREVIEW_CHUNK_BYTES = 8 * 1024**2  # the blocks one column chunk of the preview spans: well inside GDAL's cache


def preview(src: Source, size: int = 256) -> np.ndarray:
    """A decimated read (overviews where the file has them) for kind detection and previews: at most `size` pixels
    a side, each the nearest source pixel as GDAL's nearest resampling places it.

    Without overviews, GDAL's decimated read of the whole raster fetches each output row's blocks anew once they
    leave the block cache: a tiled 8192² float32 scene through the 16 MB cache (core.io.gdal_config) was read 16
    times over (4.3 GB, 0.5 CPU-s). Here each block row is read once per column chunk (a chunk spans at most
    PREVIEW_CHUNK_BYTES of blocks, so memory does not grow with the scene) and the sampled pixels taken from it.
    Striped files have blocks one or a few rows high: only the sampled rows are read; so are they where one block
    alone is over the budget (a file written as a single strip)."""
    from rasterio.enums import Resampling
    from rasterio.windows import Window as RioWindow

    step = max(1, max(src.height, src.width) // size)
    h, w = max(1, src.height // step), max(1, src.width // step)
    ds, b = src._bands[0]
    if ds.overviews(b) or step == 1:
        x = ds.read(b, out_shape=(h, w), resampling=Resampling.nearest)
    else:
        # where GDAL's nearest resampling samples: floor((i + 0.5) * size / out), a hair up so that exact
        # halves land as GDAL's do (tests/io/test_preview.py compares with its decimated read)
        rows = np.minimum(((np.arange(h) + 0.5) * (src.height / h) + 1e-10).astype(np.int64), src.height - 1)
        cols = np.minimum(((np.arange(w) + 0.5) * (src.width / w) + 1e-10).astype(np.int64), src.width - 1)
        block_h, block_w = ds.block_shapes[b - 1]
        dtype = read_dtype(ds.dtypes[b - 1])
        item = dtype.itemsize
        if block_h * block_w * item > PREVIEW_CHUNK_BYTES:  # one block over the budget (a single-strip file):
            block_h, chunk = 1, src.width  # read the sampled rows alone
        else:
            chunk = max(block_w, PREVIEW_CHUNK_BYTES // (block_h * item) // block_w * block_w)
        x = np.empty((h, w), dtype)
        buf = np.empty(block_h * chunk, dtype)  # one buffer for every read: no fresh mapping to fault in
        groups = np.split(np.arange(h), np.flatnonzero(np.diff(rows // block_h)) + 1)  # sampled rows per block row
        for c0 in range(0, src.width, chunk):
            c1 = min(src.width, c0 + chunk)
            sel = np.flatnonzero((cols >= c0) & (cols < c1))
            if not sel.size:
                continue
            for picked in groups:  # one read per block row and chunk: its blocks decoded once
                top, bottom = int(rows[picked[0]]), int(rows[picked[-1]]) + 1
                part = buf[: (bottom - top) * (c1 - c0)].reshape(bottom - top, c1 - c0)
                ds.read(b, window=RioWindow(c0, top, c1 - c0, bottom - top), out=part)
                x[np.ix_(picked, sel)] = part[np.ix_(rows[picked] - top, cols[sel] - c0)]
    return np.abs(x) ** 2 if np.iscomplexobj(x) else x.astype(work_dtype(x.dtype), copy=False)
