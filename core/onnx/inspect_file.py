"""ONNX files: check one before use (structure, one 4-D float image input, an output) and describe it.

Our exports carry metadata (model.metadata_props, JSON strings under the `sar_studio_` prefix): "arch",
"config", "normalization", "size_multiple", so the engine feeds an exported model exactly like its source.
Kept apart from core.onnx (export and sessions) so that core.translate.generators can check .onnx model files without
depending on the export path, which itself loads generators.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import UserError

OPSET = 17
META_PREFIX = "sar_studio_"


@dataclass
class OnnxInfo:
    """What a checked ONNX file takes and gives."""

    path: Path
    input_name: str
    output_name: str
    input_shape: list  # dims: int or a symbolic name (str) / None
    channels: int
    fixed_batch: int | None  # None when dynamic
    fixed_hw: tuple[int, int] | None
    metadata: dict = field(default_factory=dict)
    opset: int | None = None

    @property
    def size_multiple(self) -> int:
        try:
            return int(self.metadata.get("size_multiple", 0)) or (self.fixed_hw[0] if self.fixed_hw else 256)
        except (TypeError, ValueError):
            return 256

    @property
    def shape_text(self) -> str:
        return "[" + ", ".join(str(d) if d not in (None, "") else "?" for d in self.input_shape) + "]"


def _dims(value_info) -> list[int | str | None]:
    dims: list[int | str | None] = []
    for d in value_info.type.tensor_type.shape.dim:
        if d.HasField("dim_value"):
            dims.append(int(d.dim_value))
        else:
            dims.append(d.dim_param or None)
    return dims


def inspect_onnx(path: str | os.PathLike) -> OnnxInfo:
    """Check an ONNX file (structure, one 4-D float image input, an output) and describe it. UserError otherwise."""
    import onnx  # heavy (about 1.5 s): only .onnx files need it

    path = Path(path)
    name = path.name
    if not path.exists():
        raise UserError(f"{name}: file not found; check the path.")
    try:
        onnx.checker.check_model(str(path))
        model = onnx.load(str(path), load_external_data=False)
    except onnx.checker.ValidationError as exc:
        raise UserError(
            f"{name} is not a valid ONNX model ({str(exc).splitlines()[0][:100]}); export it again."
        ) from None
    except Exception as exc:  # protobuf decode errors and friends
        raise UserError(
            f"{name} is not a readable ONNX file ({type(exc).__name__}: {str(exc).splitlines()[0][:80] if str(exc) else ''}); "
            f"check that the download is complete."
        ) from None
    inits = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in inits]
    if len(inputs) != 1:
        raise UserError(f"{name} has {len(inputs)} inputs; a translation generator takes one image tensor.")
    if not model.graph.output:
        raise UserError(f"{name} has no output; export the generator again.")
    inp, out = inputs[0], model.graph.output[0]
    shape = _dims(inp)
    if len(shape) != 4:
        raise UserError(f"{name} takes a {len(shape)}-D input {shape}; a generator takes [N, C, H, W].")
    elem = inp.type.tensor_type.elem_type
    if elem not in (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16):
        raise UserError(f"{name} takes {onnx.TensorProto.DataType.Name(elem)} input; a generator takes float images.")
    channels = shape[1] if isinstance(shape[1], int) else 3
    hw = (shape[2], shape[3]) if isinstance(shape[2], int) and isinstance(shape[3], int) else None
    meta = {}
    for p in model.metadata_props:
        if p.key.startswith(META_PREFIX):
            try:
                meta[p.key[len(META_PREFIX) :]] = json.loads(p.value)
            except ValueError:
                meta[p.key[len(META_PREFIX) :]] = p.value
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    return OnnxInfo(
        path, inp.name, out.name, shape, int(channels), shape[0] if isinstance(shape[0], int) else None, hw, meta, opset
    )
