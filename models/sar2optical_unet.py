"""SAR2Optical's pix2pix U-Net generator (yuuIind/SAR2Optical), with a configurable width.

At width 64 and n_down 8 the state_dict is key-for-key SAR2Optical's `pix2pix_gen_*.pth`
(94 tensors, 54,541,827 parameters), so their files load strictly.

Encoder: n_down blocks Conv2d(k4, s2, p1) -> BatchNorm2d (not on the first block; the conv has a bias only
there) -> LeakyReLU(0.2); channels width * (1, 2, 4, 8, 8, 8, ...). Keys `encoder.enc{i}.conv_block.{0,1}.*`.
Decoder: ConvTranspose2d(k4, s2, p1, no bias) -> BatchNorm2d -> Dropout(0.5) on the first three -> ReLU; each
decoder output is concatenated after the matching encoder output, cat([skip, up]). Keys `decoder.dec{i}.*`.
Head: Conv2d(width -> out, k3, p1) -> Tanh, keys `head.0.*`.
`use_upsampling=True`: each transpose conv becomes Upsample(x2, `upsample_mode`, nearest as SAR2Optical's default)
-> Conv2d(k3, p1, no bias) (keys `conv_block.0.1.*`; the mode is not in the weights, so foreign files get nearest).

Input: `in_channels` channels in [-1, 1] (SAR2Optical: grey SAR copied to R = G = B, x/255 then (x-0.5)/0.5);
output tanh in [-1, 1]. H and W must be multiples of 2**n_down (256 by default).
"""

from __future__ import annotations

import torch
from torch import nn

from models.registry import register


class DownBlock(nn.Module):
    def __init__(self, cin: int, cout: int, norm: bool):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(cin, cout, 4, 2, 1, bias=not norm)]
        if norm:
            layers.append(nn.BatchNorm2d(cout))
        layers.append(nn.LeakyReLU(0.2))
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x):
        return self.conv_block(x)


class UpBlock(nn.Module):
    def __init__(self, cin: int, cout: int, dropout: bool, use_upsampling: bool, mode: str = "nearest"):
        super().__init__()
        up: nn.Module
        if use_upsampling:
            up = nn.Sequential(nn.Upsample(scale_factor=2, mode=mode), nn.Conv2d(cin, cout, 3, 1, 1, bias=False))
        else:
            up = nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False)
        layers: list[nn.Module] = [up, nn.BatchNorm2d(cout)]
        if dropout:
            layers.append(nn.Dropout(0.5))
        layers.append(nn.ReLU())
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x):
        return self.conv_block(x)


def encoder_channels(width: int, n_down: int) -> list[int]:
    return [width * min(2**i, 8) for i in range(n_down)]


@register("sar2optical_unet", task="translate", label="SAR2Optical U-Net", size_multiple="2 ** n_down")
class SAR2OpticalUNet(nn.Module):
    """SAR2Optical U-Net. Defaults reproduce the published network exactly."""

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        width: int = 64,
        n_down: int = 8,
        use_upsampling: bool = False,
        use_dropout: bool = True,
        upsample_mode: str = "nearest",
    ):
        super().__init__()
        if n_down < 2:
            raise ValueError("n_down must be at least 2")
        if upsample_mode not in ("nearest", "bilinear", "bicubic"):
            raise ValueError("upsample_mode must be nearest, bilinear or bicubic")
        c = encoder_channels(width, n_down)
        self.n_down = n_down
        self.encoder = nn.Module()
        prev = in_channels
        for i in range(n_down):
            setattr(self.encoder, f"enc{i + 1}", DownBlock(prev, c[i], norm=i > 0))
            prev = c[i]
        self.decoder = nn.Module()
        for j in range(1, n_down + 1):
            if j == 1:
                cin, cout = c[-1], c[-2]
            elif j < n_down:
                cin, cout = 2 * c[n_down - j], c[n_down - j - 1]
            else:
                cin, cout = 2 * c[0], c[0]
            setattr(
                self.decoder,
                f"dec{j}",
                UpBlock(cin, cout, dropout=use_dropout and j <= 3, use_upsampling=use_upsampling, mode=upsample_mode),
            )
        self.head = nn.Sequential(nn.Conv2d(c[0], out_channels, 3, 1, 1), nn.Tanh())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i in range(self.n_down):
            x = getattr(self.encoder, f"enc{i + 1}")(x)
            skips.append(x)
        x = skips[-1]
        for j in range(1, self.n_down + 1):
            x = getattr(self.decoder, f"dec{j}")(x)
            if j < self.n_down:
                x = torch.cat([skips[self.n_down - 1 - j], x], dim=1)
        return self.head(x)
