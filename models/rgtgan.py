"""RGTGAN generator (reference-based x4 super-resolution, IEEE TGRS 2024), written from its public description.

Inputs are four RGB images in [0, 1] (N, 3, H, W): the LR image, the LR bicubic-upsampled x4, the reference
at HR size, and the reference bicubic down-then-up x4. The network predicts a residual that is added to the
upsampled LR. Output (N, 3, 4h, 4w).

Parts (names are the state_dict prefixes of RGTGAN's `{iter}_G.pth`; the ones RRSGAN shares are in
models/refsr_blocks.py, DCNv3 in models/dcnv3.py):
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

from models.refsr_blocks import RAM, ContentExtractor, Encoder, GPCDAlign, GradientMagnitude, conv_selu, res_stack
from models.registry import register

# ------------------------------------------------------------------------------------------------------- blocks


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


# -------------------------------------------------------------------------------------------------- restoration


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


# ------------------------------------------------------------------------------------------------------ network


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
