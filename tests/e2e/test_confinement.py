"""Browser: a default server offers no server-path fields; with SAR_STUDIO_DATA_ROOTS they are confined to it."""

import re

import numpy as np
import pytest
from PIL import Image

from tests.e2e.conftest import open_page, start_app, stop_app, wait_idle


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
