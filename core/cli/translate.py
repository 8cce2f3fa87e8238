"""`python -m core` commands of core.translate (to be moved here from the engine module)."""

from core.translate import add_cli

__all__ = ["add_cli"]
