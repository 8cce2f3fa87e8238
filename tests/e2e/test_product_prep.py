"""Browser: prepare the bundled synthetic Sentinel-1 product from an allowed server folder on the speckle page, with
the network closed (only the app answers): the job ends in a COG download and a map whose canvas shows the overlay
(grey levels of the dB stretch) and the footprint (red); the basemap tiles fail offline and the page still works."""

import re
import shutil

import numpy as np
import rasterio

from core.catalog import samples_dir
from tests.e2e.browser import choose, open_page, wait_idle

SAMPLE = samples_dir() / "products" / "SYNTHETIC_S1A_IW_GRDH_1SDV.zip"


def test_prepare_a_product_and_see_it_on_the_map(page, app_url, tmp_path):
    page.route(re.compile(r"^https?://(?!127\.0\.0\.1)"), lambda route: route.abort())
    product = tmp_path / SAMPLE.name
    shutil.copy(SAMPLE, product)
    open_page(page, app_url, "speckle")
    page.get_by_text("Prepare a Sentinel-1 product").click()
    product_select = page.locator('[data-testid="stSelectbox"]').filter(has=page.get_by_text("Product", exact=True))
    choose(page, product_select, "Path on the server")
    wait_idle(page)
    field = page.get_by_label(re.compile("^Product path"))
    field.fill(str(product))
    field.press("Enter")
    wait_idle(page)
    page.get_by_role("button", name="Prepare the product").click()
    download = page.get_by_role("button", name=re.compile("^Download SYNTHETIC_S1A_IW_GRDH_1SDV_VVVH_sigma0_db_cog"))
    download.wait_for()
    wait_idle(page)
    assert "Error" not in page.inner_text("body")

    with page.expect_download() as dl:
        download.click()
    out = tmp_path / "prepared.tif"
    dl.value.save_as(out)
    with rasterio.open(out) as ds:
        assert ds.count == 2 and ds.descriptions == ("VV", "VH") and ds.tags()["THERMAL_NOISE"] == "REMOVED"
        assert ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG" and len(ds.gcps[0]) == 9

    deck = page.locator('[data-testid="stDeckGlJsonChart"]').first
    deck.wait_for()
    deck.scroll_into_view_if_needed()
    page.wait_for_timeout(2000)
    assert deck.locator("canvas").count() >= 1
    assert "VV in dB, grey from" in page.inner_text("body")
    shot = tmp_path / "map.png"
    deck.screenshot(path=str(shot))
    caption = page.get_by_text(re.compile("VV in dB, grey from"))
    caption.scroll_into_view_if_needed()
    page.screenshot(path=str(tmp_path / "page.png"))  # the map's lower part, the colour bar and the stated stretch
    img = np.asarray(__import__("PIL.Image", fromlist=["Image"]).open(shot).convert("RGB")).astype(int)
    img = img[:, :-80]  # leave out the zoom buttons in the top-right corner
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    red = (r > 170) & (g < 90) & (b < 90)  # the footprint's outline
    shaded = (abs(r - g) < 6) & (abs(g - b) < 6) & (r < 200)  # the overlay's greys (offline the rest is blank)
    assert red.sum() > 100, "the footprint is not drawn"
    assert shaded.sum() > 0.05 * r.size, f"the overlay is not drawn ({shaded.sum()} grey pixels)"
    assert len(np.unique(r[shaded] // 16)) >= 8, "the overlay is not a stretch of grey levels"


def test_geocoded_product_on_the_map(page, app_url, tmp_path):
    page.route(re.compile(r"^https?://(?!127\.0\.0\.1)"), lambda route: route.abort())
    open_page(page, app_url, "speckle")
    page.get_by_text("Prepare a Sentinel-1 product").click()  # the bundled synthetic sample is the default
    wait_idle(page)
    page.get_by_text("Geocode (north-up map grid, no DEM)").click()
    wait_idle(page)
    page.get_by_role("button", name="Prepare the product").click()
    download = page.get_by_role("button", name=re.compile("^Download SYNTHETIC_S1A_IW_GRDH_1SDV_VVVH_sigma0_geo_db"))
    download.wait_for()
    wait_idle(page)
    with page.expect_download() as dl:
        download.click()
    out = tmp_path / "geocoded.tif"
    dl.value.save_as(out)
    with rasterio.open(out) as ds:
        assert ds.crs.to_epsg() == 32632 and ds.transform.b == 0 and ds.transform.d == 0  # north-up UTM 32N
    deck = page.locator('[data-testid="stDeckGlJsonChart"]').first
    deck.wait_for()
    deck.scroll_into_view_if_needed()
    page.wait_for_timeout(2000)
    assert "map geometry" in page.inner_text("body")
    shot = tmp_path / "map_geocoded.png"
    deck.screenshot(path=str(shot))
    img = np.asarray(__import__("PIL.Image", fromlist=["Image"]).open(shot).convert("RGB")).astype(int)[:, :-80]
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    shaded = (abs(r - g) < 6) & (abs(g - b) < 6) & (r < 200)
    assert ((r > 170) & (g < 90) & (b < 90)).sum() > 100 and shaded.sum() > 0.05 * r.size
