"""The speckle page's product section (pages/product_prep.py): the choices reach the chain (the output's bands and
tags say what was applied), the job runs in the background to a COG, the map is drawn; refusals are one line."""

import shutil
import time

import numpy as np
import pytest
import rasterio

from core.catalog import samples_dir
from core.errors import UserError
from core.products import jobs
from tests.support.apptest import app_test

SAMPLE = samples_dir() / "products" / "SYNTHETIC_S1A_IW_GRDH_1SDV.zip"


def _wait(at, timeout=120):
    t = time.monotonic()
    while time.monotonic() - t < timeout:
        job = at.session_state["prep_job"]
        if job.finished:
            return job
        time.sleep(0.2)
    raise AssertionError("the prepare job did not finish")


def test_choices_start_a_job_whose_cog_records_them_and_a_map_is_drawn(tmp_path, monkeypatch):
    monkeypatch.setenv("SAR_STUDIO_UPLOADS", str(tmp_path / "uploads"))
    monkeypatch.delenv("SAR_STUDIO_DATA_ROOTS", raising=False)
    at = app_test("speckle.py").run()
    assert at.selectbox(key="prep_source").value == "Bundled synthetic sample"
    assert at.selectbox(key="prep_pol").options == ["VV", "VH", "VV,VH"]
    at.selectbox(key="prep_pol").set_value("VH")
    at.selectbox(key="prep_cal").set_value("beta0")
    at.selectbox(key="prep_noise").set_value("keep").run()
    assert not at.exception and not at.error
    at.button(key="prep_run").click().run()
    job = _wait(at)
    assert job.error is None, job.error
    at.run()
    assert not at.exception and not at.error
    assert job.output.name == "SYNTHETIC_S1A_IW_GRDH_1SDV_VH_beta0_db_cog.tif"
    with rasterio.open(job.output) as ds:
        tags = ds.tags()
        assert ds.count == 1 and ds.descriptions == ("VH",)
        assert tags["CALIBRATION"] == "BETA0" and tags["THERMAL_NOISE"] == "KEPT" and tags["VALUES"].startswith("dB")
        assert ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        assert len(ds.gcps[0]) == 9  # the product's geolocation grid kept
    assert [b.label for b in at.get("download_button")] == [f"Download {job.output.name}"]
    decks = at.get("deck_gl_json_chart")
    assert len(decks) == 1
    spec = decks[0].proto.json
    assert '"BitmapLayer"' in spec and '"PathLayer"' in spec and "data:image/png;base64," in spec
    assert any("VH in dB, grey from" in c.value for c in at.caption)
    assert not any(s.key == "prep_map_band" for s in at.selectbox)  # one band: nothing to pick


def test_server_path_outside_the_allowed_folders_is_one_line(tmp_path, monkeypatch):
    inside, outside = tmp_path / "data", tmp_path / "other"
    inside.mkdir(), outside.mkdir()
    shutil.copy(SAMPLE, outside / SAMPLE.name)
    monkeypatch.setenv("SAR_STUDIO_DATA_ROOTS", str(inside))
    at = app_test("speckle.py").run()
    at.selectbox(key="prep_source").set_value("Path on the server").run()
    at.text_input(key="prep_path").set_value(str(outside / SAMPLE.name)).run()
    assert not at.exception
    assert len(at.error) == 1 and "allowed data folders" in at.error[0].value
    assert not any(b.key == "prep_run" for b in at.button)


def test_a_zip_that_is_not_a_product_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("SAR_STUDIO_UPLOADS", str(tmp_path / "uploads"))
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("readme.txt", "not a product")
    at = app_test("speckle.py").run()
    at.selectbox(key="prep_source").set_value("Upload a product zip").run()
    at.file_uploader(key="prep_upload").set_value(("x.zip", buf.getvalue(), "application/zip")).run()
    assert not at.exception
    assert len(at.error) == 1 and "\n" not in at.error[0].value


def test_flattening_without_a_dem_is_refused():
    with pytest.raises(UserError, match="needs a DEM"):
        jobs.geometry_step(SAMPLE, rtc=True)


