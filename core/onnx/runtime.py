"""ONNX: export a network (opset 17, dynamic batch / height / width, one file, checked against PyTorch) and
open ONNX Runtime sessions reporting the provider actually used. Checking and describing ONNX files is
core.onnx.inspect_file; the export metadata is described there. Below the engines: nothing here knows a task
(exporting a translation generator *file* is core.translate.export).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import warnings
from pathlib import Path

import numpy as np

from core.compute import DEVICES, onnx_providers, ort_session_options
from core.errors import UserError
from core.io import atomic_output
from core.onnx.inspect_file import META_PREFIX, OPSET, inspect_onnx

# ------------------------------------------------------------------------------------------------ sessions


def make_session(path: str | os.PathLike, device: str = "auto", threads: int | None = None):
    """(session, provider actually used, note or None). `device` as in core.compute.resolve_device, except that
    ONNX Runtime's own provider list decides: a CUDA request that ONNX Runtime cannot honour is stated. Threads:
    `threads` intra-op, else the thread budget's (core.compute.ort_session_options)."""
    import onnxruntime as ort  # heavy: only sessions need it, not export or the CLI's --help

    device = (device or "auto").lower()
    if device not in DEVICES:
        raise UserError(f"unknown device {device!r}; use one of {', '.join(DEVICES)}.")
    want_cuda = device in ("cuda", "auto") and "CUDAExecutionProvider" in ort.get_available_providers()
    providers = onnx_providers("cuda" if (device == "cuda" or want_cuda) else "cpu")
    ort.set_default_logger_severity(4 if "CUDAExecutionProvider" in providers else 3)
    opts = ort_session_options(threads)  # intra / inter op threads from the thread budget unless `threads`
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
    import torch  # heavy: only export needs it

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
    import onnx  # heavy (about 1.5 s), as torch: only export needs them
    import torch

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
    report: dict = {"opset": OPSET, "size": size}
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


# --------------------------------------------------------------------------------------- cached exports


def cache_dir() -> Path:
    """SAR Studio's cache folder: SAR_STUDIO_CACHE, else ~/.cache/sar-studio (made on first use)."""
    root = os.environ.get("SAR_STUDIO_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "sar-studio")
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def cached_onnx_path(model_path: str | os.PathLike, digest: str) -> Path:
    """Where the exported ONNX file of a checkpoint lives: beside it, in `.onnx-cache/<stem>.<digest>.onnx` (a
    hidden folder, so model lists of that folder do not show it as another model), when that folder is writable,
    else in the cache folder. The checkpoint's digest in the name makes a changed checkpoint re-export."""
    model_path = Path(model_path)
    name = f"{model_path.stem}.{digest}.onnx"
    beside = model_path.parent / ".onnx-cache" / name
    if beside.is_file() or os.access(model_path.parent, os.W_OK):
        return beside
    return cache_dir() / "onnx" / name


def cached_export(
    model, model_path: str | os.PathLike, digest: str, size: int, normalization: dict | None, progress=None
):
    """(ONNX path, note): reuse the checked export of this checkpoint, or export it once (checked for parity
    with PyTorch by export_onnx; the file only appears when the check passes)."""
    path = cached_onnx_path(model_path, digest)
    if path.is_file() and path.stat().st_size > 0:  # written atomically, only after its parity check passed
        return path, f"ONNX export reused from {path} (checked against PyTorch when it was written)."
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        report = export_onnx(model, path, size=size, normalization=normalization, progress=progress)
    except PermissionError:
        path = cache_dir() / "onnx" / path.name
        path.parent.mkdir(parents=True, exist_ok=True)
        report = export_onnx(model, path, size=size, normalization=normalization, progress=progress)
    return path, (
        f"Exported to ONNX once, kept at {path} (max difference to PyTorch {report['max_abs_diff']:.1e}); "
        f"later runs reuse it."
    )
