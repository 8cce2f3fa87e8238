"""core.io streaming: windows with a halo, block writer (atomic, tiled, COG), stream_filter equals whole-image fn."""

import numpy as np
import pytest
import rasterio
from scipy.ndimage import uniform_filter

from core import io as sio


def _box(x):
    """A 7x7 local mean (NaN-aware, per band): radius 3, so it needs a halo of 3."""
    x = x.astype(np.float64)
    x3 = x if x.ndim == 3 else x[..., None]
    ok = np.isfinite(x3) & (x3 != -9999.0)
    num = np.stack(
        [uniform_filter(np.where(ok[..., i], x3[..., i], 0), 7, mode="reflect") for i in range(x3.shape[2])], -1
    )
    den = np.stack([uniform_filter(ok[..., i].astype(float), 7, mode="reflect") for i in range(x3.shape[2])], -1)
    out = (num / np.maximum(den, 1e-12)).astype(np.float32)
    return out if x.ndim == 3 else out[..., 0]


@pytest.mark.parametrize("block,bands", [(32, 1), (48, 2), (16, 3)])
def test_stream_filter_equals_whole_image(tmp_path, rng, utm_geo, block, bands):
    h, w = 101, 77  # no block size divides these
    data = rng.gamma(1.0, 0.1, (h, w, bands)).astype(np.float32)
    data[31:34, 46:49] = np.nan  # NaN and nodata right at block cuts
    data[47, 15] = utm_geo.nodata
    data[0, 0] = np.nan
    data = data[..., 0] if bands == 1 else data
    src = sio.write_geotiff(tmp_path / "in.tif", data, utm_geo, ["VV", "VH", "R"][:bands])
    calls = []
    out = sio.stream_filter(
        src, tmp_path / "out.tif", _box, halo=3, block=block, progress=lambda d, t: calls.append((d, t))
    )
    with rasterio.open(out) as ds:
        got = np.moveaxis(ds.read(), 0, -1)
        assert ds.block_shapes[0] == (block, block) and ds.transform == rasterio.Affine(*utm_geo.transform)
        assert ds.crs.to_epsg() == 32633 and ds.nodata == utm_geo.nodata
    got = got[..., 0] if bands == 1 else got
    np.testing.assert_allclose(got, _box(data), rtol=1e-6, atol=1e-7)
    assert calls[-1][0] == calls[-1][1] == -(-h // block) * -(-w // block)


def test_read_window_halo_clipped_at_edges(tmp_path, rng):
    data = rng.random((40, 50), dtype=np.float32)
    data[0, 1] = np.nan
    with sio.open_source(sio.write_geotiff(tmp_path / "a.tif", data)) as src:
        wr = sio.read_window(src, sio.Window(0, 40, 10, 10), halo=4)
        assert wr.outer == sio.Window(0, 36, 14, 14)
        np.testing.assert_array_equal(wr.data, data[0:14, 36:50])
        np.testing.assert_array_equal(wr.data[wr.core], data[0:10, 40:50])
        wr0 = sio.read_window(src, sio.Window(0, 0, 5, 5), halo=2)
        assert not wr0.valid[0, 1] and wr0.valid.sum() == wr0.valid.size - 1


def test_block_writer_leaves_nothing_on_failure_and_writes_cog(tmp_path, rng, utm_geo):
    target = tmp_path / "out.tif"
    with pytest.raises(RuntimeError):
        with sio.BlockWriter(target, 64, 64, 1, "float32", utm_geo) as bw:
            bw.write(sio.Window(0, 0, 32, 32), np.ones((32, 32), np.float32))
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    data = rng.random((300, 260), dtype=np.float32)
    with sio.BlockWriter(target, 260, 300, 1, "float32", utm_geo, ["VV"], block=128, cog=True) as bw:
        for win in sio.iter_windows(300, 260, 128):
            bw.write(win, data[win.row : win.row + win.height, win.col : win.col + win.width])
    assert [p.name for p in tmp_path.iterdir()] == ["out.tif"]
    with rasterio.open(target) as ds:
        assert ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG" and ds.overviews(1)
        np.testing.assert_array_equal(ds.read(1), data)
        assert ds.crs.to_epsg() == 32633 and ds.descriptions == ("VV",)


def test_streamed_read_is_not_capped(tmp_path, monkeypatch):
    monkeypatch.setenv("SAR_STUDIO_MAX_PIXELS", "100")
    src = sio.write_geotiff(tmp_path / "a.tif", np.ones((40, 40), np.float32))
    out = sio.stream_filter(src, tmp_path / "b.tif", lambda x: x * 2, halo=0, block=16)
    with rasterio.open(out) as ds:
        assert (ds.read(1) == 2).all()
