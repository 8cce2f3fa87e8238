"""The translation page on a large scene from an allowed folder (issue 20): decimated preview, an estimated
duration before it starts, a background job (core.jobs, the speckle page's runner) with progress, a COG whose
pixels are the engine's streamed translation, and a comparison image of bounded size."""

import io
import time

import numpy as np
import rasterio
from PIL import Image

from core import io as sio
from core import translate as tr
from core.translate.scene_job import PREVIEW_SIZE
from core.translate.stream import translate_scene
from tests.support.apptest import app_test
from tests.support.repo import ROOT

DEMO = ROOT / "checkpoints" / "pix2pix_unet_demo.safetensors"


def _wait(at, timeout=300):
    t = time.monotonic()
    while time.monotonic() - t < timeout:
        state = at.session_state["translate_scene_job"]
        if state["job"].finished:
            return state["job"]
        time.sleep(0.3)
    raise AssertionError("the translation job did not finish")


def test_scene_from_an_allowed_folder_streams_to_a_cog(tmp_path, rng, utm_geo, monkeypatch):
    data = rng.gamma(1.0, 0.05, (300, 1300)).astype(np.float32)  # wider than PREVIEW_SIZE: decimated panels
    path = sio.write_geotiff(tmp_path / "scene.tif", data, utm_geo, ["VV"])
    monkeypatch.setenv("SAR_STUDIO_DATA_ROOTS", str(tmp_path))
    monkeypatch.setenv("SAR_STUDIO_UPLOADS", str(tmp_path / "uploads"))
    at = app_test("translate.py").run()
    at.selectbox(key="translate_bundled").set_value(DEMO.name).run()
    at.text_input(key="translate_scene_path").set_value(str(path)).run()
    assert not at.exception and not at.error
    assert any("Estimated duration" in c.value for c in at.caption)
    at.button(key="translate_scene_run").click().run()
    job = _wait(at)
    assert job.error is None, job.error
    at.run()
    assert not at.exception and not at.error
    with rasterio.open(job.output) as ds:
        assert ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG" and ds.crs.to_epsg() == 32633
        got = np.moveaxis(ds.read(), 0, -1)
    translator = tr.open_translator(DEMO, tr.TranslateOptions(backend="torch", batch_size=4))
    with sio.open_source(path) as src:
        translate_scene(src, tmp_path / "ref.tif", translator, tr.TranslateOptions(backend="torch", batch_size=4))
    ref = sio.read_raster(tmp_path / "ref.tif").data
    assert np.abs(got.astype(int) - ref).max() <= 1
    comp = at.session_state["translate_scene_job"]["comparison"]
    w, h = Image.open(io.BytesIO(comp)).size
    assert w <= 2 * PREVIEW_SIZE + 64 and h <= PREVIEW_SIZE + 200
