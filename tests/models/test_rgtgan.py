"""RGTGAN generator: DCNv3 against a per-pixel loop, RGTGAN's key set, strict .pth loading, pruned == full."""

import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from models.dcnv3 import dcnv3_sample
from models.refsr_blocks import GradientMagnitude
from models.rgtgan import RGTGANGenerator, gtem_pixel_shuffle, rgtgan_key_counts, unused_parameter_names
from tests.support.superres import COMPACT, _bilinear_zero, _inputs, _random_state

# The full-size network costs about 55 GFLOP per 16x16 LR patch and 875 GFLOP per 64x64 one (minutes on a busy
# 2-core machine): the default run uses 16x16; SAR_STUDIO_RGTGAN_TEST_LR=64 runs the 64x64 forward.
FULL_LR = int(os.environ.get("SAR_STUDIO_RGTGAN_TEST_LR", "16"))


def dcnv3_loop(value, offset, mask, group, k=3):
    """DCNv3 core written as loops over pixels, groups and kernel points (InternImage's point order)."""
    n, h, w, c = value.shape
    cg, p = c // group, k * k
    out = np.zeros_like(value, dtype=np.float64)
    for b in range(n):
        for i in range(h):
            for j in range(w):
                for g in range(group):
                    acc = np.zeros(cg)
                    for q in range(p):
                        dx, dy = q // k - k // 2, q % k - k // 2
                        ox, oy = offset[b, i, j, (g * p + q) * 2], offset[b, i, j, (g * p + q) * 2 + 1]
                        s = _bilinear_zero(value[b, :, :, g * cg : (g + 1) * cg], i + dy + oy, j + dx + ox)
                        acc += mask[b, i, j, g * p + q] * s
                    out[b, i, j, g * cg : (g + 1) * cg] = acc
    return out


@pytest.mark.parametrize("naive", [False, True])
def test_dcnv3_sampling_matches_per_pixel_loop(rng, naive):
    n, h, w, c, g = 2, 5, 6, 8, 2
    value = rng.normal(size=(n, h, w, c)).astype(np.float32)
    offset = rng.uniform(-2.5, 2.5, size=(n, h, w, g * 9 * 2)).astype(np.float32)  # reaches past the borders
    logits = rng.normal(size=(n, h, w, g, 9))
    mask = (np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)).reshape(n, h, w, g * 9).astype(np.float32)
    got = dcnv3_sample(
        torch.from_numpy(value), torch.from_numpy(offset), torch.from_numpy(mask), g, 3, naive=naive
    ).numpy()
    want = dcnv3_loop(value, offset, mask, g)
    np.testing.assert_allclose(got, want, atol=2e-5)


def test_dcnv3_zero_offsets_is_a_masked_3x3_gather(rng):
    """With zero offsets and a one-hot mask on the centre point, DCNv3 sampling returns the input itself."""
    value = torch.from_numpy(rng.normal(size=(1, 4, 4, 4)).astype(np.float32))
    mask = torch.zeros(1, 4, 4, 2 * 9)
    mask[..., 4] = 1
    mask[..., 9 + 4] = 1
    out = dcnv3_sample(value, torch.zeros(1, 4, 4, 2 * 9 * 2), mask, 2)
    torch.testing.assert_close(out, value)


def test_gradient_magnitude_matches_central_differences(rng):
    x = rng.random((1, 3, 7, 9)).astype(np.float32)
    got = GradientMagnitude()(torch.from_numpy(x)).numpy()
    p = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    dv = p[:, :, 2:, 1:-1] - p[:, :, :-2, 1:-1]
    dh = p[:, :, 1:-1, 2:] - p[:, :, 1:-1, :-2]
    np.testing.assert_allclose(got, np.sqrt(dv**2 + dh**2 + 1e-6), atol=1e-6)


def test_gtem_pixel_shuffle_reproduces_the_ported_tensorflow_routine(rng):
    """The original's steps for one image: NHWC, split channels in fours, view (H, W, 2, 2), swap the last two
    axes, flatten, reshape to (2H, 2W)."""
    x = rng.normal(size=(1, 8, 3, 5)).astype(np.float32)
    nhwc = x[0].transpose(1, 2, 0)
    want = []
    for gi in range(2):
        part = nhwc[..., gi * 4 : (gi + 1) * 4].reshape(3, 5, 2, 2).transpose(0, 1, 3, 2)
        want.append(part.reshape(6, 10))
    got = gtem_pixel_shuffle(torch.from_numpy(x)).numpy()[0]
    np.testing.assert_array_equal(got, np.stack(want))
    # and it is not the standard pixel shuffle (which would put these values elsewhere)
    assert not np.array_equal(got, F.pixel_shuffle(torch.from_numpy(x), 2).numpy()[0])


