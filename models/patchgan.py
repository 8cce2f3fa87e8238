"""pix2pix's 70x70 PatchGAN discriminator (junyanz `NLayerDiscriminator`, n_layers 3).

Conv(in -> ndf, k4 s2 p1) -> LeakyReLU(0.2);
for n in 1 .. n_layers-1: Conv(ndf*min(2^(n-1), 8) -> ndf*min(2^n, 8), k4 s2 p1, no bias) -> Norm -> LeakyReLU(0.2);
Conv(-> ndf*min(2^n_layers, 8), k4 s1 p1, no bias) -> Norm -> LeakyReLU(0.2); Conv(-> 1, k4 s1 p1).
With n_layers 3 every output logit sees a 70x70 input patch. Input: the SAR condition and the optical image
concatenated along channels (in_channels = SAR channels + optical channels); output: one logit per patch
(no sigmoid; use BCE-with-logits). Keys `model.N.*` as in junyanz's files.
"""

from __future__ import annotations

from torch import nn

from models.layers import norm_layer
from models.registry import register


@register("patchgan", task="discriminator", label="PatchGAN discriminator")
class PatchGAN(nn.Module):
    def __init__(self, in_channels: int = 6, ndf: int = 64, n_layers: int = 3, norm: str = "batch"):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_channels, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers):
            prev, mult = mult, min(2**n, 8)
            layers += [
                nn.Conv2d(ndf * prev, ndf * mult, 4, 2, 1, bias=False),
                norm_layer(norm, ndf * mult),
                nn.LeakyReLU(0.2, True),
            ]
        prev, mult = mult, min(2**n_layers, 8)
        layers += [
            nn.Conv2d(ndf * prev, ndf * mult, 4, 1, 1, bias=False),
            norm_layer(norm, ndf * mult),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * mult, 1, 4, 1, 1),
        ]
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)


def receptive_field(n_layers: int = 3) -> int:
    """Input patch size seen by one output logit (70 for n_layers 3)."""
    rf = 1
    strides = [1, 1] + [2] * n_layers  # walked from the output back to the input
    for s in strides:
        rf = (rf - 1) * s + 4
    return rf
