"""Browser: the cross-band page on its bundled samples (VV content, VH style), a short run with the live loss
chart, the compare view, and the PNG download."""

import numpy as np

from core import io as sio
from tests.e2e.browser import ROOT, open_page, wait_idle


def test_bundled_samples_generate_and_download(page, app_url, tmp_path):
    open_page(page, app_url, "crossband")
    page.get_by_text("Feature extractor in use").wait_for()
    assert "random multi-scale features (fallback" in page.inner_text("body")
    steps = page.get_by_label("Steps", exact=True)
    steps.fill("6")
    steps.press("Enter")
    wait_idle(page)
    page.get_by_role("button", name="Generate").click()
    wait_idle(page)
    page.get_by_text("6 adam steps").wait_for()
    body = page.inner_text("body")
    assert "Error" not in body and "Traceback" not in body
    assert page.locator('[data-testid="stVegaLiteChart"], [data-testid="stArrowVegaLiteChart"]').count() >= 1

    with page.expect_download() as dl:
        page.get_by_role("button", name="PNG", exact=True).click()
    png = tmp_path / "out.png"
    dl.value.save_as(png)
    out = sio.read_raster(png).data
    content = sio.read_raster(ROOT / "samples" / "crossband" / "labrador_vv_content.png").data
    assert out.shape == content.shape == (256, 256)
    assert 0 < np.abs(out.astype(int) - content).mean() < 60  # changed, but still the content's scene
    page.screenshot(path=str(tmp_path / "crossband.png"), full_page=True)
