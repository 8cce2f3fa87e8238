"""Streamed translation (core.translate.stream): equals the in-memory path, keeps every georeference, reads
Sentinel-1 products, stays in bounded memory; --prefilter on 8-bit inputs; --backend auto and the ONNX cache."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import rasterio
from rasterio.control import GroundControlPoint
from rasterio.crs import CRS

from core import io as sio
from core import speckle
from core.cli import main as cli_main
from core.translate import TranslateOptions, Translator, network_input, translate_raster
from core.translate import generators as gn
from core.translate.stream import scene_limits, translate_scene
from tests.support.generators import _tiny_unet
from tests.support.repo import ROOT
from tests.support.s1_product import write_s1_product, zip_product


def _write_tif(path, data, geo=None):
    arr = data if data.ndim == 3 else data[..., None]
    profile = dict(driver="GTiff", width=arr.shape[1], height=arr.shape[0], count=arr.shape[2], dtype=arr.dtype.name)
    if geo is not None:
        profile.update(geo.creation_profile())
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(np.moveaxis(arr, -1, 0))
        if geo is not None:
            geo.apply_to(ds)
    return path


@pytest.mark.parametrize("bands", [1, 2])
def test_streamed_equals_in_memory_on_an_image_cut_at_odd_places(tmp_path, rng, bands):
    model = _tiny_unet(tmp_path)
    h, w = 173, 229  # not multiples of the 64-px tile nor of its 56-px step
    data = rng.gamma(2.0, 0.05, (h, w, bands)).astype(np.float32)
    data[60:63, 50:130] = np.nan  # invalid pixels across a tile seam
    data = data[..., 0] if bands == 1 else data
    src_path = _write_tif(tmp_path / "scene.tif", data)
    opts = TranslateOptions(backend="torch", device="cpu", tile=64, overlap=8, batch_size=3, dualpol="false_colour")
    tr = Translator(gn.load_generator(model), opts)
    with sio.open_source(src_path) as src:
        res = translate_scene(src, tmp_path / "out.tif", tr)
    with rasterio.open(tmp_path / "out.tif") as ds:
        streamed = np.moveaxis(ds.read(), 0, -1)
        assert ds.profile["tiled"] and ds.dtypes[0] == "uint8"
    memory = translate_raster(sio.read_raster(src_path), tr, limits=res.limits)
    assert streamed.shape == memory.output.shape == (h, w, 3)
    assert np.abs(streamed.astype(int) - memory.output).max() <= 1
    # a small scene: the decimated read is every pixel, so the stretch is the whole image's own
    own = translate_raster(sio.read_raster(src_path), tr)
    assert np.abs(own.output.astype(int) - streamed).max() <= 1
    assert any("decimated read of the whole scene" in n for n in res.notes)
    assert res.tiles == 3 * 4  # rows start at 0, 56, 109; columns at 0, 56, 112, 165


def test_decimated_stretch_is_the_percentiles_of_the_decimated_grid(tmp_path, rng):
    data = rng.gamma(1.0, 0.1, (301, 157)).astype(np.float32)
    path = _write_tif(tmp_path / "s.tif", data)
    tr = Translator(gn.load_generator(_tiny_unet(tmp_path)), TranslateOptions(backend="torch", device="cpu"))
    from core.translate.inputs import plan_input
    from core.translate.stream import _Reader

    with sio.open_source(path) as src:
        plan = plan_input("intensity", 1, tr)
        got = scene_limits(_Reader(src, "intensity", tr.options), plan, step=3)
    want = np.percentile(10 * np.log10(data[::3, ::3].astype(np.float64)), [2, 98])
    assert np.allclose(got[0], want, atol=1e-3)


def _corner_positions(path):
    """Map positions of the four corner pixels' centres as GDAL places them (transform, GCPs or RPCs)."""
    from rasterio.transform import GCPTransformer, RPCTransformer

    with rasterio.open(path) as ds:
        rows = [0.5, 0.5, ds.height - 0.5, ds.height - 0.5]
        cols = [0.5, ds.width - 0.5, 0.5, ds.width - 0.5]
        gcps, _ = ds.gcps
        if ds.rpcs:
            with RPCTransformer(ds.rpcs) as t:
                xs, ys = t.xy([r - 0.5 for r in rows], [c - 0.5 for c in cols], offset="center")
        elif gcps:
            with GCPTransformer(gcps) as t:
                xs, ys = t.xy(rows, cols, offset="ul")
        else:
            xs, ys = rasterio.transform.xy(ds.transform, rows, cols, offset="ul")
    return np.array([xs, ys], dtype=np.float64)


