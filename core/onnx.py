"""ONNX: export a generator (opset 17, dynamic batch / height / width, one file, checked against PyTorch),
check ONNX files before use, and open ONNX Runtime sessions reporting the provider actually used.

Export metadata (model.metadata_props): "sar_studio_arch", "sar_studio_config", "sar_studio_normalization",
"sar_studio_size_multiple" (JSON strings), so the engine feeds an exported model exactly like its source.
`python -m core export-onnx --model M OUT.onnx [--lora A] [--size 256]`.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

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


def _dims(value_info) -> list:
    dims = []
    for d in value_info.type.tensor_type.shape.dim:
        if d.HasField("dim_value"):
            dims.append(int(d.dim_value))
        else:
            dims.append(d.dim_param or None)
    return dims


def inspect_onnx(path: str | os.PathLike) -> OnnxInfo:
    """Check an ONNX file (structure, one 4-D float image input, an output) and describe it. UserError otherwise."""
    import onnx

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


# ------------------------------------------------------------------------------------------------ sessions


def make_session(path: str | os.PathLike, device: str = "auto", threads: int | None = None):
    """(session, provider actually used, note or None). `device` as in core.compute.resolve_device, except that
    ONNX Runtime's own provider list decides: a CUDA request that ONNX Runtime cannot honour is stated."""
    import onnxruntime as ort

    from core.compute import DEVICES, onnx_providers

    device = (device or "auto").lower()
    if device not in DEVICES:
        raise UserError(f"unknown device {device!r}; use one of {', '.join(DEVICES)}.")
    want_cuda = device in ("cuda", "auto") and "CUDAExecutionProvider" in ort.get_available_providers()
    providers = onnx_providers("cuda" if (device == "cuda" or want_cuda) else "cpu")
    ort.set_default_logger_severity(4 if "CUDAExecutionProvider" in providers else 3)
    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = int(threads)
    try:
        with warnings.catch_warnings():  # "CUDAExecutionProvider is not in available provider names"
            warnings.simplefilter("ignore")
            session = ort.InferenceSession(str(path), sess_options=opts, providers=providers)
    except Exception as exc:  # onnxruntime raises its own exception types
        raise UserError(
            f"ONNX Runtime cannot run {Path(path).name} ({str(exc).splitlines()[0][:120]}); "
            f"export the model again with opset {OPSET}."
        ) from None
    finally:
        ort.set_default_logger_severity(2)
    used = session.get_providers()[0]
    note = None
    if device == "cuda" and used != "CUDAExecutionProvider":
        note = f"CUDA was requested but ONNX Runtime could not use it here (provider in use: {used}); running on CPU."
    return session, used, note


# -------------------------------------------------------------------------------------------------- export


def _export_graph(model, dummy, path: Path) -> None:
    import torch

    dyn = {"input": {0: "batch", 2: "height", 3: "width"}, "output": {0: "batch", 2: "height", 3: "width"}}
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        try:  # the TorchScript exporter writes opset 17 natively, one file, in seconds
            torch.onnx.export(
                model,
                (dummy,),
                str(path),
                input_names=["input"],
                output_names=["output"],
                opset_version=OPSET,
                dynamic_axes=dyn,
                dynamo=False,
                do_constant_folding=True,
            )
            return
        except (TypeError, RuntimeError, AttributeError, ValueError):
            pass
        torch.onnx.export(
            model,
            (dummy,),
            str(path),
            input_names=["input"],
            output_names=["output"],
            opset_version=OPSET,
            dynamic_axes=dyn,
            dynamo=True,
            external_data=False,
            verbose=False,
        )


