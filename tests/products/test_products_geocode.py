"""Geocoding through the geolocation grid (core.products.geocode), against an independent reference.

The fixture raster's two bands hold each pixel's own line and pixel coordinate (of its centre, GDAL's convention:
centre of pixel (i, j) = (i + 0.5, j + 0.5)), and it carries a 10 x 21 GCP grid made by a smooth, curved mapping
(ground range growing quadratically with pixel, a terrain-like wobble, heights) written here with pyproj, not
with the code under test. Geocoded, the output read at each GCP's map coordinate must give back that GCP's line
and pixel: the whole chain (TPS, map grid, sampling) is checked by values the fixture alone defines.
"""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
import rasterio
from pyproj import Transformer
from rasterio.control import GroundControlPoint
from rasterio.crs import CRS

from core.errors import UserError
from core.products import geocode as gc

LINES, PIXELS = 300, 420
SPACING = 10.0  # metres per pixel on the ground, both ways
LAT0, LON0 = 45.5, 7.3  # UTM zone 32 north


def ground(line, pixel, heading_deg: float):
    """Metres east/north of the scene origin of (line, pixel): along-track by line, right-looking by pixel."""
    line, pixel = np.asarray(line, float), np.asarray(pixel, float)
    along = SPACING * line * (1.0 + 2e-5 * line)
    across = SPACING * pixel + 1e-3 * pixel**2 + 15.0 * np.sin(pixel / 40.0) * np.cos(line / 70.0)
    h = math.radians(heading_deg)
    right = h + math.pi / 2
    east = along * math.sin(h) + across * math.sin(right)
    north = along * math.cos(h) + across * math.cos(right)
    return east, north


def to_lonlat(east, north):
    aeqd = f"+proj=aeqd +lat_0={LAT0} +lon_0={LON0} +datum=WGS84 +units=m"
    return Transformer.from_crs(aeqd, "EPSG:4326", always_xy=True).transform(east, north)


def write_gcp_raster(path, heading_deg: float, grid=(10, 21)) -> list[tuple[float, float, float, float]]:
    """Two bands (line, pixel of each pixel centre) with a curved GCP grid; returns (line, pixel, lon, lat)."""
    # first to last pixel centre, as Sentinel-1's grid spans first to last line and sample
    gl, gp = np.meshgrid(np.linspace(0.5, LINES - 0.5, grid[0]), np.linspace(0.5, PIXELS - 0.5, grid[1]), indexing="ij")
    lon, lat = to_lonlat(*ground(gl, gp, heading_deg))
    height = 200.0 + 80.0 * np.sin(gp / 90.0)
    gcps = [
        GroundControlPoint(row=r, col=c, x=x, y=y, z=z)
        for r, c, x, y, z in zip(gl.ravel(), gp.ravel(), lon.ravel(), lat.ravel(), height.ravel())
    ]
    rows, cols = np.mgrid[0:LINES, 0:PIXELS].astype(np.float32) + 0.5
    with rasterio.open(
        path, "w", driver="GTiff", width=PIXELS, height=LINES, count=2, dtype="float32", tiled=True
    ) as ds:
        ds.write(np.stack([rows, cols]))
        ds.gcps = (gcps, CRS.from_epsg(4326))
        ds.set_band_description(1, "line")
        ds.set_band_description(2, "pixel")
        ds.update_tags(SOURCE="fixture")
    return list(zip(gl.ravel(), gp.ravel(), lon.ravel(), lat.ravel()))


def read_at(ds, band: np.ndarray, x: float, y: float) -> float:
    """Bilinear read of the output at map (x, y) over its valid (finite) neighbours; NaN when none is."""
    t = ds.transform
    col = (x - t.c) / t.a - 0.5
    row = (y - t.f) / t.e - 0.5
    r0, c0 = math.floor(row), math.floor(col)
    acc = wsum = 0.0
    for dr in (0, 1):
        for dc in (0, 1):
            r, c = r0 + dr, c0 + dc
            w = (1 - abs(row - r)) * (1 - abs(col - c))
            if 0 <= r < band.shape[0] and 0 <= c < band.shape[1] and np.isfinite(band[r, c]) and w > 0:
                acc += w * float(band[r, c])
                wsum += w
    return acc / wsum if wsum > 0 else float("nan")


def gcp_errors(path, points) -> tuple[list[float], list[float]]:
    """Largest of |line error|, |pixel error| at each GCP read from the output; (inside ones, edge ones)."""
    to_utm = Transformer.from_crs("EPSG:4326", "EPSG:32632", always_xy=True)
    with rasterio.open(path) as ds:
        line_band, pixel_band = ds.read(1), ds.read(2)
        inner, edge = [], []
        for li, px, lon, lat in points:
            x, y = to_utm.transform(lon, lat)
            err = max(abs(read_at(ds, line_band, x, y) - li), abs(read_at(ds, pixel_band, x, y) - px))
            (inner if 1 <= li <= LINES - 1 and 1 <= px <= PIXELS - 1 else edge).append(err)
    return inner, edge


