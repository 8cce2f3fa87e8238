"""SAR2Optical's hand-written LoRA adapters (not peft): read either file layout, check the fit, wrap the convs.

SAR2Optical's hand-written adapters (not peft) sit on the eight encoder
convs: out = conv(x) + bilinear_resize(B(A(x)) * alpha / r, conv output size), A and B 1x1 convs without
bias. Two file layouts are accepted: {'lora_modules': [{'lora_A': {'weight'}, 'lora_B': {'weight'}} x 8],
'config': {'rank', 'alpha'}} and flat keys `encoder_enc{i}.lora_A[.weight]` / `.lora_B[.weight]`. Such an
adapter is not a weight delta (its path runs at the input resolution), so `merge_adapter` leaves it in place
as a module (it still exports to ONNX).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import torch  # noqa: TID253 - torch module: LoRA layers, imported only with an adapter
import torch.nn.functional as F  # noqa: TID253 - torch module: LoRA layers, imported only with an adapter
from safetensors.torch import load_file  # noqa: TID253 - torch module: LoRA layers, imported only with an adapter
from torch import nn  # noqa: TID253 - torch module: LoRA layers, imported only with an adapter

from core.checkpoints import check_finite, torch_load_weights
from core.errors import UserError


class SAR2OpticalLoraConv(nn.Module):
    """SAR2Optical's hand-written encoder adapter around a Conv2d:
    out = conv(x) + strength * resize_bilinear(B(A(x)) * alpha / r, conv output size, align_corners=False)."""

    def __init__(
        self, base: nn.Conv2d, lora_a: torch.Tensor, lora_b: torch.Tensor, alpha: float, strength: float = 1.0
    ):
        super().__init__()
        self.base = base
        r = lora_a.shape[0]
        self.lora_A = nn.Conv2d(lora_a.shape[1], r, 1, bias=False)
        self.lora_B = nn.Conv2d(r, lora_b.shape[0], 1, bias=False)
        with torch.no_grad():
            self.lora_A.weight.copy_(lora_a)
            self.lora_B.weight.copy_(lora_b)
        self.scaling = float(alpha) / r * float(strength)

    def forward(self, x):
        out = self.base(x)
        delta = self.lora_B(self.lora_A(x)) * self.scaling
        return out + F.interpolate(delta, size=out.shape[-2:], mode="bilinear", align_corners=False)


def _flatten(obj, prefix: str = "") -> dict:
    out = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.update(_flatten(v, f"{prefix}{k}."))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            out.update(_flatten(v, f"{prefix}{i}."))
    else:
        out[prefix[:-1]] = obj
    return out


def read_adapter_file(path: Path) -> dict:
    """The raw content of an adapter file: safetensors tensors, or a weights-only torch.load."""
    if path.suffix == ".safetensors":
        try:
            return load_file(str(path))
        except Exception as exc:  # safetensors has its own error types
            raise UserError(
                f"{path.name} is not a readable safetensors adapter ({str(exc)[:80]}); check the file."
            ) from None
    return torch_load_weights(path)


def sar2optical_adapter_pairs(raw) -> tuple[list[tuple[int, torch.Tensor, torch.Tensor]], float | None] | None:
    """[(encoder index 1..8, A, B)] and alpha (None when the file does not say) for either SAR2Optical layout;
    None when `raw` is neither."""
    if not isinstance(raw, dict):
        return None
    flat = _flatten(raw)
    alpha = None
    cfg = raw.get("config") if isinstance(raw.get("config"), dict) else None
    if cfg is not None and "alpha" in cfg:
        try:
            alpha = float(cfg["alpha"])
        except (TypeError, ValueError):
            raise UserError(
                f"the adapter's config gives alpha {cfg['alpha']!r}, not a number; the file is damaged."
            ) from None
    pairs: dict[int, dict[str, torch.Tensor | None]] = {}
    if isinstance(raw.get("lora_modules"), (list, tuple)):
        for i, entry in enumerate(raw["lora_modules"]):
            e = _flatten(entry)
            pairs[i + 1] = {"A": e.get("lora_A.weight"), "B": e.get("lora_B.weight")}
    else:
        for k, v in flat.items():
            m = re.match(r"^(?:module\.)?encoder_enc(\d+)\.lora_([AB])(?:\.weight)?$", k)
            if m:
                pairs.setdefault(int(m.group(1)), {})[m.group(2)] = v
        if not pairs:
            return None
    out = []
    for idx in sorted(pairs):
        a, b = pairs[idx].get("A"), pairs[idx].get("B")
        if not isinstance(a, torch.Tensor) or not isinstance(b, torch.Tensor):
            raise UserError(
                f"SAR2Optical adapter entry {idx} lacks lora_A or lora_B weights; the adapter file is incomplete."
            )
        out.append((idx, a, b))
    return out, alpha


def apply_sar2optical(model: nn.Module, pairs, alpha: float | None, strength: float, name: str) -> str:
    """Wrap the encoder convs of `model` (in place) with the adapter pairs; a one-sentence note of what ran."""
    encoder = getattr(model, "encoder", None)
    arch = getattr(model, "arch_name", type(model).__name__)
    if encoder is None or not hasattr(encoder, "enc1"):
        raise UserError(
            f"{name} is a SAR2Optical encoder adapter but the model is {arch}, which has no "
            f"SAR2Optical encoder; use it with a SAR2Optical generator."
        )
    n_enc = sum(1 for n, _ in encoder.named_children() if n.startswith("enc"))
    if len(pairs) != n_enc:
        raise UserError(
            f"{name} has {len(pairs)} encoder adapters but the model has {n_enc} encoder blocks; "
            f"the adapter was made for another network."
        )
    for idx, a, b in pairs:
        block = getattr(encoder, f"enc{idx}", None)
        conv = block.conv_block[0] if block is not None else None
        if not isinstance(conv, nn.Conv2d):
            raise UserError(
                f"{name}: encoder block {idx} of the model is not a plain convolution; "
                f"the adapter does not fit this model."
            )
        if (
            a.ndim != 4
            or b.ndim != 4
            or a.shape[1] != conv.in_channels
            or b.shape[0] != conv.out_channels
            or b.shape[1] != a.shape[0]
            or a.shape[2:] != (1, 1)
            or b.shape[2:] != (1, 1)
        ):
            raise UserError(
                f"{name} does not fit the model: encoder {idx} adapter is A {tuple(a.shape)}, "
                f"B {tuple(b.shape)} but the conv takes {conv.in_channels} -> {conv.out_channels} channels; "
                f"pick the adapter made for this checkpoint."
            )
    if alpha is not None and not math.isfinite(alpha):
        raise UserError(f"{name} gives a non-finite alpha ({alpha}); the adapter is damaged; pick another file.")
    check_finite(
        {f"encoder_enc{i}.lora_{ab}": t for i, a, b in pairs for ab, t in (("A", a), ("B", b))}, name, "adapter weights"
    )
    rank = int(pairs[0][1].shape[0])
    alpha_used = alpha if alpha is not None else 32.0
    for idx, a, b in pairs:
        block = getattr(encoder, f"enc{idx}")
        base = block.conv_block[0]
        block.conv_block[0] = SAR2OpticalLoraConv(
            base, a.to(base.weight.dtype), b.to(base.weight.dtype), alpha_used, strength
        ).to(base.weight.device)
    src = "" if alpha is not None else " (alpha not stored in the file; 32 assumed, as SAR2Optical trains)"
    return (
        f"Applied SAR2Optical LoRA adapter {name}: rank {rank}, alpha {alpha_used:g}{src}, on {len(pairs)} "
        f"encoder convolutions, strength {strength:g}."
    )
