"""Name -> network class. A checkpoint's metadata names its architecture and config; `build` rebuilds it.

Every registered class takes only keyword arguments that are plain JSON values (ints, floats, strings, bools,
lists), so that its config can be stored in a safetensors header and rebuilt exactly.
"""

from typing import Callable

REGISTRY: dict[str, type] = {}


def register(name: str) -> Callable[[type], type]:
    def deco(cls: type) -> type:
        if name in REGISTRY and REGISTRY[name] is not cls:
            raise ValueError(f"architecture name {name!r} registered twice")
        REGISTRY[name] = cls
        cls.arch_name = name
        _record_config(cls)
        return cls

    return deco


def build(name: str, config: dict | None = None):
    import models  # noqa: F401  (fills the registry)

    if name not in REGISTRY:
        from core.errors import UserError

        raise UserError(f"unknown architecture {name!r}; known: {', '.join(sorted(REGISTRY))}.")
    return REGISTRY[name](**(config or {}))


def _record_config(cls: type) -> None:
    """Wrap __init__ so every instance carries `.config`: its full keyword arguments, defaults included."""
    import functools
    import inspect

    init = cls.__init__
    sig = inspect.signature(init)

    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        init(self, *args, **kwargs)
        if type(self) is cls:
            bound = sig.bind(self, *args, **kwargs)
            bound.apply_defaults()
            cfg = dict(bound.arguments)
            cfg.pop("self", None)
            cfg.update(cfg.pop("kwargs", {}) or {})
            self.config = cfg

    cls.__init__ = __init__
