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


def work_dtype(dtype: np.dtype) -> np.dtype:
    """What reading gives, as read_raster does: complex -> float32 intensity, float64/ints -> float32."""
    if dtype.kind == "c" or dtype == np.float64 or (dtype.kind in "iu" and dtype not in (np.uint8, np.uint16)):
        return np.dtype(np.float32)
    return dtype


def preview(src: Source, size: int = 256) -> np.ndarray:
    """A decimated read (overviews where the file has them) for kind detection and previews."""
    from rasterio.enums import Resampling

    step = max(1, max(src.height, src.width) // size)
    h, w = max(1, src.height // step), max(1, src.width // step)
    ds, b = src._bands[0]
    x = ds.read(b, out_shape=(h, w), resampling=Resampling.nearest)
    return np.abs(x) ** 2 if np.iscomplexobj(x) else x.astype(work_dtype(x.dtype), copy=False)
