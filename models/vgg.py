"""VGG16 and VGG19 feature stacks with torchvision's key names (`features.N.weight`, `features.N.bias`).

A torchvision ImageNet file such as `vgg19-dcbb9e9d.pth` or `vgg16-397923af.pth` holds these `features.*` keys
plus `classifier.{0,3,6}.*` (the fully connected head). We build the convolutional part only; the head is
recognised and dropped explicitly by `split_torchvision_state` (never by strict=False), so any other stray key
is still reported as a mismatch. No file I/O here: `core.crossband.load_vgg` reads the file.

Use:
    net = VGG19()                              # random init; load weights with load_state_strict
    feats = net(x, ["relu1_2", "relu4_4"])     # dict name -> activation, stops at the deepest layer asked
    net.features                               # the nn.Sequential, indexed exactly like torchvision's

Layer names are the usual ones: conv{block}_{i}, relu{block}_{i}, pool{block}; `layer_index(name)` gives the
position in `features`. Inputs are (N, 3, H, W); what scaling they expect depends on the weights (ImageNet
mean/std for torchvision's own training, [-1, 1] in transband-SARgeneration): the caller decides.
"""

from __future__ import annotations

import torch
from torch import nn

from models.registry import register

# torchvision's configurations "D" (VGG16) and "E" (VGG19): channels per conv, "M" for a 2x2 max pool.
CONFIGS: dict[int, list[int | str]] = {
    16: [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    19: [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}
# torchvision's classifier head: key -> shape (accepted in a weights file and dropped).
CLASSIFIER_SHAPES = {
    "classifier.0.weight": (4096, 512 * 7 * 7),
    "classifier.0.bias": (4096,),
    "classifier.3.weight": (4096, 4096),
    "classifier.3.bias": (4096,),
    "classifier.6.weight": (1000, 4096),
    "classifier.6.bias": (1000,),
}


def layer_names(depth: int) -> list[str]:
    """Names of the modules in `features`, in order (conv1_1, relu1_1, conv1_2, relu1_2, pool1, ...)."""
    names: list[str] = []
    block, i = 1, 1
    for v in CONFIGS[depth]:
        if isinstance(v, str):  # "M"
            names.append(f"pool{block}")
            block, i = block + 1, 1
        else:
            names += [f"conv{block}_{i}", f"relu{block}_{i}"]
            i += 1
    return names


def expected_feature_shapes(depth: int) -> dict[str, tuple[int, ...]]:
    """`features.N.weight` / `.bias` -> shape, exactly as in torchvision's VGG state_dict."""
    shapes: dict[str, tuple[int, ...]] = {}
    idx, cin = 0, 3
    for v in CONFIGS[depth]:
        if isinstance(v, str):  # "M"
            idx += 1
            continue
        shapes[f"features.{idx}.weight"] = (v, cin, 3, 3)
        shapes[f"features.{idx}.bias"] = (v,)
        cin = v
        idx += 2
    return shapes


class _VGGFeatures(nn.Module):
    depth = 19

    def __init__(self):
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for v in CONFIGS[self.depth]:
            if isinstance(v, str):  # "M"
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers += [nn.Conv2d(cin, v, kernel_size=3, padding=1), nn.ReLU(inplace=False)]
                cin = v
        self.features = nn.Sequential(*layers)
        self.names = layer_names(self.depth)
        self._index = {n: i for i, n in enumerate(self.names)}

    min_size = 16  # four 2x2 pools before block 5

    def layer_index(self, name: str) -> int:
        if name not in self._index:
            raise KeyError(f"VGG{self.depth} has no layer {name!r}; known: {', '.join(self.names)}")
        return self._index[name]

    def channels(self, name: str) -> int:
        """Number of channels of a named layer's output."""
        idx = self.layer_index(name)
        for m in reversed(list(self.features)[: idx + 1]):
            if isinstance(m, nn.Conv2d):
                return m.out_channels
        return 3

    def forward(self, x: torch.Tensor, layers: list[str] | tuple[str, ...] = ("relu5_4",)) -> dict[str, torch.Tensor]:
        """Activations of the named layers (a dict); runs `features` only up to the deepest one asked.

        x: (N, 3, H, W), or (N, 1, H, W) for a grey image, taken as R = G = B (the first conv's filters are summed
        over their input channels, which gives the same result with a third of the work)."""
        wanted = {self.layer_index(n): n for n in layers}
        out: dict[str, torch.Tensor] = {}
        last = max(wanted)
        for i, module in enumerate(self.features):
            if i == 0 and x.shape[1] == 1 and isinstance(module, nn.Conv2d):  # features[0] is always a conv
                x = nn.functional.conv2d(x, module.weight.sum(1, keepdim=True), module.bias, padding=1)
            else:
                x = module(x)
            if i in wanted:
                out[wanted[i]] = x
            if i == last:
                break
        return out


@register("vgg19", task="feature", label="VGG19 feature network")
class VGG19(_VGGFeatures):
    """VGG19 convolutional features (torchvision config "E"), 16 convs, keys features.{0,2,5,...,34}."""

    depth = 19

    def __init__(self):
        super().__init__()


@register("vgg16", task="feature", label="VGG16 feature network")
class VGG16(_VGGFeatures):
    """VGG16 convolutional features (torchvision config "D"), 13 convs, keys features.{0,2,5,...,28}."""

    depth = 16

    def __init__(self):
        super().__init__()


def split_torchvision_state(state: dict) -> tuple[dict, list[str], int | None]:
    """Split a torchvision VGG state_dict into (features state, dropped classifier keys, detected depth).

    A `module.` or `_orig_mod.` prefix is stripped. Classifier keys are dropped only when their names and shapes
    are torchvision's head; anything else stays in the returned state so strict loading reports it.
    The depth (16 or 19) is detected from the conv weights present; None when it matches neither.
    """
    clean = {}
    for k, v in state.items():
        for prefix in ("module.", "_orig_mod."):
            if k.startswith(prefix):
                k = k[len(prefix) :]
        clean[k] = v
    dropped = []
    for k, shape in CLASSIFIER_SHAPES.items():
        if k in clean and hasattr(clean[k], "shape") and tuple(clean[k].shape) == shape:
            dropped.append(k)
            del clean[k]
    conv_keys = {
        k for k in clean if k.startswith("features.") and k.endswith(".weight") and getattr(clean[k], "ndim", 0) == 4
    }
    depth = None
    for d in (19, 16):
        if conv_keys == {k for k in expected_feature_shapes(d) if k.endswith(".weight")}:
            depth = d
    return clean, dropped, depth


def vgg_for_depth(depth: int) -> _VGGFeatures:
    return {16: VGG16, 19: VGG19}[depth]()


# transband-SARgeneration's layers for VGG19: style on all five, content on relu4_4.
TRANSBAND_STYLE_LAYERS = ("relu1_2", "relu2_2", "relu3_4", "relu4_4", "relu5_4")
TRANSBAND_CONTENT_LAYERS = ("relu4_4",)
# The same positions in VGG16 (last ReLU of each block).
VGG16_STYLE_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")
VGG16_CONTENT_LAYERS = ("relu4_3",)


def perceptual_layers(depth: int = 19) -> tuple[str, ...]:
    """The last ReLU of each block: the usual layers for style and perceptual losses."""
    return TRANSBAND_STYLE_LAYERS if depth == 19 else VGG16_STYLE_LAYERS
