"""Checkpoints: our safetensors format, and safe loading.

Our format: a .safetensors file whose metadata holds
  "format": "sar-studio/1", "arch": registry name, "config": JSON of the constructor arguments,
  "normalization": JSON describing input/output scaling, plus any JSON-valued extras (task, step, ...).
One loader (`load_model`) rebuilds any of our checkpoints from that metadata alone.
Foreign .pth files are only ever read with torch.load(weights_only=True).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from core.errors import UserError
from core.io import atomic_output

FORMAT = "sar-studio/1"


def save_model(path: str | os.PathLike, model, normalization: dict | None = None, **extra) -> Path:
    """Write `model` (a registered network, so it has .arch_name and .config) as safetensors, atomically."""
    from safetensors.torch import save_file

    if not hasattr(model, "arch_name") or not hasattr(model, "config"):
        raise TypeError("save_model needs a network registered in models.registry")
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    meta = {
        "format": FORMAT,
        "arch": model.arch_name,
        "config": json.dumps(model.config),
        "normalization": json.dumps(normalization or {}),
    }
    for k, v in extra.items():
        meta[k] = json.dumps(v)
    with atomic_output(path) as tmp:
        save_file(state, str(tmp), metadata=meta)
    return Path(path)


def save_tensors(path: str | os.PathLike, tensors: dict, **meta) -> Path:
    """Write a plain dict of tensors (optimizer state, Gram statistics, ...) as safetensors, atomically."""
    from safetensors.torch import save_file

    state = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    with atomic_output(path) as tmp:
        save_file(state, str(tmp), metadata={k: json.dumps(v) for k, v in meta.items()})
    return Path(path)


def read_metadata(path: str | os.PathLike) -> dict:
    """The decoded metadata of a safetensors file (JSON values decoded). UserError if it is not one."""
    from safetensors import safe_open

    name = Path(path).name
    try:
        with safe_open(str(path), framework="pt") as f:
            raw = f.metadata() or {}
    except FileNotFoundError:
        raise UserError(f"{name}: file not found; check the path.") from None
    except Exception as exc:  # safetensors raises its own error types for bad headers
        raise UserError(f"{name} is not a readable safetensors file ({str(exc)[:80]}); check the file.") from None
    out = {}
    for k, v in raw.items():
        try:
            out[k] = json.loads(v)
        except (TypeError, ValueError):
            out[k] = v
    return out


def load_tensors(path: str | os.PathLike, device: str = "cpu") -> tuple[dict, dict]:
    """(tensors, metadata) of a safetensors file."""
    from safetensors.torch import load_file

    meta = read_metadata(path)
    return load_file(str(path), device=device), meta


def load_model(path: str | os.PathLike, device: str = "cpu"):
    """Rebuild one of our checkpoints: (model in eval mode, metadata)."""
    from models.registry import build

    tensors, meta = load_tensors(path)
    name = Path(path).name
    if meta.get("format") != FORMAT or "arch" not in meta:
        raise UserError(
            f"{name} has no SAR Studio metadata (architecture and config); "
            f"load it as a foreign checkpoint or re-save it with SAR Studio."
        )
    model = build(meta["arch"], meta.get("config") or {})
    load_state_strict(model, tensors, meta["arch"], name)
    return model.to(device).eval(), meta


def load_state_strict(model, state: dict, arch: str, name: str) -> None:
    """load_state_dict(strict=True) with a one-line message naming the architecture and first mismatches."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shape = [k for k in own if k in state and tuple(own[k].shape) != tuple(state[k].shape)]
    if missing or unexpected or shape:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} keys (e.g. {', '.join(missing[:3])})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys (e.g. {', '.join(unexpected[:3])})")
        if shape:
            k = shape[0]
            parts.append(
                f"{len(shape)} shape mismatches (e.g. {k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)})"
            )
        raise UserError(
            f"{name} does not fit architecture {arch}: {'; '.join(parts)}; "
            f"pick a checkpoint made for this architecture."
        )
    model.load_state_dict(state, strict=True)


def torch_load_weights(path: str | os.PathLike):
    """torch.load with weights_only=True, mapping failures to one-line UserErrors. Never unpickles code."""
    import pickle
    import zipfile

    import torch

    name = Path(path).name
    try:
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UserError(f"{name}: file not found; check the path.") from None
    except pickle.UnpicklingError as exc:
        import re

        detail = re.search(r"WeightsUnpickler error: ([^\n]*)", str(exc))
        detail = detail.group(1).strip() if detail else (str(exc).splitlines() or [""])[0]
        if re.search(r"Unsupported (global|class)", detail):
            what = re.search(r"GLOBAL (\S+)", detail)
            what = f"it references {what.group(1)}" if what else detail[:100]
            raise UserError(
                f"{name} contains Python objects other than tensors and was refused for safety "
                f"({what}); save only the state_dict."
            ) from None
        raise UserError(
            f"{name} is not a readable PyTorch checkpoint ({detail[:80] or 'unpickling failed'}); "
            f"check that the download is complete."
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError, AttributeError) as exc:
        raise UserError(
            f"{name} is not a readable PyTorch checkpoint ({str(exc).splitlines()[0][:80] if str(exc) else type(exc).__name__}); "
            f"check that the download is complete."
        ) from None


