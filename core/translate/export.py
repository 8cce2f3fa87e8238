"""`export-onnx`: a translation generator file (with an optional LoRA adapter merged) to one checked ONNX file.

The export itself is core.onnx.runtime.export_onnx (below every engine); this module knows generator files.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from core.errors import UserError
from core.onnx.runtime import export_onnx
from core.translate.generators import load_generator


def export_generator_file(
    model_path: str | os.PathLike,
    out_path: str | os.PathLike,
    adapter: str | None = None,
    strength: float = 1.0,
    size: int | None = None,
    progress: Callable[[float, str], None] | None = None,
) -> dict:
    """Load a generator file (any supported torch format), apply and merge an optional LoRA adapter, export."""
    gen = load_generator(model_path)
    if gen.model is None:
        raise UserError(f"{Path(model_path).name} is already an ONNX file; nothing to export.")
    model = gen.model
    notes = [f"Model: {gen.description}."]
    if adapter:
        from core.lora import apply_adapter, merge_adapter  # noqa: PLC0415 - heavy (torch, peft): core.lora, only with an adapter

        model, note = apply_adapter(model, adapter, strength)
        model = merge_adapter(model)
        notes.append(note)
    report = export_onnx(
        model, out_path, size=size or gen.native_tile, normalization=gen.normalization, progress=progress
    )
    report["notes"] = notes
    return report