def _gcp_geo(h, w):
    pts = [
        GroundControlPoint(row=r, col=c, x=10.0 + 0.001 * c + 0.0002 * r, y=45.0 - 0.0008 * r, z=0.0)
        for r in (0, h / 2, h)
        for c in (0, w / 2, w)
    ]
    return sio.GeoInfo(
        gcps=tuple((g.row, g.col, g.x, g.y, g.z) for g in pts), gcp_crs=CRS.from_epsg(4326).to_wkt(), tags={"A": "1"}
    )


def _rpc_geo():
    rpcs = {
        "LINE_OFF": "50", "SAMP_OFF": "60", "LAT_OFF": "45", "LONG_OFF": "10", "HEIGHT_OFF": "0",
        "LINE_SCALE": "50", "SAMP_SCALE": "60", "LAT_SCALE": "0.05", "LONG_SCALE": "0.06", "HEIGHT_SCALE": "100",
        "LINE_NUM_COEFF": " ".join(["0", "0", "-1"] + ["0"] * 17),
        "LINE_DEN_COEFF": " ".join(["1"] + ["0"] * 19),
        "SAMP_NUM_COEFF": " ".join(["0", "1"] + ["0"] * 18),
        "SAMP_DEN_COEFF": " ".join(["1"] + ["0"] * 19),
    }  # fmt: skip
    return sio.GeoInfo(rpcs=rpcs)


@pytest.mark.parametrize("georef", ["transform", "gcps", "rpcs"])
def test_every_georeference_survives_cli_translate(tmp_path, rng, utm_geo, georef):
    h, w = 100, 120
    geo = {"transform": utm_geo, "gcps": _gcp_geo(h, w), "rpcs": _rpc_geo()}[georef]
    src = _write_tif(tmp_path / "in.tif", rng.gamma(1.0, 0.1, (h, w)).astype(np.float32), geo)
    model = _tiny_unet(tmp_path)
    out = tmp_path / "out.tif"
    assert (
        cli_main(
            [
                "translate",
                str(src),
                str(out),
                "--model",
                str(model),
                "--backend",
                "torch",
                "--tile",
                "64",
                "--overlap",
                "8",
            ]
        )
        == 0
    )
    with rasterio.open(out) as ds:
        assert (ds.width, ds.height, ds.count) == (w, h, 3)
        if georef == "gcps":
            assert len(ds.gcps[0]) == 9 and ds.gcps[1].to_epsg() == 4326
    assert np.allclose(_corner_positions(out), _corner_positions(src), atol=1e-9)


