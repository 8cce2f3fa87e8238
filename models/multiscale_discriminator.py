"""pix2pixHD's multi-scale discriminator (NVIDIA `MultiscaleDiscriminator` with getIntermFeat).

`num_D` PatchGAN-style discriminators, the k-th seeing the input average-pooled k times
(AvgPool2d(3, stride 2, padding 1, count_include_pad False)). Each one (pix2pixHD `NLayerDiscriminator`, kw 4,
padding 2): Conv(in -> ndf, s2) -> LeakyReLU(0.2); n_layers-1 x [Conv(s2) -> Norm -> LeakyReLU];
Conv(s1) -> Norm -> LeakyReLU; Conv(-> 1, s1). Keys `scale{i}_layer{j}.*` as in pix2pixHD with intermediate
features. forward returns, per scale (finest first), the list of every layer's output; the last entry is the
patch logits (no sigmoid: LSGAN), the others feed the feature-matching loss.
`intermediate=False` is pix2pixHD trained with --no_ganFeat_loss (getIntermFeat False): each scale is one flat
Sequential, keys `layer{i}.{k}.*`, and forward gives per scale a one-element list (the logits).
"""

from __future__ import annotations

import math

from torch import nn

from models.layers import norm_layer
from models.registry import register


def scale_layers(in_channels: int, ndf: int, n_layers: int, norm: str) -> list[nn.Sequential]:
    kw, pad = 4, int(math.ceil((4 - 1.0) / 2))
    seq = [nn.Sequential(nn.Conv2d(in_channels, ndf, kw, 2, pad), nn.LeakyReLU(0.2, True))]
    nf = ndf
    for _ in range(1, n_layers):
        prev, nf = nf, min(nf * 2, 512)
        seq.append(nn.Sequential(nn.Conv2d(prev, nf, kw, 2, pad), norm_layer(norm, nf), nn.LeakyReLU(0.2, True)))
    prev, nf = nf, min(nf * 2, 512)
    seq.append(nn.Sequential(nn.Conv2d(prev, nf, kw, 1, pad), norm_layer(norm, nf), nn.LeakyReLU(0.2, True)))
    seq.append(nn.Sequential(nn.Conv2d(nf, 1, kw, 1, pad)))
    return seq


@register("multiscale_discriminator", task="discriminator", label="multiscale discriminator")
class MultiscaleDiscriminator(nn.Module):
    def __init__(
        self,
        in_channels: int = 6,
        ndf: int = 64,
        n_layers: int = 3,
        num_D: int = 3,
        norm: str = "instance",
        intermediate: bool = True,
    ):
        super().__init__()
        self.num_D, self.n_layers, self.intermediate = num_D, n_layers, intermediate
        for i in range(num_D):
            layers = scale_layers(in_channels, ndf, n_layers, norm)
            if not intermediate:
                setattr(self, f"layer{i}", nn.Sequential(*[m for seq in layers for m in seq]))
                continue
            for j, layer in enumerate(layers):
                setattr(self, f"scale{i}_layer{j}", layer)
        self.downsample = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)

    def forward(self, x):
        results = []
        for i in range(self.num_D):
            if not self.intermediate:
                results.append([getattr(self, f"layer{i}")(x)])
                if i != self.num_D - 1:
                    x = self.downsample(x)
                continue
            feats, h = [], x
            for j in range(self.n_layers + 2):
                h = getattr(self, f"scale{i}_layer{j}")(h)
                feats.append(h)
            results.append(feats)
            if i != self.num_D - 1:
                x = self.downsample(x)
        return results
