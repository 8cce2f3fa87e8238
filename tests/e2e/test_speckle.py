"""Browser: upload a float32 GeoTIFF on the speckle page, run the filters, download the comparison PNG and
the filtered GeoTIFF (georeference kept)."""

import numpy as np

from core import io as sio
from tests.e2e.browser import open_page, wait_idle


def test_upload_filter_and_download(page, app_url, tmp_path, utm_geo):
    rng = np.random.default_rng(5)
    scene = np.full((64, 80), 0.05, np.float32)
    scene[:, 40:] = 0.3
    src = tmp_path / "scene.tif"
    sio.write_geotiff(src, (scene * rng.gamma(1.0, 1.0, scene.shape)).astype(np.float32), utm_geo)

    open_page(page, app_url, "speckle")
    page.locator('[data-testid="stRadio"]').first.get_by_text("Upload", exact=True).click()
    wait_idle(page)
    page.locator('input[type="file"]').first.set_input_files(str(src))
    wait_idle(page)
    page.get_by_text("scene.tif: 80×64").wait_for()
    page.get_by_role("button", name="Run filters").click()
    wait_idle(page)
    page.get_by_text("Metrics", exact=True).wait_for()
    body = page.inner_text("body")
    assert "Refined Lee" in body and "Error" not in body

    with page.expect_download() as dl:
        page.get_by_role("button", name="Comparison PNG (all)").click()
    png = tmp_path / "comparison.png"
    dl.value.save_as(png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    cmp = sio.read_raster(png).data
    # three panels (input, Lee, refined Lee) 80 px wide with 8 px gaps, 64 px high under an 18 px label row
    assert cmp.shape == (64 + 18, 3 * 80 + 2 * 8, 3)

    with page.expect_download() as dl:
        page.get_by_role("button", name="GeoTIFF").click()
    tif = tmp_path / "lee.tif"
    dl.value.save_as(tif)
    out = sio.read_raster(tif)
    assert out.data.dtype == np.float32 and out.data.shape == (64, 80)
    assert out.geo.crs == utm_geo.crs and out.geo.transform == utm_geo.transform
    assert abs(out.data.mean() / sio.read_raster(src).data.mean() - 1) < 0.03
