"""The translation generators: published sizes and key names, and forward passes against hand-written references.

The references (tests/support/generators.py) are written with torch.nn.functional directly from the state_dict (eval mode), following
the architecture descriptions in shared/spec/foreign-formats.md, not from the module code.
"""

import pytest
import torch
import torch.nn.functional as F

from models.registry import build
from tests.support.generators import (
    _bn,
    _randomise,
    global_reference,
    junyan_reference,
    local_reference,
    sar2optical_reference,
)


def _count(name, config):
    with torch.device("meta"):
        m = build(name, config)
    sd = m.state_dict()
    return len(sd), sum(p.numel() for p in m.parameters()), sd


@pytest.mark.parametrize(
    "name, config, tensors, params, first_key, first_shape",
    [
        ("sar2optical_unet", {}, 94, 54_541_827, "encoder.enc1.conv_block.0.weight", (64, 3, 4, 4)),
        ("junyan_unet", {}, 82, 54_413_955, "model.model.0.weight", (64, 3, 4, 4)),
        ("pix2pixhd_global", {}, 56, 182_443_267, "model.1.weight", (64, 3, 7, 7)),
    ],
)
def test_published_sizes(name, config, tensors, params, first_key, first_shape):
    n, p, sd = _count(name, config)
    assert (n, p) == (tensors, params)
    assert tuple(sd[first_key].shape) == first_shape


def test_sar2optical_keys_match_the_published_layout():
    _, _, sd = _count("sar2optical_unet", {})
    assert tuple(sd["head.0.weight"].shape) == (3, 64, 3, 3)
    assert "encoder.enc1.conv_block.0.bias" in sd and "encoder.enc1.conv_block.1.weight" not in sd
    assert "encoder.enc2.conv_block.0.bias" not in sd and "encoder.enc8.conv_block.1.running_var" in sd
    # decoder input channels: dec1 512, dec2..dec5 1024, dec6 512, dec7 256, dec8 128 (transpose conv: (in, out, k, k))
    ins = [sd[f"decoder.dec{i}.conv_block.0.weight"].shape[0] for i in range(1, 9)]
    assert ins == [512, 1024, 1024, 1024, 1024, 512, 256, 128]
    _, _, up = _count("sar2optical_unet", {"use_upsampling": True})
    assert tuple(up["decoder.dec1.conv_block.0.1.weight"].shape) == (512, 512, 3, 3)


def test_pix2pixhd_key_positions():
    _, _, sd = _count("pix2pixhd_global", {})
    # d = 4 downsamplings, nb = 9 residual blocks (the positions below count with them)
    assert "model.38.weight" in sd and tuple(sd["model.38.weight"].shape) == (3, 64, 7, 7)  # 5 + 6d + nb
    assert "model.16.conv_block.1.weight" in sd and "model.16.conv_block.5.weight" in sd  # 4 + 3d
    assert "model.25.weight" in sd and tuple(sd["model.25.weight"].shape) == (1024, 512, 3, 3)  # 4 + 3d + nb
    assert not any("running" in k for k in sd)  # instance norm: no keys
    _, _, se = _count("pix2pixhd_global", {"se_blocks": True})
    assert tuple(se["model.16.res_weight"].shape) == (1,)
    assert tuple(se["model.16.se.1.weight"].shape) == (256, 1024, 1, 1)
    assert tuple(se["model.16.se.3.weight"].shape) == (1024, 256, 1, 1)
    _, _, bn = _count("pix2pixhd_global", {"norm": "batch"})
    assert "model.2.running_mean" in bn and "model.16.conv_block.2.running_var" in bn
    _, _, local = _count("pix2pixhd_local", {})
    assert any(k.startswith("model1_1.") for k in local) and any(k.startswith("model1_2.") for k in local)
    assert tuple(local["model.1.weight"].shape) == (64, 3, 7, 7)  # global part at ngf * 2


def test_sar2optical_forward_matches_reference():
    m = _randomise(build("sar2optical_unet", {"width": 4, "n_down": 6}))
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        ref = sar2optical_reference(m.state_dict(), x, 6)
        assert torch.allclose(m(x), ref, atol=1e-5)


def test_junyan_forward_matches_reference():
    m = _randomise(build("junyan_unet", {"ngf": 4, "num_downs": 6}), seed=1)
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        assert torch.allclose(m(x), junyan_reference(m.state_dict(), x, 6), atol=1e-5)


@pytest.mark.parametrize("se", [False, True])
def test_global_generator_forward_matches_reference(se):
    m = _randomise(build("pix2pixhd_global", {"ngf": 4, "n_downsample": 2, "n_blocks": 2, "se_blocks": se}), seed=2)
    x = torch.rand(1, 3, 32, 48) * 2 - 1
    with torch.no_grad():
        assert torch.allclose(m(x), global_reference(m.state_dict(), x, 2, 2, se), atol=1e-5)


def test_local_enhancer_runs_global_at_half_resolution():
    m = _randomise(
        build("pix2pixhd_local", {"ngf": 4, "n_downsample_global": 2, "n_blocks_global": 1, "n_blocks_local": 1}),
        seed=3,
    )
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    sd = m.state_dict()
    with torch.no_grad():
        # coarse input: 3x3 average, stride 2, padding not counted
        ones = torch.ones(1, 1, 32, 32)
        coarse = F.conv2d(F.pad(x, (1, 1, 1, 1)), torch.ones(3, 1, 3, 3), stride=2, groups=3) / F.conv2d(
            F.pad(ones, (1, 1, 1, 1)), torch.ones(1, 1, 3, 3), stride=2
        )
        assert torch.allclose(m.downsample(x), coarse, atol=1e-6)
        assert m(x).shape == (1, 3, 32, 32)
        assert torch.allclose(m(x), local_reference(sd, x, 2, 1, 1), atol=1e-5)
        # the global part is the GlobalGenerator (at 2 * ngf) without its last three layers
        g = build("pix2pixhd_global", {"ngf": 8, "n_downsample": 2, "n_blocks": 1}).eval()
        gsd = {k: v for k, v in sd.items() if k.startswith("model.")}
        missing = set(g.state_dict()) - set(gsd)
        assert missing == {"model.18.weight", "model.18.bias"}  # the final conv (5 + 6d + nb) is dropped


def test_sar2optical_upsampling_variant_matches_reference():
    m = _randomise(build("sar2optical_unet", {"width": 4, "n_down": 5, "use_upsampling": True}), seed=5)
    sd = m.state_dict()
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    skips, h = [], x
    for i in range(1, 6):
        p = f"encoder.enc{i}.conv_block."
        h = F.conv2d(h, sd[p + "0.weight"], sd.get(p + "0.bias"), stride=2, padding=1)
        h = F.leaky_relu(_bn(h, sd, p + "1.") if i > 1 else h, 0.2)
        skips.append(h)
    for j in range(1, 6):
        p = f"decoder.dec{j}.conv_block."
        h = F.conv2d(F.interpolate(h, scale_factor=2, mode="nearest"), sd[p + "0.1.weight"], padding=1)
        h = F.relu(_bn(h, sd, p + "1."))
        if j < 5:
            h = torch.cat([skips[5 - 1 - j], h], 1)
    ref = torch.tanh(F.conv2d(h, sd["head.0.weight"], sd["head.0.bias"], padding=1))
    with torch.no_grad():
        assert torch.allclose(m(x), ref, atol=1e-5)
