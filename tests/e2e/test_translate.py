"""Browser: give a generator by server path, upload a georeferenced SAR GeoTIFF of an odd size, translate, and
download the GeoTIFF: same size, georeference kept, pixels equal to the engine's."""

import numpy as np
import torch

from core import io as sio
from core import translate as tr
from models.registry import build
from tests.e2e.browser import open_page, wait_idle
from tests.support.generators import _randomise


def test_translate_upload_and_download_geotiff(page, app_url, tmp_path, utm_geo):
    torch.manual_seed(0)
    model = _randomise(build("pix2pixhd_global", {"ngf": 4, "n_downsample": 2, "n_blocks": 1}), seed=9)
    model_path = tmp_path / "latest_net_G.pth"
    torch.save(model.state_dict(), model_path)
    rng = np.random.default_rng(8)
    src = tmp_path / "scene.tif"
    sio.write_geotiff(src, rng.gamma(1.0, 0.1, (200, 300)).astype(np.float32), utm_geo)

    open_page(page, app_url, "translate")
    page.locator('[data-testid="stRadio"]').filter(has_text="Model source").get_by_text(
        "Path on the server", exact=True
    ).click()
    wait_idle(page)
    box = page.get_by_label("Model file on the server")
    box.fill(str(model_path))
    box.press("Enter")
    wait_idle(page)
    page.get_by_text("pix2pixHD GlobalGenerator").first.wait_for()
    page.locator('[data-testid="stRadio"]').filter(has_text="SAR image source").get_by_text(
        "Upload", exact=True
    ).click()
    wait_idle(page)
    page.locator('input[type="file"]').first.set_input_files(str(src))
    wait_idle(page)
    page.get_by_text("scene.tif: 300×200").wait_for()
    page.get_by_role("button", name="Translate").click()
    wait_idle(page)
    # the notes of a result sit in one collapsed expander (issue 13): open it to read the backend line
    page.get_by_text("Notes on this translation", exact=False).first.click()
    page.get_by_text("Backend: PyTorch eager on CPU").wait_for()
    body = page.inner_text("body")
    assert "Error" not in body and "300×200 px" in body and "georeferenced" in body

    with page.expect_download() as dl:
        page.get_by_role("button", name="GeoTIFF", exact=True).click()
    out_path = tmp_path / "out.tif"
    dl.value.save_as(out_path)
    out = sio.read_raster(out_path)
    assert out.data.shape == (200, 300, 3) and out.data.dtype == np.uint8
    assert out.geo.crs == utm_geo.crs and out.geo.transform == utm_geo.transform
    expected = tr.translate_raster(
        sio.read_raster(src), tr.open_translator(model_path, tr.TranslateOptions(device="cpu"))
    )
    assert np.array_equal(out.data, expected.output)
