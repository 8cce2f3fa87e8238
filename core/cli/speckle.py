"""`python -m core` commands of core.speckle (to be moved here from the engine module)."""

from core.speckle import add_cli

__all__ = ["add_cli"]
