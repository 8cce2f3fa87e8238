"""Network definitions, one per file, registered by name in `models.registry`.

Importing this package imports every network module so the registry is complete.
"""

import importlib
import pkgutil

from models.registry import REGISTRY, build, register  # noqa: F401

for _m in pkgutil.iter_modules(__path__):
    if _m.name != "registry":
        importlib.import_module(f"models.{_m.name}")
