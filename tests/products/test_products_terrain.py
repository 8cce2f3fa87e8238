"""Terrain correction (core.products.terrain) against independent calculations.

The product (tests/support/s1_geometry.py) has an analytic orbit; the reference line and pixel of a DEM point come from
root finding on that orbit (no polynomial orbit fit, no sarsen, no xarray-sentinel). The radar raster's bands
hold each pixel's own line and pixel (Sentinel-1 convention: a pixel's centre is its index), so the terrain-
corrected output must equal the reference at every DEM cell. RTC on a flat DEM is checked against the closed
form gamma0 = beta0 * tan(incidence), the incidence angle again from the analytic orbit.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import rasterio
from pyproj import Transformer
from rasterio.transform import from_origin
from scipy.optimize import brentq

from core.errors import UserError
from core.products.terrain import terrain_correct
from tests.support.s1_geometry import _ecef, _ecef_normal, write_dem, write_geometry_product


def write_radar(path, lines: int, samples: int, calibration: str | None = None, ones: bool = False) -> None:
    rr, cc = np.mgrid[0:lines, 0:samples].astype(np.float32)
    data = np.ones((1, lines, samples), np.float32) if ones else np.stack([rr, cc])
    with rasterio.open(path, "w", driver="GTiff", width=samples, height=lines, count=len(data), dtype="float32") as ds:
        ds.write(data)
        for b in range(1, len(data) + 1):
            if calibration:
                ds.update_tags(b, CALIBRATION=calibration)
        if not ones:
            ds.set_band_description(1, "line")
            ds.set_band_description(2, "pixel")


@pytest.fixture(scope="module")
def product(tmp_path_factory):
    return write_geometry_product(tmp_path_factory.mktemp("s1geo"), "ascending", shape=(200, 300), grid=(5, 7))


def cells(path, n: int, seed: int = 0):
    """n random finite cells of an output: (rows, cols, values per band, map x, map y)."""
    with rasterio.open(path) as ds:
        data, t = ds.read(), ds.transform
    idx = np.argwhere(np.isfinite(data[0]))
    pick = idx[np.random.default_rng(seed).choice(len(idx), n, replace=False)]
    xs, ys = t.c + (pick[:, 1] + 0.5) * t.a, t.f + (pick[:, 0] + 0.5) * t.e
    return data[:, pick[:, 0], pick[:, 1]], xs, ys


def test_geometric_terrain_correction_matches_the_orbit(product, tmp_path):
    geo = product.geometry
    write_radar(tmp_path / "radar.tif", geo.lines, geo.samples)
    write_dem(tmp_path / "dem.tif", product, 20.0, hill=True)
    result = terrain_correct(product.safe, tmp_path / "radar.tif", tmp_path / "tc.tif", tmp_path / "dem.tif")
    assert result.crs == "EPSG:32632" and result.resolution == 20.0
    values, xs, ys = cells(tmp_path / "tc.tif", 60)
    with rasterio.open(tmp_path / "dem.tif") as dem:
        zs = np.array([v[0] for v in dem.sample(zip(xs, ys))], float)
        with rasterio.open(tmp_path / "tc.tif") as out:
            assert out.crs == dem.crs and out.transform.a == dem.transform.a  # the DEM's grid
            assert (out.transform.c - dem.transform.c) % 20 == 0
            assert out.descriptions == ("line", "pixel") and "sarsen" in out.tags()["TERRAIN_CORRECTION"]
    lon, lat = Transformer.from_crs("EPSG:32632", "EPSG:4326", always_xy=True).transform(xs, ys)
    ref_line, ref_pixel = geo.reference_line_pixel(_ecef(lon, lat, zs).T)
    # inside the raster (past the outer pixel centres the sampling clamps to the edge pixel's value)
    inside = (ref_line > 0) & (ref_line < geo.lines - 1) & (ref_pixel > 0) & (ref_pixel < geo.samples - 1)
    assert inside.sum() > 40
    assert np.abs(values[0] - ref_line)[inside].max() < 0.1
    assert np.abs(values[1] - ref_pixel)[inside].max() < 0.1
    # the hill moves points by hundreds of metres in range: a flat-Earth geocoding would be many pixels off
    flat_line, flat_pixel = geo.reference_line_pixel(_ecef(lon, lat, np.zeros_like(zs)).T)
    assert np.abs(values[1] - flat_pixel).max() > 20


def test_rtc_on_flat_ground_is_gamma_nought(product, tmp_path):
    geo = product.geometry
    write_radar(tmp_path / "beta.tif", geo.lines, geo.samples, calibration="BETA0", ones=True)
    write_dem(tmp_path / "flat.tif", product, 5.0, hill=False)  # DEM finer than the radar grid, as RTC needs
    terrain_correct(product.safe, tmp_path / "beta.tif", tmp_path / "rtc.tif", tmp_path / "flat.tif", rtc=True)
    values, xs, ys = cells(tmp_path / "rtc.tif", 40, seed=1)
    lon, lat = Transformer.from_crs("EPSG:32632", "EPSG:4326", always_xy=True).transform(xs, ys)
    ratios = []
    for x, lo, la, g in zip(_ecef(lon, lat, np.zeros_like(xs)).T, lon, lat, values[0]):
        t = brentq(lambda t, x=x: float(np.dot(x - geo.position(t), geo.velocity(t))), -60.0, 60.0)
        look = (x - geo.position(t)) / np.linalg.norm(x - geo.position(t))
        ratios.append(g / np.tan(np.arccos(-np.dot(look, _ecef_normal(lo, la)))))
    # gamma0_T of beta0 = 1 on flat ground is tan(incidence); the facet sums quantise a few percent
    assert abs(np.median(ratios) - 1) < 0.02 and np.max(np.abs(np.array(ratios) - 1)) < 0.08
    with rasterio.open(tmp_path / "rtc.tif") as ds:
        assert ds.tags(1)["CALIBRATION"] == "GAMMA0_T"


def test_refusals(product, tmp_path):
    geo = product.geometry
    write_radar(tmp_path / "sigma.tif", geo.lines, geo.samples, calibration="SIGMA0")
    write_radar(tmp_path / "small.tif", geo.lines - 1, geo.samples)
    write_dem(tmp_path / "dem.tif", product, 30.0, hill=False)
    with pytest.raises(UserError, match="beta0"):
        terrain_correct(product.safe, tmp_path / "sigma.tif", tmp_path / "o.tif", tmp_path / "dem.tif", rtc=True)
    with pytest.raises(UserError, match="measurement is"):
        terrain_correct(product.safe, tmp_path / "small.tif", tmp_path / "o.tif", tmp_path / "dem.tif")
    with pytest.raises(UserError, match="not a Sentinel-1 product"):
        terrain_correct(tmp_path / "dem.tif", tmp_path / "sigma.tif", tmp_path / "o.tif", tmp_path / "dem.tif")
    far = tmp_path / "far.tif"
    with rasterio.open(
        far,
        "w",
        driver="GTiff",
        width=10,
        height=10,
        count=1,
        dtype="float32",
        crs="EPSG:32632",
        transform=from_origin(100_000, 1_000_000, 30, 30),
    ) as ds:
        ds.write(np.zeros((1, 10, 10), np.float32))
    with pytest.raises(UserError, match="does not cover"):
        terrain_correct(product.safe, tmp_path / "sigma.tif", tmp_path / "o.tif", far)
    assert not (tmp_path / "o.tif").exists()


def test_cli_terrain_from_the_zipped_product(product, tmp_path):
    from tests.support.s1_product import zip_product

    write_dem(tmp_path / "dem.tif", product, 30.0, hill=True)
    out = tmp_path / "tc.tif"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "core",
            "geocode",
            str(zip_product(product.safe)),
            str(out),
            "--dem",
            str(tmp_path / "dem.tif"),
            "--pol",
            "VV",
            "--crs",
            "EPSG:32632",
            "--resolution",
            "25",
            "--db",
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    with rasterio.open(out) as ds:
        assert ds.transform.a == 25.0 and ds.count == 1 and ds.descriptions == ("VV",)
        v = ds.read(1)
        assert ds.tags()["VALUES"].startswith("dB")
    finite = v[np.isfinite(v)]
    assert finite.size > 0.3 * v.size and -60 < np.median(finite) < 20  # sigma0 of the fixture's DN, in dB


def test_rtc_agrees_with_sarsens_own_terrain_correction(product, tmp_path):
    """sarsen's terrain_correction (its Dask chunks, its reading of the product) on the same DEM: same gamma0_T."""
    from sarsen import apps, sentinel1

    from core.io import open_source

    write_dem(tmp_path / "dem.tif", product, 10.0, hill=True)
    with open_source(product.safe, calibration="beta0", pol="VV", noise="keep") as src:  # sarsen keeps the noise
        terrain_correct(product.safe, src, tmp_path / "ours.tif", tmp_path / "dem.tif", rtc=True, pol="VV")
    sar = sentinel1.Sentinel1SarProduct(str(product.manifest), measurement_group="IW/VV")
    apps.terrain_correction(
        sar,
        str(tmp_path / "dem.tif"),
        output_urlpath=str(tmp_path / "sarsen.tif"),
        correct_radiometry="gamma_bilinear",
        interp_method="linear",
    )
    with rasterio.open(tmp_path / "ours.tif") as a, rasterio.open(tmp_path / "sarsen.tif") as b:
        ours, t = a.read(1), a.transform
        rows, cols = np.mgrid[0 : a.height, 0 : a.width]
        xs, ys = (t.c + (cols + 0.5) * t.a).ravel(), (t.f + (rows + 0.5) * t.e).ravel()
        theirs = np.array([v[0] for v in b.sample(zip(xs, ys))]).reshape(ours.shape)  # sarsen writes south-up
    ok = np.isfinite(ours) & np.isfinite(theirs) & (theirs > 0)
    assert ok.sum() > 0.5 * ours.size
    ratio = ours[ok] / theirs[ok]
    assert abs(np.median(ratio) - 1) < 1e-3 and np.percentile(np.abs(ratio - 1), 95) < 0.01


