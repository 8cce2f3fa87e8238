"""What the image viewer is given (core.io.view): bounded decimation by stride with real pixel values at
full-resolution coordinates, dB and linear read-outs, colour maps equal to a per-pixel loop, histograms holding the
stretch limits, and map footprints equal to rasterio's own corner transform."""

import numpy as np
import pytest

from core import io as sio
from core.io import view


def test_a_large_scene_is_bounded_and_values_are_real_pixels(rng):
    data = rng.gamma(1.0, 0.1, (3001, 1203)).astype(np.float32)
    p = view.intensity_panel(data, "scene")
    assert max(p.z.shape) <= view.MAX_SIDE and p.step == 6  # ceil(3001 / 512)
    assert p.shape == (3001, 1203) and p.xs[-1] == (p.z.shape[1] - 1) * 6
    for row, col in [(0, 0), (1234, 600), (3000, 1200)]:
        got = view.value_at(p, row, col)
        r, c = (row // 6) * 6, (col // 6) * 6  # the shown pixel is the file's pixel at the stride
        assert got["σ⁰"] == data[r, c]
        assert got["dB"] == pytest.approx(10 * np.log10(data[r, c]), abs=1e-4)


def test_colour_map_matches_a_per_pixel_loop():
    vals = np.array([[-30.0, -20.0, -17.5], [-15.0, -5.0, np.nan]], np.float32)
    out = view.apply_colormap(vals, (-20.0, -10.0), "viridis")
    pts = view.COLORMAPS["viridis"]
    for (i, j), v in np.ndenumerate(vals):
        t = 0.0 if not np.isfinite(v) else min(1.0, max(0.0, (v + 20.0) / 10.0))
        for k, (p0, c0) in enumerate(pts[:-1]):
            p1, c1 = pts[k + 1]
            if p0 <= t <= p1:
                want = [round(c0[ch] + (c1[ch] - c0[ch]) * (t - p0) / (p1 - p0)) for ch in range(3)]
                break
        assert list(out[i, j]) == want
    assert view.colorscale("gray") == [[0.0, "rgb(0,0,0)"], [1.0, "rgb(255,255,255)"]]


def test_histogram_range_holds_the_stretch_limits(rng):
    db = rng.normal(-12, 3, 10_000).astype(np.float32)
    counts, edges = view.histogram(db, (-16.0, -8.0))
    assert (
        edges[0] <= -16.0
        and edges[-1] >= -8.0
        and counts.sum() == np.count_nonzero((db >= edges[0]) & (db <= edges[-1]))
    )


def test_footprint_corners_equal_rasterio_transform(utm_geo):
    from rasterio.transform import Affine
    from rasterio.warp import transform

    p = view.intensity_panel(np.ones((64, 80), np.float32), "x", geo=utm_geo)
    a = Affine(*utm_geo.transform[:6])
    xs, ys = zip(*[a * (c, r) for c, r in [(0, 64), (0, 0), (80, 0), (80, 64)]])
    lon, lat = transform(utm_geo.crs, "EPSG:4326", list(xs), list(ys))
    np.testing.assert_allclose(np.array(p.corners_lonlat), np.column_stack([lon, lat]), atol=1e-9)
    assert view.intensity_panel(np.ones((8, 8), np.float32), "no geo").corners_lonlat is None


def test_dual_pol_raster_reads_out_both_bands(rng, utm_geo):
    data = rng.gamma(1.0, 0.1, (40, 50, 2)).astype(np.float32)
    r = sio.Raster(data, "intensity", "dual.tif", utm_geo)
    p = view.raster_panel(r)
    assert p.rgb is not None and p.linear.shape == (40, 50, 2)
    got = view.value_at(p, 7, 9)
    assert got["σ⁰ per band [0]"] == data[7, 9, 0] and got["σ⁰ per band [1]"] == data[7, 9, 1]
    assert p.corners_lonlat is not None
