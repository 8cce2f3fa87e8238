"""What the layers respond to: images optimised from faint noise to excite one channel of a layer (its mean
activation) or one Gram element G[i, j] (channels i and j firing together), kept at zero mean and a fixed contrast
so they show a pattern, not a brightness level.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from core.crossband.features import Extractor, check_size, parse_channels, parse_pairs, resolve_layers
from core.crossband.gram import ProgressFn, gram_matrix, strongest_channels, strongest_pairs
from core.crossband.images import as_rgb
from core.errors import UserError


def _maximise(
    extractor: Extractor,
    layer: str,
    objective: Callable[[Any], Any],
    count: int,
    size: int,
    steps: int,
    lr: float,
    seed: int,
    device: str,
    progress: ProgressFn | None,
    what: str,
) -> list[np.ndarray]:
    """Gradient ascent on `objective(features (N, C, h, w)) -> (N,)` from faint noise, one image per row."""
    import torch  # heavy: loaded on first use so `python -m core --help` stays light

    check_size(size, size, f"a {size}x{size} visualisation", extractor)
    net = extractor.net.to(device).eval()
    gen = torch.Generator().manual_seed(seed)
    x = (torch.randn(count, 1, size, size, generator=gen) * 0.05).to(device).requires_grad_(True)
    opt = torch.optim.Adam([x], lr=lr)

    def shown(v: Any) -> Any:
        # zero mean and fixed contrast: otherwise a flat bright or dark image wins for any filter with a non-zero
        # sum, and the picture says nothing about the pattern the channel responds to
        v = v - v.mean(dim=(2, 3), keepdim=True)
        return (v / (v.std(dim=(2, 3), keepdim=True) + 1e-6) * 0.5).clamp(-1, 1)

    for step in range(1, steps + 1):
        opt.zero_grad()
        shift = [int(v) for v in torch.randint(-2, 3, (2,), generator=gen)]  # jitter: fewer pixel artefacts
        f = net(as_rgb(torch.roll(shown(x), shifts=shift, dims=(2, 3))), [layer])[layer]
        loss = -objective(f).sum()
        loss.backward()
        opt.step()
        if progress is not None:
            progress(step / steps, f"{what}: step {step}/{steps}")
    out = []
    with torch.no_grad():
        final = shown(x).cpu().numpy()
    for i in range(count):
        out.append(np.clip(np.rint((final[i, 0] + 1) * 127.5), 0, 255).astype(np.uint8))
    return out


def channel_images(
    extractor: Extractor,
    layer: str,
    channels: list[int],
    size: int = 96,
    steps: int = 80,
    lr: float = 0.05,
    seed: int = 0,
    device: str = "cpu",
    progress: ProgressFn | None = None,
) -> list[tuple[str, np.ndarray]]:
    """Images that maximise single channels of `layer` (mean activation), labelled 'layer ch N'."""
    layer = resolve_layers(extractor, [layer], (), "visualisation")[0]
    c = extractor.channels(layer)
    bad = [i for i in channels if not 0 <= i < c]
    if bad or not channels:
        raise UserError(f"{layer} has channels 0 to {c - 1}; channel {bad[0] if bad else '(none)'} cannot be shown.")
    idx = list(channels)

    def objective(f: Any) -> Any:
        import torch  # heavy: see _maximise

        return f[torch.arange(len(idx)), idx].mean(dim=(1, 2))

    imgs = _maximise(extractor, layer, objective, len(idx), size, steps, lr, seed, device, progress, "channels")
    return [(f"{layer} ch {i}", im) for i, im in zip(idx, imgs)]


def gram_element_images(
    extractor: Extractor,
    layer: str,
    pairs: list[tuple[int, int]],
    size: int = 96,
    steps: int = 80,
    lr: float = 0.05,
    seed: int = 0,
    device: str = "cpu",
    progress: ProgressFn | None = None,
) -> list[tuple[str, np.ndarray]]:
    """Images that maximise single Gram elements G[i, j] of `layer` (co-activation of channels i and j)."""
    layer = resolve_layers(extractor, [layer], (), "visualisation")[0]
    c = extractor.channels(layer)
    for i, j in pairs:
        if not (0 <= i < c and 0 <= j < c):
            raise UserError(f"{layer} has channels 0 to {c - 1}; Gram element ({i}, {j}) does not exist.")
    if not pairs:
        raise UserError("give at least one Gram element (i, j) to show.")
    ii = [p[0] for p in pairs]
    jj = [p[1] for p in pairs]

    def objective(f: Any) -> Any:
        import torch  # heavy: see _maximise

        g = gram_matrix(f)
        return g[torch.arange(len(pairs)), ii, jj]

    imgs = _maximise(extractor, layer, objective, len(pairs), size, steps, lr, seed, device, progress, "Gram")
    return [(f"{layer} G[{i},{j}]", im) for (i, j), im in zip(pairs, imgs)]


def visual_targets(channels: bool, gram: Any, count: int | None, text: str) -> tuple[Callable[..., Any], list]:
    """What to visualise, as a page asks: (channel_images, channel indices) or (gram_element_images, i-j pairs);
    the `count` strongest in the style's Gram matrix `gram` when `count` is given, else the indices typed in
    `text` ("0,1,2" or "0-1,2-3"). UserError for badly typed indices."""
    if count is not None:
        if gram is None:
            raise UserError("the strongest channels are those of the style's Gram statistics; choose a style first.")
        return (channel_images, strongest_channels(gram, count)) if channels else (
            gram_element_images, strongest_pairs(gram, count))  # fmt: skip
    return (channel_images, parse_channels(text)) if channels else (gram_element_images, parse_pairs(text))
