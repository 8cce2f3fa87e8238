"""RRSGAN generator (RRSNet, reference-based x4 remote-sensing SR, Dong et al. 2021), loading `{iter}_G.pth`
strictly. Written from its public description; it shares most pieces with RGTGAN (models/refsr_blocks.py):

- `get_g_nopadding`, `Encoder` (ngf) and `Encoder_grad` (ngf/4, on the raw gradient maps: no GTEM);
- `gpcd_align`: the same pyramid / cascade as RGTGAN's, without the dead offset branches, with a modulated
  deformable convolution (DCNv2, "DCN_sep") instead of DCNv3: `conv_offset_mask` (3x3 conv of the offset
  feature) gives 3*G*9 channels split in thirds (o1, o2, mask); offsets = cat(o1, o2), per group and kernel
  point (dy, dx) pairs in row-major kernel order; mask = sigmoid; then a 3x3 convolution (`weight`, `bias`) of
  the bilinearly sampled, mask-weighted input (zeros outside);
- `content_extractor` (its x4 tail exists but is never used) and `texture_transfer` (RAM + residual blocks at
  three scales, no dense blocks).
Unlike RGTGAN, the residual is added to the LR upsampled x4 *bilinearly* (align_corners False), as RRSNet does.
forward(lr, lr_up, ref, ref_dup) keeps RGTGAN's signature; `lr_up` feeds the encoders.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from models.refsr_blocks import RAM, ContentExtractor, Encoder, GPCDAlign, GradientMagnitude, res_stack
from models.registry import register


def dcnv2_sample_conv(
    x: torch.Tensor,
    offset: torch.Tensor,
    mask: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    groups: int,
) -> torch.Tensor:
    """Modulated deformable 3x3 convolution (stride 1, padding 1), channels first.

    x (N, C, H, W); offset (N, G*9*2, H, W) with (dy, dx) per group and kernel point (row-major); mask
    (N, G*9, H, W) in [0, 1]; weight (O, C, 3, 3). One grid_sample for all points and groups."""
    n, c, h, w = x.shape
    k = weight.shape[-1]
    p = k * k
    cg = c // groups
    dev, dt = x.device, x.dtype
    taps = torch.arange(k, device=dev, dtype=dt) - k // 2
    tap_y = taps.repeat_interleave(k)  # kernel row
    tap_x = taps.repeat(k)  # kernel column
    off = offset.reshape(n, groups, p, 2, h, w)
    ys = torch.arange(h, device=dev, dtype=dt).view(1, 1, 1, h, 1)
    xs = torch.arange(w, device=dev, dtype=dt).view(1, 1, 1, 1, w)
    py = ys + tap_y.view(1, 1, p, 1, 1) + off[:, :, :, 0]  # (N, G, P, H, W)
    px = xs + tap_x.view(1, 1, p, 1, 1) + off[:, :, :, 1]
    grid = torch.stack(((2 * px + 1) / w - 1, (2 * py + 1) / h - 1), -1)  # (N, G, P, H, W, 2)
    grid = grid.permute(0, 1, 3, 4, 2, 5).reshape(n * groups, h, w * p, 2)
    s = F.grid_sample(
        x.reshape(n * groups, cg, h, w), grid, mode="bilinear", padding_mode="zeros", align_corners=False
    ).view(n, groups, cg, h, w, p)
    s = s * mask.reshape(n, groups, 1, p, h, w).permute(0, 1, 2, 4, 5, 3)
    cols = s.permute(0, 1, 2, 5, 3, 4).reshape(n, c * p, h * w)  # channel-major, then point
    out = torch.matmul(weight.reshape(weight.shape[0], c * p), cols)
    if bias is not None:
        out = out + bias.view(1, -1, 1)
    return out.view(n, -1, h, w)


class DCNv2Sep(nn.Module):
    """RRSGAN's DCN_sep, called like models.dcnv3.DCNv3: forward(value_nhwc, offset_feature_nhwc) -> nhwc."""

    def __init__(self, channels: int = 80, out_channels: int = 80, kernel_size: int = 3, groups: int = 8):
        super().__init__()
        self.groups = groups
        self.weight = nn.Parameter(torch.empty(out_channels, channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        nn.init.uniform_(self.weight, -((channels * kernel_size**2) ** -0.5), (channels * kernel_size**2) ** -0.5)
        self.conv_offset_mask = nn.Conv2d(channels, groups * 3 * kernel_size**2, kernel_size, 1, kernel_size // 2)
        nn.init.zeros_(self.conv_offset_mask.weight)
        assert self.conv_offset_mask.bias is not None  # nn.Conv2d makes a bias by default
        nn.init.zeros_(self.conv_offset_mask.bias)

    def forward(self, value: torch.Tensor, offset_feature: torch.Tensor, naive: bool = False) -> torch.Tensor:
        x = value.permute(0, 3, 1, 2)
        o1, o2, m = torch.chunk(self.conv_offset_mask(offset_feature.permute(0, 3, 1, 2)), 3, dim=1)
        out = dcnv2_sample_conv(x, torch.cat((o1, o2), 1), torch.sigmoid(m), self.weight, self.bias, self.groups)
        return out.permute(0, 2, 3, 1)


class RRSTextureTransfer(nn.Module):
    def __init__(self, ngf: int = 64, n_blocks: int = 16):
        super().__init__()
        for scale in ("small", "medium", "large"):
            setattr(self, f"ram_head_{scale}", RAM(ngf, ngf))
            setattr(self, f"head_{scale}", nn.Sequential(nn.Conv2d(ngf * 2, ngf, 3, 1, 1), nn.LeakyReLU(0.1, True)))
            setattr(self, f"body_{scale}", res_stack(n_blocks, ngf))
        self.tail_small = nn.Sequential(nn.Conv2d(ngf, ngf * 4, 3, 1, 1), nn.PixelShuffle(2), nn.LeakyReLU(0.1, True))
        self.tail_medium = nn.Sequential(nn.Conv2d(ngf, ngf * 4, 3, 1, 1), nn.PixelShuffle(2), nn.LeakyReLU(0.1, True))
        self.tail_large = nn.Sequential(
            nn.Conv2d(ngf, ngf // 2, 3, 1, 1), nn.LeakyReLU(0.1, True), nn.Conv2d(ngf // 2, 3, 3, 1, 1)
        )

    def forward(self, x, maps):
        for scale, ref in (("small", maps[2]), ("medium", maps[1]), ("large", maps[0])):
            h = getattr(self, f"ram_head_{scale}")(ref, x)
            h = getattr(self, f"head_{scale}")(torch.cat([x, h], 1))
            h = getattr(self, f"body_{scale}")(h) + x
            x = getattr(self, f"tail_{scale}")(h)
        return x


@register("rrsgan", task="superres", label="RRSGAN super-resolution network", article="an")
class RRSGANGenerator(nn.Module):
    """RRSNet generator. forward(lr, lr_up, ref, ref_dup) -> SR (N, 3, 4h, 4w), RGB in [0, 1]."""

    scale = 4

    def __init__(self, ngf: int = 64, n_blocks: int = 16, groups: int = 8, with_unused: bool = True):
        super().__init__()
        nf = ngf + ngf // 4
        self.with_unused = with_unused
        self.get_g_nopadding = GradientMagnitude()
        self.Encoder = Encoder(3, ngf)
        self.Encoder_grad = Encoder(3, ngf // 4)
        self.gpcd_align = GPCDAlign(nf, ngf, groups, tail_blocks=0, with_unused=False)
        for name in ("L3_dcnpack", "L2_dcnpack", "L1_dcnpack", "cas_dcnpack"):
            setattr(self.gpcd_align, name, DCNv2Sep(nf, nf, 3, groups))
        self.content_extractor = ContentExtractor(ngf, n_blocks, with_unused)
        self.texture_transfer = RRSTextureTransfer(ngf, n_blocks)

    def use_fast_paths(self, enabled: bool = True) -> RRSGANGenerator:
        return self

    def forward(self, lr, lr_up, ref, ref_dup, full: bool = False, **_):
        feats = []
        for img in (lr_up, ref_dup, ref):
            grad = self.get_g_nopadding(img)
            feats.append([torch.cat([a, b], 1) for a, b in zip(self.Encoder(img), self.Encoder_grad(grad))])
        lr_f, ref_f, use_f = feats
        maps = self.gpcd_align(use_f, ref_f, lr_f)
        content = self.content_extractor(lr, full=full and self.with_unused)
        base = F.interpolate(lr, scale_factor=4, mode="bilinear", align_corners=False)
        return self.texture_transfer(content, maps) + base
