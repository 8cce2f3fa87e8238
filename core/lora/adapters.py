"""LoRA adapters for the translation generators: train (peft), save, apply at load time, merge for export.

Training (used by core/train):
    model = add_lora(model, rank=16, alpha=32, dropout=0.1)      # in place; returns the same model
    ... train: only lora_A / lora_B are trainable; BatchNorm stays in eval mode with frozen statistics,
        even after model.train() ...
    save_adapter(model, "runs/x/adapter")                         # peft folder format

Inference:
    model, note = apply_adapter(model, path, strength=1.0)        # peft folder or a SAR2Optical adapter file
    model = merge_adapter(model)                                  # fold peft deltas into the base weights

`add_lora` covers every Conv2d AND ConvTranspose2d (peft 0.21.2 has no ConvTranspose2d LoRA layer, so
`LoraConvTranspose2d` below is registered through LoraConfig._register_custom_module; the registration is
repeated by `apply_adapter` before an adapter is reloaded). For a transpose conv, lora_A is a ConvTranspose2d
(in -> r) with the base layer's kernel, stride, padding and output padding, lora_B a 1x1 ConvTranspose2d
(r -> out); its delta weight is A (in, r, kh, kw) combined with B (r, out) into (in, out, kh, kw).

A peft folder holds adapter_config.json and adapter_model.safetensors with keys
`base_model.model.<module>.lora_A.weight` / `.lora_B.weight` (the layout peft's save_pretrained writes;
keys without the `base_model.model.` prefix are accepted too).

SAR2Optical's hand-written encoder adapters (not peft) are read and applied by core.lora.sar2optical; they are
not a weight delta, so `merge_adapter` leaves them in place as modules (they still export to ONNX).

Strength multiplies the adapter's contribution: 0 is the base model, 1 the adapter as trained.
An adapter that does not fit the model (missing modules, wrong shapes) is refused with a UserError.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import os
import re
import types
from functools import lru_cache
from pathlib import Path

import torch  # noqa: TID253 - torch module: LoRA layers, imported only with an adapter
import torch.nn.functional as F  # noqa: TID253 - torch module: LoRA layers, imported only with an adapter
from safetensors.torch import load_file, save_file  # noqa: TID253 - torch module: LoRA layers, imported only with an adapter
from torch import nn  # noqa: TID253 - torch module: LoRA layers, imported only with an adapter

from core.checkpoints import check_finite
from core.errors import UserError
from core.io import atomic_output
from core.lora.sar2optical import apply_sar2optical, read_adapter_file, sar2optical_adapter_pairs

ADAPTER_NAME = "default"
CONFIG_FILE = "adapter_config.json"
WEIGHTS_FILE = "adapter_model.safetensors"
PEFT_PREFIX = "base_model.model."


# ----------------------------------------------------------------------------------- peft custom layer


@lru_cache(maxsize=1)
def lora_conv_transpose_class():
    """The peft LoRA layer for nn.ConvTranspose2d (built lazily: importing peft takes seconds)."""
    from peft.tuners.lora.layer import _ConvNd  # heavy (peft, about 8 s): only LoRA training and peft adapters

    class LoraConvTranspose2d(_ConvNd):
        """LoRA on a ConvTranspose2d: result + B(A(dropout(x))) * scaling, mergeable into the base weight."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.conv_fn = F.conv_transpose2d

        def _get_in_out_features(self, module):
            base = module.get_base_layer() if hasattr(module, "get_base_layer") else module
            return base.in_channels, base.out_channels

        @property
        def lora_variants(self):
            return {(): None}

        def update_layer(self, adapter_name, r, lora_alpha, config, **kwargs):
            base = self.get_base_layer()
            if base.groups != 1:
                raise ValueError("LoRA on grouped transpose convolutions is not supported")
            super().update_layer(adapter_name, r, lora_alpha=lora_alpha, config=config, **kwargs)
            a = self.lora_A[adapter_name]
            a.output_padding = base.output_padding  # same output size as the base layer
            a.dilation = base.dilation

        def get_delta_weight(self, adapter) -> torch.Tensor:
            a = self.lora_A[adapter].weight  # (in, r, kh, kw)
            b: torch.Tensor = self.lora_B[adapter].weight  # type: ignore[assignment]  # nn.Module attribute typing
            scaling: dict = self.scaling  # peft's {adapter name: float}
            dtype = a.dtype
            delta = torch.einsum("irhw,ro->iohw", a.float(), b[:, :, 0, 0].float()) * scaling[adapter]
            return delta.to(dtype)

        def __repr__(self) -> str:
            return "lora." + super().__repr__()

    return LoraConvTranspose2d


