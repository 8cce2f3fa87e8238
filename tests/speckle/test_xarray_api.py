"""The notebook API: numpy and (Dask-backed) xarray DataArrays through the speckle filters, lazily, georeference kept."""

import numpy as np
import pytest
import rioxarray
from dask.callbacks import Callback

from core import io as sio
from core import xarray_api as sx
from core.errors import UserError
from core.speckle import despeckle


def _lee_loop(x: np.ndarray, window: int, looks: float) -> np.ndarray:
    """Lee by a per-pixel loop: mean/variance over the finite pixels of the window inside the image."""
    r = window // 2
    cu2 = 1.0 / looks
    out = np.full(x.shape, np.nan)
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            if not np.isfinite(x[i, j]):
                continue
            w = x[max(0, i - r) : i + r + 1, max(0, j - r) : j + r + 1].astype(np.float64)
            w = w[np.isfinite(w)]
            m, v = w.mean(), w.var()
            k = 0.0 if v <= 0 else min(1.0, max(0.0, 1 - cu2 * m * m / v))
            out[i, j] = m + k * (x[i, j] - m)
    return out


class _Counter(Callback):
    def __init__(self):
        super().__init__()
        self.runs = 0

    def _start(self, dsk):
        self.runs += 1


@pytest.fixture
def scene(tmp_path, rng, utm_geo):
    """Two bands of 4-look speckle, 83x71, with a NaN hole and nodata pixels near chunk edges, as a GeoTIFF."""
    img = rng.gamma(4.0, 0.25 / 4.0, (83, 71, 2)).astype(np.float32)
    img[30:33, 15:19, 0] = np.nan
    img[40, 20:24, 1] = utm_geo.nodata
    path = sio.write_geotiff(tmp_path / "scene.tif", img, utm_geo, ["VV", "VH"])
    return path, img, utm_geo


def test_lazy_lee_equals_the_numpy_path_and_stays_lazy(scene):
    path, img, geo = scene
    da = rioxarray.open_rasterio(path, chunks={"x": 25, "y": 30})  # chunks cut the hole and the nodata row
    counter = _Counter()
    with counter:
        out = sx.despeckle(da, "lee", window=7, looks=4.0)
        assert type(out.data).__module__.startswith("dask.")
        assert counter.runs == 0  # nothing computed yet
        got = out.values
        assert counter.runs >= 1
    for b in range(2):
        band = np.where(img[..., b] == geo.nodata, np.nan, img[..., b])
        ref = despeckle(band, "lee", window=7, looks=4.0)
        filled = np.where(np.isfinite(ref), ref, geo.nodata)
        np.testing.assert_array_equal(got[b], filled)  # invalid pixels get the input's nodata
        loop = _lee_loop(band, 7, 4.0)
        np.testing.assert_allclose(np.where(np.isfinite(loop), got[b], np.nan), loop, rtol=2e-5, atol=1e-7)
    assert out.rio.crs == da.rio.crs and out.rio.transform() == da.rio.transform()
    assert out.dims == da.dims and out.attrs["long_name"] == da.attrs["long_name"] == ("VV", "VH")
    np.testing.assert_array_equal(out.x.values, da.x.values)
    assert out.rio.nodata == geo.nodata


def test_numpy_and_eager_dataarray_give_the_same_values(scene):
    path, img, _ = scene
    band = img[..., 1].copy()
    band[band < 0] = np.nan
    np.testing.assert_array_equal(sx.despeckle(band, "frost"), despeckle(band, "frost"))
    amp = np.sqrt(band)
    got = sx.despeckle(amp, "frost", kind="amplitude")
    np.testing.assert_allclose(got, np.sqrt(despeckle(band, "frost")), rtol=1e-6)
    eager = rioxarray.open_rasterio(path)
    lazy = rioxarray.open_rasterio(path, chunks={"x": 40, "y": 40})
    np.testing.assert_array_equal(
        sx.despeckle(eager, "median", window=5).values, sx.despeckle(lazy, "median", window=5).values
    )


def test_lazy_result_writes_a_georeferenced_file(scene, tmp_path):
    path, img, geo = scene
    out = sx.despeckle(rioxarray.open_rasterio(path, chunks={"x": 32, "y": 32}), "boxcar", window=5)
    out.rio.to_raster(tmp_path / "out.tif")
    back = sio.read_raster(tmp_path / "out.tif")
    assert back.geo.transform == geo.transform and "32633" in sio.crs_name(back.geo.crs)
    band0 = np.where(img[..., 0] == geo.nodata, np.nan, img[..., 0])
    ref = despeckle(band0, "boxcar", window=5)
    np.testing.assert_array_equal(back.data[..., 0], np.where(np.isfinite(ref), ref, geo.nodata))


def test_lazy_input_needs_the_looks_and_refuses_merlin(scene):
    path, _, _ = scene
    da = rioxarray.open_rasterio(path, chunks={"x": 32, "y": 32})
    with pytest.raises(UserError, match="give looks="):
        sx.despeckle(da, "lee")
    with pytest.raises(UserError, match="whole image"):
        sx.despeckle(da, "merlin")
    assert sx.estimate_looks(da) == pytest.approx(4.0, rel=0.5)
