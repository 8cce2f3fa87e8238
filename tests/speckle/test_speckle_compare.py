"""The speckle page's comparison, checked in core: band labels, looks per band, the ENL area and the metrics
table (against metrics computed band by band here), and the input key (sha256 of the bytes plus the kind)."""

import hashlib

import numpy as np
import pytest

from core import io as sio
from core import metrics
from core import speckle as sp
from core.errors import UserError
from core.speckle.compare import (
    FilterResult,
    band_labels,
    enl_region,
    estimated_looks,
    input_key,
    metrics_table,
    results_zip,
    shown_params,
    windows_too_big,
)


@pytest.fixture
def dualpol(rng):
    scene = np.full((40, 48), 0.1, np.float32)
    scene[:, 24:] = 0.5
    return np.stack([scene, scene * 0.2], -1) * rng.gamma(1.0, 1.0, (40, 48, 2)).astype(np.float32)


def test_band_labels_follow_the_raster_else_vv_vh_else_numbers():
    one = np.zeros((4, 4, 2), np.float32)
    assert band_labels(sio.Raster(one, "intensity", "a.tif", band_names=["HH", "HV"])) == ["HH", "HV"]
    assert band_labels(sio.Raster(one, "intensity", "a.tif")) == ["VV", "VH"]
    assert band_labels(sio.Raster(np.zeros((4, 4, 3), np.float32), "intensity", "a.tif")) == [
        "band 1",
        "band 2",
        "band 3",
    ]


def test_estimated_looks_per_band(dualpol):
    assert estimated_looks(dualpol) == [sp.estimate_enl(dualpol[..., b], np.isfinite(dualpol[..., b])) for b in (0, 1)]
    assert estimated_looks(dualpol[..., 0]) == [sp.estimate_enl(dualpol[..., 0])]


def test_shown_params_say_estimated_looks_only_for_filters_that_take_looks():
    assert shown_params(sp.FILTERS["lee"], {"window": 7, "looks": None}) == {"window": 7, "looks": "estimated"}
    assert shown_params(sp.FILTERS["lee"], {"looks": 2.0}) == {"looks": 2.0}
    assert shown_params(sp.FILTERS["boxcar"], {"window": 3}) == {"window": 3}


def test_enl_region_auto_user_and_too_small(dualpol):
    band = dualpol[..., 0]
    region, how = enl_region(band, 16, "VV")
    assert region == metrics.find_homogeneous_region(band, 16)
    assert how == "the most homogeneous 16×16 window of the input (VV)"
    assert enl_region(band, (1, 2, 10, 12), "VV") == ((1, 2, 10, 12), "your region")
    with pytest.raises(UserError, match=r"the image \(48×40\) is too small"):
        enl_region(band, None, "VV")


def test_metrics_table_rows_match_metrics_band_by_band(dualpol):
    region = (2, 30, 16, 16)
    lee = sp.despeckle(dualpol, "lee", window=5, looks=1.0)
    box = sp.despeckle(dualpol, "boxcar", window=3)
    results = [FilterResult("lee", "Lee", {"window": 5, "looks": 1.0}, lee), FilterResult("boxcar", "Boxcar", {}, box)]
    rows = metrics_table(dualpol, results, region, ["VV", "VH"])
    assert [(r["filter"], r["band"]) for r in rows] == [
        ("Input", "VV"),
        ("Input", "VH"),
        ("Lee", "VV"),
        ("Lee", "VH"),
        ("Boxcar", "VV"),
        ("Boxcar", "VH"),
    ]
    for b in range(2):
        x = dualpol[..., b].astype(np.float64)[2:18, 30:46]
        assert rows[b]["ENL"] == pytest.approx(x.mean() ** 2 / x.var(), rel=1e-5)
        assert rows[b]["mean ratio"] == 1.0 and rows[b]["EPI"] == 1.0 and rows[b]["parameters"] == ""
        for k, out in ((2, lee), (4, box)):
            assert rows[k + b]["ENL"] == pytest.approx(metrics.enl(out[..., b], region))
            assert rows[k + b]["mean ratio"] == pytest.approx(metrics.mean_ratio(out[..., b], dualpol[..., b]))
            assert rows[k + b]["EPI"] == pytest.approx(metrics.edge_preservation_index(out[..., b], dualpol[..., b]))
    assert rows[2]["parameters"] == "window=5, looks=1.0" and rows[4]["parameters"] == ""


def test_input_key_is_sha256_of_the_bytes_and_the_kind():
    blob = b"some bytes"
    assert input_key(blob, "intensity") == hashlib.sha256(blob).hexdigest()[:16] + "intensity"
    assert input_key(blob, "db") != input_key(blob, "intensity") != input_key(b"other", "intensity")


def test_windows_larger_than_the_image_are_named():
    params = {"lee": {"window": 7}, "boxcar": {"window": 5}, "gaussian": {"sigma": 1.0}}
    assert windows_too_big(["lee", "boxcar", "gaussian"], params, 40, 6) == [f"{sp.FILTERS['lee'].label} (7×7)"]
    assert windows_too_big(["lee", "boxcar"], params, 4, 60) == [
        f"{sp.FILTERS['lee'].label} (7×7)",
        f"{sp.FILTERS['boxcar'].label} (5×5)",
    ]


def test_results_zip_holds_each_result_its_png_the_comparison_and_the_metrics(rng, utm_geo):
    import io
    import zipfile

    data = rng.gamma(1.0, 0.1, (24, 20)).astype(np.float32)
    raster = sio.Raster(data, "intensity", "scene.tif", utm_geo, [], "intensity")
    results = [
        FilterResult("lee", "Lee", {"window": 5}, sp.despeckle(data, "lee", window=5, looks=1.0)),
        FilterResult("boxcar", "Boxcar", {}, sp.despeckle(data, "boxcar", window=3)),
    ]
    panels = [("Input", np.zeros((24, 20), np.uint8))] + [(r.label, np.full((24, 20), 9, np.uint8)) for r in results]
    rows = [{"filter": "Lee", "ENL": 2.0}]
    with zipfile.ZipFile(io.BytesIO(results_zip("scene.tif", raster, results, panels, rows))) as zf:
        names = set(zf.namelist())
        assert names == {
            "README.txt", "scene_lee.tif", "scene_lee.png", "scene_boxcar.tif", "scene_boxcar.png",
            "scene_comparison.png", "metrics.csv",
        }  # fmt: skip
        readme = zf.read("README.txt").decode()
        assert "scene.tif (20x24, 1 band(s)" in readme and "scene_boxcar.tif / .png: Boxcar (defaults)" in readme
        lee = sio.read_raster(zf.read("scene_lee.tif"), "lee.tif")
        assert zf.read("metrics.csv").decode().splitlines() == ["filter,ENL", "Lee,2.0"]
    np.testing.assert_array_equal(lee.data, results[0].intensity)
    assert lee.geo.crs_wkt == utm_geo.crs_wkt
