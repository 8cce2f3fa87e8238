"""`python -m core` commands of core.superres (to be moved here from the engine module)."""

from core.superres import add_cli

__all__ = ["add_cli"]
