"""Feature extractors for cross-band generation: torchvision VGG16/VGG19 weights chosen by the user (nothing is
downloaded) or, without them, seeded random multi-scale features (models/random_features.py); their defaults, the
layer names a user may pick, the `0,1,2` / `0-1,2-3` index syntax, and the size and memory limits of a run.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import UserError
from core.files import digest_file
from models.registry import build, full_config

DEFAULT_MEMORY_GB = 6.0  # override with SAR_STUDIO_CROSSBAND_MEM_GB or memory_gb=

# Defaults per extractor. VGG: transband's. Random features: chosen on the bundled 256x256 VV/VH samples (Gram
# values 1e-5 .. 1e-3): style weight 1e6 lowers the style loss about 100x with the scene kept, and it levels off
# after about 50 Adam steps at lr 0.03.
VGG_DEFAULTS = dict(steps=1000, lr=0.01, style_weight=1e5, content_weight=1.0)
RANDOM_DEFAULTS = dict(steps=60, lr=0.03, style_weight=1e6, content_weight=1.0)
RANDOM_CONTENT_LAYERS = ("rand2",)
# Memory of one optimisation step, bytes per pixel. Measured (peak RSS growth over two steps): random features
# 783 at 1024x1024, VGG19 2860 at 512x512; VGG gets headroom, VGG16 is scaled from VGG19.
BYTES_PER_PIXEL = {"vgg19": 3600, "vgg16": 2900, "random_features": 800}


@dataclass
class Extractor:
    """A feature network plus what the user must know about it. Everything a page shows before a run (label,
    defaults, layers and their channels, the identity a Gram file records) is known without the network; the
    random-feature fallback is built (torch) on first use of `net`."""

    # models.vgg.VGG19 / VGG16 or models.random_features.RandomFeatures: nn.Modules that also answer names,
    # channels(layer), layer_index(layer) and min_size; typed Any because nn.Module's __getattr__ hides those.
    # None until built: `make` builds it.
    network: Any
    arch: str  # "vgg19", "vgg16", "random_features"
    label: str  # one line for the page / CLI: which extractor ran
    style_layers: tuple[str, ...]
    content_layers: tuple[str, ...]
    defaults: dict
    weights_name: str | None = None
    weights_sha256: str | None = None
    layers: tuple[tuple[str, int], ...] = ()  # (name, channels) of every layer in order; () to ask the network
    config: dict | None = None  # the network's constructor arguments; None to ask the network
    make: Callable[[], Any] | None = None  # builds the network when `network` is None

    @property
    def net(self) -> Any:
        """The network, built on first use."""
        if self.network is None:
            if self.make is None:
                raise ValueError(f"extractor {self.arch} has neither a network nor a way to build one")
            self.network = self.make()
        return self.network

    @property
    def is_fallback(self) -> bool:
        return self.arch == "random_features"

    @property
    def names(self) -> list[str]:
        """Every layer of the network, in order."""
        return [n for n, _ in self.layers] if self.layers else list(self.net.names)

    def identity(self) -> dict:
        """What a Gram file records so it is only used with the same features."""
        config = self.config if self.config is not None else getattr(self.net, "config", {})
        ident = {"arch": self.arch, "config": json.loads(json.dumps(config))}
        if self.weights_sha256:
            ident["weights_sha256"] = self.weights_sha256
            ident["weights_name"] = self.weights_name
        return ident

    def channels(self, layer: str) -> int:
        """Output channels of `layer`; KeyError for a layer the network does not have."""
        if self.layers:
            known = dict(self.layers)
            if layer not in known:
                raise KeyError(f"{self.arch} has no layer {layer!r}; known: {', '.join(known)}")
            return int(known[layer])
        return int(self.net.channels(layer))


def random_layers(config: dict) -> tuple[tuple[str, int], ...]:
    """The layers of models/random_features.py's network for `config`, without building it: one per entry of
    `channels`, named rand1 .. rand{n} (its docstring; tests/crossband/test_crossband.py compares with the built network)."""
    return tuple((f"rand{i + 1}", int(c)) for i, c in enumerate(config["channels"]))


def random_extractor(seed: int = 0) -> Extractor:
    """The fallback: seeded random multi-scale features (no weights needed), described from the network's
    declaration (models.registry) and built (torch) when it first computes something."""
    config = full_config("random_features", {"seed": int(seed)})
    layers = random_layers(config)
    return Extractor(
        network=None,
        arch="random_features",
        label=f"random multi-scale features (fallback, seed {seed}): no VGG weights were given",
        style_layers=tuple(n for n, _ in layers),
        content_layers=RANDOM_CONTENT_LAYERS,
        defaults=dict(RANDOM_DEFAULTS),
        layers=layers,
        config=config,
        make=lambda: build("random_features", config).eval(),
    )


def load_vgg(path: str | os.PathLike, sha256: str | None = None) -> Extractor:
    """A torchvision-format VGG16/VGG19 weights file (state_dict) as an extractor. Loaded with weights_only,
    strictly: torchvision's classifier head is recognised and dropped; any other stray key is an error."""
    # heavy (torch): checkpoints and the VGG networks are only needed when weights are given
    from core.checkpoints import load_state_strict, torch_load_weights  # noqa: PLC0415 - start-up: core.checkpoints (safetensors) only when weights are read, not `crossband --help`
    from models.vgg import (  # noqa: PLC0415 - heavy: a network module imports torch; only when it is built
        TRANSBAND_CONTENT_LAYERS,
        TRANSBAND_STYLE_LAYERS,
        VGG16_CONTENT_LAYERS,
        VGG16_STYLE_LAYERS,
        split_torchvision_state,
        vgg_for_depth,
    )

    name = Path(path).name
    if not Path(path).is_file():
        raise UserError(f"{name}: VGG weights file not found; give a torchvision vgg19 or vgg16 .pth file.")
    state = torch_load_weights(path)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(hasattr(v, "shape") for v in state.values()):
        raise UserError(f"{name} is not a VGG state_dict (a dict of tensors); save the model's state_dict.")
    feats, _dropped, depth = split_torchvision_state(state)
    if depth is None:
        bn = any(k.endswith("running_mean") for k in feats)
        hint = "batch-norm VGG (vgg19_bn) is not supported; " if bn else ""
        raise UserError(
            f"{name} does not hold torchvision VGG16 or VGG19 features ({hint}expected keys like "
            f"features.0.weight (64, 3, 3, 3) up to features.34.weight); give vgg19-dcbb9e9d.pth "
            f"or vgg16-397923af.pth."
        )
    net = vgg_for_depth(depth)
    load_state_strict(net, feats, f"vgg{depth}", name)
    for p in net.parameters():
        p.requires_grad_(False)
    style, content = (
        (TRANSBAND_STYLE_LAYERS, TRANSBAND_CONTENT_LAYERS)
        if depth == 19
        else (VGG16_STYLE_LAYERS, VGG16_CONTENT_LAYERS)
    )
    return Extractor(
        network=net.eval(),
        arch=f"vgg{depth}",
        label=f"VGG{depth} with weights from {name}",
        style_layers=style,
        content_layers=content,
        defaults=dict(VGG_DEFAULTS),
        weights_name=name,
        weights_sha256=sha256 or digest_file(path),
    )


