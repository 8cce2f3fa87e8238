"""Per-sample statistics made per-image, so tiles of one image are normalised alike (no seams).

Instance normalisation (pix2pixHD, C-HR-GAN, junyanz with `norm instance`), and the squeeze-excitation pooling of
C-HR-GAN's SE-ResNet blocks, compute statistics over each input they see. Run tile by tile, every tile gets its
own mean and variance, and neighbouring tiles come out in different colours: hard rectangular blocks. Here the
statistics of every such layer are computed once for the whole image and frozen while the tiles run:

1. `record(run)`: one forward pass over a *statistics batch* in which every per-sample layer normalises with the
   statistics of the whole batch (all samples and all pixels together, per channel) and keeps them. Each layer
   sees the outputs of earlier layers normalised with the batch statistics, so the record is consistent through
   the network in one pass. The batch is the whole image when it is small enough (`STATS_PIXELS`): the recorded
   statistics are then exactly the untiled network's. For larger images it is a set of full-resolution tiles
   spread on a regular grid over the image (at most `STATS_PIXELS` pixels): the statistics of a context far larger
   than one tile, the same for every tile.
2. `frozen()`: a context in which each of those layers normalises with its recorded statistics.

Outside both, the layers behave as written (a single image one tile in size keeps its own statistics).
Only PyTorch modules can be changed this way; the engine runs such generators with PyTorch (see the engine).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

STATS_PIXELS = 1024 * 1024  # pixels of the statistics batch (the whole image up to this size)


def _kinds() -> tuple[Any, Any]:
    from torch import nn  # heavy: only torch generators come here

    return nn.modules.instancenorm._InstanceNorm, nn.AdaptiveAvgPool2d


def per_sample_layers(model: Any) -> list[Any]:
    """The model's layers whose output depends on statistics of each whole input: instance norms, and global
    average pools (output size 1, as in squeeze-excitation blocks)."""
    inorm, pool = _kinds()
    out = []
    for m in model.modules():
        if isinstance(m, inorm) and not m.track_running_stats:
            out.append(m)
        elif isinstance(m, pool) and m.output_size in (1, (1, 1)):
            out.append(m)
    return out


class SampleNorms:
    """Record and freeze the statistics of a model's per-sample layers (see the module note)."""

    def __init__(self, model: Any):
        self.layers = per_sample_layers(model)
        self.stats: dict[int, tuple[Any, Any | None]] = {}  # id(layer) -> (mean (1, C, 1, 1), var or None)

    def __bool__(self) -> bool:
        return bool(self.layers)

    def _forward(self, layer: Any, mode: str) -> Callable[[Any], Any]:
        import torch

        inorm, _ = _kinds()
        is_norm = isinstance(layer, inorm)

        def forward(x: torch.Tensor) -> torch.Tensor:
            if mode == "record":
                dims = (0, 2, 3)
                mean = x.float().mean(dim=dims, keepdim=True)
                var = x.float().var(dim=dims, keepdim=True, unbiased=False) if is_norm else None
                self.stats[id(layer)] = (mean, var)
            mean, var = self.stats[id(layer)]
            if not is_norm or var is None:  # a global average pool: the image's channel means, for every sample
                return mean.to(x.dtype).expand(x.shape[0], -1, -1, -1)
            y = (x - mean.to(x.dtype)) / torch.sqrt(var.to(x.dtype) + layer.eps)
            if layer.affine:
                y = y * layer.weight.view(1, -1, 1, 1) + layer.bias.view(1, -1, 1, 1)
            return y

        return forward

    @contextmanager
    def _patched(self, mode: str) -> Iterator[None]:
        for layer in self.layers:
            layer.forward = self._forward(layer, mode)  # an instance attribute: nn.Module.__call__ uses it
        try:
            yield
        finally:
            for layer in self.layers:
                del layer.forward

    def record(self, run: Callable[[], Any]) -> None:
        """Run `run()` (one forward pass over the statistics batch) with batch-wide statistics, keeping them."""
        self.stats = {}
        with self._patched("record"):
            run()

    @contextmanager
    def frozen(self) -> Iterator[None]:
        """Every per-sample layer uses the recorded statistics while the context is open."""
        if not self.stats:
            raise RuntimeError("record() the statistics before freezing them")
        with self._patched("frozen"):
            yield


def stats_windows(height: int, width: int, tile: int, max_pixels: int = STATS_PIXELS) -> list[tuple[int, int]]:
    """Top-left corners of `tile`-sized windows on a regular grid over the image, at most `max_pixels` in all,
    spread over the whole image (the statistics batch of an image larger than `max_pixels`)."""
    n = max(1, max_pixels // (tile * tile))
    ny = max(1, min(int(np.ceil(height / tile)), int(round(np.sqrt(n * height / max(width, 1))))))
    nx = max(1, min(int(np.ceil(width / tile)), n // ny))
    ys = np.linspace(0, max(0, height - tile), ny).round().astype(int)
    xs = np.linspace(0, max(0, width - tile), nx).round().astype(int)
    return [(int(y), int(x)) for y in ys for x in xs]