def test_full_size_key_set_matches_rgtgan():
    m = RGTGANGenerator()
    sd = m.state_dict()
    n, params = rgtgan_key_counts(m)
    assert n == 800
    assert round(params / 1e6, 1) == 19.9
    assert tuple(sd["gpcd_align.L3_dcnpack.offset.weight"].shape) == (144, 80)
    assert tuple(sd["get_g_nopadding.weight_h"].shape) == (1, 1, 3, 3)
    assert any(k.startswith("GTEM.") for k in sd)
    dead = unused_parameter_names(m)
    frac = sum(sd[k].numel() for k in dead) / params
    assert 0.45 < frac < 0.47  # "about 46 % never reach the output"


def test_rgtgan_pth_with_random_weights_loads_strictly_and_runs(tmp_path):
    from core.superres import load_superres_model

    state = _random_state(RGTGANGenerator())
    path = tmp_path / "300000_G.pth"
    torch.save({"module." + k: v for k, v in state.items()}, path)  # DataParallel prefix, as saved on 2 GPUs
    model, desc = load_superres_model(path)
    assert "RGTGAN" in desc
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k
    with torch.inference_mode():
        out = model(*_inputs(FULL_LR))
    assert out.shape == (1, 3, 4 * FULL_LR, 4 * FULL_LR)
    assert torch.isfinite(out).all()


def test_pruned_forward_equals_full_forward():
    torch.manual_seed(0)
    m = RGTGANGenerator(**COMPACT).eval()
    m.load_state_dict(_random_state(m, 3))
    x = _inputs(8, 2)
    with torch.inference_mode():
        pruned = m(*x)
        # as the original runs: every computed branch, ConvTranspose2d, DCNv3 point by point, encoders per image
        full = m.use_fast_paths(False)(*x, full=True, naive_dcn=True, separate_encoders=True)
    assert len(m.gpcd_align._last_dead) == 4 and m.content_extractor._last_dead.shape == (1, 3, 32, 32)
    torch.testing.assert_close(pruned, full, atol=1e-5, rtol=1e-5)


def test_unused_branches_do_not_change_the_output():
    m = RGTGANGenerator(**COMPACT).eval()
    m.load_state_dict(_random_state(m, 4))
    x = _inputs(8, 5)
    with torch.inference_mode():
        before = m(*x)
        sd = m.state_dict()
        for k in unused_parameter_names(m):
            sd[k].add_(1.0)
        after = m(*x)
        sd["texture_transfer.tail_large.2.bias"].add_(1.0)  # a live parameter does change it
        changed = m(*x)
    torch.testing.assert_close(before, after)
    assert (changed - before).abs().max() > 0.5


def test_compact_model_without_unused_branches_has_none_of_their_keys():
    m = RGTGANGenerator(**{**COMPACT, "with_unused": False})
    assert unused_parameter_names(m) == []
    with pytest.raises(ValueError):
        m(*_inputs(4), full=True)


def test_wrong_checkpoints_are_refused_in_one_sentence(tmp_path):
    from core.errors import UserError
    from core.superres import load_superres_model

    state = _random_state(RGTGANGenerator(**COMPACT))
    p = tmp_path / "small_G.pth"
    torch.save(state, p)
    with pytest.raises(UserError, match=r"does not fit architecture rgtgan: .*shape mismatches"):
        load_superres_model(p)
    p2 = tmp_path / "rrsgan_G.pth"
    torch.save({"gpcd_align.L3_dcnpack.conv_offset_mask.weight": torch.zeros(216, 80, 3, 3)}, p2)
    with pytest.raises(UserError, match="does not fit architecture rrsgan"):
        load_superres_model(p2)
    p3 = tmp_path / "other.pth"
    torch.save({"model.0.weight": torch.zeros(3)}, p3)
    with pytest.raises(UserError, match="not an RGTGAN generator"):
        load_superres_model(p3)
