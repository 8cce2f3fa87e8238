"""Streamed despeckling equals the in-memory result for every classic filter (windows cutting the image at odd
places, NaN and nodata at the cuts, several bands, scene-wide values from a sample), on products and through the
CLI; and the issue-13 rough edges of the despeckle command."""

import numpy as np
import pytest
import rasterio

from core import io as sio
from core import speckle as sp
from core.cli import main
from core.speckle import scene
from core.speckle import stream as sps
from tests.support.s1_product import _lut_reference, write_s1_product, zip_product

CLASSIC = [n for n, s in sp.FILTERS.items() if not s.deep]
PARAMS = {
    "boxcar": {"window": 5},
    "median": {"window": 7},  # > 5: the scipy path, and the fill of invalid pixels from their window mean
    "gaussian": {"window": 5, "sigma": 1.2},
    "bilateral": {"window": 5},
    "lee": {"window": 7},  # looks estimated
    "refined_lee": {"window": 9, "looks": 1.0},
    "frost": {"window": 5},
    "kuan": {"window": 7, "looks": 2.0},
    "gamma_map": {"window": 5},
}


@pytest.fixture
def scene_tif(tmp_path, rng, utm_geo):
    h, w = 101, 77  # no block size divides these
    refl = np.where(np.arange(w)[None, :] < 40, 0.05, 0.4) * np.ones((h, 1))
    data = (refl[..., None] * rng.gamma(1.0, 1.0, (h, w, 2))).astype(np.float32)
    data[31:34, 30:33, 0] = np.nan  # a NaN hole across the cut at row/col 32
    data[47, 15, :] = utm_geo.nodata  # nodata right beside the cut at row 48
    data[0:5, 60:77, 1] = np.nan  # a corner block of band 2 all invalid
    data[64, 64, :] = np.nan
    return sio.write_geotiff(tmp_path / "in.tif", data, utm_geo, ["VV", "VH"])


def _stream(path, out, name, block, **params):
    with sio.open_source(path) as src:
        sps.stream_despeckle(src, out, name, block=block, **params)
    with rasterio.open(out) as ds:
        return np.moveaxis(ds.read(), 0, -1), ds.crs, ds.transform, ds.nodata, ds.descriptions


@pytest.mark.parametrize("name", CLASSIC)
@pytest.mark.parametrize("block", [16, 48])
def test_streamed_equals_in_memory(scene_tif, tmp_path, utm_geo, name, block):
    expected = sp.despeckle_raster(sio.read_raster(scene_tif), name, **PARAMS[name]).data
    got, crs, transform, nodata, names = _stream(scene_tif, tmp_path / "o.tif", name, block, **PARAMS[name])
    assert got.shape == expected.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=2e-5, atol=1e-7, equal_nan=True)
    assert crs.to_epsg() == 32633 and tuple(transform)[:6] == utm_geo.transform and nodata == utm_geo.nodata
    assert names == ("VV", "VH") and got[47, 15, 0] == utm_geo.nodata


@pytest.mark.parametrize("name", ["median", "refined_lee", "lee"])
def test_a_smaller_halo_would_show_at_the_cuts(scene_tif, tmp_path, monkeypatch, name):
    """The halo is the filter's true footprint: one pixel less and streamed no longer equals in memory."""
    expected = sp.despeckle_raster(sio.read_raster(scene_tif), name, **PARAMS[name]).data
    true_halo = scene.halo
    monkeypatch.setattr(sps, "halo", lambda spec, params: true_halo(spec, params) - 1)
    got = _stream(scene_tif, tmp_path / "o.tif", name, 16, **PARAMS[name])[0]
    assert not np.allclose(got, expected, rtol=2e-5, atol=1e-7, equal_nan=True)


@pytest.mark.parametrize("name", ["lee", "refined_lee", "median"])
def test_scene_values_from_a_sample_agree_streamed_and_in_memory(scene_tif, tmp_path, monkeypatch, name):
    """Above SAMPLE_PIXELS the looks (and refined Lee's fallback, the median's fill) come from sample windows."""
    monkeypatch.setattr(scene, "SAMPLE_PIXELS", 1000)
    monkeypatch.setattr(scene, "SAMPLE_SIZE", 32)
    monkeypatch.setattr(scene, "SAMPLE_GRID", 3)
    assert len(scene.sample_windows(101, 77)) == 9
    params = {k: v for k, v in PARAMS[name].items() if k != "looks"}
    raster = sio.read_raster(scene_tif)
    expected = sp.despeckle_raster(raster, name, **params).data
    got = _stream(scene_tif, tmp_path / "o.tif", name, 32, **params)[0]
    np.testing.assert_allclose(got, expected, rtol=2e-5, atol=1e-7, equal_nan=True)
    if name == "lee":  # the sample's ENL differs from the whole image's, so the test would see a wrong sample
        monkeypatch.setattr(scene, "SAMPLE_PIXELS", 10**9)
        whole = sp.despeckle_raster(raster, name, **params).data
        assert not np.allclose(whole, expected, equal_nan=True)