@pytest.mark.parametrize("heading", [-12.0, 192.0], ids=["ascending", "descending"])
def test_geocoded_values_give_back_every_gcp(tmp_path, heading):
    src = tmp_path / "radar.tif"
    points = write_gcp_raster(src, heading)
    result = gc.geocode_raster(src, tmp_path / "map.tif")
    assert result.crs == "EPSG:32632"
    assert result.resolution == pytest.approx(SPACING, rel=0.05)
    inner, edge = gcp_errors(tmp_path / "map.tif", points)
    # inside the swath the output gives each GCP's line and pixel back to within a hundredth of a pixel
    assert len(inner) == 8 * 19 and max(inner) < 0.01, max(inner)
    # on the swath's edge half of the output's neighbourhood is nodata, so reading back at the default
    # resolution is one-sided; at a quarter of the spacing every GCP, edges included, comes back
    gc.geocode_raster(src, tmp_path / "fine.tif", resolution=2.5)
    inner, edge = gcp_errors(tmp_path / "fine.tif", points)
    assert len(edge) == 210 - 8 * 19 and max(inner + edge) < 0.1, (max(inner), max(edge))
    with rasterio.open(tmp_path / "map.tif") as ds:
        assert ds.crs.to_epsg() == 32632
        assert ds.transform.a > 0 and ds.transform.e < 0 and ds.transform.b == 0 == ds.transform.d  # north-up
        assert ds.descriptions == ("line", "pixel")
        tags = ds.tags()
        assert tags["GEOCODING_CRS"] == "EPSG:32632" and "thin-plate" in tags["GEOCODING"]
        assert tags["SOURCE"] == "fixture"


def test_descending_pass_is_not_mirrored(tmp_path):
    """A descending pass: line runs south, pixel runs west; north-up on the map, pixel grows to the left."""
    write_gcp_raster(tmp_path / "d.tif", 192.0)
    gc.geocode_raster(tmp_path / "d.tif", tmp_path / "d_map.tif")
    with rasterio.open(tmp_path / "d_map.tif") as ds:
        line, pixel = ds.read(1), ds.read(2)
    r, c = np.nonzero(np.isfinite(line))
    mid_r, mid_c = int(np.median(r)), int(np.median(c))
    row = pixel[mid_r, :]
    ok = np.isfinite(row)
    assert np.all(np.diff(row[ok]) < 0)  # west is left: pixel numbers fall from left to right
    col = line[:, mid_c]
    ok = np.isfinite(col)
    assert np.all(np.diff(col[ok]) > 0)  # south is down: line numbers grow downwards


def test_nodata_outside_the_swath_and_area_kept(tmp_path):
    write_gcp_raster(tmp_path / "a.tif", -12.0)
    result = gc.geocode_raster(tmp_path / "a.tif", tmp_path / "a_map.tif", resolution=10.0)
    with rasterio.open(tmp_path / "a_map.tif") as ds:
        band = ds.read(1)
        assert math.isnan(ds.nodata)
    # the rotated footprint leaves the bounding box's corners empty
    for r, c in ((0, 0), (0, -1), (-1, 0), (-1, -1)):
        assert np.isnan(band[r, c])
    # footprint area from the fixture's own mapping (shoelace over its outline), against the valid pixel count
    t = np.linspace(0, 1, 400)
    lines = np.concatenate([t * LINES, np.full(400, LINES), (1 - t) * LINES, np.zeros(400)])
    pixels = np.concatenate([np.zeros(400), t * PIXELS, np.full(400, PIXELS), (1 - t) * PIXELS])
    lon, lat = to_lonlat(*ground(lines, pixels, -12.0))
    x, y = Transformer.from_crs("EPSG:4326", "EPSG:32632", always_xy=True).transform(lon, lat)
    area = 0.5 * abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1)))
    valid = np.isfinite(band).sum() * result.resolution**2
    assert valid == pytest.approx(area, rel=0.01)


def test_subgrid_matches_exact_transform(tmp_path):
    write_gcp_raster(tmp_path / "s.tif", 192.0)
    with rasterio.open(tmp_path / "s.tif") as ds:
        from core.io.georef import GeoInfo

        geo = GeoInfo.from_dataset(ds)
    mapping = gc.GridMapping(geo, "EPSG:32632")
    grid = gc.output_grid(mapping, LINES, PIXELS, 10.0)
    win = gc.Window(37, 51, 200, 230)
    step = gc.subgrid_step(mapping, LINES, PIXELS, 10.0)
    assert 1 < step < gc.SUBGRID  # this fixture's grid is dense: 20 px between GCPs
    approx = gc.source_positions(mapping, grid, win, step)
    exact = gc.source_positions(mapping, grid, win, step=1)
    assert max(np.abs(approx[0] - exact[0]).max(), np.abs(approx[1] - exact[1]).max()) < 0.01
    # and the TPS is exact at the GCPs (GDAL's default polynomial would miss them)
    g = np.asarray(geo.gcps)
    x, y = mapping.gcp_map_coords()
    li, px = mapping.to_image(x, y)
    assert np.abs(li - g[:, 0]).max() < 1e-6 and np.abs(px - g[:, 1]).max() < 1e-6
    mapping.close()


