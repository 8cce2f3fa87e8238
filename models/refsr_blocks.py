"""Building blocks of the reference-based x4 super-resolution networks RGTGAN (models/rgtgan.py) and RRSGAN
(models/rrsgan.py), which share them; no network of its own, nothing registered. Attribute names are the
state_dict names of RGTGAN's and RRSGAN's `{iter}_G.pth`, so their files load strictly.

- `GradientMagnitude` (`get_g_nopadding`): per-channel gradient magnitude with fixed 3x3 kernels;
- `Encoder`: 5x5 conv + SELU, three levels (x1, x1/2, x1/4);
- `GPCDAlign` (`gpcd_align`): pyramid, cascading alignment of the reference features with DCNv3 (models/dcnv3.py)
  at three levels + a cascade; RGTGAN's dead offset branches (`DenseRes`, `*_offset_head_conv*`, `*offset_tail*`)
  exist only with `with_unused=True`; RRSGAN swaps the DCNv3 packs for its DCNv2;
- `ContentExtractor` (`content_extractor`): head + residual blocks on the LR image (its x4 tail is never used);
- `RAM`: reference-conditioned modulation, used at every texture-transfer scale;
- `ResBlock` / `res_stack`, `conv_selu`: the small layers these are made of.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from models.dcnv3 import DCNv3

# ------------------------------------------------------------------------------------------------------- layers


def conv_selu(cin: int, cout: int, k: int, stride: int = 1, pad: int | None = None) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2 if pad is None else pad), nn.SELU(inplace=True))


class ResBlock(nn.Module):
    def __init__(self, n_filters: int = 64):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(n_filters, n_filters, 3, 1, 1), nn.ReLU(True), nn.Conv2d(n_filters, n_filters, 3, 1, 1)
        )

    def forward(self, x):
        return self.body(x) + x


def res_stack(n: int, width: int) -> nn.Sequential:
    return nn.Sequential(*[ResBlock(width) for _ in range(n)])


class GradientMagnitude(nn.Module):
    """sqrt(dv^2 + dh^2 + 1e-6) per channel with central differences, zero padding (RGTGAN's Get_gradient_nopadding)."""

    def __init__(self):
        super().__init__()
        kh = torch.tensor([[0.0, 0.0, 0.0], [-1.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
        kv = torch.tensor([[0.0, -1.0, 0.0], [0.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
        self.weight_h = nn.Parameter(kh[None, None].clone(), requires_grad=False)
        self.weight_v = nn.Parameter(kv[None, None].clone(), requires_grad=False)

    def forward(self, x):
        n, c, h, w = x.shape
        flat = x.reshape(n * c, 1, h, w)
        v = F.conv2d(flat, self.weight_v, padding=1)
        hh = F.conv2d(flat, self.weight_h, padding=1)
        return torch.sqrt(v * v + hh * hh + 1e-6).reshape(n, c, h, w)


class Encoder(nn.Module):
    """Three feature levels: full, 1/2, 1/4 (5x5 convs + SELU)."""

    def __init__(self, in_ch: int, nf: int):
        super().__init__()
        self.layer_f = conv_selu(in_ch, nf, 5)
        self.conv1 = conv_selu(nf, nf, 5)
        self.conv2 = conv_selu(nf, nf, 5, 2)
        self.conv3 = conv_selu(nf, nf, 5, 2)

    def forward(self, x):
        c1 = self.conv1(self.layer_f(x))
        c2 = self.conv2(c1)
        return c1, c2, self.conv3(c2)


class RAM(nn.Module):
    """Reference-conditioned modulation: features * sigmoid(mul(cat)) + add(cat)."""

    def __init__(self, nf: int = 64, n_condition: int = 64):
        super().__init__()
        self.mul_conv1 = nn.Conv2d(nf + n_condition, 32, 3, 1, 1)
        self.mul_conv2 = nn.Conv2d(32, nf, 3, 1, 1)
        self.add_conv1 = nn.Conv2d(nf + n_condition, 32, 3, 1, 1)
        self.add_conv2 = nn.Conv2d(32, nf, 3, 1, 1)

    def forward(self, features, conditions):
        cat = torch.cat((features, conditions), 1)
        mul = torch.sigmoid(self.mul_conv2(F.leaky_relu(self.mul_conv1(cat), 0.1)))
        add = self.add_conv2(F.leaky_relu(self.add_conv1(cat), 0.1))
        return features * mul + add


# ---------------------------------------------------------------------------------------------------- alignment


class DenseResNet3(nn.Module):
    """Multi-scale offset refinement whose output RGTGAN computes and then discards (dead)."""

    def __init__(self, nf: int = 80, ngf: int = 80):
        super().__init__()
        self.offset_conv1 = nn.Conv2d(2 * nf, ngf, 3, 1, 1)
        self.conv3 = nn.Conv2d(nf, ngf, 3, 1, 1)
        self.conv5 = nn.Conv2d(nf, ngf, 5, 1, 2)
        self.conv7 = nn.Conv2d(nf, ngf, 7, 1, 3)
        self.offset_conv2 = nn.Conv2d(3 * nf, ngf, 3, 1, 1)

    def forward(self, ref_fea, offset_fea):
        o1 = F.leaky_relu(self.offset_conv1(torch.cat([ref_fea, offset_fea], 1)), 0.1)
        cat = torch.cat([F.leaky_relu(c(o1), 0.1) for c in (self.conv3, self.conv5, self.conv7)], 1)
        return F.leaky_relu(self.offset_conv2(cat), 0.1) + o1


class GPCDAlign(nn.Module):
    """Pyramid (L3 = 1/4, L2 = 1/2, L1 = full), cascading, deformable alignment of the reference features."""

    def __init__(
        self, nf: int = 80, nf_out: int = 64, groups: int = 8, tail_blocks: int = 16, with_unused: bool = True
    ):
        super().__init__()
        self.with_unused = with_unused
        conv = lambda a, b: nn.Conv2d(a, b, 3, 1, 1)  # noqa: E731
        self.L3_offset_conv1 = conv(2 * nf, nf)
        self.L3_offset_conv2 = conv(nf, nf)
        if with_unused:
            self.L3_offset_head_conv1 = conv(2 * nf, nf)
            self.DenseRes = DenseResNet3(nf=nf, ngf=nf)
            self.L3_offset_head_conv2 = conv(nf, nf)
            self.L3_offset_tail = res_stack(tail_blocks, nf)
        self.L3_dcnpack = DCNv3(nf, 3, groups)
        self.L3_fea_conv = conv(nf, nf_out)
        self.L2_offset_conv1 = conv(2 * nf, nf)
        self.L2_offset_conv2 = conv(2 * nf, nf)
        self.L2_offset_conv3 = conv(nf, nf)
        if with_unused:
            self.L2_offset_head_conv1 = conv(2 * nf, nf)
            self.L2_offset_head_conv2 = conv(nf, nf)
            self.L2_offset_tail = res_stack(tail_blocks, nf)
        self.L2_dcnpack = DCNv3(nf, 3, groups)
        self.L2_fea_conv = conv(nf + nf_out, nf_out)
        self.L1_offset_conv1 = conv(2 * nf, nf)
        self.L1_offset_conv2 = conv(2 * nf, nf)
        self.L1_offset_conv3 = conv(nf, nf)
        if with_unused:
            self.L1_offset_head_conv1 = conv(2 * nf, nf)
            self.L1_offset_head_conv2 = conv(nf, nf)
            self.L1_offset_tail = res_stack(tail_blocks, nf)
        self.L1_dcnpack = DCNv3(nf, 3, groups)
        self.L1_fea_conv = conv(nf + nf_out, nf)
        self.cas_offset_conv1 = conv(2 * nf, nf)
        self.cas_offset_conv2 = conv(nf, nf)
        if with_unused:
            self.offset_head_conv1 = conv(2 * nf, nf)
            self.offset_head_conv2 = conv(nf, nf)
            self.offset_tail = res_stack(tail_blocks, nf)
        self.cas_dcnpack = DCNv3(nf, 3, groups)
        self.cas_fea_conv = conv(nf, nf_out)

    def forward(self, ref_use, ref_fea, lr_fea, full: bool = False, naive_dcn: bool = False):
        lrelu = lambda t: F.leaky_relu(t, 0.1)  # noqa: E731
        up = lambda t: F.interpolate(t, scale_factor=2, mode="bilinear", align_corners=False)  # noqa: E731
        nhwc = lambda t: t.permute(0, 2, 3, 1)  # noqa: E731
        nchw = lambda t: t.permute(0, 3, 1, 2)  # noqa: E731
        dead = []  # outputs the original computes and throws away (only with full=True)

        o3 = lrelu(self.L3_offset_conv1(torch.cat([ref_fea[2], lr_fea[2]], 1)))
        o3 = lrelu(self.L3_offset_conv2(o3))
        if full:
            dead.append(self.DenseRes(ref_fea[2], lr_fea[2]))
        f3 = nchw(self.L3_dcnpack(nhwc(ref_use[2]), nhwc(o3), naive=naive_dcn))
        f3_out = lrelu(self.L3_fea_conv(f3))

        o2 = lrelu(self.L2_offset_conv1(torch.cat([ref_fea[1], lr_fea[1]], 1)))
        o2 = lrelu(self.L2_offset_conv2(torch.cat([o2, up(o3) * 2], 1)))
        o2 = lrelu(self.L2_offset_conv3(o2))
        if full:
            dead.append(self.DenseRes(ref_fea[1], lr_fea[1]))
        f2 = nchw(self.L2_dcnpack(nhwc(ref_use[1]), nhwc(o2), naive=naive_dcn))
        f2_out = lrelu(self.L2_fea_conv(torch.cat([f2, up(f3_out)], 1)))

        o1 = lrelu(self.L1_offset_conv1(torch.cat([ref_fea[0], lr_fea[0]], 1)))
        o1 = lrelu(self.L1_offset_conv2(torch.cat([o1, up(o2) * 2], 1)))
        o1 = lrelu(self.L1_offset_conv3(o1))
        if full:
            dead.append(self.DenseRes(ref_fea[0], lr_fea[0]))
        f1 = nchw(self.L1_dcnpack(nhwc(ref_use[0]), nhwc(o1), naive=naive_dcn))
        f1 = self.L1_fea_conv(torch.cat([f1, up(f2_out)], 1))

        oc = lrelu(self.cas_offset_conv1(torch.cat([f1, lr_fea[0]], 1)))
        oc = lrelu(self.cas_offset_conv2(oc))
        if full:
            dead.append(self.DenseRes(f1, lr_fea[0]))
        f1_out = lrelu(self.cas_fea_conv(nchw(self.cas_dcnpack(nhwc(f1), nhwc(oc), naive=naive_dcn))))
        self._last_dead = dead
        return f1_out, f2_out, f3_out


# -------------------------------------------------------------------------------------------------- restoration


class ContentExtractor(nn.Module):
    def __init__(self, ngf: int = 64, n_blocks: int = 16, with_unused: bool = True):
        super().__init__()
        self.head = nn.Sequential(nn.Conv2d(3, ngf, 3, 1, 1), nn.LeakyReLU(0.1, True))
        self.body = res_stack(n_blocks, ngf)
        if with_unused:  # x4 upsampling tail: its output is never used by RGTGAN
            self.tail = nn.Sequential(
                nn.Conv2d(ngf, ngf * 4, 3, 1, 1),
                nn.PixelShuffle(2),
                nn.LeakyReLU(0.1, True),
                nn.Conv2d(ngf, ngf * 4, 3, 1, 1),
                nn.PixelShuffle(2),
                nn.LeakyReLU(0.1, True),
                nn.Conv2d(ngf, ngf, 3, 1, 1),
                nn.LeakyReLU(0.1, True),
                nn.Conv2d(ngf, 3, 3, 1, 1),
            )

    def forward(self, x, full: bool = False):
        h = self.head(x)
        h = self.body(h) + h
        if full:
            self._last_dead = self.tail(h)
        return h
