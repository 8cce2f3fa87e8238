"""RRSGAN: DCNv2 (modulated deformable conv) against a per-pixel loop and a plain convolution; strict .pth load."""

import numpy as np
import torch
import torch.nn.functional as F

from models.rrsgan import RRSGANGenerator, dcnv2_sample_conv
from tests.support.superres import _bilinear_zero, _inputs, _random_state


def dcnv2_loop(x, offset, mask, weight, bias, groups):
    """Per output pixel: sum over input channels and kernel points (row-major) of weight * mask * bilinear
    sample at (i + ky - 1 + dy, j + kx - 1 + dx), zeros outside; offsets (dy, dx) per group and point."""
    n, c, h, w = x.shape
    o = weight.shape[0]
    cg = c // groups
    out = np.zeros((n, o, h, w))
    img = x.transpose(0, 2, 3, 1)
    for b in range(n):
        for i in range(h):
            for j in range(w):
                for ci in range(c):
                    g = ci // cg
                    for q in range(9):
                        ky, kx = divmod(q, 3)
                        dy, dx = offset[b, g * 18 + 2 * q, i, j], offset[b, g * 18 + 2 * q + 1, i, j]
                        v = _bilinear_zero(img[b, :, :, ci : ci + 1], i + ky - 1 + dy, j + kx - 1 + dx)[0]
                        out[b, :, i, j] += weight[:, ci, ky, kx] * mask[b, g * 9 + q, i, j] * v
    return out + bias.reshape(1, -1, 1, 1)


def test_dcnv2_matches_per_pixel_loop(rng):
    x = rng.normal(size=(1, 4, 5, 6)).astype(np.float32)
    offset = rng.uniform(-2.5, 2.5, size=(1, 2 * 9 * 2, 5, 6)).astype(np.float32)
    mask = rng.random((1, 2 * 9, 5, 6)).astype(np.float32)
    weight = rng.normal(size=(3, 4, 3, 3)).astype(np.float32)
    bias = rng.normal(size=3).astype(np.float32)
    got = dcnv2_sample_conv(*(torch.from_numpy(a) for a in (x, offset, mask, weight, bias)), groups=2).numpy()
    np.testing.assert_allclose(got, dcnv2_loop(x, offset, mask, weight, bias, 2), atol=2e-5)


def test_dcnv2_without_offsets_and_full_mask_is_a_convolution(rng):
    x = torch.from_numpy(rng.normal(size=(2, 8, 7, 9)).astype(np.float32))
    weight = torch.randn(5, 8, 3, 3)
    bias = torch.randn(5)
    got = dcnv2_sample_conv(x, torch.zeros(2, 4 * 18, 7, 9), torch.ones(2, 4 * 9, 7, 9), weight, bias, groups=4)
    torch.testing.assert_close(got, F.conv2d(x, weight, bias, padding=1), atol=1e-5, rtol=1e-5)


def test_rrsgan_pth_loads_strictly_and_runs(tmp_path):
    from core.superres import load_superres_model

    m = RRSGANGenerator()
    sd = m.state_dict()
    assert tuple(sd["gpcd_align.L3_dcnpack.conv_offset_mask.weight"].shape) == (216, 80, 3, 3)  # the spec's key
    assert any(k.startswith("Encoder_grad.") for k in sd) and not any(k.startswith("GTEM.") for k in sd)
    state = _random_state(m, 7)
    path = tmp_path / "200000_G.pth"
    torch.save(state, path)
    model, desc = load_superres_model(path)
    assert "RRSGAN" in desc
    x = _inputs(8, 3)
    with torch.inference_mode():
        out = model(*x)
        with_tail = model(*x, full=True)
    assert out.shape == (1, 3, 32, 32) and torch.isfinite(out).all()
    torch.testing.assert_close(out, with_tail)
