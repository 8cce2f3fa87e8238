"""RRSGAN's full forward (models/rrsgan.py, tiny widths) against a functional reference (tests/models/rrsgan_functional.py) from the
published structure: F.conv2d on the module's own state dict, central-difference gradients, a DCNv2 written
with explicit bilinear gathers (no grid_sample), a hand pixel shuffle, and the bilinear x4 residual base."""

import torch
import torch.nn.functional as F

from models.rrsgan import RRSGANGenerator
from tests.models.rrsgan_functional import Ref
from tests.support.superres import _inputs


def test_rrsgan_forward_matches_functional_reference():
    ngf, n_blocks, groups = 8, 2, 2
    net = RRSGANGenerator(ngf=ngf, n_blocks=n_blocks, groups=groups, with_unused=False).double().eval()
    g = torch.Generator().manual_seed(0)
    sd = {}
    for k, v in net.state_dict().items():
        if "get_g_nopadding" in k:
            sd[k] = v  # the fixed difference kernels
        elif "conv_offset_mask" in k:
            sd[k] = torch.randn(v.shape, generator=g, dtype=torch.float64) * 0.3  # offsets of about a pixel
        else:
            sd[k] = torch.randn(v.shape, generator=g, dtype=torch.float64) * (
                1.0 / v[0].numel() ** 0.5 if v.dim() > 1 else 0.05
            )
    net.load_state_dict(sd, strict=True)
    lr, lr_up, ref, ref_dup = (t.double() for t in _inputs(6))
    with torch.no_grad():
        ours = net(lr, lr_up, ref, ref_dup)
        want = Ref(sd, groups)(lr, lr_up, ref, ref_dup, n_blocks)
        residual = want - F.interpolate(lr, scale_factor=4, mode="bilinear", align_corners=False)
    assert ours.shape == (1, 3, 24, 24)
    assert residual.abs().max() > 1e-2  # the network's residual is not negligible against the base
    torch.testing.assert_close(ours, want, rtol=1e-6, atol=1e-8)
