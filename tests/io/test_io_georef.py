"""core.io georeference: GCPs, RPCs, tags and band descriptions survive read -> write; scaling for SR."""

import numpy as np
import pytest
import rasterio
from rasterio.control import GroundControlPoint
from rasterio.crs import CRS
from rasterio.rpc import RPC

from core import io as sio

RPCS = dict(
    LINE_OFF=30.0, SAMP_OFF=40.0, LAT_OFF=45.0, LONG_OFF=7.0, HEIGHT_OFF=100.0,
    LINE_SCALE=30.0, SAMP_SCALE=40.0, LAT_SCALE=0.05, LONG_SCALE=0.06, HEIGHT_SCALE=500.0,
    LINE_NUM_COEFF=[0.01, -1.0, 0.02] + [0.0] * 17, LINE_DEN_COEFF=[1.0] + [0.0] * 19,
    SAMP_NUM_COEFF=[-0.02, 0.03, 1.0] + [0.0] * 17, SAMP_DEN_COEFF=[1.0] + [0.0] * 19,
)  # fmt: skip
GDAL_RPCS = {k: " ".join(map(str, v)) if isinstance(v, list) else str(v) for k, v in RPCS.items()}


def _gcp_tiff(path, data):
    gcps = [
        GroundControlPoint(row=r, col=c, x=7 + 0.001 * c, y=45 - 0.001 * r, z=5.0)
        for r in (0, 30, 59)
        for c in (0, 40, 79)
    ]
    with rasterio.open(path, "w", driver="GTiff", width=80, height=60, count=1, dtype=data.dtype.name) as ds:
        ds.write(data, 1)
        ds.gcps = (gcps, CRS.from_epsg(4326))
        ds.update_tags(POLARISATION="VV", CALIBRATION="SIGMA0")
        ds.update_tags(1, SWATH="IW")
        ds.set_band_description(1, "VV")
    return gcps


def test_uint16_gcp_tiff_keeps_gcps_tags_through_read_write(tmp_path, rng):
    data = rng.integers(1, 4000, (60, 80)).astype(np.uint16)
    gcps = _gcp_tiff(tmp_path / "in.tif", data)
    r = sio.read_raster(tmp_path / "in.tif")
    assert r.geo is not None and r.geo.kind == "gcps" and len(r.geo.gcps) == 9
    out = sio.write_geotiff(tmp_path / "out.tif", r.data, r.geo, r.band_names)
    with rasterio.open(out) as ds:  # GDAL reads it back: same GCPs, CRS, tags
        got, crs = ds.gcps
        assert crs.to_epsg() == 4326 and ds.tags()["CALIBRATION"] == "SIGMA0" and ds.tags(1)["SWATH"] == "IW"
        assert [(g.row, g.col, g.x, g.y, g.z) for g in got] == [(g.row, g.col, g.x, g.y, g.z) for g in gcps]
        assert ds.descriptions == ("VV",)
        np.testing.assert_array_equal(ds.read(1), data)


def test_rpcs_survive_and_scale_like_gdal(tmp_path, rng):
    from rasterio.transform import RPCTransformer

    data = rng.random((60, 80), dtype=np.float32)
    with rasterio.open(tmp_path / "rpc.tif", "w", driver="GTiff", width=80, height=60, count=1, dtype="float32") as ds:
        ds.write(data, 1)
        ds.rpcs = RPC.from_gdal(GDAL_RPCS)
    r = sio.read_raster(tmp_path / "rpc.tif")
    assert r.geo.kind == "rpcs"
    out = sio.write_geotiff(tmp_path / "out.tif", r.data, r.geo)
    with rasterio.open(out) as ds:
        assert float(ds.rpcs.to_gdal()["LINE_OFF"]) == pytest.approx(30.0)
    for factor in (2, 4):
        scaled = RPC.from_gdal(r.geo.scaled(factor).rpcs)
        t0, t1 = RPCTransformer(RPC.from_gdal(GDAL_RPCS)), RPCTransformer(scaled)
        # the same point of the footprint: corner coordinate u on the original is f*u on the finer grid
        rows, cols = np.array([0.0, 0.5, 12.25, 59.5]), np.array([0.0, 0.5, 33.75, 79.5])
        x0, y0 = t0.xy(rows, cols, zs=100.0, offset="ul")
        x1, y1 = t1.xy(rows * factor, cols * factor, zs=100.0, offset="ul")
        np.testing.assert_allclose(x1, x0, atol=1e-9)
        np.testing.assert_allclose(y1, y0, atol=1e-9)


def test_gcps_scale_with_pixel_positions(tmp_path, rng):
    _gcp_tiff(tmp_path / "in.tif", rng.integers(1, 4000, (60, 80)).astype(np.uint16))
    geo = sio.read_raster(tmp_path / "in.tif").geo
    g4 = geo.scaled(4)
    assert [(a[0] * 4, a[1] * 4, a[2], a[3]) for a in geo.gcps] == [a[:4] for a in g4.gcps]
    assert g4.gcp_crs == geo.gcp_crs and g4.kind == "gcps"
