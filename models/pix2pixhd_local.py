"""pix2pixHD's LocalEnhancer (`--netG local`): a GlobalGenerator at half resolution plus local enhancers.

Key-for-key NVIDIA's files: `model.*` is the GlobalGenerator (ngf * 2**n_local_enhancers) without its last
three layers (pad, conv, tanh); for each enhancer n, `model{n}_1.*` = [ReflectionPad(3), Conv7x7(in -> g), Norm,
ReLU, Conv3x3 s2 (g -> 2g), Norm, ReLU] and `model{n}_2.*` = n_blocks_local ResBlocks(2g), ConvTranspose3x3 s2
(2g -> g), Norm, ReLU (+ ReflectionPad(3), Conv7x7(ngf -> out), Tanh on the last), with g = ngf * 2**(N - n).
Forward: an input pyramid by AvgPool(3, s2, p1, count_include_pad False); the global output at the coarsest
level, then output = model{n}_2(model{n}_1(input at that level) + output).
Input and output in [-1, 1]; H and W multiples of 2**(n_downsample_global + n_local_enhancers).
"""

from __future__ import annotations

import torch
from torch import nn

from models.layers import norm_layer
from models.pix2pixhd_global import ResnetBlock, global_layers
from models.registry import register


@register(
    "pix2pixhd_local",
    task="translate",
    label="pix2pixHD LocalEnhancer",
    size_multiple="2 ** (n_downsample_global + n_local_enhancers)",
)
class LocalEnhancer(nn.Module):
    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        ngf: int = 32,
        n_downsample_global: int = 4,
        n_blocks_global: int = 9,
        n_local_enhancers: int = 1,
        n_blocks_local: int = 3,
        norm: str = "instance",
        se_blocks: bool = False,
        se_reduction: int = 4,
        se_bias: bool = True,
    ):
        super().__init__()
        self.n_local_enhancers = n_local_enhancers
        self.n_downsample_global = n_downsample_global
        ngf_global = ngf * 2**n_local_enhancers
        layers = global_layers(
            in_channels,
            out_channels,
            ngf_global,
            n_downsample_global,
            n_blocks_global,
            norm,
            se_blocks,
            se_reduction,
            se_bias,
        )
        self.model = nn.Sequential(*layers[:-3])
        for n in range(1, n_local_enhancers + 1):
            g = ngf * 2 ** (n_local_enhancers - n)
            down = [
                nn.ReflectionPad2d(3),
                nn.Conv2d(in_channels, g, 7),
                norm_layer(norm, g),
                nn.ReLU(),
                nn.Conv2d(g, g * 2, 3, stride=2, padding=1),
                norm_layer(norm, g * 2),
                nn.ReLU(),
            ]
            up: list[nn.Module] = [
                ResnetBlock(g * 2, norm, se_blocks, se_reduction, se_bias) for _ in range(n_blocks_local)
            ]
            up += [
                nn.ConvTranspose2d(g * 2, g, 3, stride=2, padding=1, output_padding=1),
                norm_layer(norm, g),
                nn.ReLU(),
            ]
            if n == n_local_enhancers:
                up += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_channels, 7), nn.Tanh()]
            setattr(self, f"model{n}_1", nn.Sequential(*down))
            setattr(self, f"model{n}_2", nn.Sequential(*up))
        self.downsample = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pyramid = [x]
        for _ in range(self.n_local_enhancers):
            pyramid.append(self.downsample(pyramid[-1]))
        out = self.model(pyramid[-1])
        for n in range(1, self.n_local_enhancers + 1):
            inp = pyramid[self.n_local_enhancers - n]
            out = getattr(self, f"model{n}_2")(getattr(self, f"model{n}_1")(inp) + out)
        return out
