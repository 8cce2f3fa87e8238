"""The kind-detection preview (core.io.source.preview) reads each block once, and still gives exactly what GDAL's
own decimated nearest read of the whole raster gives (the reference: rasterio's `read(out_shape=...)`), for tiled
files with ragged edge blocks, striped files, several dtypes (GDAL's CInt16 too) and scenes smaller than the preview."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasterio.enums import Resampling

from core import io as sio
from core.io import source as source_mod


def _write(path, data, dtype=None, **layout):
    h, w = data.shape
    profile = dict(driver="GTiff", width=w, height=h, count=1, dtype=dtype or data.dtype, **layout)
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(data, 1)
    return path


def _gdal_reference(path, size):
    with rasterio.open(path) as ds:
        step = max(1, max(ds.height, ds.width) // size)
        h, w = max(1, ds.height // step), max(1, ds.width // step)
        return ds.read(1, out_shape=(h, w), resampling=Resampling.nearest)


LAYOUTS = {
    "tiled 256, ragged edges": dict(tiled=True, blockxsize=256, blockysize=256),
    "tiled 512": dict(tiled=True, blockxsize=512, blockysize=512),
    "striped, 1 row": dict(blockysize=1),
    "striped, 16 rows": dict(blockysize=16),
    "one strip": dict(blockysize=100_000),
}


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize(("h", "w"), [(1000, 777), (2600, 3111), (300, 5000), (200, 150)])
@pytest.mark.parametrize("dtype", ["float32", "uint16", "complex64", "complex_int16"])
def test_preview_equals_gdals_decimated_read(tmp_path, rng, layout, h, w, dtype, monkeypatch):
    monkeypatch.setattr(source_mod, "PREVIEW_CHUNK_BYTES", 64 * 1024)  # several column chunks even on small files
    if dtype.startswith("complex"):  # complex_int16 (GDAL's CInt16, Sentinel-1 SLC) is unknown to numpy
        data = (rng.integers(-999, 999, (h, w)) + 1j * rng.integers(-999, 999, (h, w))).astype(np.complex64)
    else:
        data = rng.integers(0, 60000, (h, w)).astype(dtype)
    path = _write(tmp_path / "s.tif", data, dtype=dtype, **LAYOUTS[layout])
    ref = _gdal_reference(path, 256)
    ref = np.abs(ref) ** 2 if np.iscomplexobj(ref) else ref
    with sio.open_source(str(path), kind="intensity") as src:
        got = source_mod.preview(src)
    assert got.shape == ref.shape
    np.testing.assert_array_equal(got, ref.astype(got.dtype))


def test_preview_reads_each_block_row_once_per_column_chunk(tmp_path, rng, monkeypatch):
    """Reads ask for at most the scene's pixels in all (GDAL's decimated read of a tiled scene wider than the block
    cache fetched every block row once per output row: 16 times over at 8192² through 16 MB)."""
    monkeypatch.setattr(source_mod, "PREVIEW_CHUNK_BYTES", 256 * 256 * 4 * 2)  # two blocks a chunk
    data = rng.random((2048, 3000), dtype=np.float32)
    path = _write(tmp_path / "s.tif", data, tiled=True, blockxsize=256, blockysize=256)
    asked: list[int] = []
    with sio.open_source(str(path), kind="intensity") as src:
        ds, band = src._bands[0]

        class Counting:
            def __getattr__(self, name):
                return getattr(ds, name)

            def read(self, *args, **kwargs):
                win = kwargs["window"]
                asked.append(int(win.height) * int(win.width))
                return ds.read(*args, **kwargs)

        src._bands[0] = (Counting(), band)
        got = source_mod.preview(src)
    np.testing.assert_array_equal(got, _gdal_reference(path, 256))
    assert sum(asked) <= data.size
    assert len(asked) == 8 * 6  # 8 block rows x 6 column chunks (3000 / 512), one read each