def test_db_after_resampling_and_cog(tmp_path):
    write_gcp_raster(tmp_path / "b.tif", -12.0)
    gc.geocode_raster(tmp_path / "b.tif", tmp_path / "lin.tif", resolution=20.0)
    gc.geocode_raster(tmp_path / "b.tif", tmp_path / "db.tif", resolution=20.0, db=True, cog=True)
    with rasterio.open(tmp_path / "lin.tif") as a, rasterio.open(tmp_path / "db.tif") as b:
        lin, dbv = a.read(), b.read()
        assert b.tags()["VALUES"].startswith("dB")
        assert b.overviews(1) or max(b.width, b.height) <= 512
        assert b.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
    ok = np.isfinite(lin)
    assert np.array_equal(ok, np.isfinite(dbv))
    np.testing.assert_allclose(dbv[ok], 10 * np.log10(lin[ok]), atol=1e-4)


def test_coarser_resolution_equals_point_sampling(tmp_path):
    """At 4x the spacing the values are still the source's line/pixel at each centre (tiles keep reads small)."""
    points = write_gcp_raster(tmp_path / "c.tif", 192.0)
    gc.geocode_raster(tmp_path / "c.tif", tmp_path / "c_map.tif", resolution=40.0, resampling="nearest")
    with rasterio.open(tmp_path / "c_map.tif") as ds:
        vals = ds.read(1)
    finite = vals[np.isfinite(vals)]
    assert finite.size > 0 and np.allclose(finite, np.round(finite - 0.5) + 0.5)  # nearest: pixel centres only
    assert finite.min() < 5 and finite.max() > LINES - 5
    assert len(points) == 210


def test_refusals(tmp_path):
    plain = tmp_path / "plain.tif"
    with rasterio.open(
        plain,
        "w",
        driver="GTiff",
        width=8,
        height=8,
        count=1,
        dtype="float32",
        crs="EPSG:32632",
        transform=rasterio.transform.from_origin(0, 0, 10, 10),
    ) as ds:
        ds.write(np.ones((1, 8, 8), np.float32))
    with pytest.raises(UserError, match="already on a map grid"):
        gc.geocode_raster(plain, tmp_path / "o.tif")
    write_gcp_raster(tmp_path / "g.tif", -12.0)
    with pytest.raises(UserError, match="unknown CRS"):
        gc.geocode_raster(tmp_path / "g.tif", tmp_path / "o.tif", crs="EPSG:999999")
    with pytest.raises(UserError, match="coarser"):
        gc.geocode_raster(tmp_path / "g.tif", tmp_path / "o.tif", resolution=0.5)
    assert not (tmp_path / "o.tif").exists()


def test_southern_hemisphere_zone(tmp_path):
    from core.io.georef import GeoInfo

    geo = GeoInfo(
        gcps=((0, 0, -70.5, -33.4, 0), (0, 10, -70.4, -33.4, 0), (10, 0, -70.5, -33.5, 0)),
        gcp_crs=CRS.from_epsg(4326).to_wkt(),
    )
    assert gc.utm_crs_for(geo) == "EPSG:32719"


def test_cli_geocode(tmp_path):
    write_gcp_raster(tmp_path / "r.tif", 192.0)
    out = tmp_path / "m.tif"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "core",
            "geocode",
            str(tmp_path / "r.tif"),
            str(out),
            "--resolution",
            "20",
            "--crs",
            "EPSG:3035",
            "--db",
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    with rasterio.open(out) as ds:
        assert ds.crs.to_epsg() == 3035 and ds.transform.a == 20.0 and ds.count == 2
    bad = subprocess.run(
        [sys.executable, "-m", "core", "geocode", str(tmp_path / "r.tif"), str(out), "--crs", "nonsense"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and bad.stderr.startswith("error: unknown CRS") and "Traceback" not in bad.stderr


def test_sentinel1_gcps_move_half_a_pixel_unless_tagged_corner():
    from core.io.georef import GeoInfo

    assert gc.gcp_offset_for(GeoInfo(tags={"SATELLITE_IDENTIFIER": "SENTINEL-1"})) == 0.5
    assert gc.gcp_offset_for(GeoInfo(tags={"MISSION_ID": "S1A"})) == 0.5
    assert gc.gcp_offset_for(GeoInfo(tags={"MISSION_ID": "S1A", "GCP_CONVENTION": "corner"})) == 0.0
    assert gc.gcp_offset_for(GeoInfo(tags={"MISSION_ID": "RS2"})) == 0.0
