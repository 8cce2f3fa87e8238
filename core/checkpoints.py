"""Checkpoints: our safetensors format, and safe loading of foreign PyTorch files.

Our format: a .safetensors file whose metadata holds
  "format": "sar-studio/1", "arch": registry name, "config": JSON of the constructor arguments,
  "normalization": JSON describing input/output scaling, plus any JSON-valued extras (task, step, ...).
One loader (`load_model`) rebuilds any of our checkpoints from that metadata alone.
Foreign .pth files are only ever read with torch.load(weights_only=True).

Nothing here knows which network a file holds; core.translate.generators (translation) and core.superres.engine
(super-resolution) recognise networks and build them; models.registry labels them for messages.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import os
import pickle
import re
import zipfile
from pathlib import Path

from safetensors import SafetensorError, safe_open

from core.errors import UserError
from core.io import atomic_output, check_input_file
from models.registry import UnknownArchitecture, build, describe, network_class

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
        with safe_open(str(path), framework="numpy") as f:  # metadata only: "pt" would import torch
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


def count_weights(path: str | os.PathLike) -> int:
    """How many numbers a safetensors file stores (its tensors' shapes, read from the header without torch)."""
    try:
        with safe_open(str(path), framework="numpy") as f:
            return sum(math.prod(f.get_slice(k).get_shape()) for k in f.keys())
    except Exception as exc:  # safetensors raises its own error types for bad headers
        raise UserError(f"{Path(path).name} is not a readable safetensors file ({str(exc)[:80]}); check it.") from None


def load_tensors(path: str | os.PathLike, device: str = "cpu") -> tuple[dict, dict]:
    """(tensors, metadata) of a safetensors file."""
    from safetensors.torch import load_file  # heavy (torch), as in save_model

    meta = read_metadata(path)
    return load_file(str(path), device=device), meta


def load_model(path: str | os.PathLike, device: str = "cpu", archs: tuple[str, ...] | None = None, wanted: str = ""):
    """Rebuild one of our checkpoints: (model in eval mode, metadata).

    `archs`: the architectures the caller can use; another one is refused with a sentence naming what the file
    holds and `wanted` (what the command needs, e.g. "evaluate needs a SAR-to-optical generator").
    """
    tensors, meta = load_tensors(path)
    name = Path(path).name
    if meta.get("format") != FORMAT or "arch" not in meta:
        raise UserError(
            f"{name} has no SAR Studio metadata (architecture and config); "
            f"load it as a foreign checkpoint or re-save it with SAR Studio."
        )
    arch = meta["arch"]
    if archs is not None and arch not in archs:
        raise UserError(f"{name} holds {describe_arch(arch)}; {wanted or 'this command needs another network'}.")
    model = build_checked(arch, meta.get("config"), tensors, name)
    return model.to(device).eval(), meta


# Largest network a checkpoint's config may describe (parameters and buffers, bytes); far above every shipped
# model (the largest is about 100 MB), far below what would exhaust a machine before the file is even compared.
MAX_NETWORK_BYTES = 4 << 30


def describe_arch(arch: str) -> str:
    """What a file holding `arch` holds, for messages ("an RGTGAN super-resolution network"; models.registry)."""
    return describe(str(arch))


def check_config(arch: str, config, name: str) -> dict:
    """The constructor arguments in a checkpoint's metadata, checked against the architecture's signature.

    UserError when the config is not a JSON object, names an argument the network does not take, or gives a
    value of the wrong type (an int where a bool is wanted, a string for a width, ...).
    """
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise UserError(
            f"{name}: the metadata config is a JSON {type(config).__name__}, not an object of constructor "
            f"arguments; the file is damaged or was not written by SAR Studio."
        )
    try:
        cls = network_class(arch)
    except UnknownArchitecture as exc:
        raise UserError(f"{name}: {exc}") from None
    params = inspect.signature(cls).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    for key, value in config.items():
        if key not in params or key == "self":
            if takes_any:
                continue
            raise UserError(
                f"{name}: the metadata config has an argument {key!r} that {arch} does not take; "
                f"the file is damaged or was made by another version."
            )
        default = params[key].default
        if not _same_kind(value, default):
            raise UserError(
                f"{name}: the metadata config gives {key} = {json.dumps(value)[:40]} but {arch} wants "
                f"{_kind_name(default)}; the file is damaged."
            )
    return config


def _same_kind(value, default) -> bool:
    if default is inspect.Parameter.empty or default is None:
        return not isinstance(value, dict)  # no default to compare with: any plain JSON value
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if isinstance(default, str):
        return isinstance(value, str)
    if isinstance(default, (list, tuple)):
        return isinstance(value, list)
    return True


def _kind_name(default) -> str:
    for t, label in ((bool, "true or false"), (int, "an integer"), (float, "a number"), (str, "a string")):
        if isinstance(default, t):
            return label
    return "a list" if isinstance(default, (list, tuple)) else "a plain value"


def build_checked(arch: str, config, state: dict, name: str):
    """Build `arch` from a file's config and load `state` strictly, refusing before any weight is allocated when
    the config is malformed, describes a network larger than MAX_NETWORK_BYTES, or does not fit the file."""
    import torch  # heavy: only model loading gets here

    config = check_config(arch, config, name)
    try:
        with torch.device("meta"):  # shapes only: nothing is allocated
            skeleton = build(arch, config)
        size = sum(t.numel() * t.element_size() for t in skeleton.state_dict().values())
    except UserError:
        raise
    except (TypeError, ValueError, RuntimeError, AssertionError, OverflowError, ZeroDivisionError) as exc:
        raise UserError(
            f"{name}: the metadata config does not build a {arch} network ({str(exc).splitlines()[0][:80]}); "
            f"the file is damaged."
        ) from None
    if size > MAX_NETWORK_BYTES:
        raise UserError(
            f"{name}: the metadata config describes a {arch} network of {size / 1e9:.3g} GB, far more than any "
            f"real checkpoint and more than the file holds; the file is damaged or hostile and was not loaded."
        )
    check_state_fit(skeleton, state, arch, name)
    model = build(arch, config)
    load_state_strict(model, state, arch, name)
    return model


def check_state_fit(model, state: dict, arch: str, name: str) -> None:
    """UserError naming the architecture and first mismatches when `state` does not fit `model` key for key."""
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


def check_finite(state: dict, name: str, what: str = "weights") -> None:
    """UserError when any floating-point tensor of `state` holds NaN or infinity (it would give a blank output)."""
    import torch  # heavy: only model loading gets here

    for k, v in state.items():
        if isinstance(v, torch.Tensor) and v.is_floating_point() and v.numel() and not bool(torch.isfinite(v).all()):
            raise UserError(
                f"{name} holds non-finite {what} (NaN or infinity, e.g. in {k}); the file is damaged or the "
                f"training diverged; pick another file."
            )


def load_state_strict(model, state: dict, arch: str, name: str) -> None:
    """load_state_dict(strict=True) with a one-line message naming the architecture and first mismatches;
    non-finite weights are refused."""
    check_state_fit(model, state, arch, name)
    check_finite(state, name)
    model.load_state_dict(state, strict=True)


def tensors_digest(tensors: dict) -> str:
    """sha256 over every tensor's name, dtype, shape and bytes, in key order (stored in state files, checked on
    load, so a file whose data bytes changed is refused instead of resumed)."""
    import torch  # heavy: only state files get here

    h = hashlib.sha256()
    for k in sorted(tensors):
        t = tensors[k].detach().contiguous().cpu()
        h.update(f"{k}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def torch_load_weights(path: str | os.PathLike):
    """torch.load with weights_only=True, mapping failures to one-line UserErrors. Never unpickles code."""
    import torch  # heavy: only foreign .pth files need it

    name = Path(path).name
    check_input_file(path)
    try:
        # an open file, not the path: torch.load hands any path ending in .safetensors to safetensors instead
        with open(path, "rb") as fh:
            return torch.load(fh, map_location="cpu", weights_only=True)
    except SafetensorError as exc:
        raise UserError(f"{name} is not a readable checkpoint ({str(exc)[:80]}); check the file.") from None
    except FileNotFoundError:
        raise UserError(f"{name}: file not found; check the path.") from None
    except pickle.UnpicklingError as exc:
        text = str(exc)
        found = re.search(r"WeightsUnpickler error: ([^\n]*\n*[^\n]*)", text)
        detail = " ".join((found.group(1) if found else (text.splitlines() or [""])[0]).split())
        ref = re.search(r"GLOBAL (\S+)", text)
        if ref or (_looks_pickled(path) and re.search(r"unsupported (global|class|operand)|blocked", text, re.I)):
            # the weights-only unpickler stopped at something that is not a tensor: a class, a callable, or a
            # pickle opcode it does not run; a truncated download ends in EOF or a zip error instead
            what = f"it references {ref.group(1)}" if ref else detail[:100] or "it is not a plain state_dict"
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


def _looks_pickled(path) -> bool:
    """A torch zip archive or a pickle stream (protocol 2-5 header): an opcode the weights-only unpickler refused
    is then a deliberate one, not noise from a damaged download."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(2)
    except OSError:
        return False
    return head == b"PK" or (len(head) == 2 and head[0] == 0x80 and 2 <= head[1] <= 5)


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
