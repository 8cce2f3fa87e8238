"""A demo translator whose card says it was trained on synthetic scenes marks its results: a tag in the GeoTIFF,
a band burned into the shown image and a band under the comparison PNG (issue 13, item 2)."""

import io

import numpy as np
import rasterio
from PIL import Image

from core import cards
from core import io as sio
from core import translate as tr
from tests.support.apptest import app_test
from tests.support.repo import ROOT

DEMO = ROOT / "checkpoints" / "pix2pix_unet_demo.safetensors"
SAMPLE = ROOT / "samples" / "sar" / "labrador_s1_vv.tif"


def test_shipped_demo_cards_say_synthetic_and_the_display_hides_the_front_matter():
    for name in ("pix2pix_unet_demo.safetensors", "chrgan_demo.safetensors", "pix2pix_unet_demo_sensorB_lora"):
        assert cards.training_data(ROOT / "checkpoints" / name) == "synthetic"
    from core import catalog

    shown = catalog.model_card(DEMO)
    assert not shown.startswith("---") and "training_data" not in shown and shown.startswith("# pix2pix_unet_demo")


def test_card_front_matter_parsing(tmp_path):
    model = tmp_path / "m.pth"
    (tmp_path / "m.md").write_text("---\ntraining_data: real\nlicence: CC-BY\n---\n# m\n")
    assert cards.card_fields(model) == {"training_data": "real", "licence": "CC-BY"}
    assert cards.result_warning(model) is None
    (tmp_path / "m.md").write_text("# m\n\ntraining_data: synthetic in prose is not front matter\n")
    assert cards.training_data(model) is None
    assert cards.training_data(tmp_path / "no_card.pth") is None


def test_geotiff_of_a_demo_translation_carries_the_warning_tag(tmp_path):
    translator = tr.open_translator(DEMO, tr.TranslateOptions(device="cpu"))
    res = tr.translate_raster(sio.read_raster(SAMPLE), translator)
    assert cards.SYNTHETIC_WARNING in translator.notes
    path = tr.write_result(res, tmp_path / "out.tif")
    with rasterio.open(path) as ds:
        assert ds.tags()[cards.WARNING_TAG] == cards.SYNTHETIC_WARNING
    # the CLI writes the same tag
    from core.cli import main as cli_main

    assert cli_main(["translate", str(SAMPLE), str(tmp_path / "cli.tif"), "--model", str(DEMO), "--device", "cpu"]) == 0
    with rasterio.open(tmp_path / "cli.tif") as ds:
        assert ds.tags()[cards.WARNING_TAG] == cards.SYNTHETIC_WARNING


def test_burned_band_and_comparison_band(rng):
    img = (rng.random((64, 80, 3)) * 255).astype(np.uint8)
    burned = cards.burn_warning(img)
    assert burned.shape == img.shape
    assert np.array_equal(burned[:-10], img[:-10])  # the image above the band is untouched
    band = burned[-10:].reshape(-1, 3).astype(int)
    assert ((band == (150, 0, 0)).all(1).mean() > 0.5) and (band.min(1) > 180).any()  # red band, light text
    png = sio.encode_png(img)
    marked = np.asarray(Image.open(io.BytesIO(cards.warn_png(png))).convert("RGB"))
    assert marked.shape[1] == 80 and marked.shape[0] == 64 + 18
    assert np.array_equal(marked[:64], img) and (marked[64:].reshape(-1, 3) == (150, 0, 0)).all(1).mean() > 0.5


def test_the_page_shows_the_warning_on_the_image_and_in_the_comparison(monkeypatch):
    burned, warned = [], []
    real_burn, real_warn = cards.burn_warning, cards.warn_png
    monkeypatch.setattr(cards, "burn_warning", lambda img, *a: burned.append(img) or real_burn(img, *a))
    monkeypatch.setattr(cards, "warn_png", lambda png, *a: warned.append(png) or real_warn(png, *a))
    at = app_test("translate.py").run()
    at.selectbox(key="translate_bundled").set_value(DEMO.name).run()
    at.multiselect(key="translate_sample").set_value(["sar/labrador_s1_vv.tif"]).run()
    at.button(key="translate_run").click().run()
    assert not at.exception and not at.error
    assert any(cards.SYNTHETIC_WARNING in w.value for w in at.warning)
    res = at.session_state["translate_results"]["results"][0]
    assert res.geo.tags[cards.WARNING_TAG] == cards.SYNTHETIC_WARNING
    assert burned and np.array_equal(burned[-1], res.output)  # the shown image is the result with the band
    assert warned  # the comparison PNG offered gets the band below it (core.translate.comparison_png, issue 20)
    comp = np.asarray(Image.open(io.BytesIO(tr.comparison_png(res))).convert("RGB"))
    assert (comp[-10:].reshape(-1, 3) == (150, 0, 0)).all(1).mean() > 0.5
