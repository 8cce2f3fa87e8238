"""Cross-band SAR generation: Gatys style transfer with target-band Gram statistics.

An image is optimised so that its features carry the content of one radar band (the content image) and the
Gram statistics of another (the style: one image, the mean over a folder, or a Gram file). This follows
transband-SARgeneration: VGG19 features relu1_2, relu2_2, relu3_4, relu4_4, relu5_4 for style, relu4_4 for
content, Gram = F F^T / (C H W), loss = 1e5 * sum MSE(Gram) + sum MSE(content), Adam lr 0.01, 1000 steps,
starting from the content image, images in [-1, 1].

SAR inputs are shown and optimised as what a user looks at: dB with a 2-98 % stretch (one band), scaled to
[-1, 1]; an 8-bit display image is taken as it is. The result is such a display image.

Feature extractors: a torchvision VGG16/VGG19 weights file chosen by the user (nothing is downloaded), or,
without one, seeded random multi-scale convolutional features (models/random_features.py), with their own
defaults (see RANDOM_DEFAULTS). Every result says which extractor ran.

Gram files: ours (safetensors: one (C, C) tensor per layer, `gram.<layer>`, plus metadata naming the
extractor) and transband's `latest_gram_trainTotal.pth` (a list of 5 tensors [1, C, C], VGG19, loaded with
weights_only). `python -m core gram FOLDER OUT` accumulates a folder's mean Gram into a file.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from core import io as sio
from core.errors import UserError

GRAM_FORMAT = "sar-studio-gram/1"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
GRAM_SUFFIXES = (".safetensors", ".pth", ".pt")
OPTIMIZERS = ("adam", "lbfgs")
DEFAULT_MEMORY_GB = 6.0  # override with SAR_STUDIO_CROSSBAND_MEM_GB or memory_gb=

ProgressFn = Callable[[float, str], None]
PreviewFn = Callable[[int, np.ndarray, list], None]

# Defaults per extractor. VGG: transband's. Random features: chosen on the bundled 256x256 VV/VH samples (Gram
# values 1e-5 .. 1e-3): style weight 1e6 lowers the style loss about 100x with the scene kept, and it levels off
# after about 50 Adam steps at lr 0.03.
VGG_DEFAULTS = dict(steps=1000, lr=0.01, style_weight=1e5, content_weight=1.0)
RANDOM_DEFAULTS = dict(steps=60, lr=0.03, style_weight=1e6, content_weight=1.0)
RANDOM_CONTENT_LAYERS = ("rand2",)
# Memory of one optimisation step, bytes per pixel. Measured (peak RSS growth over two steps): random features
# 783 at 1024x1024, VGG19 2860 at 512x512; VGG gets headroom, VGG16 is scaled from VGG19.
BYTES_PER_PIXEL = {"vgg19": 3600, "vgg16": 2900, "random_features": 800}


# ------------------------------------------------------------------------------------ feature extractors


@dataclass
class Extractor:
    """A feature network plus what the user must know about it."""

    net: object  # models.vgg.VGG19 / VGG16 or models.random_features.RandomFeatures
    arch: str  # "vgg19", "vgg16", "random_features"
    label: str  # one line for the page / CLI: which extractor ran
    style_layers: tuple[str, ...]
    content_layers: tuple[str, ...]
    defaults: dict
    weights_name: str | None = None
    weights_sha256: str | None = None

    @property
    def is_fallback(self) -> bool:
        return self.arch == "random_features"

    def identity(self) -> dict:
        """What a Gram file records so it is only used with the same features."""
        ident = {"arch": self.arch, "config": json.loads(json.dumps(getattr(self.net, "config", {})))}
        if self.weights_sha256:
            ident["weights_sha256"] = self.weights_sha256
            ident["weights_name"] = self.weights_name
        return ident

    def channels(self, layer: str) -> int:
        return self.net.channels(layer)


def random_extractor(seed: int = 0) -> Extractor:
    """The fallback: seeded random multi-scale features (no weights needed)."""
    from models.random_features import RandomFeatures

    net = RandomFeatures(seed=int(seed)).eval()
    return Extractor(
        net=net,
        arch="random_features",
        label=f"random multi-scale features (fallback, seed {seed}): no VGG weights were given",
        style_layers=tuple(net.names),
        content_layers=RANDOM_CONTENT_LAYERS,
        defaults=dict(RANDOM_DEFAULTS),
    )


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_vgg(path: str | os.PathLike, sha256: str | None = None) -> Extractor:
    """A torchvision-format VGG16/VGG19 weights file (state_dict) as an extractor. Loaded with weights_only,
    strictly: torchvision's classifier head is recognised and dropped; any other stray key is an error."""
    from core.checkpoints import load_state_strict, torch_load_weights
    from models.vgg import (
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
        net=net.eval(),
        arch=f"vgg{depth}",
        label=f"VGG{depth} with weights from {name}",
        style_layers=style,
        content_layers=content,
        defaults=dict(VGG_DEFAULTS),
        weights_name=name,
        weights_sha256=sha256 or file_sha256(path),
    )


