"""Browser: a Sentinel-1 product (zipped GRD, 400×600) in an allowed folder is translated on the translation page by
a background job (preview, estimated duration, progress) and downloaded as a Cloud-Optimized GeoTIFF whose pixels
are the engine's streamed translation of the same product (issue 20)."""

import numpy as np
import rasterio

from core import io as sio
from core import translate as tr
from core.catalog import checkpoints_dir
from core.translate.stream import translate_scene
from tests.e2e.browser import open_page, wait_idle
from tests.support.s1_product import write_s1_product, zip_product


def test_translate_a_product_from_an_allowed_folder_and_download_the_cog(page, app_url, tmp_path):
    product = zip_product(write_s1_product(tmp_path, "GRD", shape=(400, 600)).safe)
    open_page(page, app_url, "translate")
    box = page.get_by_label("Path (GeoTIFF, any GDAL raster, .SAFE folder or .zip)")
    box.fill(str(product))
    box.press("Enter")
    wait_idle(page)
    page.get_by_text("decimated preview").first.wait_for()
    page.get_by_text("Estimated duration").first.wait_for()
    page.get_by_role("button", name="Translate the whole scene").click()
    page.get_by_role("button", name="Cloud-Optimized GeoTIFF").wait_for(timeout=900_000)
    assert "Error" not in page.inner_text("body")
    with page.expect_download() as dl:
        page.get_by_role("button", name="Cloud-Optimized GeoTIFF").click()
    got_path = tmp_path / "got.tif"
    dl.value.save_as(got_path)
    with rasterio.open(got_path) as ds:
        assert ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG" and ds.count == 3 and ds.overviews(1)
        assert (ds.height, ds.width) == (400, 600) and ds.gcps[0]  # the product's GCPs are kept
        got = np.moveaxis(ds.read(), 0, -1)
    model = sorted(checkpoints_dir().glob("*.safetensors"))[0]  # the page's default bundled model
    opts = tr.TranslateOptions(backend="torch", batch_size=4)
    with sio.open_source(product, calibration="sigma0", pol="VV") as src:
        translate_scene(src, tmp_path / "ref.tif", tr.open_translator(model, opts), opts)
    assert np.abs(got.astype(int) - sio.read_raster(tmp_path / "ref.tif").data).max() <= 1
