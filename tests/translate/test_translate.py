"""Translation engine: every generator format loads and reproduces its reference pixels; any size; geo kept; errors.

Random-weight checkpoints of every format are built by tests/translate/formats.py (small widths) and written the way their projects write
them (.pth state_dicts, some with `module.` / `_orig_mod.` prefixes). The reference is the hand-written functional
forward in tests/support/generators.py with each project's normalisation: x/255, (x-0.5)/0.5, output (y+1)/2.
"""

import numpy as np
import pytest
import torch

from core import checkpoints as ck
from core import io as sio
from core.cli import main as cli_main
from core.errors import UserError
from core.translate import TranslateOptions, Translator, network_input, translate_many, translate_raster
from core.translate import generators as gn
from models.registry import build
from tests.support.generators import (
    _randomise,
)
from tests.translate.formats import FORMATS, _write_pth


def _grey_png(tmp_path, h=256, w=256, seed=3):
    rng = np.random.default_rng(seed)
    img = (rng.random((h, w)) * 255).astype(np.uint8)
    path = tmp_path / "sar.png"
    sio.write_png(path, img)
    return path, img


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_foreign_generator_reproduces_reference_pixels(tmp_path, fmt):
    path, model = _write_pth(tmp_path, fmt)
    arch, config, _, reference = FORMATS[fmt]
    gen = gn.load_generator(path)
    assert gen.arch == arch and all(gen.config[k] == v for k, v in config.items())
    img_path, img = _grey_png(tmp_path)
    translator = Translator(gen, TranslateOptions(device="cpu"))
    result = translate_raster(sio.read_raster(img_path), translator)
    assert result.output.shape == (256, 256, 3) and result.output.dtype == np.uint8
    x = torch.from_numpy(np.repeat(img[None, None].astype(np.float32), 3, axis=1)) / 255.0
    with torch.no_grad():
        y = reference(model.state_dict(), (x - 0.5) / 0.5)
    expected = (y[0].permute(1, 2, 0).numpy() + 1) / 2 * 255
    diff = np.abs(result.output.astype(np.float32) - expected)
    assert diff.max() <= 1.0, diff.max()
    assert expected.std() > 1  # the reference is not a flat image


def test_detection_infers_every_size_from_shapes():
    cases = [
        ("sar2optical_unet", {"in_channels": 1, "out_channels": 3, "width": 8, "n_down": 6, "use_upsampling": True}),
        ("junyan_unet", {"in_channels": 1, "out_channels": 3, "ngf": 8, "num_downs": 7, "norm": "instance"}),
        (
            "pix2pixhd_global",
            {"in_channels": 3, "out_channels": 3, "ngf": 8, "n_downsample": 3, "n_blocks": 4, "norm": "batch"},
        ),
        (
            "pix2pixhd_global",
            {"ngf": 8, "n_downsample": 2, "n_blocks": 3, "se_blocks": True, "se_reduction": 8, "se_bias": False},
        ),
        (
            "pix2pixhd_local",
            {"ngf": 4, "n_downsample_global": 2, "n_blocks_global": 3, "n_local_enhancers": 1, "n_blocks_local": 2},
        ),
    ]
    for arch, config in cases:
        with torch.device("meta"):
            m = build(arch, config)
        got_arch, got = gn.detect_foreign({"module." + k: v for k, v in m.state_dict().items()})
        assert got_arch == arch
        assert {k: got[k] for k in config} == config, (arch, got)


def test_our_safetensors_and_local_enhancer_round_trip(tmp_path):
    torch.manual_seed(1)
    m = _randomise(
        build("pix2pixhd_local", {"ngf": 4, "n_downsample_global": 2, "n_blocks_global": 1, "n_blocks_local": 1}),
        seed=4,
    )
    p = ck.save_model(tmp_path / "local.safetensors", m, normalization=gn.translation_normalization(3))
    gen = gn.load_generator(p)
    assert gen.format == "sar-studio" and gen.arch == "pix2pixhd_local" and gen.size_multiple == 8
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        assert torch.equal(gen.model(x), m(x))
    torch.save(m.state_dict(), tmp_path / "local.pth")
    foreign = gn.load_generator(tmp_path / "local.pth")
    assert foreign.arch == "pix2pixhd_local" and foreign.format == "pth"


def test_1000x700_geotiff_comes_back_1000x700_and_georeferenced(tmp_path, utm_geo, rng):
    path, _ = _write_pth(tmp_path, "sar2optical")
    data = rng.gamma(1.0, 0.1, (700, 1000)).astype(np.float32)
    src = tmp_path / "scene.tif"
    sio.write_geotiff(src, data, utm_geo)
    out = tmp_path / "out" / "scene_optical.tif"
    assert cli_main(["translate", str(src), str(out), "--model", str(path), "--device", "cpu", "--overlap", "48"]) == 0
    back = sio.read_raster(out)
    assert back.data.shape == (700, 1000, 3) and back.data.dtype == np.uint8
    assert back.geo is not None and back.geo.transform == utm_geo.transform
    import rasterio

    assert rasterio.crs.CRS.from_wkt(back.geo.crs) == rasterio.crs.CRS.from_epsg(32633)