def make_extractor(vgg_weights: str | os.PathLike | None = None, seed: int = 0) -> Extractor:
    """VGG from a weights file when given, else the random-feature fallback."""
    if vgg_weights:
        return load_vgg(vgg_weights)
    return random_extractor(seed)


# ------------------------------------------------------------------------------------------ images


def band_display(raster: sio.Raster, band: int | None = None) -> np.ndarray:
    """What the user sees of one band: uint8 (H, W); SAR is dB with a 2-98 % stretch. An 8-bit RGB display
    image stays RGB (H, W, 3) unless a band is chosen. `band` is 0-based."""
    if raster.kind == "display":
        d = raster.data
        if d.dtype != np.uint8:
            d = sio.stretch(d)
        if d.ndim == 3 and band is None:
            return d if d.shape[2] == 3 else d[..., 0]
        return d if d.ndim == 2 else d[..., _check_band(raster, band or 0)]
    b = _check_band(raster, band or 0)
    inten = sio.to_intensity(raster.band(b), raster.kind)
    mask = sio.valid_mask(raster)
    return sio.stretch(sio.to_db(inten), mask=mask)


def _check_band(raster: sio.Raster, band: int) -> int:
    if not 0 <= band < raster.bands:
        raise UserError(
            f"{raster.name} has {raster.bands} band(s); band {band + 1} does not exist, "
            f"choose a band from 1 to {raster.bands}."
        )
    return band


def to_tensor(img: np.ndarray, device: str = "cpu"):
    """uint8 (H, W) or (H, W, 3) -> float tensor (1, C, H, W) in [-1, 1], C = 1 or 3."""
    import torch

    x = torch.from_numpy(np.array(img, dtype=np.float32)).div(127.5).sub(1.0)
    x = x[None, None] if x.ndim == 2 else x.permute(2, 0, 1)[None]
    return x.to(device)


def to_display(x) -> np.ndarray:
    """(1, C, H, W) tensor in [-1, 1] -> uint8 (H, W) or (H, W, 3)."""
    a = ((x.detach()[0].clamp(-1, 1) + 1.0) * 127.5).round().to("cpu").numpy().astype(np.uint8)
    return a[0] if a.shape[0] == 1 else np.ascontiguousarray(a.transpose(1, 2, 0))


def as_rgb(x):
    """What the feature networks take: (N, 3, H, W), or (N, 1, H, W) for grey, which they read as R = G = B."""
    return x


# ------------------------------------------------------------------------------------------ Gram


def gram_matrix(f):
    """Gram of features (N, C, H, W): F F^T / (C H W), shape (N, C, C).

    With gradients, a custom backward dF = (dG + dG^T) F / (C H W) does one batched matmul where autograd's
    generic one does two plus an addition (F appears on both sides): about a third less work per step."""
    import torch

    n, c, h, w = f.shape
    flat = f.reshape(n, c, h * w)
    if torch.is_grad_enabled() and flat.requires_grad:
        return _Gram.apply(flat, float(c * h * w))
    return flat @ flat.transpose(1, 2) / (c * h * w)


def _gram_function():
    import torch

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


class _LazyGram:
    """Defers `import torch` until the first Gram with gradients (the CLI imports this module for --help)."""

    fn = None

    @classmethod
    def apply(cls, flat, norm):
        if cls.fn is None:
            cls.fn = _gram_function()
        return cls.fn.apply(flat, norm)


_Gram = _LazyGram


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


def memory_limit_gb() -> float:
    try:
        return float(os.environ.get("SAR_STUDIO_CROSSBAND_MEM_GB", DEFAULT_MEMORY_GB))
    except ValueError:
        return DEFAULT_MEMORY_GB


def _resolve_layers(
    extractor: Extractor, layers: Iterable[str] | None, default: tuple[str, ...], what: str
) -> tuple[str, ...]:
    chosen = tuple(layers) if layers else default
    known = list(getattr(extractor.net, "names"))
    bad = [n for n in chosen if n not in known]
    if bad:
        usable = [n for n in known if n.startswith(("relu", "rand"))]
        raise UserError(f"{what} layer {bad[0]} does not exist in {extractor.arch}; use some of {', '.join(usable)}.")
    return chosen


def image_grams(extractor: Extractor, img: np.ndarray, layers: Iterable[str], device: str = "cpu") -> dict:
    """Gram per layer of one display image: layer -> (C, C) CPU float32 tensor."""
    import torch

    with torch.no_grad():
        feats = extractor.net.to(device)(as_rgb(to_tensor(img, device)), list(layers))
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
    layers = _resolve_layers(extractor, layers, extractor.style_layers, "style")
    sums: dict = {}
    n = 0
    for name, img in images:
        check_size(img.shape[0], img.shape[1], name, extractor, memory_gb)
        g = image_grams(extractor, img, layers, device)
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


