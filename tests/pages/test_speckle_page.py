"""The speckle page under AppTest: sample and upload, filters with parameters, metrics equal to core's values,
results kept across reruns, errors shown as one line."""

import numpy as np
import pytest

from core import io as sio
from core import metrics
from core import speckle as sp
from tests.support.apptest import app_test
from tests.support.repo import ROOT


def _upload(at, name, blob):
    at.radio(key="speckle_mode").set_value("Upload").run()
    at.file_uploader(key="speckle_upload").set_value((name, blob, "image/tiff")).run()
    return at


def _table(at):
    assert len(at.dataframe) == 1
    return at.dataframe[0].value


@pytest.fixture
def dualpol_tif(rng, utm_geo):
    scene = np.full((40, 56), 0.1, np.float32)
    scene[:, 28:] = 0.6
    img = np.stack([scene, scene * 0.2], -1) * rng.gamma(1.0, 1.0, (40, 56, 2)).astype(np.float32)
    img[0, 0, :] = -9999.0
    return sio.encode_geotiff(img.astype(np.float32), utm_geo, ["VV", "VH"]), img


def test_sample_runs_default_filters_and_metrics_match_core():
    at = app_test("speckle.py").run()
    assert not at.exception
    assert at.selectbox(key="speckle_sample").value == "labrador_s1_vv.tif"
    at.button(key="speckle_run").click().run()
    assert not at.exception and not at.error
    table = _table(at)
    assert list(table["filter"]) == ["Input", "Lee", "Refined Lee"]
    raster = sio.read_raster(ROOT / "samples" / "sar" / "labrador_s1_vv.tif")
    inten = sp.input_intensity(raster)
    region = metrics.find_homogeneous_region(inten, 32)
    lee = sp.despeckle(inten, "lee", window=7)
    assert table["ENL"][0] == pytest.approx(metrics.enl(inten, region), rel=1e-6)
    assert table["ENL"][1] == pytest.approx(metrics.enl(lee, region), rel=1e-5)
    assert table["mean ratio"][1] == pytest.approx(metrics.mean_ratio(lee, inten), rel=1e-6)
    assert table["EPI"][1] == pytest.approx(metrics.edge_preservation_index(lee, inten), rel=1e-6)
    assert table["ENL"][1] > 3 * table["ENL"][0]  # single-look input, smoothed output
    assert abs(table["mean ratio"][1] - 1) < 0.02


def test_upload_dualpol_with_parameters_and_rerun_keeps_results(dualpol_tif):
    blob, img = dualpol_tif
    at = _upload(app_test("speckle.py").run(), "scene.tif", blob)
    assert not at.exception and not at.error
    at.multiselect(key="speckle_filters").set_value(["boxcar", "frost"]).run()
    at.number_input(key="speckle_boxcar_window").set_value(3).run()
    at.number_input(key="speckle_frost_damping").set_value(1.0).run()
    at.radio(key="speckle_region_mode").set_value("Rows and columns I choose").run()
    at.number_input(key="speckle_r0").set_value(5).run()
    at.number_input(key="speckle_c0").set_value(30).run()
    at.number_input(key="speckle_rh").set_value(20).run()
    at.number_input(key="speckle_cw").set_value(20).run()
    at.button(key="speckle_run").click().run()
    assert not at.exception and not at.error
    table = _table(at)
    assert list(table["band"]) == ["VV", "VH"] * 3
    valid = img != -9999.0
    inten = np.where(valid, img, np.nan)
    for b in range(2):
        box = sp.despeckle(inten[..., b], "boxcar", window=3)
        frost = sp.despeckle(inten[..., b], "frost", window=7, damping=1.0)
        assert table["ENL"][2 + b] == pytest.approx(metrics.enl(box, (5, 30, 20, 20)), rel=1e-5)
        assert table["mean ratio"][4 + b] == pytest.approx(metrics.mean_ratio(frost, inten[..., b]), rel=1e-6)
    assert "window=3" in table["parameters"][2]
    # choosing another result to compare is a rerun: the results stay, nothing is recomputed
    at.selectbox(key="speckle_compare").set_value(1).run()
    assert not at.exception and len(at.dataframe) == 1


def test_bad_upload_shows_one_error_line():
    at = _upload(app_test("speckle.py").run(), "notes.tif", b"this is not an image at all")
    assert not at.exception
    assert len(at.error) == 1 and "not a PNG, JPEG or TIFF" in at.error[0].value
    assert "\n" not in at.error[0].value


def test_bad_region_is_an_error_not_a_crash(dualpol_tif):
    blob, _ = dualpol_tif
    at = _upload(app_test("speckle.py").run(), "scene.tif", blob)
    at.radio(key="speckle_region_mode").set_value("Rows and columns I choose").run()
    at.number_input(key="speckle_r0").set_value(38).run()
    at.number_input(key="speckle_rh").set_value(30).run()
    at.button(key="speckle_run").click().run()
    assert not at.exception
    assert any("not inside" in e.value for e in at.error)


def test_merlin_on_cuda_request_without_gpu_says_so(dualpol_tif, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    blob, img = dualpol_tif
    at = _upload(app_test("speckle.py").run(), "scene.tif", blob)
    at.multiselect(key="speckle_filters").set_value(["merlin"]).run()
    at.selectbox(key="speckle_device").set_value("cuda").run()
    at.button(key="speckle_run").click().run()
    assert not at.exception and not at.error
    assert any("CUDA" in i.value and "CPU" in i.value for i in at.info)
    table = _table(at)
    assert abs(table["mean ratio"][2] - 1) < 0.05 and table["ENL"][2] > table["ENL"][0]


def test_tiny_image_cannot_estimate_looks_but_runs_with_given_looks(utm_geo):
    blob = sio.encode_geotiff(np.arange(1, 13, dtype=np.float32).reshape(3, 4), utm_geo)
    at = _upload(app_test("speckle.py").run(), "tiny.tif", blob)
    assert not at.exception
    assert any("too few valid pixels" in e.value for e in at.error)
    at.multiselect(key="speckle_filters").set_value(["lee"]).run()
    at.number_input(key="speckle_lee_window").set_value(3).run()
    at.number_input(key="speckle_lee_looks").set_value(2.0).run()
    at.radio(key="speckle_region_mode").set_value("Rows and columns I choose").run()
    at.button(key="speckle_run").click().run()
    assert not at.exception
    table = _table(at)
    img = np.arange(1, 13, dtype=np.float64).reshape(3, 4)
    lee = sp.despeckle(img.astype(np.float32), "lee", window=3, looks=2.0)
    assert table["mean ratio"][1] == pytest.approx(metrics.mean_ratio(lee, img), rel=1e-6)


def test_new_run_drops_the_previous_runs_arrays_first(monkeypatch):
    """A second run does not hold the first run's results in the session while it computes (server memory under
    load, bench/load.py): the page drops them when the button is pressed."""
    import streamlit as st

    seen = []
    real = sp.despeckle

    def watching(*args, **kwargs):
        seen.append("speckle_results" in st.session_state)
        return real(*args, **kwargs)

    monkeypatch.setattr(sp, "despeckle", watching)
    at = app_test("speckle.py").run()
    at.multiselect(key="speckle_filters").set_value(["boxcar"]).run()
    at.button(key="speckle_run").click().run()
    assert not at.exception and seen == [False]
    assert "speckle_results" in at.session_state
    at.button(key="speckle_run").click().run()
    assert not at.exception and seen == [False, False]  # the first run's arrays were gone during the second
    assert _table(at)["filter"].tolist() == ["Input", "Boxcar (mean)"]
