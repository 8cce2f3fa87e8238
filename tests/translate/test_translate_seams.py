"""No seams with instance-normalised generators (issue 20): per-sample statistics (instance norm, SE pooling) are
the whole image's, recorded once and frozen for every tile, so the tiled translation equals the untiled network.

The reference is the network run on the whole image in one piece (PyTorch, the same random weights). The network
is a small pix2pixHD GlobalGenerator (InstanceNorm, width 8) whose receptive field lies inside the blend margin, so
the only thing tiling could change is the statistics; with per-tile statistics (the code before issue 20) the
difference is about 14 grey levels on average (checked by hand: see the last assertion)."""

import numpy as np
import pytest
import torch

from core import io as sio
from core.translate import TranslateOptions, Translator, translate_array
from core.translate.generators import LoadedGenerator
from core.translate.sample_norms import per_sample_layers, stats_windows
from core.translate.stream import translate_scene
from models.registry import build
from tests.support.generators import _randomise


def _generator(se: bool) -> LoadedGenerator:
    torch.manual_seed(0)
    cfg = {"ngf": 8, "n_downsample": 1, "n_blocks": 1, "norm": "instance", "se_blocks": se}
    model = _randomise(build("pix2pixhd_global", cfg), seed=0).eval()
    return LoadedGenerator("g.pth", "pth", "pix2pixhd_global", model.config, {}, model=model)


def _image(h=512, w=768, seed=1):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w]
    img = 128 + 60 * np.sin(xx / 40.0) + 40 * np.cos(yy / 55.0) + rng.normal(0, 20, (h, w))
    img[:, w // 2 :] += 50  # a brighter half: per-tile statistics differ strongly between tiles
    return np.repeat(np.clip(img, 0, 255).astype(np.uint8)[..., None], 3, axis=2)


def _untiled(gen: LoadedGenerator, img: np.ndarray) -> np.ndarray:
    x = torch.from_numpy(img.astype(np.float32)).permute(2, 0, 1)[None] / 127.5 - 1
    with torch.no_grad():
        y = gen.model(x)[0].permute(1, 2, 0).numpy()
    return np.clip(np.rint((y + 1) * 127.5), 0, 255)


@pytest.mark.parametrize("se", [False, True], ids=["pix2pixhd", "chrgan_se"])
def test_tiled_instance_norm_generator_equals_untiled(se):
    gen = _generator(se)
    assert len(per_sample_layers(gen.model)) >= 4
    img = _image()
    tr = Translator(gen, TranslateOptions(device="cpu", backend="onnx", overlap=64))
    assert tr.backend == "torch" and any("instance norm" in n for n in tr.notes)  # statistics need PyTorch
    out, n = translate_array(img, tr)
    ref = _untiled(gen, img)
    assert n == 12
    assert np.abs(out - ref).max() <= 1  # rounding only
    tr.sample_norms = None  # per-tile statistics, as before issue 20: visibly different tiles
    seamed, _ = translate_array(img, tr)
    assert np.abs(seamed - ref).mean() > 5


def test_streamed_scene_uses_the_same_frozen_statistics(tmp_path):
    gen = _generator(True)
    img = _image(300, 520)
    path = tmp_path / "scene.tif"
    sio.write_geotiff(path, img[..., 0], None, ["grey"])
    tr = Translator(gen, TranslateOptions(device="cpu", backend="torch", overlap=64))
    with sio.open_source(path) as src:
        res = translate_scene(src, tmp_path / "out.tif", tr, kind="display")
    streamed = sio.read_raster(tmp_path / "out.tif").data
    assert np.abs(streamed.astype(float) - _untiled(gen, img)).max() <= 1
    assert any("recorded once over the whole scene" in n for n in res.notes)


def test_statistics_windows_cover_a_large_scene():
    wins = stats_windows(6000, 6000, 256)
    assert 9 <= len(wins) <= 16 and len(wins) * 256 * 256 <= 1024 * 1024
    ys, xs = {y for y, _ in wins}, {x for _, x in wins}
    assert min(ys) == 0 and max(ys) == 6000 - 256 and min(xs) == 0 and max(xs) == 6000 - 256