def save_gram(path: str | os.PathLike, gramset: GramSet) -> Path:
    """Our Gram file: safetensors with `gram.<layer>` tensors and the extractor in the metadata."""
    from core.checkpoints import save_tensors

    return save_tensors(
        path,
        {f"gram.{k}": v for k, v in gramset.grams.items()},
        format=GRAM_FORMAT,
        layers=list(gramset.grams),
        extractor=gramset.extractor,
        count=gramset.count,
        source=gramset.source,
        input_scaling="display dB (2-98 % stretch) scaled to [-1, 1]",
    )


def save_transband_gram(path: str | os.PathLike, gramset: GramSet) -> Path:
    """transband's format: a list of 5 tensors [1, C, C] (VGG19 relu1_2 .. relu5_4), torch.save'd."""
    import torch
    from models.vgg import TRANSBAND_STYLE_LAYERS

    if gramset.extractor.get("arch") != "vgg19" or tuple(gramset.grams) != TRANSBAND_STYLE_LAYERS:
        raise UserError(
            "transband's Gram format holds VGG19 relu1_2, relu2_2, relu3_4, relu4_4, relu5_4; "
            "compute the Gram with VGG19 weights and the default style layers, or save as .safetensors."
        )
    with sio.atomic_output(path) as tmp:
        torch.save([gramset.grams[k][None].contiguous() for k in TRANSBAND_STYLE_LAYERS], str(tmp))
    return Path(path)


def write_gram(path: str | os.PathLike, gramset: GramSet) -> Path:
    suffix = Path(path).suffix.lower()
    if suffix == ".safetensors":
        return save_gram(path, gramset)
    if suffix in (".pth", ".pt"):
        return save_transband_gram(path, gramset)
    raise UserError(
        f"{Path(path).name}: a Gram file ends in .safetensors (ours) or .pth (transband's list of "
        f"tensors); rename the output."
    )


def encode_gram(gramset: GramSet) -> bytes:
    """Our Gram file as bytes (for a download button)."""
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "gram.safetensors"
        save_gram(p, gramset)
        return p.read_bytes()


def load_gram(path: str | os.PathLike, extractor: Extractor) -> GramSet:
    """Read our safetensors Gram file or transband's list of tensors, checked against the extractor."""
    name = Path(path).name
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{name}: Gram file not found; check the path.")
    with open(p, "rb") as fh:
        head = fh.read(16)
    if head[:2] == b"PK" or head[:1] == b"\x80":
        return _load_transband_gram(p, extractor)
    from core.checkpoints import load_tensors

    tensors, meta = load_tensors(p)
    if meta.get("format") != GRAM_FORMAT:
        raise UserError(
            f"{name} is a safetensors file but not a SAR Studio Gram file; make one with "
            f"`python -m core gram FOLDER OUT.safetensors`."
        )
    layers = list(meta.get("layers") or [k[5:] for k in tensors if k.startswith("gram.")])
    ident = meta.get("extractor") or {}
    _check_same_features(name, ident, extractor)
    grams = {}
    for layer in layers:
        t = tensors.get(f"gram.{layer}")
        c = _layer_channels(extractor, layer, name)
        if t is None or tuple(t.shape) != (c, c):
            raise UserError(
                f"{name}: Gram for {layer} is {None if t is None else tuple(t.shape)}, expected "
                f"({c}, {c}); the file is damaged or made with other features."
            )
        grams[layer] = t.float()
    return GramSet(grams=grams, extractor=ident, count=int(meta.get("count") or 1), source=meta.get("source") or name)


def _layer_channels(extractor: Extractor, layer: str, name: str) -> int:
    try:
        return extractor.channels(layer)
    except KeyError:
        raise UserError(
            f"{name} holds a Gram for layer {layer}, which {extractor.arch} does not have; "
            f"use the features the file was made with."
        ) from None


def _check_same_features(name: str, ident: dict, extractor: Extractor) -> None:
    arch = ident.get("arch")
    if arch != extractor.arch:
        need = (
            "the random-feature fallback (run without VGG weights)"
            if arch == "random_features"
            else f"{arch.upper() if arch else 'the same'} weights (--vgg-weights)"
        )
        raise UserError(
            f"{name} was computed with {arch or 'unknown'} features but {extractor.arch} is in use; use {need}."
        )
    if arch == "random_features" and ident.get("config") != extractor.identity()["config"]:
        raise UserError(
            f"{name} was computed with random features {ident.get('config')} but "
            f"{extractor.identity()['config']} are in use; use the same seed."
        )


