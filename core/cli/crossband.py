"""`python -m core` commands of core.crossband (to be moved here from the engine module)."""

from core.crossband import add_cli

__all__ = ["add_cli"]