def _lee_reference(x: np.ndarray, window: int, looks: float) -> np.ndarray:
    """Per-pixel loop: Lee over the valid pixels of each window."""
    r, (h, w) = window // 2, x.shape
    out = np.empty_like(x, dtype=np.float64)
    for i in range(h):
        for j in range(w):
            win = x[max(0, i - r) : i + r + 1, max(0, j - r) : j + r + 1].astype(np.float64)
            m, v = win.mean(), win.var()
            wt = max(0.0, 1 - m * m / (looks * v)) if v > 0 else 0.0
            out[i, j] = m + wt * (x[i, j] - m)
    return out


@pytest.mark.parametrize("zipped", [False, True])
def test_s1_grd_product_despeckled_in_sigma0_keeps_gcps_and_tags(tmp_path, capsys, zipped):
    p = write_s1_product(tmp_path, "GRD")
    src = zip_product(p.safe) if zipped else p.safe
    dst = tmp_path / "vv_lee.tif"
    argv = ["despeckle", str(src), str(dst), "--filter", "lee", "--window", "5", "--looks", "1", "--pol", "VV"]
    argv += ["--noise", "keep"]  # the reference below is DN^2 / A^2 (noise removal: tests/products/test_products.py)
    assert main(argv) == 0, capsys.readouterr().err
    a = _lut_reference(p.lut_lines, p.lut_pixels, p.luts[("IW", "VV", "sigmaNought")], p.shape)
    sigma0 = p.dn[("IW", "VV")].astype(np.float64) ** 2 / a**2
    with rasterio.open(dst) as ds:
        got = ds.read(1)
        gcps, gcp_crs = ds.gcps
        assert ds.descriptions == ("VV",) and ds.tags()["CALIBRATION"] == "SIGMA0"
    np.testing.assert_allclose(got, _lee_reference(sigma0, 5, 1.0), rtol=1e-4)
    assert gcp_crs.to_epsg() == 4326
    got_gcps = sorted((g.row, g.col, g.x, g.y) for g in gcps)
    want = sorted((float(li), float(px), lon, lat) for li, px, lat, lon in p.gcps)
    np.testing.assert_allclose(np.array(got_gcps), np.array(want), rtol=1e-9, atol=1e-9)


