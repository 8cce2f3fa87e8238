"""Gram statistics of features: Gram = F F^T / (C H W) per layer, one image's or the mean over many (the
"training" of a target band's style), and the strongest channels and channel pairs of a Gram.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.crossband.features import Extractor, check_size, resolve_layers
from core.crossband.images import as_rgb, to_tensor
from core.errors import UserError

ProgressFn = Callable[[float, str], None]


def gram_matrix(f: Any) -> Any:
    """Gram of features (N, C, H, W): F F^T / (C H W), shape (N, C, C).

    With gradients, a custom backward dF = (dG + dG^T) F / (C H W) does one batched matmul where autograd's
    generic one does two plus an addition (F appears on both sides): about a third less work per step."""
    import torch  # heavy: loaded on first use so `python -m core --help` stays light

    n, c, h, w = f.shape
    flat = f.reshape(n, c, h * w)
    if torch.is_grad_enabled() and flat.requires_grad:
        return _gram_function().apply(flat, float(c * h * w))
    return flat @ flat.transpose(1, 2) / (c * h * w)


@functools.cache
def _gram_function() -> Any:
    """The autograd Function of gram_matrix, built on first use (it subclasses a torch class)."""
    import torch  # heavy: see gram_matrix

    class Gram(torch.autograd.Function):
        @staticmethod
        def forward(ctx, flat, norm):
            ctx.save_for_backward(flat)
            ctx.norm = norm
            return flat @ flat.transpose(1, 2) / norm

        @staticmethod
        def backward(ctx, grad):
            (flat,) = ctx.saved_tensors
            return (grad + grad.transpose(1, 2)) @ flat / ctx.norm, None

    return Gram


@dataclass
class GramSet:
    """Target style statistics: one (C, C) Gram per layer, and what made them."""

    grams: dict  # layer -> torch tensor (C, C), float32, CPU
    extractor: dict  # Extractor.identity() of the features that made them
    count: int = 1  # images averaged
    source: str = ""  # one line: where they came from

    @property
    def layers(self) -> tuple[str, ...]:
        return tuple(self.grams)


def image_grams(extractor: Extractor, img: np.ndarray, layers: Iterable[str], device: str = "cpu") -> dict:
    """Gram per layer of one display image: layer -> (C, C) CPU float32 tensor."""
    import torch  # heavy: see gram_matrix

    layers = list(layers)
    with torch.no_grad():
        feats = extractor.net.to(device)(as_rgb(to_tensor(img, device)), layers)
        return {n: gram_matrix(feats[n])[0].float().cpu() for n in layers}


def accumulate_grams(
    extractor: Extractor,
    images: Iterable[tuple[str, np.ndarray]],
    layers: Iterable[str] | None = None,
    device: str = "cpu",
    source: str = "",
    progress: ProgressFn | None = None,
    total: int | None = None,
    memory_gb: float | None = None,
) -> GramSet:
    """Mean Gram per layer over display images ("training" the target band's statistics)."""
    chosen = resolve_layers(extractor, layers, extractor.style_layers, "style")
    sums: dict = {}
    n = 0
    for name, img in images:
        check_size(img.shape[0], img.shape[1], name, extractor, memory_gb)
        g = image_grams(extractor, img, chosen, device)
        for k, v in g.items():
            sums[k] = v.double() if k not in sums else sums[k] + v.double()
        n += 1
        if progress is not None:
            progress(n / total if total else 0.0, f"Gram of {name} ({n}{'/' + str(total) if total else ''})")
    if n == 0:
        raise UserError(f"{source or 'the style source'} holds no images; give at least one image.")
    return GramSet(
        grams={k: (v / n).float() for k, v in sums.items()}, extractor=extractor.identity(), count=n, source=source
    )


def strongest_channels(gram: Any, k: int = 8) -> list[int]:
    """Channels with the largest Gram diagonal (most energy in the style)."""
    import torch  # heavy: see gram_matrix

    return [int(i) for i in torch.argsort(torch.diagonal(gram), descending=True)[:k]]


def strongest_pairs(gram: Any, k: int = 8) -> list[tuple[int, int]]:
    """Off-diagonal Gram elements (i < j) with the largest values in the style."""
    import torch  # heavy: see gram_matrix

    c = gram.shape[0]
    iu = torch.triu_indices(c, c, offset=1)
    vals = gram[iu[0], iu[1]]
    order = torch.argsort(vals, descending=True)[:k]
    return [(int(iu[0, t]), int(iu[1, t])) for t in order]
