"""The speckle page on a tiny image (one line, no run) and on a large scene (a path under the allowed folders, or a
large upload): decimated preview, a background job with progress, its COG offered as a download."""

import time

import numpy as np
import rasterio

from core import io as sio
from core import roots
from core import speckle as sp
from core.speckle import jobs
from tests.support.apptest import app_test


def _upload(at, name, blob):
    at.radio(key="speckle_mode").set_value("Upload").run()
    at.file_uploader(key="speckle_upload").set_value((name, blob, "image/tiff")).run()
    return at


def test_one_pixel_image_is_refused_with_one_line(utm_geo):
    blob = sio.encode_geotiff(np.ones((1, 1), np.float32), utm_geo)
    at = _upload(app_test("speckle.py").run(), "one.tif", blob)
    assert not at.exception
    assert len(at.error) == 1 and "smaller than" in at.error[0].value
    assert not any(b.key == "speckle_run" for b in at.button)


def _wait_for_job(at, timeout=60):
    t = time.monotonic()
    while time.monotonic() - t < timeout:
        job = at.session_state["speckle_scene_job"]
        if job.finished:
            return job
        time.sleep(0.2)
    raise AssertionError("the scene job did not finish")


def test_large_scene_on_the_server_streams_to_a_cog(tmp_path, rng, utm_geo, monkeypatch):
    data = rng.gamma(1.0, 0.1, (90, 70)).astype(np.float32)
    path = sio.write_geotiff(tmp_path / "scene.tif", data, utm_geo)
    monkeypatch.setenv("SAR_STUDIO_DATA_ROOTS", str(tmp_path))
    monkeypatch.setenv("SAR_STUDIO_UPLOADS", str(tmp_path / "uploads"))
    at = app_test("speckle.py").run()
    at.text_input(key="speckle_scene_path").set_value(str(path)).run()
    assert not at.exception and not at.error
    at.number_input(key="speckle_scene_lee_looks").set_value(1.0).run()
    at.button(key="speckle_scene_run").click().run()
    job = _wait_for_job(at)
    assert job.error is None
    at.run()
    assert not at.exception and not at.error
    with rasterio.open(job.output) as ds:
        assert ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG" and ds.crs.to_epsg() == 32633
        got = ds.read(1)
    np.testing.assert_allclose(got, sp.despeckle(data, "lee", looks=1.0), rtol=2e-5)


def _scene_error(at, text):
    at.text_input(key="speckle_scene_path").set_value(text).run()
    assert not at.exception and len(at.error) == 1
    return at.error[0].value


def test_server_path_field_follows_the_one_path_rule(tmp_path, monkeypatch, utm_geo):
    """Absent without SAR_STUDIO_DATA_ROOTS (the upload folder is no root); with it, an existing file outside the
    roots, a missing one, the upload folder and a link out all get core.roots' one sentence."""
    uploads = tmp_path / "uploads"
    monkeypatch.setenv("SAR_STUDIO_UPLOADS", str(uploads))
    other = sio.write_geotiff(uploads / "speckle" / "someone" / "theirs.tif", np.ones((8, 8), np.float32), utm_geo)
    monkeypatch.delenv("SAR_STUDIO_DATA_ROOTS", raising=False)
    at = app_test("speckle.py").run()
    assert not [t for t in at.text_input if t.key == "speckle_scene_path"]
    assert not [e for e in at.expander if "server" in e.label.lower()]

    allowed = tmp_path / "allowed"
    allowed.mkdir()
    outside = sio.write_geotiff(tmp_path / "elsewhere.tif", np.ones((8, 8), np.float32), utm_geo)
    (allowed / "link.tif").symlink_to(outside)
    monkeypatch.setenv("SAR_STUDIO_DATA_ROOTS", str(allowed))
    at = app_test("speckle.py").run()
    for text in (str(outside), str(tmp_path / "missing.tif"), str(other), str(allowed / "link.tif")):
        assert _scene_error(at, text) == roots.refusal(text, "any")


def test_vrt_on_the_server_pointing_outside_is_refused_and_nothing_is_read(tmp_path, monkeypatch, utm_geo):
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    secret = sio.write_geotiff(tmp_path / "secret.tif", np.ones((64, 64), np.float32), utm_geo)
    (allowed / "x.tif").write_text(
        '<VRTDataset rasterXSize="5000" rasterYSize="5000"><VRTRasterBand dataType="Float32" band="1">'
        f"<SimpleSource><SourceFilename>{secret}</SourceFilename></SimpleSource></VRTRasterBand></VRTDataset>"
    )
    monkeypatch.setenv("SAR_STUDIO_DATA_ROOTS", str(allowed))
    monkeypatch.setenv("SAR_STUDIO_UPLOADS", str(tmp_path / "uploads"))
    opened = _spy_rasterio(monkeypatch)
    at = app_test("speckle.py").run()
    assert "not a GeoTIFF, PNG, JPEG or Sentinel-1 product" in _scene_error(at, str(allowed / "x.tif"))
    assert not [b for b in at.button if b.key == "speckle_scene_run"]
    assert not [p for p in opened if p.endswith(("x.tif", "secret.tif"))]  # the page's sample is opened, not these


def _spy_rasterio(monkeypatch):
    opened: list[str] = []
    real = rasterio.open

    def spying(fp, mode="r", *args, **kwargs):
        if mode.startswith("r"):
            opened.append(str(fp))
        return real(fp, mode, *args, **kwargs)

    monkeypatch.setattr(rasterio, "open", spying)
    return opened


def test_vrt_upload_named_tif_is_refused_and_nothing_is_read(tmp_path, monkeypatch, utm_geo):
    """A VRT declaring 5000² pixels named x.tif used to take the large-scene path and stream the server file."""
    secret = sio.write_geotiff(tmp_path / "secret.tif", np.ones((64, 64), np.float32), utm_geo)
    vrt = (
        '<VRTDataset rasterXSize="5000" rasterYSize="5000"><VRTRasterBand dataType="Float32" band="1">'
        f"<SimpleSource><SourceFilename>{secret}</SourceFilename></SimpleSource></VRTRasterBand></VRTDataset>"
    )
    monkeypatch.setenv("SAR_STUDIO_UPLOADS", str(tmp_path / "uploads"))
    opened = _spy_rasterio(monkeypatch)
    at = _upload(app_test("speckle.py").run(), "x.tif", vrt.encode())
    assert not at.exception and len(at.error) == 1
    assert "is not a PNG, JPEG or TIFF image" in at.error[0].value
    assert not any("block by block" in i.value for i in at.info)
    assert not [p for p in opened if p.endswith(("x.tif", "secret.tif"))]  # the page's sample is opened, not these


def test_large_upload_takes_the_streamed_path(tmp_path, rng, utm_geo, monkeypatch):
    monkeypatch.setattr(jobs, "PAGE_WHOLE_PIXELS", 1000)
    monkeypatch.setenv("SAR_STUDIO_UPLOADS", str(tmp_path / "uploads"))
    data = rng.gamma(1.0, 0.1, (64, 48)).astype(np.float32)
    at = _upload(app_test("speckle.py").run(), "big.tif", sio.encode_geotiff(data, utm_geo))
    assert not at.exception and not at.error
    assert any("block by block" in i.value for i in at.info)
    at.button(key="speckle_scene_run").click().run()
    job = _wait_for_job(at)
    assert job.error is None and job.done == job.total > 0
