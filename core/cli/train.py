"""`python -m core train` (to be moved here from core/train/cli.py)."""

from core.train.cli import add_cli

__all__ = ["add_cli"]