def test_geocoding_and_terrain_correction_agree_on_flat_ground(tmp_path):
    """Two independent paths: TPS through the product's geolocation grid (heights 0) and range-Doppler from its
    orbit on a DEM of height 0 land the same radar pixel on each map cell, once Sentinel-1's pixel-centre grid
    is put in GDAL's corner convention (without that, 0.47 / 0.50 px apart)."""
    from core.io import open_source
    from core.products.geocode import geocode_raster

    product = write_geometry_product(tmp_path, "descending", shape=(200, 300), grid=(10, 21))
    geo = product.geometry
    with open_source(product.safe, calibration="none", pol="VV") as src:
        gcps, gcp_crs, tags = src.geo.gcps, src.geo.gcp_crs, src.geo.tags
    rr, cc = np.mgrid[0 : geo.lines, 0 : geo.samples].astype(np.float32)
    with rasterio.open(
        tmp_path / "radar.tif", "w", driver="GTiff", width=geo.samples, height=geo.lines, count=2, dtype="float32"
    ) as ds:
        ds.write(np.stack([rr, cc]))  # Sentinel-1 convention: a pixel's value is its index
        ds.gcps = ([rasterio.control.GroundControlPoint(*g) for g in gcps], rasterio.crs.CRS.from_wkt(gcp_crs))
        ds.update_tags(**tags)
    result = geocode_raster(tmp_path / "radar.tif", tmp_path / "geo.tif")
    assert result.resolution == 10.0  # PIXEL_SPACING / LINE_SPACING of the product
    with rasterio.open(tmp_path / "geo.tif") as ds:
        g, t, crs, w, h = ds.read(), ds.transform, ds.crs, ds.width, ds.height
        assert ds.tags()["GEOCODING_GCP_OFFSET"].startswith("0.5")
    with rasterio.open(
        tmp_path / "flat.tif", "w", driver="GTiff", width=w, height=h, count=1, dtype="float32", crs=crs, transform=t
    ) as ds:
        ds.write(np.zeros((1, h, w), np.float32))
    terrain_correct(product.safe, tmp_path / "radar.tif", tmp_path / "tc.tif", tmp_path / "flat.tif")
    with rasterio.open(tmp_path / "tc.tif") as ds:
        tc = ds.read()
    inside = np.isfinite(g[0]) & np.isfinite(tc[0]) & (tc[0] > 1) & (tc[0] < geo.lines - 2)
    inside &= (tc[1] > 1) & (tc[1] < geo.samples - 2)
    assert inside.sum() > 0.5 * inside.size
    for band in (0, 1):
        assert np.percentile(np.abs(g[band] - tc[band])[inside], 99) < 0.1


