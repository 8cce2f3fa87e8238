"""Small building blocks shared by several networks (no network of its own, nothing registered)."""

from torch import nn


def norm_layer(kind: str, channels: int) -> nn.Module:
    """ "batch" -> BatchNorm2d (state_dict keys); "instance" -> InstanceNorm2d(affine False), no keys, as in
    pix2pix / pix2pixHD."""
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    raise ValueError(f"unknown norm {kind!r}; use instance or batch")
