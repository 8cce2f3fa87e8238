"""MERLIN despeckling network (Dalsasso, Denis, Tupin 2022), key-for-key with `deepdespeckling` 0.8.

A U-Net on log-amplitude: 5 poolings (so height and width must be multiples of 32), leaky ReLU 0.1, nearest
up-sampling, and a residual output: the network predicts the speckle component `n` and returns `x - n`.
The state_dict keys (enc0..enc6, dec5, dec5b, dec4, dec4b, dec3, dec3b, dec2, dec2b, dec1a, dec1b, dec1)
match the pretrained `deepdespeckling/merlin/saved_models/*.pth` files, which load strictly.
Pre- and post-processing (normalisation, real/imaginary split) live in core.speckle, not here.
"""

from __future__ import annotations

import torch
from torch import nn

from models.registry import register


@register("merlin", task="despeckle", label="MERLIN despeckling network")
class Merlin(nn.Module):
    def __init__(self, in_channels: int = 1, width: int = 48):
        super().__init__()
        w, w2 = width, 2 * width

        def conv(cin: int, cout: int) -> nn.Conv2d:
            return nn.Conv2d(cin, cout, kernel_size=3, stride=1, padding=1)

        self.enc0 = conv(in_channels, w)
        self.enc1 = conv(w, w)
        self.enc2 = conv(w, w)
        self.enc3 = conv(w, w)
        self.enc4 = conv(w, w)
        self.enc5 = conv(w, w)
        self.enc6 = conv(w, w)
        self.dec5 = conv(w2, w2)
        self.dec5b = conv(w2, w2)
        self.dec4 = conv(w2 + w, w2)
        self.dec4b = conv(w2, w2)
        self.dec3 = conv(w2 + w, w2)
        self.dec3b = conv(w2, w2)
        self.dec2 = conv(w2 + w, w2)
        self.dec2b = conv(w2, w2)
        self.dec1a = conv(w2 + in_channels, 64)
        self.dec1b = conv(64, 32)
        self.dec1 = conv(32, in_channels)
        self.pool = nn.MaxPool2d(kernel_size=2, stride=2)
        self.leaky = nn.LeakyReLU(0.1)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, C, H, W) normalised log-amplitude, H and W multiples of 32. Returns the despeckled estimate."""
        act = self.leaky
        skips = [x]
        n = act(self.enc1(act(self.enc0(x))))
        n = self.pool(n)
        skips.append(n)
        for enc in (self.enc2, self.enc3, self.enc4):
            n = self.pool(act(enc(n)))
            skips.append(n)
        n = self.pool(act(self.enc5(n)))
        n = act(self.enc6(n))
        for a, b in (
            (self.dec5, self.dec5b),
            (self.dec4, self.dec4b),
            (self.dec3, self.dec3b),
            (self.dec2, self.dec2b),
        ):
            n = torch.cat((self.up(n), skips.pop()), dim=1)
            n = act(b(act(a(n))))
        n = torch.cat((self.up(n), skips.pop()), dim=1)
        n = act(self.dec1b(act(self.dec1a(n))))
        return x - self.dec1(n)