def _register_custom_layers(config) -> None:
    config._register_custom_module({nn.ConvTranspose2d: lora_conv_transpose_class()})


def conv_module_names(model: nn.Module) -> list[str]:
    """Names of every Conv2d and ConvTranspose2d in `model` (the default LoRA targets)."""
    return [
        name
        for name, m in model.named_modules()
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))
        and name
        and ".lora_" not in name
        and not name.endswith("base_layer")
    ]


# ------------------------------------------------------------------------------------------- training


def freeze_batchnorm(model: nn.Module) -> nn.Module:
    """Keep every BatchNorm in eval mode (running statistics used and never updated), even under model.train()."""

    def _stay_eval(self, mode: bool = True):
        return nn.Module.train(self, False)

    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.train = types.MethodType(_stay_eval, m)  # type: ignore[method-assign]  # per-instance override by design
            m.train(False)
            for p in m.parameters():
                p.requires_grad_(False)
    return model


def add_lora(
    model: nn.Module, rank: int = 16, alpha: float = 32, dropout: float = 0.1, target_modules: list[str] | None = None
) -> nn.Module:
    """Inject peft LoRA layers (in place) on `target_modules` (default: every Conv2d and ConvTranspose2d).

    Afterwards only the LoRA weights are trainable; base weights are frozen and BatchNorm stays in eval mode
    with frozen running statistics (also after model.train()). lora_B starts at zero, so the model's output is
    unchanged until training moves it. Returns the same model object.
    """
    from peft import LoraConfig, inject_adapter_in_model  # heavy (peft), as in lora_conv_transpose_class

    targets = list(target_modules) if target_modules else conv_module_names(model)
    if not targets:
        raise UserError("the model has no convolution layers to put LoRA adapters on; pick a convolutional generator.")
    config = LoraConfig(
        r=int(rank),
        lora_alpha=alpha,  # type: ignore[arg-type]  # peft annotates int, accepts any number (scaling = alpha / r)
        lora_dropout=float(dropout),
        target_modules=targets,
        bias="none",
        init_lora_weights=True,
    )
    _register_custom_layers(config)
    try:
        inject_adapter_in_model(config, model, adapter_name=ADAPTER_NAME)
    except ValueError as exc:
        raise UserError(
            f"LoRA could not be added ({str(exc).splitlines()[0][:120]}); check the target modules."
        ) from None
    for name, p in model.named_parameters():
        p.requires_grad_(".lora_A." in name or ".lora_B." in name)
    freeze_batchnorm(model)
    model._lora_config = config  # type: ignore[assignment]  # a plain attribute, not a submodule or tensor
    return model


def lora_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The adapter weights in peft's saved layout (`base_model.model.<module>.lora_A.weight`)."""
    out = {}
    for name, t in model.state_dict().items():
        m = re.match(rf"^(.*)\.(lora_[AB])\.{ADAPTER_NAME}\.weight$", name)
        if m:
            out[f"{PEFT_PREFIX}{m.group(1)}.{m.group(2)}.weight"] = t.detach().contiguous().cpu()
    return out


def save_adapter(model: nn.Module, folder: str | os.PathLike, **extra) -> Path:
    """Write the model's LoRA adapter as a peft folder: adapter_config.json + adapter_model.safetensors.

    `extra` (JSON values, e.g. base checkpoint name, arch) goes into the safetensors metadata. Each file is
    written atomically.
    """
    config = getattr(model, "_lora_config", None)
    if config is None:
        raise ValueError("save_adapter needs a model prepared with add_lora")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cfg = config.to_dict()
    cfg = {k: (sorted(v) if isinstance(v, set) else v) for k, v in cfg.items()}
    cfg["peft_type"] = "LORA"
    cfg.pop("_custom_modules", None)
    cfg["sar_studio_custom_layers"] = ["ConvTranspose2d"]
    tensors = lora_state_dict(model)
    arch = getattr(model, "arch_name", None)
    meta = {"format": "pt", "sar_studio": "lora/1", **({"arch": json.dumps(arch)} if arch else {})}
    meta.update({k: json.dumps(v) for k, v in extra.items()})
    with atomic_output(folder / WEIGHTS_FILE) as tmp:
        save_file(tensors, str(tmp), metadata=meta)
    with atomic_output(folder / CONFIG_FILE) as tmp:
        tmp.write_text(json.dumps(cfg, indent=2, default=str))
    return folder


