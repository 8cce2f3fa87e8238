"""A demo model's result says so in its pixels (issue 20): the downloaded PNG, the comparison image and the GeoTIFF
(in memory and streamed, overviews included) carry the red warning band over their bottom rows, and the GeoTIFF's
MARK_TAG says which rows; a real checkpoint's results are left exactly as the network made them."""

import io

import numpy as np
import rasterio
from PIL import Image

from core import cards
from core import io as sio
from core import translate as tr
from core.cli import main as cli_main
from tests.support.repo import ROOT
from tests.translate.formats import _write_pth

DEMO = ROOT / "checkpoints" / "pix2pix_unet_demo.safetensors"
RED = np.array([150, 0, 0])


def _red_fraction(rows: np.ndarray) -> float:
    return float((rows.reshape(-1, 3) == RED).all(axis=1).mean())


def _sigma0(tmp_path, rng, h=300, w=420):
    path = tmp_path / "s0.tif"
    sio.write_geotiff(path, rng.gamma(1.0, 0.05, (h, w)).astype(np.float32), None, ["VV"])
    return path


def test_demo_png_geotiff_cog_and_comparison_carry_the_band(tmp_path, rng):
    src = _sigma0(tmp_path, rng)
    bh = cards.band_rows(300)
    assert cli_main(["translate", str(src), str(tmp_path / "o.png"), "--model", str(DEMO), "--backend", "torch"]) == 0
    png = np.asarray(Image.open(tmp_path / "o.png").convert("RGB"))
    assert _red_fraction(png[-bh:]) > 0.5 and _red_fraction(png[:-bh]) < 0.01
    cog = tmp_path / "o.tif"
    assert cli_main(["translate", str(src), str(cog), "--model", str(DEMO), "--backend", "torch", "--cog"]) == 0
    with rasterio.open(cog) as ds:
        assert ds.tags()[cards.MARK_TAG].startswith(f"bottom {bh} rows")
        assert ds.tags()[cards.WARNING_TAG] == cards.SYNTHETIC_WARNING
        full = np.moveaxis(ds.read(), 0, -1)
        assert _red_fraction(full[-bh:]) > 0.5 and _red_fraction(full[:-bh]) < 0.01
        assert ds.overviews(1)  # a COG: the band shows in its overview too
        f = ds.overviews(1)[-1]
        small = np.moveaxis(ds.read(out_shape=(3, 300 // f, 420 // f)), 0, -1)
        assert _red_fraction(small[-max(1, bh // f - 1) :]) > 0.3
    res = tr.translate_raster(sio.read_raster(src), tr.open_translator(DEMO, tr.TranslateOptions(backend="torch")))
    assert (
        np.array_equal(tr.exported_output(res)[-bh:].reshape(-1, 3)[0], RED)
        or _red_fraction(tr.exported_output(res)[-bh:]) > 0.5
    )
    comp = np.asarray(Image.open(io.BytesIO(tr.comparison_png(res))).convert("RGB"))
    right = comp[:, comp.shape[1] // 2 :]  # the translated panel: its bottom band is red, and a band under all
    assert _red_fraction(comp[-10:]) > 0.5 and _red_fraction(right) > 0.04


def test_real_checkpoint_results_are_unmarked(tmp_path, rng):
    model, _ = _write_pth(tmp_path, "sar2optical")
    src = _sigma0(tmp_path, rng)
    translator = tr.open_translator(model, tr.TranslateOptions(device="cpu"))
    res = tr.translate_raster(sio.read_raster(src), translator)
    assert tr.exported_output(res) is res.output
    png = tmp_path / "o.png"
    tr.write_result(res, png)
    assert np.array_equal(np.asarray(Image.open(png).convert("RGB")), res.output)
    assert cli_main(["translate", str(src), str(tmp_path / "o.tif"), "--model", str(model)]) == 0
    with rasterio.open(tmp_path / "o.tif") as ds:
        assert cards.MARK_TAG not in ds.tags() and cards.WARNING_TAG not in ds.tags()
        assert _red_fraction(np.moveaxis(ds.read(), 0, -1)) < 0.01
