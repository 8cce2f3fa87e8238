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
    shown_params,
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
