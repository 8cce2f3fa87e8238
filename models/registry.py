"""Name -> network class. A checkpoint's metadata names its architecture and config; `build` rebuilds it.

Every registered class takes only keyword arguments that are plain JSON values (ints, floats, strings, bools,
lists), so that its config can be stored in a safetensors header and rebuilt exactly.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, cast

from core.errors import UserError

if TYPE_CHECKING:
    from torch import nn

    class Network(nn.Module):
        """What `register` makes of a class and `build` returns: a module that knows its name and arguments.

        A description for the type checker only; registered classes subclass nn.Module, not this."""

        arch_name: ClassVar[str]
        config: dict[str, Any]


REGISTRY: dict[str, type[nn.Module]] = {}

NetworkClass = TypeVar("NetworkClass", bound="type[nn.Module]")


def register(name: str) -> Callable[[NetworkClass], NetworkClass]:
    """Class decorator: file the class under `name`, give it `.arch_name`, and give its instances `.config`."""

    def deco(cls: NetworkClass) -> NetworkClass:
        if name in REGISTRY and REGISTRY[name] is not cls:
            raise ValueError(f"architecture name {name!r} registered twice")
        REGISTRY[name] = cls
        network = cast("type[Network]", cls)  # from here on the class is one
        network.arch_name = name
        _record_config(network)
        return cls

    return deco


def build(name: str, config: dict[str, Any] | None = None) -> Network:
    """A new network of the registered architecture `name`, built from its keyword arguments."""
    import models  # noqa: F401  (fills the registry)

    if name not in REGISTRY:
        raise UserError(f"unknown architecture {name!r}; known: {', '.join(sorted(REGISTRY))}.")
    return cast("Network", REGISTRY[name](**(config or {})))


def _record_config(cls: type[Network]) -> None:
    """Wrap __init__ so every instance carries `.config`: its full keyword arguments, defaults included."""
    init = cls.__init__
    sig = inspect.signature(init)

    @functools.wraps(init)
    def __init__(self: nn.Module, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        if type(self) is cls:
            bound = sig.bind(self, *args, **kwargs)
            bound.apply_defaults()
            cfg = dict(bound.arguments)
            cfg.pop("self", None)
            cfg.update(cfg.pop("kwargs", {}) or {})
            self.config = cfg  # `type(self) is cls` above makes self a Network

    # replacing the constructor is the point: every instance of a registered class records its arguments
    cls.__init__ = __init__  # type: ignore[method-assign]