def _load_transband_gram(path: Path, extractor: Extractor) -> GramSet:
    from core.checkpoints import torch_load_weights
    from models.vgg import TRANSBAND_STYLE_LAYERS

    name = path.name
    obj = torch_load_weights(path)
    if isinstance(obj, dict) and obj and all(k.startswith("gram.") for k in obj):
        obj = list(obj.values())
    if not isinstance(obj, (list, tuple)) or not all(hasattr(t, "shape") for t in obj):
        raise UserError(
            f"{name} is not a Gram file: transband's holds a list of 5 tensors shaped [1,64,64] .. "
            f"[1,512,512]; give such a file or one of ours (.safetensors)."
        )
    expected = [64, 128, 256, 512, 512]
    shapes = [tuple(t.shape) for t in obj]
    ok = len(obj) == 5 and all(s in ((1, c, c), (c, c)) for s, c in zip(shapes, expected))
    if not ok:
        raise UserError(
            f"{name} holds tensors shaped {shapes[:5]}, not transband's 5 Gram matrices [1,64,64], "
            f"[1,128,128], [1,256,256], [1,512,512], [1,512,512]; check the file."
        )
    if extractor.arch != "vgg19":
        raise UserError(
            f"{name} is a transband Gram file of VGG19 features but {extractor.arch} is in use; "
            f"give VGG19 weights (vgg19-dcbb9e9d.pth) with --vgg-weights or on the page."
        )
    grams = {k: t.detach().reshape(t.shape[-1], t.shape[-1]).float() for k, t in zip(TRANSBAND_STYLE_LAYERS, obj)}
    return GramSet(
        grams=grams,
        extractor=extractor.identity() | {"from": "transband"},
        count=1,
        source=f"{name} (transband list of tensors)",
    )


# ------------------------------------------------------------------------------------------ style source


def read_display(
    source, name: str | None = None, band: int | None = None, kind: str | None = None, max_pixels: int | None = None
) -> tuple[np.ndarray, sio.Raster]:
    raster = sio.read_raster(source, name=name, kind=kind, max_pixels=max_pixels)
    return band_display(raster, band), raster


def folder_images(folder: str | os.PathLike) -> list[Path]:
    p = Path(folder)
    if not p.is_dir():
        raise UserError(f"{p.name or folder} is not a folder; give an existing folder of images.")
    found = sorted(q for q in p.iterdir() if q.is_file() and q.suffix.lower() in IMAGE_SUFFIXES)
    if not found:
        raise UserError(f"{p} holds no PNG, JPEG or TIFF images; pick a folder of target-band images.")
    return found


def gram_from_folder(
    folder: str | os.PathLike,
    extractor: Extractor,
    layers: Iterable[str] | None = None,
    band: int | None = None,
    kind: str | None = None,
    device: str = "cpu",
    progress: ProgressFn | None = None,
    memory_gb: float | None = None,
) -> GramSet:
    files = folder_images(folder)
    imgs = ((f.name, read_display(f, band=band, kind=kind)[0]) for f in files)
    return accumulate_grams(
        extractor,
        imgs,
        layers,
        device,
        source=f"{len(files)} images in {Path(folder).name}",
        progress=progress,
        total=len(files),
        memory_gb=memory_gb,
    )


def style_from_path(
    path: str | os.PathLike,
    extractor: Extractor,
    layers: Iterable[str] | None = None,
    band: int | None = None,
    kind: str | None = None,
    device: str = "cpu",
    progress: ProgressFn | None = None,
) -> tuple[GramSet, np.ndarray | None]:
    """Style statistics from an image, a folder of images or a Gram file. Returns (grams, style display or None)."""
    p = Path(path)
    if p.is_dir():
        return gram_from_folder(p, extractor, layers, band, kind, device, progress), None
    if not p.exists():
        raise UserError(f"{p.name}: style file or folder not found; give an image, a folder or a Gram file.")
    if p.suffix.lower() in GRAM_SUFFIXES:
        gs = load_gram(p, extractor)
        if layers:
            wanted = _resolve_layers(extractor, layers, extractor.style_layers, "style")
            missing = [k for k in wanted if k not in gs.grams]
            if missing:
                raise UserError(
                    f"{p.name} has no Gram for {missing[0]} (it holds {', '.join(gs.grams)}); "
                    f"choose style layers from those."
                )
            gs = replace(gs, grams={k: gs.grams[k] for k in wanted})
        return gs, None
    img, _ = read_display(p, band=band, kind=kind)
    return style_from_image(img, extractor, layers, device, name=p.name), img


def style_from_image(
    img: np.ndarray,
    extractor: Extractor,
    layers: Iterable[str] | None = None,
    device: str = "cpu",
    name: str = "style image",
) -> GramSet:
    return accumulate_grams(extractor, [(name, img)], layers, device, source=name)


# ------------------------------------------------------------------------------------------ generation


