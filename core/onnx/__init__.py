"""ONNX, one module per part:

- runtime: export a generator (checked against PyTorch, cached beside its checkpoint) and ONNX Runtime sessions;
- inspect_file: check an ONNX file before use and read our export metadata (light: no export, no session).

`from core.onnx import export_onnx` keeps working: the names below are looked up in runtime on first use (PEP 562),
so that core.translate.generators can check .onnx files through inspect_file while runtime loads generators,
without a circle at import time.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.onnx.runtime import cache_dir, cached_export, export_generator_file, export_onnx, make_session

__all__ = ["cache_dir", "cached_export", "export_generator_file", "export_onnx", "make_session"]


def __getattr__(name: str) -> Any:
    """Runtime's public names, imported from their module on first use (see the module docstring)."""
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module("core.onnx.runtime"), name)