def test_job_result_equals_the_cli_chain(tmp_path):
    # the page's job and `prepare_product` called directly give the same values
    from core.products.chain import PrepareOptions, prepare_product

    opts = PrepareOptions(pol="VV", db=True)
    job = jobs.start_prepare_job(SAMPLE, tmp_path / "job.tif", opts)
    job.thread.join(120)
    assert job.finished and job.error is None and job.fraction == 1.0
    prepare_product(SAMPLE, tmp_path / "direct.tif", PrepareOptions(pol="VV", db=True))
    with rasterio.open(tmp_path / "job.tif") as a, rasterio.open(tmp_path / "direct.tif") as b:
        np.testing.assert_array_equal(a.read(), b.read())


def test_flattening_of_sigma0_and_a_crs_without_a_map_are_refused(tmp_path):
    dem = tmp_path / "dem.tif"
    dem.write_bytes(b"")
    with pytest.raises(UserError, match="works on beta0"):
        jobs.geometry_step(SAMPLE, dem=dem, rtc=True, calibration="sigma0")
    with pytest.raises(UserError, match="applies to a map output"):
        jobs.geometry_step(SAMPLE, crs="EPSG:32632")
    assert jobs.geometry_step(SAMPLE) is None


def test_geocode_on_the_page_gives_a_north_up_utm_result_on_the_map(tmp_path, monkeypatch):
    monkeypatch.setenv("SAR_STUDIO_UPLOADS", str(tmp_path / "uploads"))
    monkeypatch.delenv("SAR_STUDIO_DATA_ROOTS", raising=False)
    at = app_test("speckle.py").run()
    at.checkbox(key="prep_geocode").check()
    at.selectbox(key="prep_pol").set_value("VV").run()
    at.button(key="prep_run").click().run()
    job = _wait(at)
    assert job.error is None, job.error
    at.run()
    assert not at.exception and not at.error
    with rasterio.open(job.output) as ds:
        # the synthetic scene lies at 7.0-7.05 E, 45 N: UTM zone floor((7 + 180) / 6) + 1 = 32, north
        assert ds.crs.to_epsg() == 32632 and ds.transform.b == 0 and ds.transform.d == 0 and ds.transform.e < 0
    assert len(at.get("deck_gl_json_chart")) == 1
    assert any("map geometry" in c.value for c in at.caption)


def test_an_uploaded_product_zip_is_saved_under_the_uploads_and_offers_its_choices(tmp_path, monkeypatch):
    monkeypatch.setenv("SAR_STUDIO_UPLOADS", str(tmp_path / "uploads"))
    at = app_test("speckle.py").run()
    at.selectbox(key="prep_source").set_value("Upload a product zip").run()
    at.file_uploader(key="prep_upload").set_value((SAMPLE.name, SAMPLE.read_bytes(), "application/zip")).run()
    assert not at.exception and not at.error
    saved = list((tmp_path / "uploads" / "products").glob(f"*/{SAMPLE.name}"))
    assert len(saved) == 1 and saved[0].read_bytes() == SAMPLE.read_bytes()
    assert at.selectbox(key="prep_pol").options == ["VV", "VH", "VV,VH"]
    assert any(b.key == "prep_run" for b in at.button)


def test_an_slc_on_the_server_offers_its_swaths_and_merges_them(tmp_path, monkeypatch):
    from tests.support.s1_product import write_s1_product

    product = write_s1_product(tmp_path / "data", kind="SLC", shape=(72, 80), pols=("VV",))
    monkeypatch.setenv("SAR_STUDIO_DATA_ROOTS", str(tmp_path / "data"))
    monkeypatch.setenv("SAR_STUDIO_UPLOADS", str(tmp_path / "uploads"))
    at = app_test("speckle.py").run()
    at.selectbox(key="prep_source").set_value("Path on the server").run()
    at.text_input(key="prep_path").set_value(str(product.safe)).run()
    assert not at.exception and not at.error
    assert at.selectbox(key="prep_swath").options == [*product.swaths, "all"]
    at.selectbox(key="prep_swath").set_value("all").run()
    at.button(key="prep_run").click().run()
    job = _wait(at)
    assert job.error is None, job.error
    at.run()
    assert not at.exception and not at.error
    with rasterio.open(job.output) as ds:
        assert ds.tags()["DEBURST"] == "YES" and "SWATHS_MERGED" in ds.tags()
    assert len(at.get("deck_gl_json_chart")) == 1


