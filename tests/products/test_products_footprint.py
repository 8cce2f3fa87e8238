"""A prepared raster on the map (core.products.footprint): the footprint passes through the GCPs at the image
corners, a map-geometry footprint equals pyproj's transform of its corners, and the overlay's grey levels and
transparency follow the stated dB stretch."""

import numpy as np
import pytest
import rasterio
from pyproj import Transformer
from rasterio.control import GroundControlPoint
from rasterio.transform import from_origin

from core.errors import UserError
from core.products.footprint import footprint_lonlat, map_overlay

H, W = 40, 60
# a skewed, rotated quadrilateral (a descending pass looks like this): corners and an interior point off the plane
CORNERS = {(0, 0): (7.30, 45.10), (0, W): (7.02, 45.14), (H, W): (7.00, 44.95), (H, 0): (7.27, 44.91)}


def _gcp_raster(path, data):
    gcps = [GroundControlPoint(row, col, lon, lat, 0.0) for (row, col), (lon, lat) in CORNERS.items()]
    gcps.append(GroundControlPoint(H / 2, W / 2, 7.151, 45.027, 0.0))
    with rasterio.open(path, "w", driver="GTiff", width=W, height=H, count=1, dtype="float32") as ds:
        ds.write(data, 1)
        ds.gcps = (gcps, rasterio.crs.CRS.from_epsg(4326))
    return path


def test_gcp_footprint_passes_through_the_corner_gcps(tmp_path):
    path = _gcp_raster(tmp_path / "radar.tif", np.ones((H, W), np.float32))
    ring = footprint_lonlat(path, per_side=8)
    assert len(ring) == 33 and ring[0] == ring[-1]
    # border order: top-left, top-right, bottom-right, bottom-left (clockwise in image coordinates)
    for k, corner in enumerate([(0, 0), (0, W), (H, W), (H, 0)]):
        assert ring[8 * k] == pytest.approx(CORNERS[corner], abs=1e-7)


def test_map_footprint_equals_pyproj_on_the_corners(tmp_path):
    t = from_origin(500000.0, 4000000.0, 10.0, 10.0)
    path = tmp_path / "utm.tif"
    with rasterio.open(
        path, "w", driver="GTiff", width=W, height=H, count=1, dtype="float32", crs="EPSG:32633", transform=t
    ) as ds:
        ds.write(np.ones((H, W), np.float32), 1)
    ring = footprint_lonlat(path, per_side=4)
    to_ll = Transformer.from_crs(32633, 4326, always_xy=True)
    xy = [(500000.0, 4000000.0), (500600.0, 4000000.0), (500600.0, 3999600.0), (500000.0, 3999600.0)]
    for k, (x, y) in enumerate(xy):
        assert ring[4 * k] == pytest.approx(to_ll.transform(x, y), abs=1e-9)


def test_overlay_grey_follows_the_stated_db_stretch(tmp_path):
    # north-up in EPSG:4326 already: the warp is the identity, so every pixel can be checked
    data = np.full((H, W), 0.01, np.float32)  # -20 dB
    data[:, W // 2 :] = 1.0  # 0 dB
    data[:5, :] = 0.0  # nodata after dB: transparent
    t = from_origin(7.0, 45.0, 0.001, 0.001)
    path = tmp_path / "ll.tif"
    with rasterio.open(
        path, "w", driver="GTiff", width=W, height=H, count=1, dtype="float32", crs="EPSG:4326", transform=t
    ) as ds:
        ds.write(data, 1)
        ds.set_band_description(1, "VV")
    ov = map_overlay(path)
    assert ov.rgba.shape == (H, W, 4) and ov.band == "VV"
    assert ov.bounds == pytest.approx((7.0, 45.0 - H * 0.001, 7.0 + W * 0.001, 45.0))
    assert ov.stretch == pytest.approx((-20.0, 0.0), abs=1e-4)
    assert (ov.rgba[:5, :, 3] == 0).all() and (ov.rgba[5:, :, 3] == 255).all()
    assert (ov.rgba[5:, : W // 2, 0] == 0).all() and (ov.rgba[5:, W // 2 :, 0] == 255).all()
    assert "-20.0 dB (black)" in ov.caption and "0.0 dB (white)" in ov.caption


def test_overlay_of_a_gcp_raster_is_north_up_inside_the_footprint(tmp_path):
    path = _gcp_raster(tmp_path / "radar.tif", np.full((H, W), 0.1, np.float32))
    ov = map_overlay(path)
    lons, lats = zip(*ov.footprint)
    west, south, east, north = ov.bounds
    # the warped quick-look's bounds enclose the footprint within one of its pixels
    px = max((east - west) / ov.rgba.shape[1], (north - south) / ov.rgba.shape[0])
    assert west <= min(lons) + px and east >= max(lons) - px and south <= min(lats) + px and north >= max(lats) - px
    shown = ov.rgba[..., 3] == 255
    assert 0.3 < shown.mean() < 1.0  # a rotated swath: corners of the north-up box are empty


def test_raster_without_georeference_is_refused(tmp_path):
    path = tmp_path / "plain.tif"
    with rasterio.open(path, "w", driver="GTiff", width=8, height=8, count=1, dtype="float32") as ds:
        ds.write(np.ones((8, 8), np.float32), 1)
    with pytest.raises(UserError, match="neither a CRS nor GCPs"):
        footprint_lonlat(path)