def export_onnx(
    model,
    out_path: str | os.PathLike,
    size: int = 256,
    normalization: dict | None = None,
    check: bool = True,
    tolerance: float = 2e-3,
    progress=None,
) -> dict:
    """Export `model` (a torch generator, LoRA already merged) to one ONNX file, opset 17, dynamic batch / H / W.

    With `check`, ONNX Runtime runs the file on random inputs (batch 2 at size x size) and the result is compared
    with PyTorch's; the file only appears at `out_path` when the check passes. Returns a report dict
    (max_abs_diff, opset, size, bytes).
    """
    import onnx
    import torch

    from core.io import atomic_output

    out_path = Path(out_path)
    if out_path.suffix.lower() != ".onnx":
        raise UserError(f"{out_path.name}: the output file must end in .onnx.")
    multiple = int(getattr(model, "size_multiple", 1))
    if size % multiple:
        raise UserError(
            f"export size {size} is not a multiple of {multiple}, which this network needs; use {multiple * max(1, size // multiple)}."
        )
    model = model.float().cpu().eval()
    in_ch = int(getattr(model, "config", {}).get("in_channels", 3))
    gen = torch.Generator().manual_seed(0)
    dummy = torch.rand(1, in_ch, size, size, generator=gen) * 2 - 1
    report = {"opset": OPSET, "size": size}
    with atomic_output(out_path) as tmp:
        tmp = Path(tmp)
        if progress:
            progress(0.1, "exporting graph")
        _export_graph(model, dummy, tmp)
        onnx_model = onnx.load(str(tmp))
        meta = {
            "arch": getattr(model, "arch_name", None),
            "config": getattr(model, "config", None),
            "normalization": normalization or {},
            "size_multiple": multiple,
        }
        del onnx_model.metadata_props[:]
        for k, v in meta.items():
            p = onnx_model.metadata_props.add()
            p.key, p.value = META_PREFIX + k, json.dumps(v)
        onnx.save(onnx_model, str(tmp))
        report["opset"] = next((o.version for o in onnx_model.opset_import if o.domain in ("", "ai.onnx")), None)
        del onnx_model
        if check:
            if progress:
                progress(0.6, "checking against PyTorch")
            inspect_onnx(tmp)
            session, _, _ = make_session(tmp, "cpu")
            x = torch.rand(2, in_ch, size, size, generator=gen) * 2 - 1
            with torch.no_grad():
                ref = model(x).numpy()
            got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
            diff = float(np.abs(got - ref).max()) if got.shape == ref.shape else float("inf")
            report["max_abs_diff"] = diff
            if not diff <= tolerance:
                raise UserError(
                    f"the exported ONNX graph differs from PyTorch by {diff:.3g} (more than {tolerance}); "
                    f"the network uses an operation that does not export faithfully, so no file was written."
                )
        report["bytes"] = Path(tmp).stat().st_size
    if progress:
        progress(1.0, "done")
    return report


def export_generator_file(
    model_path: str | os.PathLike,
    out_path: str | os.PathLike,
    adapter: str | None = None,
    strength: float = 1.0,
    size: int | None = None,
    progress=None,
) -> dict:
    """Load a generator file (any supported torch format), apply and merge an optional LoRA adapter, export."""
    from core.checkpoints import load_generator

    gen = load_generator(model_path)
    if gen.model is None:
        raise UserError(f"{Path(model_path).name} is already an ONNX file; nothing to export.")
    model = gen.model
    notes = [f"Model: {gen.description}."]
    if adapter:
        from core.lora import apply_adapter, merge_adapter

        model, note = apply_adapter(model, adapter, strength)
        model = merge_adapter(model)
        notes.append(note)
    report = export_onnx(
        model, out_path, size=size or gen.native_tile, normalization=gen.normalization, progress=progress
    )
    report["notes"] = notes
    return report


def add_cli(subparsers) -> None:
    p = subparsers.add_parser(
        "export-onnx",
        help="export a translation generator to ONNX (opset 17, dynamic shapes)",
        description="Export a generator (.safetensors / .pth) to one ONNX file with dynamic "
        "batch, height and width, checked against PyTorch before it is written.",
    )
    p.add_argument("output", metavar="OUT.onnx", help="ONNX file to write")
    p.add_argument("--model", required=True, help="generator file: SAR Studio .safetensors or a foreign .pth")
    p.add_argument("--lora", default=None, help="LoRA adapter (peft folder or SAR2Optical file) merged before export")
    p.add_argument("--lora-strength", type=float, default=1.0, help="adapter strength (default 1.0)")
    p.add_argument("--size", type=int, default=None, help="trace and check size (default: the model's tile, 256)")
    p.set_defaults(func=_cli)


def _cli(args) -> int:
    import sys

    report = export_generator_file(args.model, args.output, args.lora, args.lora_strength, args.size)
    for n in report["notes"]:
        print(n, file=sys.stderr)
    print(
        f"wrote {args.output}: opset {report['opset']}, {report['bytes'] / 1e6:.1f} MB, "
        f"max |ONNX - PyTorch| = {report['max_abs_diff']:.2e} at {report['size']}x{report['size']}"
    )
    return 0
