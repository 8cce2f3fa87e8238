"""The junyanz pytorch-CycleGAN-and-pix2pix U-Net generator (`--netG unet_256` / `unet_128`).

Recursive skip blocks; at ngf 64 and num_downs 8 the state_dict is key-for-key `latest_net_G.pth`
(82 tensors, 54,413,955 parameters with batch norm): `model.model.0.weight` is the outermost down conv,
`model.model.1.model.…` the nested block, and so on.

Block (outer_nc, inner_nc):
  outermost: [down conv] + [sub] + [ReLU, up conv (bias), Tanh]
  middle:    [LeakyReLU(0.2), down conv, norm] + [sub] + [ReLU, up conv, norm] (+ Dropout(0.5) on the three
             blocks just inside the innermost)
  innermost: [LeakyReLU(0.2), down conv, ReLU, up conv, norm]
Every block except the outermost returns cat([x, block(x)]). Convs have a bias only with instance norm
(junyanz's use_bias), except the outermost up conv which always has one. Norm "batch" (affine, running stats)
or "instance" (affine False, no running stats, so no keys).
Input and output in [-1, 1]; H and W multiples of 2**num_downs.
"""

from __future__ import annotations

import torch
from torch import nn

from models.layers import norm_layer
from models.registry import register


class UnetSkipBlock(nn.Module):
    def __init__(
        self,
        outer_nc: int,
        inner_nc: int,
        input_nc: int | None = None,
        submodule: nn.Module | None = None,
        outermost: bool = False,
        innermost: bool = False,
        norm: str = "batch",
        use_dropout: bool = False,
    ):
        super().__init__()
        self.outermost = outermost
        use_bias = norm == "instance"
        input_nc = outer_nc if input_nc is None else input_nc
        downconv = nn.Conv2d(input_nc, inner_nc, kernel_size=4, stride=2, padding=1, bias=use_bias)
        layers: list[nn.Module]
        if innermost and not outermost:
            upconv = nn.ConvTranspose2d(inner_nc, outer_nc, kernel_size=4, stride=2, padding=1, bias=use_bias)
            layers = [nn.LeakyReLU(0.2), downconv, nn.ReLU(), upconv, norm_layer(norm, outer_nc)]
        elif submodule is None:
            raise ValueError("every U-Net block but the innermost wraps a submodule")
        elif outermost:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1)
            layers = [downconv, submodule, nn.ReLU(), upconv, nn.Tanh()]
        else:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1, bias=use_bias)
            layers = [
                nn.LeakyReLU(0.2),
                downconv,
                norm_layer(norm, inner_nc),
                submodule,
                nn.ReLU(),
                upconv,
                norm_layer(norm, outer_nc),
            ]
            if use_dropout:
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)


@register("junyan_unet", task="translate", label="junyanz pix2pix U-Net", size_multiple="2 ** num_downs")
class JunyanUNet(nn.Module):
    """UnetGenerator(input_nc, output_nc, num_downs, ngf, norm, use_dropout) as in junyanz's networks.py."""

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        ngf: int = 64,
        num_downs: int = 8,
        norm: str = "batch",
        use_dropout: bool = True,
    ):
        super().__init__()
        if num_downs < 5:
            raise ValueError("num_downs must be at least 5")
        self.num_downs = num_downs
        block = UnetSkipBlock(ngf * 8, ngf * 8, innermost=True, norm=norm)
        for _ in range(num_downs - 5):
            block = UnetSkipBlock(ngf * 8, ngf * 8, submodule=block, norm=norm, use_dropout=use_dropout)
        block = UnetSkipBlock(ngf * 4, ngf * 8, submodule=block, norm=norm)
        block = UnetSkipBlock(ngf * 2, ngf * 4, submodule=block, norm=norm)
        block = UnetSkipBlock(ngf, ngf * 2, submodule=block, norm=norm)
        self.model = UnetSkipBlock(out_channels, ngf, input_nc=in_channels, submodule=block, outermost=True, norm=norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)
