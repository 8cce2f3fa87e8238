"""Input scaling is part of the model (issue 20): SEN1-2's fixed dB range makes a region's translation independent of
what the rest of the scene holds; the per-image stretch does not. The checkpoint is a SAR2Optical-format .pth with
random weights written here in its state_dict layout (tests/translate/formats.py's writer)."""

import numpy as np
import pytest

from core import io as sio
from core.errors import UserError
from core.translate import TranslateOptions, Translator, network_input, translate_raster
from core.translate import generators as gn
from core.translate.inputs import trained_scaling
from tests.translate.formats import _write_pth


def _scenes(rng):
    """Two sigma0 scenes (256 x 768) equal everywhere except a bright block far right of the region x < 256."""
    a = rng.gamma(1.0, 0.05, (256, 768)).astype(np.float32)
    b = a.copy()
    b[64:192, 600:740] = 40.0  # a bright city / ship: +16 dB, 340 px away from the region
    return sio.Raster(a, "intensity", "a.tif"), sio.Raster(b, "intensity", "b.tif")


def test_sen12_scaling_is_fixed_per_pixel_and_stretch_is_not(tmp_path, rng):
    path, _ = _write_pth(tmp_path, "sar2optical")
    gen = gn.load_generator(path)
    assert trained_scaling(Translator(gen, TranslateOptions(device="cpu"))) is None  # a foreign file says nothing
    a, b = _scenes(rng)
    region = np.s_[:, :200]  # far from the change: more than a tile plus the overlap away
    sen = Translator(gen, TranslateOptions(device="cpu", input_scaling="sen1-2", overlap=32))
    ra, rb = translate_raster(a, sen), translate_raster(b, sen)
    assert np.array_equal(ra.output[region], rb.output[region])
    # the input is SEN1-2's mapping, computed here by hand: 10 log10, clip [-25, 0], * 255 / 25
    db = 10 * np.log10(a.data)
    expected = np.rint(np.clip((db + 25.0) * 255.0 / 25.0, 0, 255)).astype(np.uint8)
    assert np.array_equal(ra.network_input[..., 0], expected)
    st = Translator(gen, TranslateOptions(device="cpu", input_scaling="stretch", overlap=32))
    sa, sb = translate_raster(a, st), translate_raster(b, st)
    assert not np.array_equal(sa.output[region], sb.output[region])
    # auto on a foreign checkpoint: SEN1-2 for calibrated sigma0, and it says so
    auto = translate_raster(a, Translator(gen, TranslateOptions(device="cpu")))
    assert np.array_equal(auto.output, ra.output) and any("sen1-2 (auto)" in n for n in auto.notes)


def test_auto_on_uncalibrated_input_warns_and_explicit_choices_are_checked(tmp_path, rng):
    path, _ = _write_pth(tmp_path, "sar2optical")
    tr = Translator(gn.load_generator(path), TranslateOptions(device="cpu"))
    dn = sio.Raster(rng.integers(1, 4000, (64, 64)).astype(np.uint16), "amplitude", "dn.tif")
    _, notes = network_input(dn, tr)
    assert any("not the one this model was trained with" in n for n in notes)
    with pytest.raises(UserError, match="display input scaling"):
        network_input(dn, tr, TranslateOptions(input_scaling="display"))
    png = sio.Raster(rng.integers(0, 255, (64, 64)).astype(np.uint8), "display", "x.png")
    with pytest.raises(UserError, match="no dB values"):
        network_input(png, tr, TranslateOptions(input_scaling="sen1-2"))
    dual = sio.Raster(rng.gamma(1.0, 0.1, (64, 64, 2)).astype(np.float32), "intensity", "vvvh.tif")
    with pytest.raises(UserError, match="ratio channel"):
        network_input(dual, tr, TranslateOptions(input_scaling="sen1-2", dualpol="false_colour"))


def test_our_checkpoints_carry_their_scaling(tmp_path, rng):
    from core.catalog import checkpoints_dir

    demo = Translator(gn.load_generator(checkpoints_dir() / "pix2pix_unet_demo.safetensors"), TranslateOptions())
    assert trained_scaling(demo) == "stretch"
    r = sio.Raster(rng.gamma(1.0, 0.05, (64, 64)).astype(np.float32), "intensity", "s.tif")
    _, notes = network_input(r, demo)
    assert any("as the checkpoint says" in n for n in notes)
    _, notes = network_input(r, demo, TranslateOptions(input_scaling="sen1-2"))
    assert any("not the one this model was trained with (stretch)" in n for n in notes)


def test_a_product_is_read_through_the_chain_and_fed_on_sen12_range(tmp_path):
    """A Sentinel-1 product goes through core.products' reader (noise removed, sigma0) and, with a foreign
    checkpoint, auto feeds it on SEN1-2's fixed range: the streamed output equals the in-memory translation of the
    chain's sigma0 values with sen1-2."""
    from core.translate.stream import translate_scene
    from tests.support.repo import ROOT

    product = ROOT / "samples" / "products" / "SYNTHETIC_S1A_IW_GRDH_1SDV.zip"
    path, _ = _write_pth(tmp_path, "sar2optical")
    tr = Translator(gn.load_generator(path), TranslateOptions(device="cpu"))
    with sio.open_source(product, pol="VV") as src:
        assert src.calibration == "sigma0" and any("thermal noise removed" in n for n in src.notes)
        sigma0 = src.read()
        res = translate_scene(src, tmp_path / "out.tif", tr)
    assert any("sen1-2 (auto)" in n for n in res.notes) and res.limits == [(-25.0, 0.0)]
    ref = translate_raster(sio.Raster(sigma0, "intensity", "p"), tr, TranslateOptions(input_scaling="sen1-2"))
    assert np.abs(sio.read_raster(tmp_path / "out.tif").data.astype(int) - ref.output).max() <= 1