def test_geographic_dem_and_the_swath_edge(product, tmp_path):
    """A DEM in EPSG:4326 (as SRTM / Copernicus DEM tiles come), checked at random cells and along the swath's
    first lines, where the range conversion records end (past them xarray would give ground range 0)."""
    geo = product.geometry
    write_radar(tmp_path / "radar.tif", geo.lines, geo.samples)
    lon, lat = [g[3] for g in product.gcps], [g[2] for g in product.gcps]
    res = 0.0002
    x0, y0 = min(lon) - 0.01, max(lat) + 0.01
    w, h = int((max(lon) - min(lon) + 0.02) / res), int((max(lat) - min(lat) + 0.02) / res)
    xx, yy = np.meshgrid(x0 + (np.arange(w) + 0.5) * res, y0 - (np.arange(h) + 0.5) * res)
    z = 300 + 400 * np.exp(-((xx - np.mean(lon)) ** 2 / 0.01**2 + (yy - np.mean(lat)) ** 2 / 0.007**2))
    with rasterio.open(
        tmp_path / "dem.tif", "w", driver="GTiff", width=w, height=h, count=1, dtype="float32", crs="EPSG:4326",
        transform=from_origin(x0, y0, res, res),
    ) as ds:  # fmt: skip
        ds.write(z.astype(np.float32), 1)
    terrain_correct(product.safe, tmp_path / "radar.tif", tmp_path / "tc.tif", tmp_path / "dem.tif")
    with rasterio.open(tmp_path / "tc.tif") as ds:
        out, t = ds.read(), ds.transform
        assert ds.crs.to_epsg() == 4326
    edge = np.argwhere(np.isfinite(out[0]) & (out[0] < 1.0))
    rand = np.argwhere(np.isfinite(out[0]))
    pick = np.concatenate([edge[:: max(1, len(edge) // 30)], rand[np.random.default_rng(2).choice(len(rand), 40)]])
    xs, ys = t.c + (pick[:, 1] + 0.5) * t.a, t.f + (pick[:, 0] + 0.5) * t.e
    with rasterio.open(tmp_path / "dem.tif") as dem:
        zs = np.array([v[0] for v in dem.sample(zip(xs, ys))], float)
    ref_line, ref_pixel = geo.reference_line_pixel(_ecef(xs, ys, zs).T)
    # within the raster's extent (half a pixel past the outer centres), the line band clamped at the edge rows
    inside = (ref_line > -0.5) & (ref_line < geo.lines - 0.5) & (ref_pixel > 0) & (ref_pixel < geo.samples - 1)
    assert len(edge) > 10 and inside.sum() > 50 and (inside & (ref_line < 1)).sum() > 5
    values = out[:, pick[:, 0], pick[:, 1]]
    assert np.abs(values[0] - np.clip(ref_line, 0, geo.lines - 1))[inside].max() < 0.1
    assert np.abs(values[1] - ref_pixel)[inside].max() < 0.1
