"""core.io: reading, kind detection, conversions, rendering, writing with georeference, bad files."""

import io

import numpy as np
import pytest
import tifffile
from PIL import Image

from core import io as sio
from core.errors import UserError


def _png_bytes(arr, mode=None):
    buf = io.BytesIO()
    Image.fromarray(arr, mode=mode).save(buf, format="PNG")
    return buf.getvalue()


# ------------------------------------------------------------------------------------------- round trips


def test_geotiff_roundtrip_keeps_values_crs_transform_nodata(tmp_path, rng, utm_geo):
    data = rng.gamma(1.0, 0.1, (70, 90)).astype(np.float32)
    data[3, 4] = utm_geo.nodata
    out = sio.write_geotiff(tmp_path / "x.tif", data, utm_geo, ["VV"])
    # pixel values through an independent reader (tifffile, not GDAL)
    np.testing.assert_array_equal(tifffile.imread(out), data)
    r = sio.read_raster(out)
    np.testing.assert_array_equal(r.data, data)
    assert r.kind == "intensity" and r.band_names == ["VV"]
    assert r.geo.transform == utm_geo.transform and r.geo.nodata == -9999.0
    import rasterio

    assert rasterio.crs.CRS.from_wkt(r.geo.crs).to_epsg() == 32633


def test_multiband_geotiff_is_height_width_bands(tmp_path, rng, utm_geo):
    data = rng.random((40, 50, 2), dtype=np.float32)
    out = sio.write_geotiff(tmp_path / "vvvh.tif", data, utm_geo, ["VV", "VH"])
    on_disk = tifffile.imread(out)  # tifffile gives (H, W, C) for pixel-interleaved, (C, H, W) for planar
    on_disk = on_disk if on_disk.shape == data.shape else np.moveaxis(on_disk, 0, -1)
    np.testing.assert_array_equal(on_disk, data)
    r = sio.read_raster(out)
    assert r.data.shape == (40, 50, 2) and r.bands == 2 and r.band_names == ["VV", "VH"]


def test_png_uint8_is_display_and_uint16_is_amplitude(rng):
    grey = rng.integers(0, 256, (20, 30), dtype=np.uint8)
    r = sio.read_raster(_png_bytes(grey), "g.png")
    assert r.kind == "display" and r.data.dtype == np.uint8
    np.testing.assert_array_equal(r.data, grey)
    amp = rng.integers(0, 60000, (20, 30)).astype(np.uint16)
    r16 = sio.read_raster(_png_bytes(amp), "a.png")
    assert r16.kind == "amplitude" and r16.data.dtype == np.uint16
    np.testing.assert_array_equal(r16.data, amp)


def test_rgb_jpeg_and_rgba_png(rng):
    yy, xx = np.mgrid[0:16, 0:24]
    rgb = np.stack([xx * 10, yy * 15, 255 - xx * 10], -1).astype(np.uint8)  # smooth: JPEG keeps it closely
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=100, subsampling=0)
    r = sio.read_raster(buf.getvalue(), "o.jpg")
    assert r.data.shape == (16, 24, 3) and r.kind == "display"
    assert np.abs(r.data.astype(int) - rgb).max() <= 4  # JPEG is lossy, but close at quality 100
    rgba = np.dstack([rgb, np.full((16, 24), 255, np.uint8)])
    assert sio.read_raster(_png_bytes(rgba), "o.png").data.shape == (16, 24, 3)


def test_db_float_detected_and_override(tmp_path):
    db = np.linspace(-25, 3, 400, dtype=np.float32).reshape(20, 20)
    p = sio.write_geotiff(tmp_path / "db.tif", db)
    assert sio.read_raster(p).kind == "db"
    assert sio.read_raster(p, kind="amplitude").kind == "amplitude"
    assert sio.read_raster(p).with_kind("intensity").detected_kind == "db"
    with pytest.raises(UserError, match="unknown input kind 'power'"):
        sio.read_raster(p, kind="power")


def test_complex_tiff_becomes_intensity(tmp_path):
    z = (np.arange(12, dtype=np.float32).reshape(3, 4) + 1j * 2).astype(np.complex64)
    p = tmp_path / "slc.tif"
    tifffile.imwrite(p, z)
    r = sio.read_raster(p)
    np.testing.assert_allclose(r.data, np.abs(z) ** 2, rtol=1e-6)
    assert r.kind == "intensity"


# ------------------------------------------------------------------------------------------- conversions


def test_conversions_closed_form():
    inten = np.array([1e-3, 0.01, 0.1, 1.0, 4.0], np.float32)
    np.testing.assert_allclose(sio.to_db(inten), [-30, -20, -10, 0, 6.0206], atol=1e-4)
    np.testing.assert_allclose(sio.to_intensity(np.sqrt(inten), "amplitude"), inten, rtol=1e-6)
    np.testing.assert_allclose(sio.to_intensity(sio.to_db(inten), "db"), inten, rtol=1e-5)
    for kind in ("intensity", "amplitude", "db"):
        np.testing.assert_allclose(sio.to_intensity(sio.from_intensity(inten, kind), kind), inten, rtol=1e-5)
    assert sio.to_db(np.array([0.0]))[0] == pytest.approx(-100.0)  # floor, not -inf


def test_stretch_matches_percentiles():
    v = np.arange(1000, dtype=np.float32)
    lo, hi = np.percentile(v, [2, 98])
    out = sio.stretch(v)
    assert out[0] == 0 and out[-1] == 255
    k = 500
    assert out[k] == int(np.rint((v[k] - lo) * 255 / (hi - lo)))