# ------------------------------------------------------------------------------------------ inference


def _apply_peft(model: nn.Module, folder: Path, strength: float) -> tuple[nn.Module, str]:
    from peft import LoraConfig, inject_adapter_in_model  # heavy (peft), as in lora_conv_transpose_class
    from peft.tuners.tuners_utils import BaseTunerLayer

    name = folder.name
    try:
        raw_cfg = json.loads((folder / CONFIG_FILE).read_text())
    except (OSError, ValueError) as exc:
        raise UserError(
            f"{name}/{CONFIG_FILE} is corrupt (not readable JSON: {str(exc)[:60]}); save the adapter again."
        ) from None
    if not isinstance(raw_cfg, dict):
        raise UserError(
            f"{name}/{CONFIG_FILE} is corrupt (a JSON {type(raw_cfg).__name__}, not an object); save the adapter again."
        )
    if str(raw_cfg.get("peft_type", "LORA")).upper() != "LORA":
        raise UserError(f"{name} is a {raw_cfg.get('peft_type')} adapter; only LoRA adapters are supported.")
    weights = folder / WEIGHTS_FILE
    if not weights.exists():
        if (folder / "adapter_model.bin").exists():
            raise UserError(f"{name} holds adapter_model.bin (pickle); re-save it as adapter_model.safetensors.")
        raise UserError(f"{name} has no {WEIGHTS_FILE}; the adapter folder is incomplete.")
    try:
        state = load_file(str(weights))
    except Exception as exc:  # noqa: BLE001 - safetensors error types
        raise UserError(f"{name}/{WEIGHTS_FILE} is not readable ({str(exc)[:60]}); save the adapter again.") from None
    state = {(k[len(PEFT_PREFIX) :] if k.startswith(PEFT_PREFIX) else k): v for k, v in state.items()}
    check_finite(state, f"{name}/{WEIGHTS_FILE}", "adapter weights")
    known = {f.name for f in dataclasses.fields(LoraConfig)}
    kwargs = {
        k: v
        for k, v in raw_cfg.items()
        if k in known
        and k not in ("peft_type", "task_type", "auto_mapping", "base_model_name_or_path", "revision", "peft_version")
    }
    kwargs["inference_mode"] = True
    try:
        config = LoraConfig(**kwargs)
    except (TypeError, ValueError) as exc:
        raise UserError(
            f"{name}/{CONFIG_FILE} is not a LoRA configuration peft understands ({str(exc)[:80]})."
        ) from None
    alpha = config.lora_alpha
    if not isinstance(alpha, (int, float)) or not math.isfinite(alpha) or not isinstance(config.r, int) or config.r < 1:
        raise UserError(
            f"{name}/{CONFIG_FILE} gives lora_alpha {alpha!r} and r {config.r!r}; both must be finite and r a "
            f"positive integer; the adapter is damaged."
        )
    targets = config.target_modules
    if isinstance(targets, str) or targets is None:
        wanted = sorted({k.rsplit(".lora_", 1)[0] for k in state if ".lora_" in k})
    else:
        wanted = sorted(targets)
    modules = dict(model.named_modules())
    missing = [t for t in wanted if t not in modules and not any(n.endswith("." + t) for n in modules)]
    if missing:
        arch = getattr(model, "arch_name", type(model).__name__)
        raise UserError(
            f"{name} does not fit {arch}: the model has no module {', '.join(missing[:3])}"
            f"{' and others' if len(missing) > 3 else ''}; pick the adapter trained for this model."
        )
    model = copy.deepcopy(model)
    _register_custom_layers(config)
    try:
        inject_adapter_in_model(config, model, adapter_name=ADAPTER_NAME)
    except (ValueError, TypeError, RuntimeError) as exc:
        raise UserError(
            f"{name} does not fit the model ({str(exc).splitlines()[0][:120]}); "
            f"pick the adapter trained for this model."
        ) from None
    own = {}
    for k in model.state_dict():
        m = re.match(rf"^(.*)\.(lora_[AB])\.{ADAPTER_NAME}\.weight$", k)
        if m:
            own[f"{m.group(1)}.{m.group(2)}.weight"] = k
    file_missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    sd = model.state_dict()
    shape = [k for k in own if k in state and tuple(state[k].shape) != tuple(sd[own[k]].shape)]
    if file_missing or unexpected or shape:
        parts = []
        if file_missing:
            parts.append(f"{len(file_missing)} adapter weights missing (e.g. {file_missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} weights for modules the model lacks (e.g. {unexpected[0]})")
        if shape:
            k = shape[0]
            parts.append(
                f"{len(shape)} shape mismatches (e.g. {k}: adapter {tuple(state[k].shape)} vs model "
                f"{tuple(sd[own[k]].shape)})"
            )
        raise UserError(f"{name} does not fit the model: {'; '.join(parts)}; pick the adapter trained for this model.")
    with torch.no_grad():
        for short, full in own.items():
            sd[full].copy_(state[short])
    n_layers = 0
    for layer in model.modules():
        scaling = getattr(layer, "scaling", None)
        if isinstance(layer, BaseTunerLayer) and isinstance(scaling, dict) and ADAPTER_NAME in scaling:
            scaling[ADAPTER_NAME] = scaling[ADAPTER_NAME] * float(strength)
            n_layers += 1
    model.eval()
    return model, (
        f"Applied LoRA adapter {name}: rank {config.r}, alpha {config.lora_alpha:g}, on {n_layers} "
        f"layers, strength {strength:g}."
    )