def test_sar_values_are_fed_as_display_and_dualpol_options(tmp_path, rng):
    path, _ = _write_pth(tmp_path, "sar2optical")
    # the per-image stretch (a foreign checkpoint's auto is SEN1-2 on sigma0: tests/translate/test_translate_scaling.py)
    translator = Translator(gn.load_generator(path), TranslateOptions(device="cpu", input_scaling="stretch"))
    vv = rng.gamma(1.0, 0.2, (64, 80)).astype(np.float32)
    vh = rng.gamma(1.0, 0.04, (64, 80)).astype(np.float32)
    one = sio.Raster(vv, "intensity", "vv.tif")
    img, notes = network_input(one, translator)
    db = 10 * np.log10(vv)
    lo, hi = np.percentile(db, [2, 98])
    expected = np.clip(np.rint((db - lo) * 255.0 / (hi - lo)), 0, 255).astype(np.uint8)
    assert img.shape == (64, 80, 3) and np.array_equal(img[..., 0], expected) and np.array_equal(img[..., 2], expected)
    assert any("dB, 2-98 % stretch" in n for n in notes) and any("R = G = B" in n for n in notes)
    dual = sio.Raster(np.stack([vv, vh], -1), "intensity", "vvvh.tif")
    img_vv, notes_vv = network_input(dual, translator)
    assert np.array_equal(img_vv[..., 1], expected) and any("VV band used" in n for n in notes_vv)
    img_fc, notes_fc = network_input(
        dual, translator, TranslateOptions(dualpol="false_colour", input_scaling="stretch")
    )
    ratio = db - 10 * np.log10(vh)
    lo, hi = np.percentile(ratio, [2, 98])
    assert np.abs(img_fc[..., 2].astype(int) - np.clip(np.rint((ratio - lo) * 255.0 / (hi - lo)), 0, 255)).max() <= 1
    assert any("false colour" in n for n in notes_fc)
    with pytest.raises(UserError, match="two channels"):
        network_input(dual, translator, TranslateOptions(dualpol="vv_vh", input_scaling="stretch"))


def test_folder_batches_match_one_by_one(tmp_path, rng):
    path, _ = _write_pth(tmp_path, "pix2pixhd")
    translator = Translator(gn.load_generator(path), TranslateOptions(device="cpu", batch_size=2))
    rasters = [sio.Raster((rng.random((256, 256)) * 255).astype(np.uint8), "display", f"{i}.png") for i in range(3)]
    rasters.insert(1, sio.Raster((rng.random((200, 300)) * 255).astype(np.uint8), "display", "odd.png"))
    seen = []
    batched = list(translate_many(rasters, translator, progress=lambda f, m: seen.append(f), total=4))
    assert [r.name for r in batched] == ["0.png", "odd.png", "1.png", "2.png"]
    for r, res in zip(rasters, batched):
        single = translate_raster(r, translator)
        assert res.output.shape == r.data.shape + (3,)
        assert np.abs(res.output.astype(int) - single.output).max() <= 1
    assert seen and seen[-1] == 1.0


def test_adapter_prefilter_and_device_notes(tmp_path, rng):
    path, model = _write_pth(tmp_path, "sar2optical")
    gen = gn.load_generator(path)
    mods = []
    g = torch.Generator().manual_seed(0)
    for i in range(1, 9):
        conv = getattr(model.encoder, f"enc{i}").conv_block[0]
        mods.append(
            {
                "lora_A": {"weight": torch.randn(4, conv.in_channels, 1, 1, generator=g) * 0.3},
                "lora_B": {"weight": torch.randn(conv.out_channels, 4, 1, 1, generator=g) * 0.3},
            }
        )
    adapter = tmp_path / "lora.pth"
    torch.save({"lora_modules": mods, "config": {"rank": 4, "alpha": 32}}, adapter)
    raster = sio.Raster((rng.random((256, 256)) * 255).astype(np.uint8), "display", "x.png")
    base = translate_raster(raster, Translator(gen, TranslateOptions(device="cpu")))
    adapted_t = Translator(gen, TranslateOptions(device="cuda", adapter=str(adapter), adapter_strength=1.0))
    adapted = translate_raster(raster, adapted_t)
    assert any("SAR2Optical LoRA adapter lora.pth" in n for n in adapted_t.notes)
    assert np.abs(adapted.output.astype(int) - base.output).mean() > 1
    if not torch.cuda.is_available():
        assert any("CUDA was requested" in n for n in adapted_t.notes)
    from core import speckle

    inten = sio.Raster(rng.gamma(1.0, 0.1, (64, 64)).astype(np.float32), "intensity", "i.tif")
    img, notes = network_input(inten, adapted_t, TranslateOptions(prefilter="lee", input_scaling="stretch"))
    ref = sio.render(speckle.despeckle_raster(inten, "lee"))
    assert np.array_equal(img[..., 0], ref) and any("pre-filter: lee" in n for n in notes)