@dataclass
class CrossbandOptions:
    """Everything that steers one generation; None means the extractor's default."""

    steps: int | None = None
    optimizer: str = "adam"  # adam | lbfgs
    lr: float | None = None  # Adam learning rate (L-BFGS uses lr 1 with a strong-Wolfe line search)
    style_weight: float | None = None
    content_weight: float | None = None
    style_layers: tuple[str, ...] | None = None
    content_layers: tuple[str, ...] | None = None
    seed: int = 0
    init: str = "content"  # content | noise
    device: str = "auto"
    preview_every: int = 25
    memory_gb: float | None = None
    threads: int | None = None  # PyTorch CPU threads for this run (restored afterwards); None: unchanged


@dataclass
class CrossbandResult:
    image: np.ndarray  # uint8 display (H, W) or (H, W, 3)
    content: np.ndarray  # the content display it started from
    history: list = field(default_factory=list)  # dicts: step, style, content, total, evaluations
    extractor_label: str = ""
    device: str = "cpu"
    notes: list = field(default_factory=list)
    seconds: float = 0.0
    options: CrossbandOptions | None = None


def resolved_options(extractor: Extractor, options: CrossbandOptions | None) -> CrossbandOptions:
    o = replace(options or CrossbandOptions())
    d = extractor.defaults
    o.steps = int(o.steps if o.steps is not None else d["steps"])
    o.lr = float(o.lr if o.lr is not None else d["lr"])
    o.style_weight = float(o.style_weight if o.style_weight is not None else d["style_weight"])
    o.content_weight = float(o.content_weight if o.content_weight is not None else d["content_weight"])
    o.optimizer = (o.optimizer or "adam").lower()
    if o.optimizer not in OPTIMIZERS:
        raise UserError(f"unknown optimizer {o.optimizer!r}; use adam or lbfgs.")
    if o.steps < 1:
        raise UserError(f"steps must be at least 1 (got {o.steps}).")
    if o.lr <= 0:
        raise UserError(f"the learning rate must be positive (got {o.lr}).")
    if o.style_weight < 0 or o.content_weight < 0:
        raise UserError("style and content weights must not be negative.")
    if o.init not in ("content", "noise"):
        raise UserError(f"unknown start image {o.init!r}; use content or noise.")
    o.content_layers = _resolve_layers(extractor, o.content_layers, extractor.content_layers, "content")
    return o


def generate_crossband(
    content: np.ndarray,
    style: GramSet,
    extractor: Extractor,
    options: CrossbandOptions | None = None,
    progress: ProgressFn | None = None,
    on_preview: PreviewFn | None = None,
    name: str = "content image",
) -> CrossbandResult:
    """Optimise an image with the content of `content` (uint8 display) and the Gram statistics of `style`.

    progress(fraction, message) is called every step; on_preview(step, uint8 image, history) every
    `preview_every` steps and at the end.
    """
    import torch

    threads = (options or CrossbandOptions()).threads
    if threads is None:
        return _generate(content, style, extractor, options, progress, on_preview, name)
    if threads < 1:
        raise UserError(f"CPU threads must be at least 1 (got {threads}).")
    before = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    try:
        return _generate(content, style, extractor, options, progress, on_preview, name)
    finally:
        torch.set_num_threads(before)


