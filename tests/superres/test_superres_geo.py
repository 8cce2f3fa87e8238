"""Super-resolution keeps the georeference scaled x4 (GCPs, RPCs, transform, tags) and refuses, by a bytes
estimate, inputs whose working memory is too large (a 3 x 100000 strip, padded to the tile height)."""

from dataclasses import replace

import numpy as np
import pytest
import rasterio
from rasterio.crs import CRS
from rasterio.transform import GCPTransformer, RPCTransformer

from core import io as sio
from core import superres as sr
from core.cli import main as cli_main
from core.errors import UserError
from tests.support.repo import ROOT

DEMO = ROOT / "checkpoints" / "rgtgan_demo.safetensors"
REF = ROOT / "samples" / "superres" / "ref" / "synthetic_town.png"


def _lr(path, rng, geo, size=20):
    img = (rng.random((size, size, 3)) * 255).astype(np.uint8)
    sio.write_geotiff(path, img, geo)
    return path


def _gcp_geo(n):
    pts = [
        (r, c, 10.0 + 0.001 * c + 0.0003 * r, 45.0 - 0.0009 * r + 0.0001 * c, 5.0)
        for r in (0, n / 2, n)
        for c in (0, n / 2, n)
    ]
    return sio.GeoInfo(gcps=tuple(pts), gcp_crs=CRS.from_epsg(4326).to_wkt(), tags={"MISSION": "S1A"})


def _rpc_geo():
    rpcs = {
        "LINE_OFF": "10", "SAMP_OFF": "10", "LAT_OFF": "45", "LONG_OFF": "10", "HEIGHT_OFF": "0",
        "LINE_SCALE": "10", "SAMP_SCALE": "10", "LAT_SCALE": "0.01", "LONG_SCALE": "0.01", "HEIGHT_SCALE": "100",
        "LINE_NUM_COEFF": " ".join(["0", "0.1", "-1"] + ["0"] * 17),
        "LINE_DEN_COEFF": " ".join(["1"] + ["0"] * 19),
        "SAMP_NUM_COEFF": " ".join(["0", "1", "0.2"] + ["0"] * 17),
        "SAMP_DEN_COEFF": " ".join(["1"] + ["0"] * 19),
    }  # fmt: skip
    return sio.GeoInfo(rpcs=rpcs)


def _corners(path):
    """Map positions (GDAL) of the outer corners of the image: pixel-corner coordinates (0, 0) .. (W, H)."""
    with rasterio.open(path) as ds:
        rows = [0.0, 0.0, float(ds.height), float(ds.height)]
        cols = [0.0, float(ds.width), 0.0, float(ds.width)]
        gcps, _ = ds.gcps
        if ds.rpcs:
            with RPCTransformer(ds.rpcs) as t:  # RPC pixel centres: corner u is centre u - 0.5
                xs, ys = t.xy([r - 0.5 for r in rows], [c - 0.5 for c in cols], offset="center")
        elif gcps:
            with GCPTransformer(gcps) as t:
                xs, ys = t.xy(rows, cols, offset="ul")
        else:
            xs, ys = rasterio.transform.xy(ds.transform, rows, cols, offset="ul")
        return np.array([xs, ys]), dict(ds.tags()), gcps


@pytest.mark.parametrize("georef", ["transform", "gcps", "rpcs"])
def test_superres_output_sits_where_the_lr_sits(tmp_path, rng, utm_geo, georef):
    n = 20
    geo = {"transform": replace(utm_geo, nodata=None), "gcps": _gcp_geo(n), "rpcs": _rpc_geo()}[georef]
    lr = _lr(tmp_path / "lr.tif", rng, geo, n)
    out = tmp_path / "sr.tif"
    args = ["superres", str(lr), str(out), "--ref", str(REF), "--model", str(DEMO), "--device", "cpu", "--tile", "16"]
    assert cli_main(args) == 0
    got, tags, gcps = _corners(out)
    want, lr_tags, lr_gcps = _corners(lr)
    with rasterio.open(out) as ds:
        assert (ds.width, ds.height) == (4 * n, 4 * n)
    assert np.allclose(got, want, atol=1e-7)
    if georef == "gcps":  # positions x4, map coordinates unchanged, tags kept
        assert len(gcps) == 9 and tags.get("MISSION") == "S1A"
        for a, b in zip(gcps, lr_gcps):
            assert (a.row, a.col) == pytest.approx((4 * b.row, 4 * b.col)) and (a.x, a.y) == (b.x, b.y)


def test_a_3_by_100000_strip_is_refused_by_its_memory_in_bytes():
    # 300,000 LR pixels pass a 2 Mpixel guard, but tiles are 64 high: the strip is worked on as 64 x 100000
    assert 3 * 100_000 < sr.max_lr_pixels()
    assert sr.memory_bytes(3, 100_000) == 64 * 100_000 * sr.BYTES_PER_LR_PIXEL
    with pytest.raises(UserError, match=r"100000x3: .* needs about 7\.0 GB"):
        sr.super_resolve(np.zeros((3, 100_000, 3), np.float32), np.zeros((12, 400, 3), np.float32), model=None)
    sr.check_memory(64, 64)  # an ordinary tile passes


def test_cli_refuses_the_strip_before_reading_the_model(tmp_path, capsys):
    lr = tmp_path / "strip.png"
    sio.write_png(lr, np.zeros((3, 100_000), np.uint8))
    out = tmp_path / "o.tif"
    code = cli_main(["superres", str(lr), str(out), "--ref", str(lr), "--model", str(tmp_path / "missing.pth")])
    assert code == 2 and "GB of memory" in capsys.readouterr().err and not out.exists()