def make_extractor(vgg_weights: str | os.PathLike | None = None, seed: int = 0) -> Extractor:
    """VGG from a weights file when given, else the random-feature fallback."""
    if vgg_weights:
        return load_vgg(vgg_weights)
    return random_extractor(seed)


# ------------------------------------------------------------------------------------------ layers and indices


def layer_names(extractor: Extractor) -> list[str]:
    """The layers a user may choose for style, content or visualisation (activations: relu* / rand*)."""
    return [n for n in extractor.names if n.startswith(("relu", "rand"))]


def resolve_layers(
    extractor: Extractor, layers: Iterable[str] | None, default: tuple[str, ...], what: str
) -> tuple[str, ...]:
    """`layers` (or `default` when none are given), checked against the extractor's layer names."""
    chosen = tuple(layers) if layers else default
    known = extractor.names
    bad = [n for n in chosen if n not in known]
    if bad:
        usable = [n for n in known if n.startswith(("relu", "rand"))]
        raise UserError(f"{what} layer {bad[0]} does not exist in {extractor.arch}; use some of {', '.join(usable)}.")
    return chosen


def layers_from_text(extractor: Extractor, text: str | None) -> tuple[str, ...] | None:
    """Layers as a user types them: names (`relu2_2,relu4_4`), or, as transband's `--content_layer 1,3`, indices
    into the extractor's five style layers counted from 0 (VGG19: 0 relu1_2, 1 relu2_2, 2 relu3_4, 3 relu4_4,
    4 relu5_4), or transband's visualisation folders `Layer_N` (N: the index in torchvision's `features`, so
    VGG16 Layer_15 is relu3_3 and VGG19 Layer_17 relu3_4). None when nothing is given."""
    items = [t.strip() for t in (text or "").split(",") if t.strip()]
    if not items:
        return None
    order = extractor.style_layers
    out = []
    for t in items:
        if t.lower().startswith("layer_"):
            out.append(torchvision_layer(extractor, t))
        elif t.isdigit():
            i = int(t)
            if i >= len(order):
                raise UserError(
                    f"layer index {i} is out of range; {extractor.arch} has indices 0 to {len(order) - 1} "
                    f"({', '.join(f'{k} {n}' for k, n in enumerate(order))})."
                )
            out.append(order[i])
        else:
            out.append(t)
    return tuple(out)


