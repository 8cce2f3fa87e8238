"""Discriminator used when training RGTGAN with an adversarial term (core/superres/train.py)."""

from __future__ import annotations

from torch import nn

from models.registry import register


@register("rgtgan_discriminator", task="discriminator", label="RGTGAN discriminator", article="an")
class RGTGANDiscriminator(nn.Module):
    """VGG-style discriminator for RGTGAN training (the family of BasicSR's discriminator_vgg_128, made
    size-agnostic): conv pairs (stride 1, then stride 2) with LeakyReLU 0.2, doubling width to 8*nf, then a
    1x1 conv to patch logits. Input (N, 3, H, W) in [0, 1]; output (N, 1, H/16, W/16)."""

    def __init__(self, in_nc: int = 3, nf: int = 64):
        super().__init__()
        layers: list[nn.Module] = []
        cin = in_nc
        for width in (nf, 2 * nf, 4 * nf, 8 * nf):
            layers += [
                nn.Conv2d(cin, width, 3, 1, 1),
                nn.LeakyReLU(0.2, True),
                nn.Conv2d(width, width, 4, 2, 1),
                nn.LeakyReLU(0.2, True),
            ]
            cin = width
        layers.append(nn.Conv2d(cin, 1, 1))
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        return self.body(x)
