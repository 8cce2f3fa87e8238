"""Translation generators from model files: recognise the network, build it, load it strictly.

Foreign generator files (SAR2Optical, junyanz pix2pix, pix2pixHD, C-HR-GAN) are recognised by their keys and
shapes (`detect_foreign` names the keys of each), their sizes inferred from shapes, and loaded strictly. Our own
safetensors files name their architecture in the metadata; a safetensors file without our metadata is
treated like a foreign state_dict. ONNX files are checked (graph, one image input, one output) before use.

Normalisation (stored as JSON under "normalization" in our files; the defaults below for foreign ones):
  "input":    how 8-bit display values x (0..255) become network input: "x/255*2-1" ([-1, 1]) or "x/255".
  "output":   "tanh" (network output in [-1, 1], shown as (y+1)/2*255) or "sigmoid" ([0, 1], shown as y*255).
  "channels": how a SAR image fills the input channels: "grey3" (grey copied to R = G = B, SAR2Optical),
              "grey" (one channel), "vv_vh" (two channels: VV and VH, each dB-stretched),
              "vv_vh_ratio" (three: VV, VH, VV/VH false colour), "rgb" (a display RGB image as it is).
  "sar_input": "display": the network was trained on 8-bit display images, so float SAR (intensity, amplitude,
              dB) is converted to display first (dB, 2-98 % stretch, core.io.render).
  "dualpol":  optional, how two-band VV/VH input was fed in training: "false_colour" (core.io.render's
              R = VV, G = VH, B = VV/VH), "vv" (VV only) or "vv_vh"; without it the engine feeds VV only to grey
              models. Set it when training on two-band SAR.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.checkpoints import (
    FORMAT,
    build_checked,
    describe_arch,
    load_state_strict,
    load_tensors,
    read_metadata,
    strip_prefixes,
    torch_load_weights,
)
from core.errors import UserError
from core.onnx.inspect_file import OnnxInfo, inspect_onnx
from models.registry import build, full_config, label, names, size_multiple

TRANSLATION_NORMALIZATION = {"input": "x/255*2-1", "output": "tanh", "channels": "grey3", "sar_input": "display"}
GENERATOR_WANTED = (
    "translation, evaluation and fine-tuning need a SAR-to-optical generator (SAR2Optical, pix2pix, pix2pixHD "
    "or C-HR-GAN); pick a translation checkpoint"
)


def generator_archs() -> tuple[str, ...]:
    """The registered networks of task "translate" (models.registry, read without importing them)."""
    return names("translate")


def arch_label(arch: str) -> str:
    """The label of a registered network for messages ("SAR2Optical U-Net"); the name itself when unknown."""
    return label(arch)


def __getattr__(name: str) -> object:
    """GENERATOR_ARCHS and ARCH_LABELS, the old constant names, derived from the registry on first use."""
    if name == "GENERATOR_ARCHS":
        return generator_archs()
    if name == "ARCH_LABELS":
        return {arch: arch_label(arch) for arch in generator_archs()}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def translation_normalization(in_channels: int, **overrides: object) -> dict:
    """The normalisation record for a translation generator with `in_channels` inputs (for save_model)."""
    channels = {1: "grey", 2: "vv_vh", 3: "grey3"}.get(int(in_channels), "grey3")
    return {**TRANSLATION_NORMALIZATION, "channels": channels, **overrides}


_WRAPPER_KEYS = (
    "state_dict",
    "model_state_dict",
    "generator",
    "gen",
    "netG",
    "G",
    "model",
    "params",
    "params_ema",
    "net_g",
    "generator_state_dict",
    "gen_state_dict",
)


def unwrap_state(obj: object, name: str = "checkpoint") -> dict:
    """The tensor dict inside a loaded checkpoint (a bare state_dict, or one wrapped as {'state_dict': ...})."""
    import torch  # heavy: only foreign .pth files reach here, and torch_load_weights has imported it already

    for _ in range(3):
        if not isinstance(obj, dict):
            break
        if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            return dict(obj)
        inner = next((obj[k] for k in _WRAPPER_KEYS if isinstance(obj.get(k), dict)), None)
        if inner is None:
            break
        obj = inner
    if isinstance(obj, dict):
        tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
        if tensors:
            return tensors
    raise UserError(
        f"{name} holds no generator weights (expected a state_dict of tensors); save the generator's state_dict."
    )


def _idx(prefix: str, suffix: str, state: dict) -> list[int]:
    pat = re.compile(rf"^{re.escape(prefix)}(\d+)\.{re.escape(suffix)}$")
    return sorted(int(m.group(1)) for k in state for m in [pat.match(k)] if m)


def _resblock_info(state: dict, prefix: str) -> tuple[list[int], dict]:
    blocks = _idx(prefix, "conv_block.1.weight", state)
    se = {}
    if blocks and f"{prefix}{blocks[0]}.res_weight" in state:
        dim = state[f"{prefix}{blocks[0]}.conv_block.1.weight"].shape[0]
        hidden = (
            state[f"{prefix}{blocks[0]}.se.1.weight"].shape[0]
            if f"{prefix}{blocks[0]}.se.1.weight" in state
            else dim // 4
        )
        se = {
            "se_blocks": True,
            "se_reduction": max(1, int(dim // max(1, hidden))),
            "se_bias": f"{prefix}{blocks[0]}.se.1.bias" in state,
        }
    return blocks, se


def detect_foreign(state: dict) -> tuple[str, dict]:
    """(registered architecture name, constructor config) of a generator state_dict, sizes read from shapes.

    Recognises SAR2Optical's U-Net, the junyanz U-Net, pix2pixHD's GlobalGenerator (plain, batch-norm, or with
    C-HR-GAN's SE-ResNet blocks) and LocalEnhancer. Prefixes `module.` / `_orig_mod.` are stripped first.
    Raises UserError when the keys match none of them.
    """
    state = strip_prefixes(state)
    shape = lambda k: tuple(state[k].shape)  # noqa: E731
    if "encoder.enc1.conv_block.0.weight" in state:
        w = shape("encoder.enc1.conv_block.0.weight")
        n_down = len({int(m.group(1)) for k in state for m in [re.match(r"^encoder\.enc(\d+)\.", k)] if m})
        out = shape("head.0.weight")[0] if "head.0.weight" in state else 3
        return "sar2optical_unet", {
            "in_channels": w[1],
            "out_channels": out,
            "width": w[0],
            "n_down": n_down,
            "use_upsampling": "decoder.dec1.conv_block.0.1.weight" in state,
            "use_dropout": True,
        }
    if "model.model.0.weight" in state and len(shape("model.model.0.weight")) == 4:
        w = shape("model.model.0.weight")
        prefix, depth = "model.model.1", 1
        while f"{prefix}.model.1.weight" in state:
            depth += 1
            prefix += ".model.3"
        norm = "batch" if any(k.endswith("running_mean") for k in state) else "instance"
        out = shape("model.model.3.weight")[1] if "model.model.3.weight" in state else 3
        return "junyan_unet", {
            "in_channels": w[1],
            "out_channels": out,
            "ngf": w[0],
            "num_downs": depth,
            "norm": norm,
            "use_dropout": True,
        }
    if "model1_1.1.weight" in state and "model.1.weight" in state:
        n_local = len({m.group(1) for k in state for m in [re.match(r"^model(\d+)_1\.", k)] if m})
        ngf = shape(f"model{n_local}_1.1.weight")[0]
        blocks, se = _resblock_info(state, "model.")
        if not blocks:
            raise UserError(
                "the file looks like a pix2pixHD LocalEnhancer but has no residual blocks in model.*; check the file."
            )
        local_blocks, _ = _resblock_info(state, "model1_2.")
        norm = "batch" if "model.2.running_mean" in state else "instance"
        finals = [
            k
            for k in state
            if re.match(rf"^model{n_local}_2\.\d+\.weight$", k) and len(shape(k)) == 4 and shape(k)[2] == 7
        ]
        out = shape(finals[0])[0] if finals else 3
        return "pix2pixhd_local", {
            "in_channels": shape("model.1.weight")[1],
            "out_channels": out,
            "ngf": ngf,
            "n_downsample_global": (blocks[0] - 4) // 3,
            "n_blocks_global": len(blocks),
            "n_local_enhancers": n_local,
            "n_blocks_local": len(local_blocks),
            "norm": norm,
            **se,
        }
    if "model.1.weight" in state and len(shape("model.1.weight")) == 4 and shape("model.1.weight")[2] == 7:
        w = shape("model.1.weight")
        blocks, se = _resblock_info(state, "model.")
        if not blocks:
            raise UserError(
                "the file looks like a pix2pixHD generator but has no residual blocks "
                "(model.K.conv_block.*); check the file."
            )
        d = (blocks[0] - 4) // 3
        nb = len(blocks)
        final = f"model.{5 + 6 * d + nb}.weight"
        out = shape(final)[0] if final in state else 3
        norm = "batch" if "model.2.running_mean" in state else "instance"
        return "pix2pixhd_global", {
            "in_channels": w[1],
            "out_channels": out,
            "ngf": w[0],
            "n_downsample": d,
            "n_blocks": nb,
            "norm": norm,
            **({"se_blocks": False} if not se else se),
        }
    first = ", ".join(list(state)[:3]) or "(none)"
    raise UserError(
        f"unrecognised generator: keys start {first}; SAR Studio loads SAR2Optical, junyanz pix2pix "
        f"U-Net, pix2pixHD and C-HR-GAN generators, our .safetensors and .onnx files."
    )


class LoadedGenerator:
    """A translation generator ready for the engine: a torch module or a checked ONNX file, plus how to feed it."""

    def __init__(
        self,
        path: str | os.PathLike,
        fmt: str,
        arch: str,
        config: dict,
        normalization: dict,
        model: Any = None,
        onnx: OnnxInfo | None = None,
        description: str = "",
    ) -> None:
        self.path = Path(path)
        self.format = fmt  # "sar-studio", "pth", "safetensors" (foreign) or "onnx"
        self.arch = arch  # registry name, or "onnx"
        self.config = config
        self.normalization = {**TRANSLATION_NORMALIZATION, **(normalization or {})}
        self.model = model  # torch nn.Module in eval mode on CPU, or None for ONNX
        self.onnx: OnnxInfo | None = onnx
        self.description = description

    @property
    def in_channels(self) -> int:
        if self.onnx is not None:
            return self.onnx.channels
        return int(self.config.get("in_channels", 3))

    @property
    def size_multiple(self) -> int:
        if self.onnx is not None:
            return self.onnx.size_multiple
        return int(getattr(self.model, "size_multiple", 1))

    @property
    def native_tile(self) -> int:
        """The tile size to use by default: the model's training size where it has one (256 for the U-Nets)."""
        if self.onnx is not None and self.onnx.fixed_hw is not None:
            return self.onnx.fixed_hw[0]
        return max(256, self.size_multiple)

    @property
    def label(self) -> str:
        return arch_label(self.arch)

    def info(self) -> GeneratorInfo:
        """What a page shows of this generator before it runs (describe_generator gives the same from metadata)."""
        return GeneratorInfo(
            self.description, self.arch, self.native_tile, self.size_multiple, self.onnx is not None, self.in_channels
        )


@dataclass(frozen=True)
class GeneratorInfo:
    """What a generator file is, for a page before anything runs: description, input multiple, default tile."""

    description: str
    arch: str  # registry name, or "onnx"
    tile: int  # default tile (px): the training size where there is one
    multiple: int  # height and width must be multiples of this (px)
    onnx: bool
    in_channels: int


def describe_generator(path: str | os.PathLike) -> GeneratorInfo:
    """`load_generator(path).info()` without building the network where the file says what it holds: our
    .safetensors (architecture and config in the metadata, defaults and size multiple from models.registry's
    declarations) and .onnx files (checked graph) cost no torch. Foreign .pth / .safetensors files say nothing
    until their keys are read and matched, so they are loaded (torch)."""
    path = Path(path)
    if path.is_file() and path.suffix.lower() == ".safetensors" and path.stat().st_size > 0:
        meta = read_metadata(path)
        if meta.get("format") == FORMAT and "arch" in meta:
            arch = meta["arch"]
            if arch not in generator_archs():
                raise UserError(f"{path.name} holds {describe_arch(arch)}; {GENERATOR_WANTED}.")
            given = meta.get("config")
            try:
                config = full_config(arch, given if isinstance(given, dict) else {})
                multiple = size_multiple(arch, config)
            except (ValueError, TypeError, ArithmeticError):
                return load_generator(path).info()  # a damaged config: loading says what is wrong with it
            return GeneratorInfo(
                _ours_text(arch, config), arch, max(256, multiple), multiple, False, int(config.get("in_channels", 3))
            )
    if path.is_file() and path.suffix.lower() == ".onnx" and path.stat().st_size > 0:
        return _onnx_generator(path).info()
    return load_generator(path).info()


def _onnx_generator(path: Path) -> LoadedGenerator:
    info = inspect_onnx(path)
    return LoadedGenerator(
        path, "onnx", "onnx", {}, {}, onnx=info, description=f"ONNX graph, input {info.input_name} {info.shape_text}"
    )


def _ours_text(arch: str, config: dict) -> str:
    return f"SAR Studio checkpoint, {arch_label(arch)} ({sizes_text(config)})"


def load_generator(path: str | os.PathLike, device: str = "cpu") -> LoadedGenerator:
    """Load any supported translation generator file: our .safetensors, foreign .pth/.pt/.safetensors, or .onnx.

    Foreign files: weights_only loading, prefixes stripped, architecture and sizes detected from keys and shapes,
    strict loading with a message naming the detected architecture and the first mismatched keys.
    ONNX files are checked (core.onnx.inspect_file.inspect_onnx) but not opened in a session here.
    """
    path = Path(path)
    name = path.name
    if not path.exists():
        raise UserError(f"{name}: model file not found; check the path.")
    if path.is_dir():
        raise UserError(f"{name} is a folder; give a generator file (.safetensors, .pth or .onnx).")
    if path.stat().st_size == 0:
        raise UserError(f"{name} is empty (0 bytes); the download is incomplete.")
    with open(path, "rb") as fh:
        head = fh.read(8)
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        return _onnx_generator(path)
    if suffix == ".safetensors":
        tensors, meta = load_tensors(path)
        if meta.get("format") == FORMAT and "arch" in meta:
            arch = meta["arch"]
            if arch not in generator_archs():
                raise UserError(f"{name} holds {describe_arch(arch)}; {GENERATOR_WANTED}.")
            model = build_checked(arch, meta.get("config"), tensors, name)
            return LoadedGenerator(
                path,
                "sar-studio",
                arch,
                model.config,
                meta.get("normalization") or {},
                model=model.to(device).eval(),
                description=_ours_text(arch, model.config),
            )
        state, fmt = tensors, "safetensors"
    elif head.startswith(b"PK") or suffix in (".pth", ".pt", ".ckpt", ".bin"):
        state, fmt = unwrap_state(torch_load_weights(path), name), "pth"
    else:
        raise UserError(f"{name} is not a .safetensors, .pth or .onnx model file; pick a generator file.")
    state = strip_prefixes(state)
    arch, config = detect_foreign(state)
    try:
        model = build(arch, config)
    except (ValueError, TypeError, RuntimeError) as exc:
        raise UserError(
            f"{name} looks like a {arch_label(arch)} but its sizes are inconsistent ({exc}); check the file."
        ) from None
    load_state_strict(model, state, f"{arch_label(arch)} (detected)", name)
    norm = translation_normalization(config.get("in_channels", 3))
    return LoadedGenerator(
        path,
        fmt,
        arch,
        model.config,
        norm,
        model=model.to(device).eval(),
        description=f"{arch_label(arch)} ({sizes_text(config)})",
    )


def sizes_text(config: dict) -> str:
    """The sizes of a generator config as text (\"in_channels 1, width 64, ...\"), for descriptions."""
    return ", ".join(f"{k} {v}" for k, v in config.items() if k not in ("use_dropout", "upsample_mode"))
