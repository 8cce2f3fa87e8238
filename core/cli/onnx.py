"""`python -m core` commands of core.onnx (to be moved here from the engine module)."""

from core.onnx import add_cli

__all__ = ["add_cli"]
