"""Browser: a default server offers no server-path fields; with SAR_STUDIO_DATA_ROOTS they are confined to it, a VRT
upload is refused by content and refusals say the same for existing and missing paths."""

import re

import numpy as np
import pytest
from PIL import Image

from tests.e2e.browser import open_page, start_app, stop_app, wait_idle


@pytest.fixture
def own_server(tmp_path):
    started = []

    def start(env):
        proc, url = start_app(tmp_path / f"server{len(started)}", env)
        started.append(proc)
        return url

    (tmp_path / "server0").mkdir()
    (tmp_path / "server1").mkdir()
    yield start
    for proc in started:
        stop_app(proc)


def _radio_options(page, label: str) -> str:
    return page.locator('[data-testid="stRadio"]').filter(has_text=label).inner_text()


def test_server_folder_fields_absent_by_default_and_confined_when_enabled(browser, own_server, tmp_path):
    url = own_server({"SAR_STUDIO_DATA_ROOTS": None})
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    page.set_default_timeout(120_000)
    try:
        open_page(page, url, "translate")
        assert "Path on the server" not in _radio_options(page, "Model source")
        assert "Server folder" not in _radio_options(page, "SAR image source")
        assert page.get_by_label(re.compile("on the server")).count() == 0  # no text field for a server path
        open_page(page, url, "train")
        page.get_by_text("New run").first.wait_for()
        assert "Folder on the server" not in _radio_options(page, "Training data")
        assert page.get_by_label(re.compile("on the server")).count() == 0
    finally:
        ctx.close()

    allowed, private = tmp_path / "allowed", tmp_path / "private"
    allowed.mkdir()
    private.mkdir()
    img = (np.arange(64 * 64) % 251).astype(np.uint8).reshape(64, 64)
    Image.fromarray(img).save(allowed / "inside.png")
    Image.fromarray(img).save(private / "secret.png")
    (allowed / "link.png").symlink_to(private / "secret.png")
    url = own_server({"SAR_STUDIO_DATA_ROOTS": str(allowed)})
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    page.set_default_timeout(120_000)
    try:
        open_page(page, url, "translate")
        page.locator('[data-testid="stRadio"]').filter(has_text="SAR image source").get_by_text(
            "Server folder", exact=True
        ).click()
        wait_idle(page)
        box = page.get_by_label("SAR image: folder on the server")
        box.fill(str(private))
        box.press("Enter")
        wait_idle(page)
        page.get_by_text("is not a readable folder under the allowed data folders").wait_for()
        assert "secret.png" not in page.inner_text("body")
        box.fill(str(allowed))
        box.press("Enter")
        wait_idle(page)
        page.get_by_text(f"1 images in {allowed}").wait_for()  # inside.png; the link out is not listed
        body = page.inner_text("body")
        assert "is not a readable" not in body and "Traceback" not in body
    finally:
        ctx.close()


def _scene_field_error(page, text: str) -> str:
    box = page.get_by_label("Path on the server (GeoTIFF, .SAFE folder, manifest.safe or .zip)")
    box.fill(text)
    box.press("Enter")
    wait_idle(page)
    expander = page.locator('[data-testid="stExpander"]').filter(has_text="Large scene or Sentinel-1 product")
    alert = expander.locator('[data-testid="stAlertContentError"]')
    alert.first.wait_for()
    assert alert.count() == 1
    return alert.first.inner_text()


def test_speckle_page_refuses_a_vrt_upload_and_answers_no_question_about_the_server(browser, own_server, tmp_path):
    """A VRT named x.tif (5000² pixels, its source a file outside the roots) used to be streamed and offered as a
    COG; an existing and a missing path outside the roots get the same sentence."""
    allowed, private = tmp_path / "allowed", tmp_path / "private"
    allowed.mkdir()
    private.mkdir()
    secret = private / "secret.tif"
    from core import io as sio

    sio.write_geotiff(secret, np.ones((64, 64), np.float32))
    vrt = tmp_path / "x.tif"
    vrt.write_text(
        '<VRTDataset rasterXSize="5000" rasterYSize="5000"><VRTRasterBand dataType="Float32" band="1">'
        f"<SimpleSource><SourceFilename>{secret}</SourceFilename></SimpleSource></VRTRasterBand></VRTDataset>"
    )
    url = own_server({"SAR_STUDIO_DATA_ROOTS": str(allowed), "SAR_STUDIO_UPLOADS": str(tmp_path / "uploads")})
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    page.set_default_timeout(120_000)
    try:
        open_page(page, url, "speckle")
        page.locator('[data-testid="stRadio"]').filter(has_text="SAR image source").get_by_text(
            "Upload", exact=True
        ).click()
        wait_idle(page)
        page.locator('input[type="file"]').first.set_input_files(str(vrt))
        wait_idle(page)
        page.get_by_text("x.tif is not a PNG, JPEG or TIFF image").wait_for()
        body = page.inner_text("body")
        assert "block by block" not in body and "streamed in blocks" not in body and "Traceback" not in body

        page.get_by_text("Large scene or Sentinel-1 product on the server").click()
        wait_idle(page)
        missing = str(private / "nothing_here.tif")
        said = {text: _scene_field_error(page, text) for text in (str(secret), missing)}
        assert said[str(secret)].replace(str(secret), "<path>") == said[missing].replace(missing, "<path>")
        assert "is not a readable file or folder under the allowed data folders" in said[missing]
        assert "streamed in blocks" not in page.inner_text("body")
    finally:
        ctx.close()
