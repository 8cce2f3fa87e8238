"""Bundled Sentinel-1 samples are labelled as what they hold: uncalibrated DN² intensity without georeference, not
"linear intensity (sigma0)" (issue 13, item 3)."""

import numpy as np
import rasterio

from core import catalog
from tests.support.apptest import app_test
from tests.support.repo import ROOT

SAR = ROOT / "samples" / "sar"


def test_every_real_sample_has_a_description_matching_its_content():
    for tif in sorted(SAR.glob("*.tif")):
        info = catalog.sample_description(tif.read_bytes())
        assert info is not None, tif.name
        with rasterio.open(tif) as ds:
            data = ds.read()
            assert ds.crs is None and ds.gcps[0] == [] and ds.transform.is_identity  # truly no georeference
        assert data.max() > 1000  # far beyond any sigma0: uncalibrated DN²
        assert "uncalibrated" in info["kind_label"] and "sigma0" not in info["kind_label"].replace("not sigma0", "")
        assert "no georeference" in info["lacks"] and f"{float(data.max()):,.0f}" in info["lacks"]
    assert catalog.sample_description(b"any other image") is None


def test_the_speckle_page_labels_the_sample_as_uncalibrated_and_says_what_it_lacks():
    at = app_test("speckle.py").run()
    assert not at.exception
    captions = " ".join(c.value for c in at.caption)
    assert "uncalibrated intensity (DN², not sigma0)" in captions
    assert "linear intensity (sigma0" not in captions
    assert "Not radiometrically calibrated" in captions and "no georeference" in captions
    kind = next(s for s in at.selectbox if s.label.startswith("Input kind"))
    assert "uncalibrated" in kind.options[0] and not any("sigma0 /" in o for o in kind.options)


def test_an_other_float_image_keeps_the_generic_label(tmp_path, rng):
    from core import io as sio

    img = rng.random((32, 32)).astype(np.float32)
    at = app_test("speckle.py").run()
    at.radio(key="speckle_mode").set_value("Upload").run()
    at.file_uploader(key="speckle_upload").set_value(("x.tif", sio.encode_geotiff(img), "image/tiff")).run()
    captions = " ".join(c.value for c in at.caption)
    assert "read as linear intensity (sigma0" in captions and "Bundled sample" not in captions