def _generate(content, style, extractor, options, progress, on_preview, name) -> CrossbandResult:
    import torch

    from core.compute import resolve_device

    o = resolved_options(extractor, options)
    style_layers = tuple(o.style_layers) if o.style_layers else tuple(style.grams)
    _resolve_layers(extractor, style_layers, style_layers, "style")
    missing = [k for k in style_layers if k not in style.grams]
    if missing:
        raise UserError(
            f"the style statistics have no Gram for {missing[0]}; choose style layers from {', '.join(style.grams)}."
        )
    o.style_layers = style_layers
    for k in style_layers:
        c = extractor.channels(k)
        if tuple(style.grams[k].shape) != (c, c):
            raise UserError(
                f"the style Gram for {k} is {tuple(style.grams[k].shape)} but {extractor.arch} has {c} "
                f"channels there; use statistics made with the same features."
            )
    h, w = content.shape[:2]
    check_size(h, w, name, extractor, o.memory_gb)
    device, note = resolve_device(o.device)
    notes = [note] if note else []
    net = extractor.net.to(device).eval()
    torch.manual_seed(o.seed)
    layers = sorted(set(style_layers) | set(o.content_layers), key=extractor.net.layer_index)
    target = to_tensor(content, device)
    with torch.no_grad():
        feats = net(as_rgb(target), list(o.content_layers))
        content_targets = {k: feats[k].detach() for k in o.content_layers}
    gram_targets = {k: style.grams[k].detach().to(device)[None] for k in style_layers}
    if o.init == "content":
        x = target.clone()
    else:
        gen = torch.Generator().manual_seed(o.seed)
        x = (torch.rand(target.shape, generator=gen) * 0.2 - 0.1).to(device)
    x.requires_grad_(True)

    def losses():
        f = net(as_rgb(x), layers)
        s = sum(torch.mean((gram_matrix(f[k]) - gram_targets[k]) ** 2) for k in style_layers)
        c = sum(torch.mean((f[k] - content_targets[k]) ** 2) for k in o.content_layers)
        return s, c, o.style_weight * s + o.content_weight * c

    history: list = []
    evals = [0]
    start = time.perf_counter()
    if o.optimizer == "adam":
        opt = torch.optim.Adam([x], lr=o.lr)
    else:
        # max_eval must be given: its default, int(1.25 * max_iter) = 1, leaves the line search no evaluations
        opt = torch.optim.LBFGS(
            [x],
            lr=1.0,
            max_iter=1,
            max_eval=20,
            history_size=20,
            line_search_fn="strong_wolfe",
            tolerance_grad=0.0,
            tolerance_change=0.0,
        )  # the step count decides
    last: dict = {}

    scale: list = []  # L-BFGS: the loss is scaled once so the first gradient's largest entry is 1; its
    # curvature test (y.s > 1e-10) and first step length assume gradients of about that size, ours are ~1e-5

    def closure():
        opt.zero_grad()
        s, c, t = losses()
        t.backward()
        evals[0] += 1
        if o.optimizer == "lbfgs":
            if not scale:
                scale.append(1.0 / max(float(x.grad.abs().max()), 1e-12))
        if not last:  # the first evaluation of a step is at the image the step starts from
            last.update(style=float(s.detach()), content=float(c.detach()), total=float(t.detach()))
        if scale:
            x.grad.mul_(scale[0])
            return t * scale[0]
        return t

    for step in range(1, o.steps + 1):
        last.clear()
        if o.optimizer == "adam":
            closure()
            opt.step()
            with torch.no_grad():  # Adam: keep the image in range after every step
                x.clamp_(-1.0, 1.0)
        else:
            # L-BFGS: no clamping inside (it would break its curvature history); clamped at the end
            opt.step(closure)
        if not all(math.isfinite(v) for v in last.values()):
            raise UserError(
                f"the optimisation diverged at step {step} (loss {last['total']}); lower the learning "
                f"rate or the style weight."
            )
        # the losses logged are those of the image the step started from (computed for its gradient)
        history.append(dict(step=step, evaluations=evals[0], **last))
        if progress is not None:
            progress(step / o.steps, f"step {step}/{o.steps}: style {last['style']:.3g}, content {last['content']:.3g}")
        if on_preview is not None and (step % max(1, o.preview_every) == 0 or step == o.steps):
            on_preview(step, to_display(x), history)
    image = to_display(x)
    return CrossbandResult(
        image=image,
        content=content,
        history=history,
        extractor_label=extractor.label,
        device=device,
        notes=notes,
        seconds=time.perf_counter() - start,
        options=o,
    )


def final_losses(
    image: np.ndarray,
    content: np.ndarray,
    style: GramSet,
    extractor: Extractor,
    style_layers: Iterable[str],
    content_layers: Iterable[str],
    device: str = "cpu",
) -> dict:
    """Style and content loss of a finished image (unweighted sums of MSE), for reporting and tests."""
    import torch

    style_layers, content_layers = list(style_layers), list(content_layers)
    with torch.no_grad():
        net = extractor.net.to(device)
        f = net(as_rgb(to_tensor(image, device)), sorted(set(style_layers) | set(content_layers), key=net.layer_index))
        p = net(as_rgb(to_tensor(content, device)), content_layers)
        s = sum(float(torch.mean((gram_matrix(f[k])[0] - style.grams[k].to(device)) ** 2)) for k in style_layers)
        c = sum(float(torch.mean((f[k] - p[k]) ** 2)) for k in content_layers)
    return {"style": s, "content": c}


# ------------------------------------------------------------------------------------------ visualisation