def test_s1_dual_pol_cog_with_progress(tmp_path, capsys):
    p = write_s1_product(tmp_path, "GRD")
    dst = tmp_path / "both.tif"
    argv = ["despeckle", str(p.safe), str(dst), "--filter", "boxcar", "--cog", "--progress", "--calibration", "beta0"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "block" in err  # the tqdm bar, forced by --progress
    with rasterio.open(dst) as ds:
        assert ds.count == 2 and ds.descriptions == ("VV", "VH") and ds.tags()["CALIBRATION"] == "BETA0"
        assert ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        assert len(ds.gcps[0]) == len(p.gcps)


def test_slc_needs_a_swath_and_takes_one(tmp_path, capsys):
    p = write_s1_product(tmp_path, "SLC")
    assert main(["despeckle", str(p.safe), str(tmp_path / "o.tif"), "--filter", "lee"]) == 2
    assert "--swath" in capsys.readouterr().err
    assert main(["despeckle", str(p.safe), str(tmp_path / "o.tif"), "--filter", "lee", "--swath", "IW2"]) == 0
    with rasterio.open(tmp_path / "o.tif") as ds:
        assert ds.count == 2 and ds.dtypes[0] == "float32"


# ------------------------------------------------------------------------------------------- issue 13 edges


def test_8bit_png_keeps_its_8bit_scale(tmp_path, rng, capsys):
    grey = np.clip(rng.normal(154, 30, (64, 64)), 0, 255).astype(np.uint8)
    src = tmp_path / "in.png"
    sio.write_png(src, grey)
    assert main(["despeckle", str(src), str(tmp_path / "o.png"), "--filter", "lee", "--looks", "1"]) == 0
    out = sio.read_raster(tmp_path / "o.png").data
    assert out.dtype == np.uint8 and abs(float(out.mean()) - float(grey.mean())) < 2
    expected = np.clip(np.rint(sp.despeckle(grey.astype(np.float32), "lee", looks=1.0)), 0, 255)
    np.testing.assert_array_equal(out, expected.astype(np.uint8))


@pytest.mark.parametrize("alias,name", [("refined-lee", "refined_lee"), ("Refined Lee", "refined_lee"),
                                        ("gamma-map", "gamma_map"), ("Gamma Map", "gamma_map"), ("Boxcar", "boxcar")])  # fmt: skip
def test_snap_filter_names(scene_tif, tmp_path, capsys, alias, name):
    assert main(["despeckle", str(scene_tif), str(tmp_path / "a.tif"), "--filter", alias, "--window", "5"]) == 0
    assert main(["despeckle", str(scene_tif), str(tmp_path / "b.tif"), "--filter", name, "--window", "5"]) == 0
    with rasterio.open(tmp_path / "a.tif") as a, rasterio.open(tmp_path / "b.tif") as b:
        np.testing.assert_array_equal(a.read(), b.read())


def test_unused_option_is_ignored_with_a_note(scene_tif, tmp_path, capsys):
    code = main(["despeckle", str(scene_tif), str(tmp_path / "o.tif"), "--filter", "boxcar", "--looks", "2"])
    err = capsys.readouterr().err
    assert code == 0 and err.count("\n") == 1 and err.startswith("note: ") and "--looks" in err
    with rasterio.open(tmp_path / "o.tif") as ds:
        got = np.moveaxis(ds.read(), 0, -1)
    np.testing.assert_allclose(got, sp.despeckle_raster(sio.read_raster(scene_tif), "boxcar").data, equal_nan=True)


def test_window_size_is_an_alias_of_window(scene_tif, tmp_path, capsys):
    assert main(["despeckle", str(scene_tif), str(tmp_path / "a.tif"), "--filter", "lee", "--window-size", "9"]) == 0
    assert main(["despeckle", str(scene_tif), str(tmp_path / "b.tif"), "--filter", "lee", "--window", "9"]) == 0
    assert main(["despeckle", str(scene_tif), str(tmp_path / "c.tif"), "--filter", "lee"]) == 0
    with rasterio.open(tmp_path / "a.tif") as a, rasterio.open(tmp_path / "b.tif") as b:
        with rasterio.open(tmp_path / "c.tif") as c:
            np.testing.assert_array_equal(a.read(), b.read())
            assert not np.array_equal(a.read(), c.read(), equal_nan=True)


@pytest.mark.parametrize("out", ["o.tif", "o.png"])
def test_image_smaller_than_the_window_is_refused_with_one_line(tmp_path, capsys, utm_geo, out):
    src = sio.write_geotiff(tmp_path / "tiny.tif", np.ones((1, 1), np.float32), utm_geo)
    code = main(["despeckle", str(src), str(tmp_path / out), "--filter", "lee"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "smaller than the 7x7 window" in err
    assert not (tmp_path / out).exists()


def test_several_filters_share_one_read_and_each_equals_in_memory(scene_tif, tmp_path, monkeypatch):
    """One pass over the scene for Lee (halo 3), the median (halo 6) and boxcar: each output equals its in-memory
    result although the windows are read once with the largest halo; phases are named in order."""
    names = ["lee", "median", "boxcar"]
    reads = []
    real_read = sio.Source.read

    def counting_read(self, win, *a, **k):
        reads.append(win)
        return real_read(self, win, *a, **k)

    phases = []
    runs = [(n, PARAMS[n], tmp_path / f"{n}.tif") for n in names]
    with sio.open_source(scene_tif) as src:
        monkeypatch.setattr(sio.Source, "read", counting_read)
        sps.stream_despeckle_many(src, runs, block=32, phase=phases.append)
    blocks = len(list(sio.iter_windows(101, 77, 32)))
    sample_reads = len(reads) - blocks
    assert blocks == 12 and 0 <= sample_reads <= 2 * len(names) + 2  # the blocks once, not once per filter
    for n in names:
        expected = sp.despeckle_raster(sio.read_raster(scene_tif), n, **PARAMS[n]).data
        with rasterio.open(tmp_path / f"{n}.tif") as ds:
            got = np.moveaxis(ds.read(), 0, -1)
        np.testing.assert_allclose(got, expected, rtol=2e-5, atol=1e-7, equal_nan=True)
    assert phases[0].startswith("reading the scene") and "filtering blocks" in phases


def test_scene_job_runs_two_filters_names_its_phases_and_compares_decimated(scene_tif, tmp_path):
    import time

    from core.speckle import jobs

    outs = {"lee": tmp_path / "lee.tif", "boxcar": tmp_path / "box.tif"}
    job = jobs.start_scene_job(scene_tif, outs, {"lee": PARAMS["lee"], "boxcar": PARAMS["boxcar"]})
    seen = set()
    t = time.monotonic()
    while not job.finished and time.monotonic() - t < 60:
        seen.add(job.status_text().split(" · ")[0])
        time.sleep(0.005)
    assert job.error is None and job.phase == "done" and job.done == job.total > 0
    assert any(p.startswith("reading the scene") or p == "starting" for p in seen)  # named from the start
    elapsed = job.elapsed
    time.sleep(0.05)
    assert job.elapsed == elapsed  # frozen once finished
    src, results = jobs.decimated_results(job, size=40)
    full = sio.read_raster(scene_tif)
    step = -(-101 // 40)  # decimated_read: at most 40 px on the long side, nearest neighbour
    for name in outs:
        expected = sp.despeckle_raster(full, name, **PARAMS[name]).data
        with rasterio.open(outs[name]) as ds:
            assert ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
            np.testing.assert_allclose(np.moveaxis(ds.read(), 0, -1), expected, rtol=2e-5, atol=1e-7, equal_nan=True)
        assert results[name].shape[:2] == src.shape[:2] and src.shape[0] == 101 // step


def test_the_despeckle_command_streaming_alone_keeps_one_windows_heap(scene_tif, tmp_path, monkeypatch):
    """The command's own process takes the scene workers' heap policy (tests/core/test_cluster_scene.py shows what it
    saves); the page's function, which runs inside the shared server, leaves the process's heap as it is."""
    calls: list[str] = []
    monkeypatch.setattr("core.cli.speckle.keep_window_heap", lambda: calls.append("cli"))
    monkeypatch.setattr("core.budget.keep_window_heap", lambda: calls.append("budget"))
    assert main(["despeckle", str(scene_tif), str(tmp_path / "o.tif"), "--filter", "lee", "--no-progress"]) == 0
    assert calls == ["cli"]
    sps.despeckle_scene(scene_tif, [("lee", {"window": 7}, tmp_path / "page.tif")])
    assert calls == ["cli"]
    assert (tmp_path / "o.tif").read_bytes() == (tmp_path / "page.tif").read_bytes()


@pytest.fixture
def cint16_tif(tmp_path, rng):
    """A CInt16 GeoTIFF (a Sentinel-1 SLC measurement's type, which numpy has no name for) with 9 GCPs; its |z|²."""
    from rasterio.control import GroundControlPoint
    from rasterio.crs import CRS

    h, w = 70, 90
    z = rng.integers(-300, 300, (h, w)) + 1j * rng.integers(-300, 300, (h, w))
    gcps = [
        GroundControlPoint(row=r, col=c, x=7 + c * 1e-4, y=45 - r * 1e-4, z=0.0)
        for r in (0, 35, 69)
        for c in (0, 45, 89)
    ]
    src = tmp_path / "slc.tif"
    profile = dict(
        driver="GTiff", width=w, height=h, count=1, dtype="complex_int16", gcps=gcps, crs=CRS.from_epsg(4326)
    )
    with rasterio.open(src, "w", **profile) as ds:
        ds.write(z.astype(np.complex64), 1)
    return src, np.abs(z) ** 2


def test_a_cint16_slc_geotiff_is_despeckled_as_intensity_and_keeps_its_gcps(cint16_tif, tmp_path, capsys):
    """The file is read as complex64, |z|² is the intensity filtered, and the 9 GCPs come through; nothing on
    stderr."""
    src, intensity = cint16_tif
    dst = tmp_path / "lee.tif"
    assert (
        main(["despeckle", str(src), str(dst), "--filter", "lee", "--window", "5", "--looks", "1", "--no-progress"])
        == 0
    )
    assert capsys.readouterr().err == ""
    with rasterio.open(dst) as ds:
        got = ds.read(1)
        assert ds.dtypes == ("float32",) and len(ds.gcps[0]) == 9 and ds.gcps[1].to_epsg() == 4326
    np.testing.assert_allclose(got, _lee_reference(intensity, 5, 1.0), rtol=1e-4)


def test_the_page_scene_job_compares_a_cint16_input_as_intensity(cint16_tif, tmp_path):
    """The page's metrics and views read the input decimated: |z|² there too, not the real part (which made the
    mean ratio of a boxcar about 10^5 and the input's ENL 0.01)."""
    import time

    from core.speckle import jobs

    src, intensity = cint16_tif
    job = jobs.start_scene_job(src, {"boxcar": tmp_path / "box.tif"}, {"boxcar": {"window": 5}})
    t = time.monotonic()
    while not job.finished and time.monotonic() - t < 60:
        time.sleep(0.01)
    assert job.error is None
    inp, results = jobs.decimated_results(job, size=30)
    rows = ((np.arange(inp.shape[0]) + 0.5) * (70 / inp.shape[0]) + 1e-10).astype(int)  # GDAL's nearest samples
    cols = ((np.arange(inp.shape[1]) + 0.5) * (90 / inp.shape[1]) + 1e-10).astype(int)
    np.testing.assert_allclose(inp, intensity[np.ix_(rows, cols)], rtol=1e-6)
    assert 0.8 < results["boxcar"].mean() / inp.mean() < 1.25
