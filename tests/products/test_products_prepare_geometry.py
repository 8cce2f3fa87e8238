"""`prepare` with a map step (--geocode, --dem, --rtc, --crs, --resolution): the chain hands its radar-geometry
GeoTIFF to core.products.geocode / core.products.terrain. The values of those steps are checked against
independent references in tests/products/test_products_geocode.py and tests/products/test_products_terrain.py; here: the wiring
(same values as running the steps by hand on prepare's radar output, tags of every step kept, refusals up front)."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio

from core.cli import main
from core.products.geocode import geocode_raster
from core.products.terrain import terrain_correct
from tests.support.s1_geometry import write_dem, write_geometry_product


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    d = tmp_path_factory.mktemp("prep")
    p = write_geometry_product(d, "descending", shape=(200, 300), grid=(6, 9))
    write_dem(d / "dem.tif", p, 20.0, hill=True)
    radar = d / "radar.tif"
    assert main(["prepare", str(p.safe), str(radar), "--pol", "VV"]) == 0
    return p, d, radar


def test_prepare_geocode_equals_geocoding_its_radar_output(prepared):
    p, d, radar = prepared
    assert main(["prepare", str(p.safe), str(d / "geo.tif"), "--pol", "VV", "--geocode", "--db"]) == 0
    geocode_raster(radar, d / "by_hand.tif", db=True)
    with rasterio.open(d / "geo.tif") as a, rasterio.open(d / "by_hand.tif") as b:
        assert a.crs.to_epsg() == 32632 and a.transform == b.transform and a.transform.a == 10.0
        va, vb = a.read(), b.read()
        tags = a.tags()
    assert tags["THERMAL_NOISE"] == "REMOVED" and tags["GEOCODING_CRS"] == "EPSG:32632"
    assert tags["GEOCODING_GCP_OFFSET"].startswith("0.5") and tags["VALUES"].startswith("dB")
    assert tags["GEOMETRY"].startswith("map grid")  # not the radar stage's "radar (GCPs)"
    ok = np.isfinite(vb)
    assert ok.mean() > 0.3 and np.array_equal(ok, np.isfinite(va))
    np.testing.assert_allclose(va[ok], vb[ok], atol=1e-4)


def test_prepare_dem_equals_terrain_correcting_its_radar_output(prepared):
    p, d, radar = prepared
    argv = ["prepare", str(p.safe), str(d / "tc.tif"), "--pol", "VV", "--dem", str(d / "dem.tif"), "--resolution", "30"]
    assert main(argv) == 0
    terrain_correct(p.safe, radar, d / "tc_hand.tif", d / "dem.tif", resolution=30.0)
    with rasterio.open(d / "tc.tif") as a, rasterio.open(d / "tc_hand.tif") as b:
        assert a.crs.to_epsg() == 32632 and a.transform == b.transform and a.transform.a == 30.0
        va, vb = a.read(), b.read()
        assert "sarsen" in a.tags()["TERRAIN_CORRECTION"] and a.tags()["THERMAL_NOISE"] == "REMOVED"
        assert a.tags()["GEOMETRY"].startswith("map grid")
    ok = np.isfinite(vb)
    assert ok.mean() > 0.3 and np.array_equal(ok, np.isfinite(va))
    np.testing.assert_array_equal(va[ok], vb[ok])


def test_prepare_rtc_uses_beta0(prepared):
    p, d, _ = prepared
    assert main(["prepare", str(p.safe), str(d / "rtc.tif"), "--pol", "VV", "--dem", str(d / "dem.tif"), "--rtc"]) == 0
    with rasterio.open(d / "rtc.tif") as ds:
        assert ds.tags()["CALIBRATION"] == "GAMMA0_T" and ds.tags(1)["CALIBRATION"] == "GAMMA0_T"
        v = ds.read(1)
    assert np.isfinite(v).mean() > 0.3


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--rtc"], "give --dem"),
        (["--crs", "EPSG:32632"], "add --geocode"),
        (["--dem", "DEM", "--rtc", "--calibration", "sigma0"], "beta0"),
        (["--dem", "missing.tif"], "DEM not found"),
    ],
)
def test_prepare_map_options_refused_up_front(prepared, tmp_path, capsys, extra, message):
    p, d, _ = prepared
    extra = [str(d / "dem.tif") if e == "DEM" else e for e in extra]
    assert main(["prepare", str(p.safe), str(tmp_path / "o.tif"), *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o.tif").exists()


def test_despeckle_a_product_onto_the_map(prepared):
    """`despeckle PRODUCT OUT.tif --filter lee --geocode`: the filtered radar geometry, geocoded (same values as
    geocoding despeckle's radar-geometry output by hand)."""
    p, d, _ = prepared
    argv = ["despeckle", str(p.safe), str(d / "lee_radar.tif"), "--filter", "lee", "--pol", "VV"]
    assert main(argv) == 0
    assert main([*argv[:2], str(d / "lee_map.tif"), *argv[3:], "--geocode", "--cog"]) == 0
    geocode_raster(d / "lee_radar.tif", d / "lee_hand.tif")
    with rasterio.open(d / "lee_map.tif") as a, rasterio.open(d / "lee_hand.tif") as b:
        assert a.crs.to_epsg() == 32632 and a.transform == b.transform
        assert a.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        va, vb = a.read(), b.read()
    ok = np.isfinite(vb)
    assert ok.mean() > 0.3 and np.array_equal(ok, np.isfinite(va))
    np.testing.assert_array_equal(va[ok], vb[ok])
    assert not list(d.glob(".despeckle-*"))  # the hidden work folder is gone


def test_despeckle_map_options_need_a_product(prepared, tmp_path, capsys):
    _, _, radar = prepared
    assert main(["despeckle", str(radar), str(tmp_path / "o.tif"), "--filter", "lee", "--geocode"]) == 2
    assert "python -m core geocode" in capsys.readouterr().err


def test_translate_a_product_through_the_analysis_ready_chain(prepared, tmp_path):
    """`translate PRODUCT OUT.tif --geocode`: the chain's own geocoded σ⁰ (noise removed, linear) is what the network
    sees: the same pixels as translating `prepare --geocode`'s output, north-up on the map grid."""
    from tests.support.generators import _tiny_unet

    p, d, _ = prepared
    model = _tiny_unet(tmp_path)
    net = ["--model", str(model), "--tile", "64", "--overlap", "8", "--backend", "torch", "--input-scaling", "sen1-2"]
    out = tmp_path / "map_rgb.tif"
    assert main(["translate", str(p.safe), str(out), "--pol", "VV", "--geocode", *net]) == 0
    assert main(["prepare", str(p.safe), str(tmp_path / "ard.tif"), "--pol", "VV", "--geocode"]) == 0
    assert main(["translate", str(tmp_path / "ard.tif"), str(tmp_path / "by_hand.tif"), *net]) == 0
    with rasterio.open(out) as a, rasterio.open(tmp_path / "by_hand.tif") as b:
        assert a.crs.to_epsg() == 32632 and a.transform == b.transform and a.transform.e < 0
        assert a.count == 3 and a.tags()["THERMAL_NOISE"] == "REMOVED" and "GEOCODING" in a.tags()
        np.testing.assert_array_equal(a.read(), b.read())
    assert not list(tmp_path.glob(".translate-*"))  # the chain's intermediate folder is gone


def test_translate_map_options_need_a_product(prepared, tmp_path, capsys):
    _, _, radar = prepared
    rc = main(["translate", str(radar), str(tmp_path / "o.tif"), "--model", "x.safetensors", "--geocode"])
    assert rc == 2 and "python -m core geocode" in capsys.readouterr().err