def test_render_single_band_is_db_stretch(rng):
    inten = rng.gamma(1.0, 1.0, (32, 32)).astype(np.float32)
    r = sio.Raster(inten, "intensity")
    db = 10 * np.log10(np.maximum(inten.astype(np.float64), 1e-10))
    lo, hi = np.percentile(db, [2, 98])
    expect = np.rint(np.clip((db - lo) / (hi - lo) * 255, 0, 255)).astype(np.uint8)
    assert np.abs(sio.render(r).astype(int) - expect).max() <= 1


def test_render_dualpol_blue_is_vv_over_vh(rng):
    vv = rng.gamma(1.0, 1.0, (16, 16)).astype(np.float32) + 0.5
    vh = vv / np.linspace(2, 20, 256, dtype=np.float32).reshape(16, 16)  # ratio grows left to right, top down
    img = sio.render(sio.Raster(np.stack([vv, vh], -1), "intensity"))
    assert img.shape == (16, 16, 3)
    ratio_db = 10 * np.log10(vv.astype(np.float64) / vh)
    # blue follows the ratio monotonically
    order = np.argsort(ratio_db.ravel())
    assert np.all(np.diff(img[..., 2].ravel()[order].astype(int)) >= 0)


# ------------------------------------------------------------------------------------------- bad files


@pytest.mark.parametrize(
    "blob,needle",
    [
        (b"", "is empty"),
        (b"hello, this is text", "is not a PNG, JPEG or TIFF"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 30, "truncated or corrupt"),
        (b"II*\x00\x08\x00\x00\x00" + b"\x00" * 10, "truncated or corrupt"),
    ],
)
def test_bad_bytes_give_one_line_errors(blob, needle):
    with pytest.raises(UserError) as e:
        sio.read_raster(blob, "bad.img")
    assert needle in str(e.value) and "\n" not in str(e.value) and str(e.value).startswith("bad.img")


def test_truncated_real_files(tmp_path, rng, utm_geo):
    png = _png_bytes(rng.integers(0, 256, (64, 64), dtype=np.uint8))
    with pytest.raises(UserError, match="truncated or corrupt"):
        sio.read_raster(png[: len(png) // 2], "half.png")
    tif = sio.encode_geotiff(rng.random((300, 300), dtype=np.float32), utm_geo)
    with pytest.raises(UserError, match="truncated or corrupt"):
        sio.read_raster(tif[: len(tif) // 2], "half.tif")


def test_nan_only_and_nodata_only(tmp_path, utm_geo):
    with pytest.raises(UserError, match="no valid pixels"):
        sio.read_raster(sio.encode_geotiff(np.full((8, 8), np.nan, np.float32)), "nan.tif")
    with pytest.raises(UserError, match="no valid pixels"):
        sio.read_raster(sio.encode_geotiff(np.full((8, 8), -9999.0, np.float32), utm_geo), "nodata.tif")


def test_oversized_and_too_many_bands(tmp_path, monkeypatch):
    blob = sio.encode_geotiff(np.zeros((100, 100), np.float32) + 1)
    with pytest.raises(UserError, match="above the limit of"):
        sio.read_raster(blob, "big.tif", max_pixels=5000)
    monkeypatch.setenv("SAR_STUDIO_MAX_PIXELS", "9999")
    with pytest.raises(UserError, match="SAR_STUDIO_MAX_PIXELS"):
        sio.read_raster(blob, "big.tif")
    monkeypatch.delenv("SAR_STUDIO_MAX_PIXELS")
    with pytest.raises(UserError, match="has 5 bands"):
        sio.read_raster(sio.encode_geotiff(np.ones((8, 8, 5), np.float32)), "five.tif")


def test_missing_path_and_folder(tmp_path):
    with pytest.raises(UserError, match="file not found"):
        sio.read_raster(tmp_path / "nope.tif")
    with pytest.raises(UserError, match="is a folder"):
        sio.read_raster(tmp_path)


# ------------------------------------------------------------------------------------------- writing


def test_atomic_output_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.tif"
    with pytest.raises(RuntimeError):
        with sio.atomic_output(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with sio.atomic_output(target) as tmp:
            raise RuntimeError("boom")
    assert target.read_bytes() == b"old"  # an existing output is not damaged either


def test_write_image_by_extension(tmp_path):
    img = np.arange(48, dtype=np.uint8).reshape(4, 4, 3)
    np.testing.assert_array_equal(np.asarray(Image.open(sio.write_image(tmp_path / "a.png", img))), img)
    with pytest.raises(UserError, match="needs a display image"):
        sio.write_image(tmp_path / "b.png", img.astype(np.float32))
    with pytest.raises(UserError, match="unknown output format .bmp"):
        sio.write_image(tmp_path / "c.bmp", img)
    assert not (tmp_path / "b.png").exists() and not (tmp_path / "c.bmp").exists()


def test_geo_scaled_for_superresolution(utm_geo):
    g = utm_geo.scaled(4)
    assert g.transform == (2.5, 0.0, 500000.0, 0.0, -2.5, 4000000.0) and g.crs == utm_geo.crs


def test_comparison_image_layout():
    a = np.zeros((50, 40), np.uint8)
    b = np.full((25, 20, 3), 255, np.uint8)  # half height: resized to 50 x 40
    out = sio.comparison_image([("Input", a), ("Output", b)], gap=8, label_height=20)
    assert out.shape == (70, 88, 3)
    assert (out[20:, :40] == 0).all() and (out[20:, 48:] == 255).all()
    assert (out[:20] < 128).any()  # the label text is drawn
