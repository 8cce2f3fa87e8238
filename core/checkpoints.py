"""Checkpoints: our safetensors format, and safe loading of foreign PyTorch files.

Our format: a .safetensors file whose metadata holds
  "format": "sar-studio/1", "arch": registry name, "config": JSON of the constructor arguments,
  "normalization": JSON describing input/output scaling, plus any JSON-valued extras (task, step, ...).
One loader (`load_model`) rebuilds any of our checkpoints from that metadata alone.
Foreign .pth files are only ever read with torch.load(weights_only=True).

Nothing here knows which network a file holds; core.generators (translation) and core.superres_models
(super-resolution) recognise networks and build them.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import zipfile
from pathlib import Path

from safetensors import safe_open

from core.errors import UserError
from core.io import atomic_output

FORMAT = "sar-studio/1"


def save_model(path: str | os.PathLike, model, normalization: dict | None = None, **extra) -> Path:
    """Write `model` (a registered network, so it has .arch_name and .config) as safetensors, atomically."""
    from safetensors.torch import save_file  # heavy (torch): reading metadata must not import torch

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
    from safetensors.torch import save_file  # heavy (torch), as in save_model

    state = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    with atomic_output(path) as tmp:
        save_file(state, str(tmp), metadata={k: json.dumps(v) for k, v in meta.items()})
    return Path(path)


def read_metadata(path: str | os.PathLike) -> dict:
    """The decoded metadata of a safetensors file (JSON values decoded). UserError if it is not one."""
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
    from safetensors.torch import load_file  # heavy (torch), as in save_model

    meta = read_metadata(path)
    return load_file(str(path), device=device), meta


def load_model(path: str | os.PathLike, device: str = "cpu"):
    """Rebuild one of our checkpoints: (model in eval mode, metadata)."""
    from models.registry import build  # heavy (torch): importing models defines every network

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
    import torch  # heavy: only foreign .pth files need it

    name = Path(path).name
    try:
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UserError(f"{name}: file not found; check the path.") from None
    except pickle.UnpicklingError as exc:
        found = re.search(r"WeightsUnpickler error: ([^\n]*)", str(exc))
        detail = found.group(1).strip() if found else (str(exc).splitlines() or [""])[0]
        if re.search(r"Unsupported (global|class)", detail):
            ref = re.search(r"GLOBAL (\S+)", detail)
            what = f"it references {ref.group(1)}" if ref else detail[:100]
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


FOREIGN_PREFIXES = ("module.", "_orig_mod.")


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
