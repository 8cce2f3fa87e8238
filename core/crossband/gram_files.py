"""The two Gram file formats, read safely.

Ours: safetensors, one (C, C) tensor per layer named `gram.<layer>`, with metadata naming the extractor that made
them (format GRAM_FORMAT). transband-SARgeneration's `latest_gram_trainTotal.pth`: a list of 5 tensors [1, C, C]
of VGG19 relu1_2 .. relu5_4, loaded with weights_only. A file is only used with the features it was made with.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from core import io as sio
from core.crossband.features import Extractor
from core.crossband.gram import GramSet
from core.errors import UserError

GRAM_FORMAT = "sar-studio-gram/1"
GRAM_SUFFIXES = (".safetensors", ".pth", ".pt")
GRAM_FORMATS_ACCEPTED = (
    "accepted are a SAR Studio Gram file (.safetensors, made by `python -m core gram FOLDER OUT.safetensors`) "
    "or transband's latest_gram_trainTotal.pth (a list of 5 tensors [1,64,64] .. [1,512,512])."
)


def is_gram_path(path: str | os.PathLike) -> bool:
    """Whether a file name is that of a Gram file (by its suffix)."""
    return Path(path).suffix.lower() in GRAM_SUFFIXES


def list_gram_files(folder: str | os.PathLike) -> list[Path]:
    """Gram files directly inside `folder`, sorted by name (none when the folder does not exist)."""
    p = Path(folder)
    if not p.is_dir():
        return []
    return sorted(q for q in p.iterdir() if q.is_file() and not q.name.startswith(".") and is_gram_path(q))


def save_gram(path: str | os.PathLike, gramset: GramSet) -> Path:
    """Our Gram file: safetensors with `gram.<layer>` tensors and the extractor in the metadata."""
    from core.checkpoints import save_tensors  # noqa: PLC0415 - start-up: core.checkpoints (safetensors) only when weights are written, not `gram --help`

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
    import torch  # heavy: see save_gram

    from models.vgg import TRANSBAND_STYLE_LAYERS  # noqa: PLC0415 - heavy: a network module imports torch; only when it is built

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
    if head[:2] == b"PK" or head[:1] == b"\x80" or p.suffix.lower() in (".pth", ".pt"):
        return _load_transband_gram(p, extractor)
    from core.checkpoints import load_tensors  # noqa: PLC0415 - start-up: core.checkpoints (safetensors) only when weights are read, not `gram --help`

    try:
        tensors, meta = load_tensors(p)
    except Exception:  # our UserError from the header check, or safetensors' own error types
        raise UserError(f"{name} is not a Gram file; {GRAM_FORMATS_ACCEPTED}") from None
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
    # heavy (torch): see save_gram; torch_load_weights reads with weights_only (no code runs from the file)
    from core.checkpoints import torch_load_weights  # noqa: PLC0415 - start-up: core.checkpoints (safetensors) only when weights are read, not `gram --help`
    from models.vgg import TRANSBAND_STYLE_LAYERS  # noqa: PLC0415 - heavy: a network module imports torch; only when it is built

    name = path.name
    try:
        obj = torch_load_weights(path)
    except UserError as exc:
        if "Python objects other than tensors" in str(exc):
            raise
        raise UserError(f"{name} is not a readable Gram file; {GRAM_FORMATS_ACCEPTED}") from None
    if isinstance(obj, dict) and obj and all(k.startswith("gram.") for k in obj):
        obj = list(obj.values())
    if not isinstance(obj, (list, tuple)) or not all(hasattr(t, "shape") for t in obj):
        raise UserError(f"{name} is not a Gram file (it holds {type(obj).__name__}); {GRAM_FORMATS_ACCEPTED}")
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