def test_zipped_sentinel1_product_through_translate_sigma0(tmp_path, capsys):
    product = write_s1_product(tmp_path, "GRD", shape=(70, 90))
    zipped = zip_product(product.safe)
    model = _tiny_unet(tmp_path)
    out = tmp_path / "s1.tif"
    args = ["translate", str(zipped), str(out), "--model", str(model), "--calibration", "sigma0", "--pol", "VV"]
    assert cli_main(args + ["--tile", "64", "--overlap", "8", "--backend", "torch"]) == 0
    err = capsys.readouterr().err
    assert "sigma0" in err and "decimated read" in err
    with rasterio.open(out) as ds:
        assert (ds.width, ds.height, ds.count) == (90, 70, 3)
        gcps, crs = ds.gcps
        assert crs.to_epsg() == 4326 and len(gcps) == len(product.gcps)
        assert ds.tags()["CALIBRATION"] == "SIGMA0" and ds.tags()["THERMAL_NOISE"] == "REMOVED"
    keep = tmp_path / "s1_keep.tif"
    capsys.readouterr()
    rc = cli_main(
        [*args[:2], str(keep), *args[3:], "--noise", "keep", "--tile", "64", "--overlap", "8", "--backend", "torch"]
    )
    assert rc == 0, capsys.readouterr().err
    with rasterio.open(keep) as ds:
        assert ds.tags()["THERMAL_NOISE"] == "KEPT"
    # the same scene calibrated in memory (DN^2 / A^2 by core.io) gives the same translation
    with sio.open_source(zipped, calibration="sigma0", pol="VV") as src:
        sigma0 = src.read()
        geo = src.geo
    tr = Translator(gn.load_generator(model), TranslateOptions(backend="torch", device="cpu", tile=64, overlap=8))
    memory = translate_raster(sio.Raster(sigma0, "intensity", "s1", geo), tr)
    with rasterio.open(out) as ds:
        assert np.abs(np.moveaxis(ds.read(), 0, -1).astype(int) - memory.output).max() <= 1
    assert cli_main(["translate", str(zipped), str(tmp_path / "s1.png"), "--model", str(model)]) == 2


def test_prefilter_filters_8bit_inputs_as_amplitude(tmp_path, rng):
    tr = Translator(gn.load_generator(_tiny_unet(tmp_path)), TranslateOptions(backend="torch", device="cpu"))
    v = np.clip(rng.gamma(4.0, 25.0, (80, 90)), 0, 255).astype(np.uint8)
    raster = sio.Raster(v, "display", "x.png")
    plain, _ = network_input(raster, tr, TranslateOptions())
    img, notes = network_input(raster, tr, TranslateOptions(prefilter="lee", prefilter_params={"looks": 3.0}))
    amp = v.astype(np.float64)
    ref = np.sqrt(np.maximum(speckle.lee_filter((amp * amp).astype(np.float32), window=7, looks=3.0), 0))
    want = np.clip(np.rint(ref), 0, 255).astype(np.uint8)
    assert np.abs(img[..., 0].astype(int) - want).max() <= 1
    assert np.abs(img[..., 0].astype(int) - plain[..., 0]).mean() > 3  # it did filter
    assert any("amplitude-like display values" in n for n in notes)
    # streamed, the halo makes each band of tiles filter as the whole image does
    path = tmp_path / "v.tif"
    _write_tif(path, v)
    opts = TranslateOptions(
        backend="torch", device="cpu", tile=64, overlap=8, prefilter="lee", prefilter_params={"looks": 3.0}
    )
    tr2 = Translator(tr.gen, opts)
    with sio.open_source(path) as src:
        res = translate_scene(src, tmp_path / "o.tif", tr2)
    memory = translate_raster(raster, tr2)
    with rasterio.open(tmp_path / "o.tif") as ds:
        assert np.abs(np.moveaxis(ds.read(), 0, -1).astype(int) - memory.output).max() <= 1
    assert any("amplitude-like" in n for n in res.notes)


