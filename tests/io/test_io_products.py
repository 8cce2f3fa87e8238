"""core.io products: Sentinel-1 SAFE folder / manifest / zip open, calibrate from their LUT, keep GCPs; core info."""

import json

import numpy as np
import pytest
import rasterio

from core import io as sio
from core.cli import main
from core.errors import UserError
from tests.support.s1_product import _lut_reference, write_s1_product, zip_product


@pytest.fixture(scope="module")
def grd(tmp_path_factory):
    p = write_s1_product(tmp_path_factory.mktemp("grd"), "GRD")
    return p, zip_product(p.safe)


@pytest.mark.parametrize("calibration,lut", [("sigma0", "sigmaNought"), ("beta0", "betaNought"), ("gamma0", "gamma")])
def test_grd_calibrated_is_dn2_over_a2(grd, calibration, lut):
    p, _ = grd
    with sio.open_source(p.safe, calibration=calibration, noise="keep") as src:
        assert src.band_names == ["VV", "VH"] and src.kind == "intensity" and src.geo.kind == "gcps"
        got = src.read()
    for k, pol in enumerate(["VV", "VH"]):
        a = _lut_reference(p.lut_lines, p.lut_pixels, p.luts[("IW", pol, lut)], p.shape)
        dn = p.dn[("IW", pol)].astype(np.float64)
        np.testing.assert_allclose(got[..., k], dn**2 / a**2, rtol=2e-6)


def test_zip_manifest_and_folder_are_the_same(grd):
    p, zipped = grd
    reads = []
    for path in (p.safe, p.manifest, zipped):
        with sio.open_source(path, pol="VH") as src:
            reads.append((src.read(sio.Window(5, 7, 30, 41)), src.geo.gcps, src.geo.tags["CALIBRATION"]))
    for data, gcps, cal in reads[1:]:
        np.testing.assert_array_equal(data, reads[0][0])
        assert gcps == reads[0][1] and cal == "SIGMA0"
    assert len(reads[0][1]) == 9
    assert [g[:2] for g in reads[0][1]] == [(float(li), float(px)) for li, px, _, _ in p.gcps]


def test_uncalibrated_grd_is_the_dn(grd):
    p, _ = grd
    with sio.open_source(p.safe, calibration="none", pol="VV") as src:
        assert src.kind == "amplitude" and src.dtype == np.uint16
        np.testing.assert_array_equal(src.read(), p.dn[("IW", "VV")])


def test_gcps_survive_streamed_write(grd, tmp_path):
    p, zipped = grd
    with sio.open_source(zipped) as src:
        out = sio.stream_filter(src, tmp_path / "s0.tif", lambda x: x, halo=0, block=32)
        gcps_in = src.geo.gcps
    with rasterio.open(out) as ds:
        gcps, crs = ds.gcps
        assert crs.to_epsg() == 4326 and ds.descriptions == ("VV", "VH")
        assert [(g.row, g.col, g.x, g.y, g.z) for g in gcps] == list(gcps_in)
        assert ds.tags()["CALIBRATION"] == "SIGMA0" and ds.tags(2)["POLARIZATION"] == "VH"


def test_slc_swath_intensity_and_calibration(tmp_path):
    p = write_s1_product(tmp_path, "SLC")
    with pytest.raises(UserError, match="choose one with --swath"):
        sio.open_source(p.safe)
    with sio.open_source(p.safe, swath="IW2", pol="VV", noise="keep") as src:
        got = src.read()
        rows = src.plan.rows  # debursted: output line -> input line (checked in tests/products/test_products.py)
        first, last = src.plan.first_sample, src.plan.last_sample
    z = p.dn[("IW2", "VV")]
    inten = z.real.astype(np.float64) ** 2 + z.imag.astype(np.float64) ** 2
    a = _lut_reference(p.lut_lines, p.lut_pixels, p.luts[("IW2", "VV", "sigmaNought")], p.shape)
    want = (inten / a**2)[rows]
    cols = np.arange(p.shape[1])
    want[(cols[None] < first[:, None]) | (cols[None] > last[:, None])] = 0
    np.testing.assert_allclose(got, want, rtol=2e-6)
    with sio.open_source(p.safe, swath="IW2", pol="VV", calibration="none") as src:
        np.testing.assert_allclose(src.read()[want > 0], inten[rows][want > 0], rtol=1e-6)


def test_gdal_safe_driver_applies_no_calibration(tmp_path):
    """Why core.io applies the LUT itself: GDAL 3.10's SIGMA0 subdataset of an SLC equals the uncalibrated one."""
    p = write_s1_product(tmp_path, "SLC")
    with rasterio.open(f"SENTINEL1_CALIB:SIGMA0:{p.manifest}:IW1_VV:INTENSITY") as ds:
        sigma = ds.read(1)
    with rasterio.open(f"SENTINEL1_CALIB:UNCALIB:{p.manifest}:IW1_VV:INTENSITY") as ds:
        uncal = ds.read(1)
    np.testing.assert_array_equal(sigma, uncal)


def test_info_cli(grd, capsys):
    p, zipped = grd
    assert main(["info", str(zipped), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["driver"] == "SAFE" and info["bands"] == ["VV", "VH"] and info["product_type"] == "GRD"
    assert info["georeference"] == "gcps" and info["crs"] == "EPSG:4326" and info["gcps"] == 9
    assert info["width"] == 80 and info["height"] == 60 and "sigma0" in info["calibrations"]
    assert info["memory_bytes"]["whole"] == 80 * 60 * 2 * 4
    assert main(["info", str(p.safe)]) == 0 and "Sentinel-1 GRD" in capsys.readouterr().out
    assert main(["info", str(p.safe.parent / "missing.tif")]) == 2
    assert "file not found" in capsys.readouterr().err