def test_hostile_and_wrong_checkpoints_are_refused(tmp_path, capsys):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    evil = tmp_path / "evil.pth"
    torch.save({"w": torch.zeros(1), "x": Evil()}, evil)
    with pytest.raises(UserError, match="refused for safety"):
        gn.load_generator(evil)
    path, model = _write_pth(tmp_path, "sar2optical")
    state = torch.load(path, weights_only=True)
    state.pop("module.head.0.bias")
    state["module.decoder.dec9.conv_block.0.weight"] = torch.zeros(1)
    broken = tmp_path / "broken.pth"
    torch.save(state, broken)
    with pytest.raises(UserError) as e:
        gn.load_generator(broken)
    msg = str(e.value)
    assert "SAR2Optical U-Net (detected)" in msg and "head.0.bias" in msg and "decoder.dec9" in msg
    odd = tmp_path / "other.pth"
    torch.save({"backbone.conv.weight": torch.zeros(3, 3, 3, 3)}, odd)
    with pytest.raises(UserError, match="unrecognised generator: keys start backbone.conv.weight"):
        gn.load_generator(odd)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"\x80\x04not really a checkpoint" * 10)
    with pytest.raises(UserError):
        gn.load_generator(junk)
    # the command line: exit status 2, one line, no output file
    img_path, _ = _grey_png(tmp_path)
    out = tmp_path / "never.png"
    capsys.readouterr()
    assert cli_main(["translate", str(img_path), str(out), "--model", str(evil)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: evil.pth contains Python objects")
    assert not out.exists() and not list(tmp_path.glob(".never.png*"))
    assert cli_main(["translate", str(img_path), str(out), "--model", str(path), "--tile", "300"]) == 2
    assert "not a multiple of 256" in capsys.readouterr().err


def test_cli_folder_mode_formats_and_a_bad_file(tmp_path, rng, utm_geo, capsys):
    path, _ = _write_pth(tmp_path, "pix2pixhd")
    src = tmp_path / "in"
    src.mkdir()
    sio.write_png(src / "a.png", (rng.random((64, 96)) * 255).astype(np.uint8))
    sio.write_geotiff(src / "b.tif", rng.gamma(1.0, 0.1, (80, 72)).astype(np.float32), utm_geo)
    out = tmp_path / "out"
    args = ["translate", str(src), str(out), "--model", str(path), "--batch", "2", "--backend", "torch"]
    assert cli_main(args) == 0  # --backend torch: auto (the default since issue 10) may pick ONNX Runtime
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.tif"]
    assert sio.read_raster(out / "a.png").data.shape == (64, 96, 3)
    assert sio.read_raster(out / "b.tif").geo.transform == utm_geo.transform
    text = capsys.readouterr()
    assert "a.png -> " in text.out and "note: Backend: PyTorch eager on CPU." in text.err
    (src / "c.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)  # truncated PNG
    out2 = tmp_path / "out2"
    assert cli_main(["translate", str(src), str(out2), "--model", str(path), "--format", "png"]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(err) == 1 and "c.png" in err[0]
    assert sorted(p.name for p in out2.iterdir()) == ["a.png", "b.png"]  # complete files only
    t = Translator(gn.load_generator(path), TranslateOptions(device="cpu", half=True))
    assert any("Half precision is only used on CUDA" in n for n in t.notes)


def test_per_call_options_override_the_translator_defaults(tmp_path, rng):
    path, _ = _write_pth(tmp_path, "pix2pixhd")
    translator = Translator(gn.load_generator(path), TranslateOptions(device="cpu", overlap=32))
    raster = sio.Raster((rng.random((200, 600)) * 255).astype(np.uint8), "display", "wide.png")
    # width 600, tile 256: overlap 0 -> starts 0, 256, 344 (3 tiles); overlap 120 -> 0, 136, 272, 344 (4 tiles)
    assert translate_raster(raster, translator, TranslateOptions(overlap=0)).tiles == 3
    assert translate_raster(raster, translator, TranslateOptions(overlap=120)).tiles == 4
    assert [r.tiles for r in translate_many([raster], translator, TranslateOptions(overlap=120))] == [4]


def test_dualpol_as_the_checkpoint_was_trained(tmp_path, rng):
    m = build("sar2optical_unet", {"width": 4, "n_down": 5}).eval()
    p = ck.save_model(
        tmp_path / "dual.safetensors", m, normalization=gn.translation_normalization(3, dualpol="false_colour")
    )
    translator = Translator(gn.load_generator(p), TranslateOptions(device="cpu"))
    vv = rng.gamma(1.0, 0.2, (32, 32)).astype(np.float32)
    dual = sio.Raster(np.stack([vv, vv * 0.2], -1), "intensity", "vvvh.tif")
    img, notes = network_input(dual, translator)
    assert np.array_equal(img, sio.render(dual)) and any("false colour" in n for n in notes)