def _maximise(
    extractor: Extractor,
    layer: str,
    objective,
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
    import torch

    check_size(size, size, f"a {size}x{size} visualisation", extractor)
    net = extractor.net.to(device).eval()
    gen = torch.Generator().manual_seed(seed)
    x = (torch.randn(count, 1, size, size, generator=gen) * 0.05).to(device).requires_grad_(True)
    opt = torch.optim.Adam([x], lr=lr)

    def shown(v):
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
    layer = _resolve_layers(extractor, [layer], (), "visualisation")[0]
    c = extractor.channels(layer)
    bad = [i for i in channels if not 0 <= i < c]
    if bad or not channels:
        raise UserError(f"{layer} has channels 0 to {c - 1}; channel {bad[0] if bad else '(none)'} cannot be shown.")
    idx = list(channels)

    def objective(f):
        import torch

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
    layer = _resolve_layers(extractor, [layer], (), "visualisation")[0]
    c = extractor.channels(layer)
    for i, j in pairs:
        if not (0 <= i < c and 0 <= j < c):
            raise UserError(f"{layer} has channels 0 to {c - 1}; Gram element ({i}, {j}) does not exist.")
    if not pairs:
        raise UserError("give at least one Gram element (i, j) to show.")
    ii = [p[0] for p in pairs]
    jj = [p[1] for p in pairs]

    def objective(f):
        import torch

        g = gram_matrix(f)
        return g[torch.arange(len(pairs)), ii, jj]

    imgs = _maximise(extractor, layer, objective, len(pairs), size, steps, lr, seed, device, progress, "Gram")
    return [(f"{layer} G[{i},{j}]", im) for (i, j), im in zip(pairs, imgs)]


def strongest_channels(gram, k: int = 8) -> list[int]:
    """Channels with the largest Gram diagonal (most energy in the style)."""
    import torch

    return [int(i) for i in torch.argsort(torch.diagonal(gram), descending=True)[:k]]


def strongest_pairs(gram, k: int = 8) -> list[tuple[int, int]]:
    """Off-diagonal Gram elements (i < j) with the largest values in the style."""
    import torch

    c = gram.shape[0]
    iu = torch.triu_indices(c, c, offset=1)
    vals = gram[iu[0], iu[1]]
    order = torch.argsort(vals, descending=True)[:k]
    return [(int(iu[0, t]), int(iu[1, t])) for t in order]


def grid_png(panels: list[tuple[str, np.ndarray]], columns: int = 4) -> bytes:
    return sio.encode_png(sio.comparison_image(panels, columns=min(columns, len(panels))))


# ------------------------------------------------------------------------------------------ outputs


def comparison_png(result: CrossbandResult, style_img: np.ndarray | None = None) -> bytes:
    panels = [("content", result.content)]
    if style_img is not None:
        panels.append(("style", style_img))
    panels.append(("generated", result.image))
    return sio.encode_png(sio.comparison_image(panels))


def write_result(path: str | os.PathLike, result: CrossbandResult, geo: sio.GeoInfo | None = None) -> Path:
    """PNG/JPEG: the display image; GeoTIFF: the same uint8 values with the content's georeference."""
    suffix = Path(path).suffix.lower()
    if suffix in (".tif", ".tiff"):
        # CRS and transform are kept; the input's nodata value does not apply to 0-255 display values
        geo = replace(geo, nodata=None) if geo is not None else None
        return sio.write_geotiff(path, result.image, geo, ["cross-band (display dB, 0-255)"])
    return sio.write_image(path, result.image)


# ------------------------------------------------------------------------------------------ command line


def _layers_arg(text: str | None) -> tuple[str, ...] | None:
    return tuple(s.strip() for s in text.split(",") if s.strip()) if text else None


def _band_arg(b: int | None) -> int | None:
    if b is None:
        return None
    if b < 1:
        raise UserError(f"bands are numbered from 1 (got {b}).")
    return b - 1


def _set_threads(n: int | None) -> None:
    if n is not None:
        if n < 1:
            raise UserError(f"--threads must be at least 1 (got {n}).")
        import torch

        torch.set_num_threads(n)


def _cli_crossband(args) -> int:
    import sys

    _set_threads(args.threads)  # also for the style Gram computed before the run

    out = Path(args.output)
    if out.suffix.lower() not in (".png", ".jpg", ".jpeg", ".tif", ".tiff"):
        raise UserError(f"{out.name}: unknown output format {out.suffix or '(none)'}; use .png, .jpg or .tif.")
    extractor = make_extractor(args.vgg_weights, args.seed)
    print(f"features: {extractor.label}", file=sys.stderr)
    content, raster = read_display(args.content, band=_band_arg(args.content_band), kind=args.kind)
    device, _ = _device_for(args.device)
    style, style_img = style_from_path(
        args.style, extractor, _layers_arg(args.style_layers), _band_arg(args.style_band), args.kind, device
    )
    opts = CrossbandOptions(
        steps=args.steps,
        optimizer=args.optimizer,
        lr=args.lr,
        style_weight=args.style_weight,
        content_weight=args.content_weight,
        style_layers=_layers_arg(args.style_layers),
        content_layers=_layers_arg(args.content_layers),
        seed=args.seed,
        device=args.device,
    )

    def progress(f, msg):
        if not args.quiet:
            print(f"\r{msg}   ", end="", file=sys.stderr, flush=True)

    result = generate_crossband(content, style, extractor, opts, progress=progress, name=raster.name)
    if not args.quiet:
        print(file=sys.stderr)
    for n in result.notes:
        print(f"note: {n}", file=sys.stderr)
    write_result(out, result, raster.geo)
    if args.comparison:
        sio.write_bytes(args.comparison, comparison_png(result, style_img))
    if args.save_gram:
        write_gram(args.save_gram, style)
    h = result.history
    print(
        f"{out}: {result.options.steps} {result.options.optimizer} steps in {result.seconds:.1f} s on "
        f"{result.device}; style loss {h[0]['style']:.4g} -> {h[-1]['style']:.4g}, content loss "
        f"{h[-1]['content']:.4g}"
    )
    return 0


def _device_for(requested: str):
    from core.compute import resolve_device

    return resolve_device(requested)


def _cli_gram(args) -> int:
    out = Path(args.output)
    if out.suffix.lower() not in (".safetensors", ".pth", ".pt"):
        raise UserError(
            f"{out.name}: a Gram file ends in .safetensors (ours) or .pth (transband's list); rename the output."
        )
    _set_threads(args.threads)
    extractor = make_extractor(args.vgg_weights, args.seed)
    import sys

    print(f"features: {extractor.label}", file=sys.stderr)
    device, note = _device_for(args.device)
    if note:
        print(f"note: {note}", file=sys.stderr)
    gs = gram_from_folder(
        args.folder,
        extractor,
        _layers_arg(args.layers),
        _band_arg(args.band),
        args.kind,
        device,
        progress=lambda f, m: print(f"\r{m}   ", end="", file=sys.stderr, flush=True),
    )
    print(file=sys.stderr)
    write_gram(out, gs)
    print(f"{out}: mean Gram of {gs.count} images over {', '.join(gs.grams)} ({extractor.arch})")
    return 0


def add_cli(subparsers) -> None:
    from core.compute import DEVICES
    from core.io import KINDS

    p = subparsers.add_parser(
        "crossband",
        help="cross-band generation: content of one band, Gram statistics of another",
        description="Optimise an image that keeps the content of CONTENT and takes the texture statistics "
        "(Gram matrices) of STYLE: an image, a folder of images (mean Gram) or a Gram file "
        "(.safetensors from `gram`, or transband's .pth list). Without --vgg-weights the "
        "random multi-scale feature fallback runs (its own defaults: 60 steps, lr 0.03, style "
        "weight 1e6); with VGG19 weights transband's defaults (1000 steps, lr 0.01, 1e5).",
    )
    p.add_argument("content", help="content image (PNG, JPEG, GeoTIFF)")
    p.add_argument("output", help="output .png/.jpg (display) or .tif (same values, content's georeference)")
    p.add_argument("--style", required=True, help="style image, folder of images, or Gram file")
    p.add_argument(
        "--vgg-weights", help="torchvision VGG19/VGG16 weights (.pth state_dict); default: random-feature fallback"
    )
    p.add_argument("--steps", type=int, help="optimisation steps (default depends on the features)")
    p.add_argument("--optimizer", default="adam", choices=OPTIMIZERS)
    p.add_argument("--lr", type=float, help="Adam learning rate")
    p.add_argument("--style-weight", type=float)
    p.add_argument("--content-weight", type=float)
    p.add_argument(
        "--style-layers", help="comma-separated, e.g. relu1_2,relu2_2 (default: all of the file / the extractor's five)"
    )
    p.add_argument("--content-layers", help="comma-separated (default relu4_4 for VGG19, rand2 for random)")
    p.add_argument("--content-band", type=int, help="band of a multi-band content file, from 1 (default 1)")
    p.add_argument("--style-band", type=int, help="band of multi-band style files, from 1 (default 1)")
    p.add_argument("--kind", choices=KINDS, help="override the detected input kind of content and style")
    p.add_argument("--seed", type=int, default=0, help="seed (also picks the random features)")
    p.add_argument("--device", default="auto", choices=DEVICES)
    p.add_argument("--comparison", help="also write a labelled content | style | generated PNG here")
    p.add_argument("--save-gram", help="also write the style statistics used (.safetensors or .pth)")
    p.add_argument(
        "--threads",
        type=int,
        help="PyTorch CPU threads (default: PyTorch's); on a busy shared machine 1 can be several times faster",
    )
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.set_defaults(func=_cli_crossband)

    g = subparsers.add_parser(
        "gram",
        help="accumulate a folder's mean Gram statistics into a Gram file",
        description="'Training' for cross-band generation: the mean Gram matrix per layer over every image in "
        "FOLDER (the target band), written to OUT (.safetensors, ours; or .pth, transband's list "
        "of 5 tensors, VGG19 only).",
    )
    g.add_argument("folder")
    g.add_argument("output")
    g.add_argument("--vgg-weights", help="torchvision VGG19/VGG16 weights; default: random-feature fallback")
    g.add_argument("--layers", help="comma-separated layers (default: the extractor's five style layers)")
    g.add_argument("--band", type=int, help="band of multi-band files, from 1 (default 1)")
    g.add_argument("--kind", choices=KINDS, help="override the detected input kind")
    g.add_argument("--seed", type=int, default=0, help="seed of the random features (ignored with VGG)")
    g.add_argument("--device", default="auto", choices=DEVICES)
    g.add_argument("--threads", type=int, help="PyTorch CPU threads (default: PyTorch's)")
    g.set_defaults(func=_cli_gram)
