"""Random multi-scale convolutional features: the fallback texture descriptor when no VGG weights are available.

Texture statistics do not need trained filters: Gram matrices of ReLU responses to random convolution filters
at several scales already describe a texture well enough to synthesise it (Ustyuzhaninov et al., "Texture
synthesis using shallow convolutional networks with random filters", 2016; He et al., "A powerful generative
model using random weights for the deep image representation", 2016). This network is that idea made cheap:
an image pyramid (2x2 average pooling between levels) and, at each level, one bank of random 5x5 filters
followed by a ReLU. Level k sees structures about 5 * 2^k pixels wide.

The filters are drawn from a seeded generator, so the same (seed, channels, kernel) always gives the same
features and a Gram file made with them stays valid. Layers are named rand1 .. rand{n}.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from models.registry import register


@register("random_features", task="feature", label="random-feature network")
class RandomFeatures(nn.Module):
    """Seeded random filters on an average-pooled pyramid; `forward(x, layers)` -> dict like models.vgg."""

    def __init__(
        self,
        channels: list[int] | tuple[int, ...] = (32, 64, 64, 128, 128),
        kernel: int = 5,
        in_channels: int = 3,
        seed: int = 0,
    ):
        super().__init__()
        gen = torch.Generator().manual_seed(int(seed))
        self.kernel = int(kernel)
        self.names = [f"rand{i + 1}" for i in range(len(channels))]
        self.convs = nn.ModuleList()
        for c in channels:
            conv = nn.Conv2d(in_channels, int(c), self.kernel, padding=self.kernel // 2, padding_mode="reflect")
            w = torch.randn(conv.weight.shape, generator=gen)
            # unit-norm filters keep every level's responses on one scale (He-like variance per output)
            w = w / w.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
            assert conv.bias is not None  # nn.Conv2d makes a bias by default
            b = (torch.rand(conv.bias.shape, generator=gen) - 0.5) * 0.2
            with torch.no_grad():
                conv.weight.copy_(w)
                conv.bias.copy_(b)
            self.convs.append(conv)
        for p in self.parameters():
            p.requires_grad_(False)

    @property
    def min_size(self) -> int:
        """Smallest image side the deepest level can reflect-pad (the pad must be smaller than the side)."""
        return 2 ** (len(self.convs) - 1) * (self.kernel // 2 + 1)

    def bank(self, i: int) -> nn.Conv2d:
        """The filter bank of level i (nn.ModuleList hands out plain Modules; this says which kind)."""
        conv = self.convs[i]
        assert isinstance(conv, nn.Conv2d)
        return conv

    def layer_index(self, name: str) -> int:
        if name not in self.names:
            raise KeyError(f"random features have no layer {name!r}; known: {', '.join(self.names)}")
        return self.names.index(name)

    def channels(self, name: str) -> int:
        return self.bank(self.layer_index(name)).out_channels

    def forward(self, x: torch.Tensor, layers: list[str] | tuple[str, ...] = ("rand1",)) -> dict[str, torch.Tensor]:
        """Named ReLU responses. x: (N, 3, H, W), or (N, 1, H, W) for a grey image (taken as R = G = B)."""
        wanted = {self.layer_index(n): n for n in layers}
        out: dict[str, torch.Tensor] = {}
        last = max(wanted)
        grey = x.shape[1] == 1 and self.bank(0).in_channels == 3
        for i in range(len(self.convs)):
            if i > 0:
                x = F.avg_pool2d(x, 2)
            if i in wanted:
                p = self.kernel // 2
                # a grey image is R = G = B: summing the filter over its input channels gives the same result
                conv = self.bank(i)
                w = conv.weight.sum(1, keepdim=True) if grey else conv.weight
                out[wanted[i]] = F.relu(F.conv2d(F.pad(x, (p, p, p, p), mode="reflect"), w, conv.bias))
            if i == last:
                break
        return out
