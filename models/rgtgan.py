"""RGTGAN generator (reference-based x4 super-resolution, IEEE TGRS 2024), written from its public description.

Inputs are four RGB images in [0, 1] (N, 3, H, W): the LR image, the LR bicubic-upsampled x4, the reference
at HR size, and the reference bicubic down-then-up x4. The network predicts a residual that is added to the
upsampled LR. Output (N, 3, 4h, 4w).

Parts (names are the state_dict prefixes of RGTGAN's `{iter}_G.pth`):
- `get_g_nopadding`: per-channel gradient magnitude sqrt(dv^2 + dh^2 + 1e-6) with fixed 3x3 kernels (stored as
  parameters `weight_h`, `weight_v`).
- `Encoder` (ngf) and `Encoder_grad_ori` (ngf/4): 5x5 conv + SELU, three levels (x1, x1/2, x1/4 of HR size),
  applied to LR-up, Ref-down-up and Ref; the gradient encoder reads the gradient maps after `GTEM`.
- `GTEM`: gradient texture enhancement (convs down to 1/4, a shared-weight dense block, residual blocks, a mask
  branch, two x2 "pixel shuffles" back to full size). Its pixel shuffle is a port of a TensorFlow routine whose
  torch.split semantics differ, so pixels land in a scrambled but fixed order; `gtem_pixel_shuffle` reproduces it
  exactly (the single-image path of the original; its batched path differs only for tall non-square inputs).
- `gpcd_align`: pyramid, cascading alignment of the reference features with DCNv3 at three levels + a cascade.
- `content_extractor`: head + residual blocks on the LR image (its upsampling tail is never used).
- `texture_transfer`: three scales (x1, x2, x4 of LR size), each with a RAM modulation by the aligned reference
  features, a dense block (weights shared across the three scales) and residual blocks.

DCNv3 (InternImage): value = input_proj(x); offsets and softmax(mask) per group come from a depthwise 3x3 conv +
LayerNorm + GELU of the *second* argument (RGTGAN calls `dcn(ref_feature, offset_feature)`); each output is the
mask-weighted sum of bilinear samples (zeros outside) at the kernel points plus learned offsets; output_proj.
RGTGAN's modified two-argument DCNv3 source is not public in the material we could read; taking the offsets from
the second argument is how its call site reads (`L3_dcnpack(Ref_use_fea, L3_offset)`), and is a stated assumption.

Dead branches: `gpcd_align.DenseRes` and every `*_offset_head_conv*` / `*offset_tail*`, and
`content_extractor.tail` never reach the output (about 46 % of the 19.9 M parameters). With `with_unused=True`
(the default, needed to load RGTGAN files strictly) they exist as parameters; `forward` skips them, and
`forward(..., full=True)` also runs the computed-but-discarded ones like the original does (for tests and the
benchmark). `with_unused=False` drops them entirely (our compact checkpoints).

Compact configurations change widths and depths: `ngf` (64), `n_blocks` (16), `groups` (8), `gtem_nf` (64),
`gtem_blocks` (16), `align_tail_blocks` (16, dead), `dense_rounds` (3) and `dense_steps` (3). With the defaults
every key and shape is RGTGAN's: 800 tensors, 19.9 M parameters.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from models.registry import register

# ------------------------------------------------------------------------------------------------ blocks


def conv_selu(cin: int, cout: int, k: int, stride: int = 1, pad: int | None = None) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2 if pad is None else pad), nn.SELU(inplace=True))


class ConvTranspose2dS1(nn.ConvTranspose2d):
    """A stride-1 ConvTranspose2d (RGTGAN's `deconv_activation`) run as the equivalent Conv2d: weight
    transposed (in <-> out) and flipped, padding k-1-p. Same keys and values; on CPU the direct transposed
    convolution is several times slower. `fast = False` runs PyTorch's ConvTranspose2d itself."""

    fast = True

    def forward(self, x: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        if not self.fast:
            return super().forward(x, output_size)
        # stride 1: the output size is the input size whatever `output_size` asks, as in ConvTranspose2d
        assert isinstance(self.padding, tuple)  # ConvTranspose2d takes no string padding
        k = self.kernel_size[0]
        w = self.weight.transpose(0, 1).flip(2, 3)
        return F.conv2d(x, w, self.bias, 1, k - 1 - self.padding[0])


def deconv_selu(cin: int, cout: int, k: int) -> nn.Sequential:
    """ConvTranspose2d (stride 1, 'same' padding) + SELU, as RGTGAN's `deconv_activation(..., 'selu')`."""
    return nn.Sequential(ConvTranspose2dS1(cin, cout, k, 1, k // 2), nn.SELU(inplace=True))


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


class DenseBlock(nn.Module):
    """The shared-weight dense block used in GTEM and at every texture-transfer scale (`dconv_ud1..7`).

    Not a module of its own in RGTGAN: its layers are attributes of the owner, so this mixin runs them."""

    @staticmethod
    def make(owner: nn.Module, nf: int) -> None:
        for i in (1, 2, 3):
            setattr(owner, f"dconv_ud{i}", deconv_selu(nf, nf, 3))
        for i in (4, 5, 6):
            setattr(owner, f"dconv_ud{i}", deconv_selu(4 * nf, nf, 1))
        owner.dconv_ud7 = deconv_selu(3 * nf, nf, 3)

    @staticmethod
    def run(owner: nn.Module, h: torch.Tensor, rounds: int, steps: int) -> torch.Tensor:
        lrelu = F.leaky_relu
        ud1, ud2, ud3, ud4, ud5, ud6, ud7 = (owner.get_submodule(f"dconv_ud{i}") for i in range(1, 8))
        for _ in range(rounds):
            x1 = x2 = x3 = h
            for _ in range(steps):
                a = torch.cat([lrelu(ud1(x1)), lrelu(ud2(x2)), lrelu(ud3(x3))], 1)
                x1 = lrelu(ud4(torch.cat([a, x1], 1)))
                x2 = lrelu(ud5(torch.cat([a, x2], 1)))
                x3 = lrelu(ud6(torch.cat([a, x3], 1)))
            h = h + lrelu(ud7(torch.cat([x1, x2, x3], 1)))
        return h


def gtem_pixel_shuffle(x: torch.Tensor, r: int = 2) -> torch.Tensor:
    """RGTGAN's `pixel_shuffle_layerg`: channels in groups of r*r; within a group the value of channel j*r+i at
    (h, w) goes to flat position ((h*W + w)*r + i)*r + j of the (r*H, r*W) output plane."""
    n, c, h, w = x.shape
    g = c // (r * r)
    t = x.reshape(n, g, r, r, h, w)  # t[n, g, p, q, h, w] = channel g*r*r + p*r + q
    z = t.permute(0, 1, 4, 5, 3, 2)  # z[n, g, h, w, i, j] = channel g*r*r + j*r + i
    return z.reshape(n, g, r * h, r * w)


class GTEM(nn.Module):
    """Gradient texture enhancement module (RGTGAN's GTEM_F): 3 channels in, 3 channels out, same size
    (height and width multiples of 4)."""

    def __init__(self, in_ch: int = 3, nf: int = 64, n_blocks: int = 16, dense_rounds: int = 3, dense_steps: int = 3):
        super().__init__()
        self.dense_rounds, self.dense_steps = dense_rounds, dense_steps
        self.conv_e1 = conv_selu(in_ch, nf, 3)
        self.conv_e2 = conv_selu(nf, nf, 3)
        self.conv_e3 = conv_selu(nf, 2 * nf, 3, 2)
        self.conv_e4 = conv_selu(2 * nf, 2 * nf, 3)
        self.conv_e5 = conv_selu(2 * nf, 4 * nf, 3, 2)
        self.conv_e7 = conv_selu(4 * nf, nf, 3)
        DenseBlock.make(self, nf)
        self.res_dense = res_stack(n_blocks, nf)
        self.conv_e8 = conv_selu(nf, 4 * nf, 3)
        self.dconv_m3 = deconv_selu(nf, nf, 3)
        self.dconv_m4 = deconv_selu(nf, 2 * nf, 3)
        self.dconv_m5 = deconv_selu(2 * nf, 4 * nf, 3)
        self.dconv_m6 = deconv_selu(4 * nf, nf, 3)
        self.dconv_d3 = deconv_selu(nf, 4 * nf, 3)
        self.dconv_d4 = deconv_selu(nf, 4 * nf, 3)
        self.dconv_fusion2 = deconv_selu(nf, 3, 3)

    def forward(self, x):
        lrelu = F.leaky_relu
        f = lrelu(self.conv_e1(x))
        f = lrelu(self.conv_e3(self.conv_e2(f)))
        f = lrelu(self.conv_e4(f))
        f = lrelu(self.conv_e5(f))
        f = lrelu(self.conv_e7(f))
        res_in = f
        f = DenseBlock.run(self, f, self.dense_rounds, self.dense_steps)
        f = self.res_dense(f) + f
        f = lrelu(self.conv_e8(f))
        m = lrelu(self.dconv_m3(res_in))
        m = lrelu(self.dconv_m4(m))
        m = lrelu(self.dconv_m5(m))
        f = torch.sigmoid(m) * f + f
        f = lrelu(self.dconv_m6(f))
        f = lrelu(gtem_pixel_shuffle(self.dconv_d3(f)))
        f = lrelu(gtem_pixel_shuffle(self.dconv_d4(f)))
        return self.dconv_fusion2(f)  # RGTGAN adds x - x (the identity it starts from): nothing


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


# ------------------------------------------------------------------------------------------------- DCNv3


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


# -------------------------------------------------------------------------------------------- alignment


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


# ---------------------------------------------------------------------------------------- restoration


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


class TextureTransfer(nn.Module):
    def __init__(self, ngf: int = 64, n_blocks: int = 16, dense_rounds: int = 3, dense_steps: int = 3):
        super().__init__()
        self.dense_rounds, self.dense_steps = dense_rounds, dense_steps
        for scale in ("small", "medium", "large"):
            setattr(self, f"ram_head_{scale}", RAM(ngf, ngf))
            setattr(self, f"head_{scale}", nn.Sequential(nn.Conv2d(ngf * 2, ngf, 3, 1, 1), nn.LeakyReLU(0.1, True)))
            setattr(self, f"body_{scale}", res_stack(n_blocks, ngf))
        self.tail_small = nn.Sequential(nn.Conv2d(ngf, ngf * 4, 3, 1, 1), nn.PixelShuffle(2), nn.LeakyReLU(0.1, True))
        self.tail_medium = nn.Sequential(nn.Conv2d(ngf, ngf * 4, 3, 1, 1), nn.PixelShuffle(2), nn.LeakyReLU(0.1, True))
        self.tail_large = nn.Sequential(
            nn.Conv2d(ngf, ngf // 2, 3, 1, 1), nn.LeakyReLU(0.1, True), nn.Conv2d(ngf // 2, 3, 3, 1, 1)
        )
        DenseBlock.make(self, ngf)

    def forward(self, x, maps):
        for scale, ref in (("small", maps[2]), ("medium", maps[1]), ("large", maps[0])):
            h = getattr(self, f"ram_head_{scale}")(ref, x)
            h = getattr(self, f"head_{scale}")(torch.cat([x, h], 1))
            h = DenseBlock.run(self, h, self.dense_rounds, self.dense_steps)
            h = getattr(self, f"body_{scale}")(h) + x
            x = getattr(self, f"tail_{scale}")(h)
        return x


# --------------------------------------------------------------------------------------------- network


@register("rgtgan", task="superres", label="RGTGAN super-resolution network", article="an")
class RGTGANGenerator(nn.Module):
    """RGTGAN's RGTNet generator. forward(lr, lr_up, ref, ref_dup) -> SR (N, 3, 4h, 4w), all in [0, 1] RGB."""

    scale = 4

    def __init__(
        self,
        ngf: int = 64,
        n_blocks: int = 16,
        groups: int = 8,
        gtem_nf: int = 64,
        gtem_blocks: int = 16,
        align_tail_blocks: int = 16,
        dense_rounds: int = 3,
        dense_steps: int = 3,
        with_unused: bool = True,
    ):
        super().__init__()
        if ngf % 4 or (ngf + ngf // 4) % groups:
            raise ValueError(f"ngf must be a multiple of 4 with ngf + ngf/4 divisible by groups ({groups})")
        nf_align = ngf + ngf // 4
        self.with_unused = with_unused
        self.get_g_nopadding = GradientMagnitude()
        self.Encoder = Encoder(3, ngf)
        self.Encoder_grad_ori = Encoder(3, ngf // 4)
        self.gpcd_align = GPCDAlign(nf_align, ngf, groups, align_tail_blocks, with_unused)
        self.content_extractor = ContentExtractor(ngf, n_blocks, with_unused)
        self.texture_transfer = TextureTransfer(ngf, n_blocks, dense_rounds, dense_steps)
        self.GTEM = GTEM(3, gtem_nf, gtem_blocks, dense_rounds, dense_steps)

    def use_fast_paths(self, enabled: bool = True) -> RGTGANGenerator:
        """Transposed convolutions as convolutions (fast) or as PyTorch's ConvTranspose2d (as the original)."""
        for mod in self.modules():
            if isinstance(mod, ConvTranspose2dS1):
                mod.fast = enabled
        return self

    def features(self, img_up: torch.Tensor) -> list[torch.Tensor]:
        """Image + enhanced-gradient features at the three levels (what the aligner compares)."""
        grad = self.GTEM(self.get_g_nopadding(img_up))
        return [torch.cat([a, b], 1) for a, b in zip(self.Encoder(img_up), self.Encoder_grad_ori(grad))]

    def forward(
        self, lr, lr_up, ref, ref_dup, full: bool = False, naive_dcn: bool = False, separate_encoders: bool = False
    ):
        """`full=True` also runs the branches whose results the original computes and discards; `naive_dcn`
        samples DCNv3 one kernel point at a time; `separate_encoders` runs the encoders once per image."""
        if full and not self.with_unused:
            raise ValueError("full=True needs a network built with with_unused=True")
        n = lr.shape[0]
        if (
            ref.shape[0] == n
            and ref_dup.shape[0] == n
            and lr_up.shape[-2:] == ref.shape[-2:]
            and not (full or separate_encoders)
        ):
            # one batched pass of the shared encoders over the three images (same result, fewer calls)
            feats = self.features(torch.cat([lr_up, ref_dup, ref], 0))
            lr_f = [f[:n] for f in feats]
            ref_f = [f[n : 2 * n] for f in feats]
            use_f = [f[2 * n :] for f in feats]
        else:
            lr_f, ref_f, use_f = self.features(lr_up), self.features(ref_dup), self.features(ref)
        maps = self.gpcd_align(use_f, ref_f, lr_f, full=full, naive_dcn=naive_dcn)
        content = self.content_extractor(lr, full=full)
        return self.texture_transfer(content, maps) + lr_up


def rgtgan_key_counts(model: nn.Module) -> tuple[int, int]:
    """(number of state_dict tensors, number of parameters) — 800 and about 19.9 M for RGTGAN's defaults."""
    sd = model.state_dict()
    return len(sd), sum(v.numel() for v in sd.values())


def unused_parameter_names(model: RGTGANGenerator) -> list[str]:
    """State-dict keys of the branches that never reach the output."""
    dead_prefixes = ("gpcd_align.DenseRes.", "content_extractor.tail.")
    keys = []
    for k in model.state_dict():
        short = k.split(".", 2)
        if k.startswith(dead_prefixes) or (
            k.startswith("gpcd_align.") and ("offset_head_conv" in short[1] or "offset_tail" in short[1])
        ):
            keys.append(k)
    return keys
