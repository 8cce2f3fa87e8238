"""Super-resolution test pieces shared by the network, engine and training tests: a compact RGTGAN configuration,
a per-pixel bilinear sample, random state dicts and inputs, and a KaggleSRD-style folder."""

import numpy as np
import torch
import torch.nn.functional as F

from core import io as sio
from core.superres.inputs import resize_bicubic
from core.train.synthetic import make_optical_scene

COMPACT = dict(
    ngf=16, n_blocks=1, groups=4, gtem_nf=8, gtem_blocks=1, align_tail_blocks=1, dense_rounds=1, dense_steps=1
)


def _bilinear_zero(img, y, x):
    """img (H, W, C): bilinear sample at pixel coordinates (y, x), zero outside (per-pixel reference)."""
    h, w, c = img.shape
    y0, x0 = int(np.floor(y)), int(np.floor(x))
    out = np.zeros(c)
    for yy, wy in ((y0, 1 - (y - y0)), (y0 + 1, y - y0)):
        for xx, wx in ((x0, 1 - (x - x0)), (x0 + 1, x - x0)):
            if 0 <= yy < h and 0 <= xx < w:
                out += wy * wx * img[yy, xx]
    return out


def _random_state(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {
        k: (torch.randn(v.shape, generator=g) * 0.05 if v.is_floating_point() else v.clone())
        for k, v in model.state_dict().items()
    }


def _inputs(h, seed=1):
    g = torch.Generator().manual_seed(seed)
    lr = torch.rand(1, 3, h, h, generator=g)
    lr_up = F.interpolate(lr, scale_factor=4, mode="bicubic", align_corners=False)
    ref = torch.rand(1, 3, 4 * h, 4 * h, generator=g)
    ref_dup = F.interpolate(F.interpolate(ref, scale_factor=0.25, mode="bicubic"), scale_factor=4, mode="bicubic")
    return lr, lr_up, ref, ref_dup


def write_srd(root, ref_name="Ref", n=3, lr_size=16):
    """A KaggleSRD-style folder: HR (4x), LR (HR shrunk), Ref (another view), plus the derived folders RGTGAN has."""
    for i in range(n):
        hr = make_optical_scene(i, lr_size * 4, (0.1, 0.1, 0.4, 0.4))
        lr = np.clip(np.rint(resize_bicubic(hr.astype(np.float32), lr_size, lr_size)), 0, 255).astype(np.uint8)
        ref = make_optical_scene(i, lr_size * 4, (0.12, 0.1, 0.42, 0.4), variant=1)
        sio.write_png(root / "HR" / f"img_{i:03d}.png", hr)
        sio.write_png(root / "LR" / f"img_{i:03d}.png", lr)
        sio.write_png(root / ref_name / f"img_{i:03d}.png", ref)
        sio.write_png(root / "LR_UX4" / f"img_{i:03d}.png", hr)  # derived folders are present and not read
    return root