def test_a_dual_pol_result_shows_the_band_picked_for_the_map(tmp_path, monkeypatch):
    monkeypatch.setenv("SAR_STUDIO_UPLOADS", str(tmp_path / "uploads"))
    at = app_test("speckle.py").run()
    at.button(key="prep_run").click().run()  # defaults: VV,VH
    job = _wait(at)
    assert job.error is None, job.error
    at.run()
    assert at.selectbox(key="prep_map_band").options == ["VV", "VH"]
    assert any("VV in dB, grey from" in c.value for c in at.caption)
    at.selectbox(key="prep_map_band").set_value("VH").run()
    assert not at.exception and not at.error
    assert any("VH in dB, grey from" in c.value for c in at.caption)


def test_browser_reached_inputs_are_confined(tmp_path):
    from core.io.confine import Confine

    inside, outside = tmp_path / "data", tmp_path / "other"
    inside.mkdir(), outside.mkdir()
    shutil.copy(SAMPLE, outside / SAMPLE.name)
    confine = Confine((inside.resolve(),), "refused: give a path under the allowed folders.")
    with pytest.raises(UserError, match="^refused: give a path"):
        jobs.start_prepare_job(
            outside / SAMPLE.name, inside / "out.tif", jobs.PrepareOptions(), product_confine=confine
        )
    # a VRT named like a GeoTIFF, pointing outside the roots, is refused as a DEM by its content
    vrt = inside / "dem.tif"
    vrt.write_text('<VRTDataset rasterXSize="2" rasterYSize="2"><VRTRasterBand dataType="Float32" band="1">'
                   f"<SimpleSource><SourceFilename>{outside / 'secret.tif'}</SourceFilename></SimpleSource>"
                   "</VRTRasterBand></VRTDataset>")  # fmt: skip
    with pytest.raises(UserError, match="dem.tif"):
        jobs.confined_dem(vrt, confine)
    shutil.copy(SAMPLE, inside / SAMPLE.name)
    assert jobs.confined_product(inside / SAMPLE.name, confine) == (inside / SAMPLE.name).resolve()
    assert not list(inside.glob("out.tif*"))


def test_terrain_flattening_with_a_dem_from_the_allowed_folders(tmp_path, monkeypatch):
    from tests.support.s1_geometry import write_dem, write_geometry_product

    data = tmp_path / "data"
    product = write_geometry_product(data, "ascending", shape=(120, 160), grid=(4, 5))
    write_dem(data / "dem.tif", product, 30.0, hill=False)
    monkeypatch.setenv("SAR_STUDIO_DATA_ROOTS", str(data))
    monkeypatch.setenv("SAR_STUDIO_UPLOADS", str(tmp_path / "uploads"))
    at = app_test("speckle.py").run()
    at.text_input(key="prep_dem").set_value(str(data / "dem.tif"))  # the bundled sample has no orbit: one line
    at.button(key="prep_run").click().run()
    assert not at.exception and len(at.error) == 1 and "orbit" in at.error[0].value
    at.selectbox(key="prep_source").set_value("Path on the server").run()
    at.text_input(key="prep_path").set_value(str(product.safe)).run()
    at.selectbox(key="prep_cal").set_value("sigma0")
    at.checkbox(key="prep_rtc").check()
    at.button(key="prep_run").click().run()  # flattening works on beta0: refused before the job
    assert len(at.error) == 1 and "beta0" in at.error[0].value
    at.selectbox(key="prep_cal").set_value("beta0")
    at.button(key="prep_run").click().run()
    job = _wait(at)
    assert job.error is None, job.error
    at.run()
    assert not at.exception and not at.error
    with rasterio.open(job.output) as ds, rasterio.open(data / "dem.tif") as dem:
        assert ds.crs == dem.crs and ds.transform.a == dem.transform.a  # on the DEM's grid
        assert ds.tags()["CALIBRATION"] == "GAMMA0_T"
    assert len(at.get("deck_gl_json_chart")) == 1
