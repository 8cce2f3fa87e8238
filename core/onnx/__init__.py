"""ONNX, one module per part:

- runtime: export a network (checked against PyTorch, cached beside its checkpoint) and ONNX Runtime sessions;
- inspect_file: check an ONNX file before use and read our export metadata (light: no export, no session).

core.onnx sits below the engines: it never imports core.translate (exporting a generator *file* is
core.translate.export). `from core.onnx import export_onnx` keeps working: the names below are looked up in
runtime on first use (PEP 562), so that checking an .onnx file (inspect_file) does not import the export code.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.onnx.runtime import cache_dir, cached_export, export_onnx, make_session

__all__ = ["cache_dir", "cached_export", "export_onnx", "make_session"]


def __getattr__(name: str) -> Any:
    """Runtime's public names, imported from their module on first use (see the module docstring)."""
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module("core.onnx.runtime"), name)