def torchvision_layer(extractor: Extractor, text: str) -> str:
    """transband's `Layer_N` (N indexes torchvision's VGG `features`) as our layer name, e.g. VGG16 Layer_15 ->
    relu3_3."""
    try:
        n = int(text.split("_", 1)[1])
    except ValueError:
        raise UserError(f"{text}: write Layer_N with N a torchvision VGG feature index, e.g. Layer_15.") from None
    if extractor.is_fallback:
        raise UserError(f"{text} counts torchvision VGG feature indices; give --vgg-weights, or use rand0 .. rand4.")
    names = extractor.names
    if not 0 <= n < len(names):
        raise UserError(f"{text}: {extractor.arch} has feature indices 0 to {len(names) - 1}.")
    return names[n]


_INDEX_HINT = "indices must be whole numbers, e.g. 0,1,2 for channels or 0-1,2-3 for Gram elements."


def parse_channels(text: str) -> list[int]:
    """'0, 1,2' -> [0, 1, 2] (channel indices as a user types them)."""
    try:
        return [int(t) for t in text.replace(" ", "").split(",") if t]
    except ValueError:
        raise UserError(_INDEX_HINT) from None


def parse_pairs(text: str) -> list[tuple[int, int]]:
    """'0-1, 2-3' -> [(0, 1), (2, 3)] (Gram elements i-j as a user types them)."""
    try:
        pairs = [tuple(int(v) for v in t.split("-")) for t in text.replace(" ", "").split(",") if t]
    except ValueError:
        raise UserError(_INDEX_HINT) from None
    if any(len(p) != 2 for p in pairs):
        raise UserError("write Gram elements as i-j pairs, e.g. 0-1,2-3.")
    return [(p[0], p[1]) for p in pairs]


# ------------------------------------------------------------------------------------------ size and memory


def memory_limit_gb() -> float:
    try:
        return float(os.environ.get("SAR_STUDIO_CROSSBAND_MEM_GB", DEFAULT_MEMORY_GB))
    except ValueError:
        return DEFAULT_MEMORY_GB


def check_size(h: int, w: int, name: str, extractor: Extractor, memory_gb: float | None = None) -> None:
    """UserError when an image is too small for the network or needs more memory than the limit."""
    min_side = int(getattr(extractor.net, "min_size", 16))
    if min(h, w) < min_side:
        raise UserError(
            f"{name} is {w}x{h}; {extractor.arch} features need at least {min_side} pixels on each "
            f"side, use a larger image."
        )
    limit = memory_gb if memory_gb is not None else memory_limit_gb()
    need = h * w * BYTES_PER_PIXEL.get(extractor.arch, 3600) / 1e9
    if need > limit:
        max_px = limit * 1e9 / BYTES_PER_PIXEL.get(extractor.arch, 3600)
        side = int(math.sqrt(max_px))
        raise UserError(
            f"{name} is {w}x{h} = {h * w / 1e6:.1f} Mpixel and {extractor.arch} needs about "
            f"{need:.1f} GB for it, above the cross-band limit of {limit:g} GB (about {side}x{side} "
            f"pixels); crop or downsample it, or raise SAR_STUDIO_CROSSBAND_MEM_GB."
        )
