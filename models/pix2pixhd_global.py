"""pix2pixHD's GlobalGenerator (NVIDIA), with plain ResNet blocks or C-HR-GAN's SE-ResNet blocks.

Key-for-key NVIDIA's `latest_net_G.pth` for `--netG global` (defaults: ngf 64, n_downsample 4, n_blocks 9,
instance norm: 56 tensors, 182,443,267 parameters), and C-HR-GAN's generator with `se_blocks=True`.

  model.0 ReflectionPad(3), model.1 Conv7x7(in -> ngf), Norm, ReLU;
  n_downsample x [Conv3x3 s2 p1 (ngf*2^i -> ngf*2^(i+1)), Norm, ReLU]       (convs at 4 + 3i)
  n_blocks x ResBlock(ngf*2^d)                                              (at 4 + 3d + j)
  n_downsample x [ConvTranspose3x3 s2 p1 op1 (halving), Norm, ReLU]         (at 4 + 3d + nb + 3i)
  ReflectionPad(3), Conv7x7(ngf -> out) (at 5 + 6d + nb), Tanh.
ResBlock: conv_block = [ReflectionPad(1), Conv3, Norm, ReLU, ReflectionPad(1), Conv3, Norm]; out = x + r.
SE-ResNet block (C-HR-GAN): r = conv_block(x); se = [AdaptiveAvgPool(1), Conv1x1(dim -> dim/4), ReLU,
Conv1x1(dim/4 -> dim), Sigmoid] on r; out = x + res_weight * r * se(r), res_weight (1,) starting at 0.
Norm "instance" = InstanceNorm2d(affine False): no keys; "batch" = BatchNorm2d with keys at the norm positions.
Input and output in [-1, 1]; H and W multiples of 2**n_downsample.
"""

from __future__ import annotations

import torch
from torch import nn

from models.layers import norm_layer
from models.registry import register


class ResnetBlock(nn.Module):
    """pix2pixHD ResnetBlock; with `se=True` the C-HR-GAN SE-ResNet block."""

    def __init__(self, dim: int, norm: str = "instance", se: bool = False, se_reduction: int = 4, se_bias: bool = True):
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, dim, 3),
            norm_layer(norm, dim),
            nn.ReLU(),
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, dim, 3),
            norm_layer(norm, dim),
        )
        self.use_se = se
        if se:
            hidden = max(1, dim // se_reduction)
            self.se = nn.Sequential(
                nn.AdaptiveAvgPool2d(1),
                nn.Conv2d(dim, hidden, 1, bias=se_bias),
                nn.ReLU(),
                nn.Conv2d(hidden, dim, 1, bias=se_bias),
                nn.Sigmoid(),
            )
            self.res_weight = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        r = self.conv_block(x)
        if self.use_se:
            return x + self.res_weight * r * self.se(r)
        return x + r


def global_layers(
    in_channels: int,
    out_channels: int,
    ngf: int,
    n_downsample: int,
    n_blocks: int,
    norm: str,
    se_blocks: bool,
    se_reduction: int,
    se_bias: bool,
) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, ngf, 7), norm_layer(norm, ngf), nn.ReLU()]
    for i in range(n_downsample):
        m = 2**i
        layers += [nn.Conv2d(ngf * m, ngf * m * 2, 3, stride=2, padding=1), norm_layer(norm, ngf * m * 2), nn.ReLU()]
    m = 2**n_downsample
    for _ in range(n_blocks):
        layers.append(ResnetBlock(ngf * m, norm, se_blocks, se_reduction, se_bias))
    for i in range(n_downsample):
        m = 2 ** (n_downsample - i)
        layers += [
            nn.ConvTranspose2d(ngf * m, ngf * m // 2, 3, stride=2, padding=1, output_padding=1),
            norm_layer(norm, ngf * m // 2),
            nn.ReLU(),
        ]
    layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_channels, 7), nn.Tanh()]
    return layers


@register("pix2pixhd_global", task="translate", label="pix2pixHD GlobalGenerator", size_multiple="2 ** n_downsample")
class GlobalGenerator(nn.Module):
    """pix2pixHD GlobalGenerator; `se_blocks=True` gives C-HR-GAN's generator."""

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        ngf: int = 64,
        n_downsample: int = 4,
        n_blocks: int = 9,
        norm: str = "instance",
        se_blocks: bool = False,
        se_reduction: int = 4,
        se_bias: bool = True,
    ):
        super().__init__()
        self.n_downsample = n_downsample
        self.model = nn.Sequential(
            *global_layers(
                in_channels, out_channels, ngf, n_downsample, n_blocks, norm, se_blocks, se_reduction, se_bias
            )
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)