def apply_adapter(model: nn.Module, path: str | os.PathLike, strength: float = 1.0) -> tuple[nn.Module, str]:
    """Apply a LoRA adapter to `model` for inference: (adapted model, one-sentence note of what was applied).

    `path`: a peft folder (adapter_config.json + adapter_model.safetensors), that folder's safetensors file, or a
    SAR2Optical adapter file (.pth / .pt / .safetensors, either layout). The model is not modified for peft
    adapters (a copy is adapted); SAR2Optical adapters wrap the encoder convs of `model` itself.
    Raises UserError when the adapter does not fit the model.
    """
    path = Path(path)
    if not math.isfinite(float(strength)):
        raise UserError("adapter strength must be a finite number; use a value such as 1.0.")
    if not path.exists():
        raise UserError(f"adapter {path}: not found; give a peft adapter folder or a SAR2Optical adapter file.")
    if path.is_file() and path.name == WEIGHTS_FILE and (path.parent / CONFIG_FILE).exists():
        path = path.parent
    if path.is_dir():
        if not (path / CONFIG_FILE).exists():
            raise UserError(f"{path.name} is a folder without {CONFIG_FILE}; give a peft adapter folder.")
        return _apply_peft(model, path, strength)
    raw = read_adapter_file(path)
    found = sar2optical_adapter_pairs(raw)
    if found is None:
        if isinstance(raw, dict) and any(".lora_A" in str(k) for k in raw):
            raise UserError(
                f"{path.name} looks like peft adapter weights without adapter_config.json; "
                f"give the whole adapter folder."
            )
        raise UserError(
            f"{path.name} is not a LoRA adapter SAR Studio knows (peft folder or SAR2Optical "
            f"lora_modules / encoder_enc*.lora_A layouts); check the file."
        )
    pairs, alpha = found
    model = copy.deepcopy(model)
    note = apply_sar2optical(model, pairs, alpha, strength, path.name)
    return model.eval(), note


def merge_adapter(model: nn.Module) -> nn.Module:
    """Fold peft LoRA deltas into the base weights and remove the LoRA layers (for export and faster inference).

    SAR2Optical hand-written adapters cannot be folded into a weight (their path runs before the stride) and stay
    as modules. Returns the same model object.
    """
    from peft.tuners.tuners_utils import BaseTunerLayer  # heavy (peft), as in lora_conv_transpose_class

    replaced = []
    for name, m in list(model.named_modules()):
        if isinstance(m, BaseTunerLayer):
            replaced.append((name, m))
    for name, m in replaced:
        with torch.no_grad():
            m.merge()
        base = m.get_base_layer()
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, base)
    for attr in ("peft_config", "_lora_config"):
        if hasattr(model, attr):
            try:
                delattr(model, attr)
            except AttributeError:
                pass
    return model