# ------------------------------------------------------------------------------ translation generators
#
# Foreign generator files (SAR2Optical, junyanz pix2pix, pix2pixHD, C-HR-GAN) are recognised by their keys and
# shapes (shared/spec/foreign-formats.md), their sizes inferred from shapes, and loaded strictly. Our own
# safetensors files name their architecture in the metadata; a safetensors file without our metadata is
# treated like a foreign state_dict. ONNX files are checked (graph, one image input, one output) before use.
#
# Normalisation (stored as JSON under "normalization" in our files; the defaults below for foreign ones):
#   "input":    how 8-bit display values x (0..255) become network input: "x/255*2-1" ([-1, 1]) or "x/255".
#   "output":   "tanh" (network output in [-1, 1], shown as (y+1)/2*255) or "sigmoid" ([0, 1], shown as y*255).
#   "channels": how a SAR image fills the input channels: "grey3" (grey copied to R = G = B, SAR2Optical),
#               "grey" (one channel), "vv_vh" (two channels: VV and VH, each dB-stretched),
#               "vv_vh_ratio" (three: VV, VH, VV/VH false colour), "rgb" (a display RGB image as it is).
#   "sar_input": "display": the network was trained on 8-bit display images, so float SAR (intensity, amplitude,
#               dB) is converted to display first (dB, 2-98 % stretch, core.io.render).
#   "dualpol":  optional, how two-band VV/VH input was fed in training: "false_colour" (core.io.render's
#               R = VV, G = VH, B = VV/VH), "vv" (VV only) or "vv_vh"; without it the engine feeds VV only to grey
#               models. Set it when training on two-band SAR.

TRANSLATION_NORMALIZATION = {"input": "x/255*2-1", "output": "tanh", "channels": "grey3", "sar_input": "display"}
FOREIGN_PREFIXES = ("module.", "_orig_mod.")
GENERATOR_ARCHS = ("sar2optical_unet", "junyan_unet", "pix2pixhd_global", "pix2pixhd_local")
ARCH_LABELS = {
    "sar2optical_unet": "SAR2Optical U-Net",
    "junyan_unet": "junyanz pix2pix U-Net",
    "pix2pixhd_global": "pix2pixHD GlobalGenerator",
    "pix2pixhd_local": "pix2pixHD LocalEnhancer",
}


def translation_normalization(in_channels: int, **overrides) -> dict:
    """The normalisation record for a translation generator with `in_channels` inputs (for save_model)."""
    channels = {1: "grey", 2: "vv_vh", 3: "grey3"}.get(int(in_channels), "grey3")
    return {**TRANSLATION_NORMALIZATION, "channels": channels, **overrides}


def strip_prefixes(state: dict) -> dict:
    """Remove `module.` (DataParallel) and `_orig_mod.` (torch.compile) prefixes from every key."""
    out = {}
    for k, v in state.items():
        key = str(k)
        changed = True
        while changed:
            changed = False
            for p in FOREIGN_PREFIXES:
                if key.startswith(p):
                    key, changed = key[len(p) :], True
        out[key] = v
    return out


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


def unwrap_state(obj, name: str = "checkpoint") -> dict:
    """The tensor dict inside a loaded checkpoint (a bare state_dict, or one wrapped as {'state_dict': ...})."""
    import torch

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
    import re

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
    import re

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
        self, path, fmt: str, arch: str, config: dict, normalization: dict, model=None, onnx=None, description: str = ""
    ):
        self.path = Path(path)
        self.format = fmt  # "sar-studio", "pth", "safetensors" (foreign) or "onnx"
        self.arch = arch  # registry name, or "onnx"
        self.config = config
        self.normalization = {**TRANSLATION_NORMALIZATION, **(normalization or {})}
        self.model = model  # torch nn.Module in eval mode on CPU, or None for ONNX
        self.onnx = onnx  # core.onnx.OnnxInfo or None
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
        return ARCH_LABELS.get(self.arch, self.arch)


def load_generator(path: str | os.PathLike, device: str = "cpu") -> LoadedGenerator:
    """Load any supported translation generator file: our .safetensors, foreign .pth/.pt/.safetensors, or .onnx.

    Foreign files: weights_only loading, prefixes stripped, architecture and sizes detected from keys and shapes,
    strict loading with a message naming the detected architecture and the first mismatched keys.
    ONNX files are checked (core.onnx.inspect_onnx) but not opened in a session here.
    """
    from models.registry import build

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
        from core.onnx import inspect_onnx

        info = inspect_onnx(path)
        return LoadedGenerator(
            path,
            "onnx",
            "onnx",
            {},
            {},
            onnx=info,
            description=f"ONNX graph, input {info.input_name} {info.shape_text}",
        )
    if suffix == ".safetensors":
        tensors, meta = load_tensors(path)
        if meta.get("format") == FORMAT and "arch" in meta:
            arch = meta["arch"]
            if arch not in GENERATOR_ARCHS:
                raise UserError(
                    f"{name} holds a {arch} network, not a SAR-to-optical generator; pick a translation checkpoint."
                )
            model = build(arch, meta.get("config") or {})
            load_state_strict(model, tensors, arch, name)
            return LoadedGenerator(
                path,
                "sar-studio",
                arch,
                model.config,
                meta.get("normalization") or {},
                model=model.to(device).eval(),
                description=f"SAR Studio checkpoint, {ARCH_LABELS.get(arch, arch)} ({_sizes_text(model.config)})",
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
            f"{name} looks like a {ARCH_LABELS[arch]} but its sizes are inconsistent ({exc}); check the file."
        ) from None
    load_state_strict(model, state, f"{ARCH_LABELS[arch]} (detected)", name)
    norm = translation_normalization(config.get("in_channels", 3))
    return LoadedGenerator(
        path,
        fmt,
        arch,
        model.config,
        norm,
        model=model.to(device).eval(),
        description=f"{ARCH_LABELS[arch]} ({_sizes_text(config)})",
    )


def _sizes_text(config: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in config.items() if k not in ("use_dropout", "upsample_mode"))
