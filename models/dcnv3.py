"""DCNv3, the deformable convolution of InternImage, as RGTGAN calls it (models/rgtgan.py, through
models/refsr_blocks.GPCDAlign).

DCNv3 (InternImage): value = input_proj(x); offsets and softmax(mask) per group come from a depthwise 3x3 conv +
LayerNorm + GELU of the *second* argument (RGTGAN calls `dcn(ref_feature, offset_feature)`); each output is the
mask-weighted sum of bilinear samples (zeros outside) at the kernel points plus learned offsets; output_proj.
RGTGAN's modified two-argument DCNv3 source is not public in the material we could read; taking the offsets from
the second argument is how its call site reads (`L3_dcnpack(Ref_use_fea, L3_offset)`), and is a stated assumption.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def dcnv3_sample(
    value: torch.Tensor,
    offset: torch.Tensor,
    mask: torch.Tensor,
    group: int,
    kernel: int = 3,
    dilation: int = 1,
    naive: bool = False,
) -> torch.Tensor:
    """DCNv3 core (stride 1, 'same' padding), channels last.

    value (N, H, W, C); offset (N, H, W, G*P*2) ordered (group, point, xy); mask (N, H, W, G*P) already
    softmaxed per group. Kernel point p sits at dx = (p // k - k//2)*dilation, dy = (p % k - k//2)*dilation
    (InternImage's order). Bilinear samples, zeros outside. Returns (N, H, W, C).

    The default path does one grid_sample for all groups and points; `naive=True` loops over the points with
    one grid_sample each (the straightforward form, kept as the benchmark's baseline).
    """
    n, h, w, c = value.shape
    p = kernel * kernel
    cg = c // group
    dev, dt = value.device, value.dtype
    half = kernel // 2
    taps = (torch.arange(kernel, device=dev, dtype=dt) - half) * dilation
    tap_x = taps.repeat_interleave(kernel)  # p // k
    tap_y = taps.repeat(kernel)  # p % k
    ys = torch.arange(h, device=dev, dtype=dt).view(1, h, 1, 1, 1)
    xs = torch.arange(w, device=dev, dtype=dt).view(1, 1, w, 1, 1)
    off = offset.reshape(n, h, w, group, p, 2)
    px = xs + tap_x.view(1, 1, 1, 1, p) + off[..., 0]  # (N, H, W, G, P) pixel coordinates
    py = ys + tap_y.view(1, 1, 1, 1, p) + off[..., 1]
    gx = (2 * px + 1) / w - 1  # align_corners=False normalisation
    gy = (2 * py + 1) / h - 1
    grid = torch.stack((gx, gy), -1)  # (N, H, W, G, P, 2)
    grid = grid.permute(0, 3, 1, 2, 4, 5).reshape(n * group, h, w * p, 2) if not naive else grid
    val = value.permute(0, 3, 1, 2).reshape(n * group, cg, h, w)
    m = mask.reshape(n, h, w, group, p).permute(0, 3, 1, 2, 4)  # (N, G, H, W, P)
    if naive:
        out = torch.zeros(n, group, cg, h, w, device=dev, dtype=dt)
        for k in range(p):
            gk = grid[..., k, :].permute(0, 3, 1, 2, 4).reshape(n * group, h, w, 2)
            s = F.grid_sample(val, gk, mode="bilinear", padding_mode="zeros", align_corners=False)
            out = out + s.view(n, group, cg, h, w) * m[..., k].unsqueeze(2)
        return out.reshape(n, c, h, w).permute(0, 2, 3, 1)
    s = F.grid_sample(val, grid, mode="bilinear", padding_mode="zeros", align_corners=False)  # (NG, Cg, H, W*P)
    s = s.view(n, group, cg, h, w, p)
    out = (s * m.unsqueeze(2)).sum(-1)  # (N, G, Cg, H, W)
    return out.reshape(n, c, h, w).permute(0, 2, 3, 1)


class DCNv3(nn.Module):
    """InternImage DCNv3 module with RGTGAN's two-argument call: forward(value_nhwc, offset_feature_nhwc)."""

    def __init__(
        self, channels: int = 80, kernel_size: int = 3, group: int = 8, dilation: int = 1, offset_scale: float = 1.0
    ):
        super().__init__()
        self.channels, self.kernel_size, self.group = channels, kernel_size, group
        self.dilation, self.offset_scale = dilation, offset_scale
        self.dw_conv = nn.Sequential(
            nn.Conv2d(channels, channels, kernel_size, 1, (kernel_size - 1) // 2, groups=channels),
            nn.Sequential(_ToChannelsLast(), nn.LayerNorm(channels, eps=1e-6)),
            nn.GELU(),
        )
        p = kernel_size * kernel_size
        self.offset = nn.Linear(channels, group * p * 2)
        self.mask = nn.Linear(channels, group * p)
        self.input_proj = nn.Linear(channels, channels)
        self.output_proj = nn.Linear(channels, channels)
        nn.init.zeros_(self.offset.weight)
        nn.init.zeros_(self.offset.bias)
        nn.init.zeros_(self.mask.weight)
        nn.init.zeros_(self.mask.bias)
        nn.init.xavier_uniform_(self.input_proj.weight)
        nn.init.zeros_(self.input_proj.bias)
        nn.init.xavier_uniform_(self.output_proj.weight)
        nn.init.zeros_(self.output_proj.bias)

    def offsets_and_mask(self, offset_feature: torch.Tensor):
        n, h, w, _ = offset_feature.shape
        x1 = self.dw_conv(offset_feature.permute(0, 3, 1, 2))
        offset = self.offset(x1) * self.offset_scale
        mask = self.mask(x1).reshape(n, h, w, self.group, -1).softmax(-1).reshape(n, h, w, -1)
        return offset, mask

    def forward(self, value: torch.Tensor, offset_feature: torch.Tensor, naive: bool = False) -> torch.Tensor:
        x = self.input_proj(value)
        offset, mask = self.offsets_and_mask(offset_feature)
        x = dcnv3_sample(x, offset, mask, self.group, self.kernel_size, self.dilation, naive=naive)
        return self.output_proj(x)


class _ToChannelsLast(nn.Module):
    def forward(self, x):
        return x.permute(0, 2, 3, 1)
