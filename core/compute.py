"""Which compute is in use: torch device resolution with a visible note, and a summary for the home page."""

from __future__ import annotations

import os

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(requested: str = "auto") -> tuple[str, str | None]:
    """Return (device, note). `note` is a sentence to show the user when the request could not be honoured."""
    import torch

    requested = (requested or "auto").lower()
    if requested not in DEVICES:
        from core.errors import UserError

        raise UserError(f"unknown device {requested!r}; use one of {', '.join(DEVICES)}.")
    has_cuda = torch.cuda.is_available()
    if requested == "cuda" and not has_cuda:
        return "cpu", "CUDA was requested but no CUDA GPU is available to PyTorch here; running on CPU."
    if requested == "auto":
        return ("cuda" if has_cuda else "cpu"), None
    return requested, None


def onnx_providers(device: str) -> list[str]:
    """Execution providers to ask ONNX Runtime for, best first. Read `session.get_providers()[0]` for the truth."""
    return ["CUDAExecutionProvider", "CPUExecutionProvider"] if device == "cuda" else ["CPUExecutionProvider"]


def compute_summary() -> dict:
    """Facts for the home page: torch build, GPU, threads, ONNX Runtime package and providers."""
    import torch

    info = {
        "torch": torch.__version__,
        "cuda_available": torch.cuda.is_available(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "cpu_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
    }
    try:
        import onnxruntime as ort

        info["onnxruntime"] = ort.__version__
        info["onnx_providers"] = ort.get_available_providers()
    except ImportError:  # pragma: no cover - onnxruntime is in requirements
        info["onnxruntime"] = None
        info["onnx_providers"] = []
    return info