_RSS_SCRIPT = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {root!r})
    from core.cli import main
    rc = main(sys.argv[1:])
    # VmHWM: this process's own peak (ru_maxrss would carry the forking pytest's resident size over the exec)
    hwm = [x for x in open("/proc/self/status").read().splitlines() if x.startswith("VmHWM:")][0]
    print("RSS", hwm.split()[1], rc)
    """
)


def _peak_rss_kb(tmp_path, src, model):
    script = tmp_path / "rss.py"
    script.write_text(_RSS_SCRIPT.format(root=str(ROOT)))
    env = dict(os.environ, GDAL_CACHEMAX="32", OMP_NUM_THREADS="1")
    out = tmp_path / f"{src.stem}_out.tif"
    cmd = [sys.executable, str(script), "translate", str(src), str(out), "--model", str(model), "--backend", "torch"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    line = [x for x in proc.stdout.splitlines() if x.startswith("RSS")][-1]
    return int(line.split()[1])


def test_peak_memory_does_not_grow_with_the_scene(tmp_path, rng):
    """A scene 4x larger (8.4 Mpixel: ~200 MB of scene-sized arrays in memory) peaks like the small one."""
    model = _tiny_unet(tmp_path)
    w = 1024
    paths = []
    for rows in (2048, 8192):
        path = tmp_path / f"scene{rows}.tif"
        profile = dict(driver="GTiff", width=w, height=rows, count=1, dtype="float32", tiled=True)
        with rasterio.open(path, "w", **profile) as ds:
            for r in range(0, rows, 1024):
                ds.write(rng.gamma(1.0, 0.1, (1, 1024, w)).astype(np.float32), window=((r, r + 1024), (0, w)))
        paths.append(path)
    small, large = (_peak_rss_kb(tmp_path, p, model) for p in paths)
    grow_mb = (large - small) / 1024
    print(f"peak RSS: 2.1 Mpixel {small / 1024:.0f} MB, 8.4 Mpixel {large / 1024:.0f} MB")
    assert grow_mb < 60, f"peak RSS grew by {grow_mb:.0f} MB from a 2.1 to an 8.4 Mpixel scene"


def test_backend_auto_measures_once_and_onnx_export_is_kept(tmp_path, rng, monkeypatch):
    monkeypatch.setenv("SAR_STUDIO_CACHE", str(tmp_path / "cache"))
    model = _tiny_unet(tmp_path)
    gen = gn.load_generator(model)
    tr = Translator(gen, TranslateOptions(backend="auto", device="cpu", batch_size=None, tile=64))
    assert tr.backend in ("torch", "onnx") and tr.batch_size in (1, 4)
    assert any("--backend auto chose" in n and "measured now" in n for n in tr.notes)
    cache = json.loads((tmp_path / "cache" / "backend.json").read_text())
    (entry,) = cache.values()
    assert set(entry["timings"]) == {"torch", "onnx"}
    exported = list((tmp_path / ".onnx-cache").glob("tiny.*.onnx"))
    assert len(exported) == 1  # beside the checkpoint, named by its digest
    tr.close()
    tr2 = Translator(gen, TranslateOptions(backend="auto", device="cpu", batch_size=None, tile=64))
    assert any("cached measurement" in n for n in tr2.notes)
    tr3 = Translator(gen, TranslateOptions(backend="onnx", device="cpu", tile=64))
    assert any("reused" in n for n in tr3.notes)
    x = rng.uniform(0, 255, (2, 64, 64, 1)).astype(np.float32)
    eager = Translator(gen, TranslateOptions(backend="torch", device="cpu"))
    assert np.abs(tr3.run_batch(x) - eager.run_batch(x)).max() < 0.5


def test_progress_bar_counts_tiles_when_asked(tmp_path, rng, capsys):
    src = _write_tif(tmp_path / "p.tif", rng.gamma(1.0, 0.1, (100, 120)).astype(np.float32))
    model = _tiny_unet(tmp_path)
    base = ["translate", str(src), str(tmp_path / "o.tif"), "--model", str(model), "--backend", "torch"]
    assert cli_main(base + ["--tile", "64", "--overlap", "8", "--progress"]) == 0
    assert "4/4" in capsys.readouterr().err  # tile rows start at 0, 36; columns at 0, 56
    assert cli_main(base + ["--tile", "64", "--overlap", "8", "--no-progress"]) == 0
    assert "4/4" not in capsys.readouterr().err
