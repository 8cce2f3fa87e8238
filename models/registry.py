"""Name -> network class. A checkpoint's metadata names its architecture and config; `build` rebuilds it.

Every registered class takes only keyword arguments that are plain JSON values (ints, floats, strings, bools,
lists), so that its config can be stored in a safetensors header and rebuilt exactly.

Each network is registered with its task (one of TASKS) and a label for messages, so that every list of networks
(the translation generators, the super-resolution networks, what a file holds) is derived from here: adding a
network is one file in models/ with `@register("name", task=..., label=...)`. `names(task)`, `label(name)` and
`describe(name)` import every network first (torch). Like BasicSR's ARCH_REGISTRY, but a plain dict. This module
imports nothing from core: an unknown name raises UnknownArchitecture (a ValueError) with a one-line message.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, cast

if TYPE_CHECKING:
    from torch import nn

    class Network(nn.Module):
        """What `register` makes of a class and `build` returns: a module that knows its name and arguments.

        A description for the type checker only; registered classes subclass nn.Module, not this."""

        arch_name: ClassVar[str]
        arch_task: ClassVar[str]
        arch_label: ClassVar[str]
        arch_article: ClassVar[str]
        config: dict[str, Any]


REGISTRY: dict[str, type[nn.Module]] = {}

# What a network is for. translate: SAR-to-optical generators (core.translate); superres: x4 reference-based
# super-resolution (core.superres); despeckle: despeckling networks (core.speckle); discriminator: GAN critics
# used in training (core.train); feature: fixed feature extractors for losses and metrics (VGG, Inception for FID).
TASKS = ("translate", "superres", "despeckle", "discriminator", "feature")


class UnknownArchitecture(ValueError):
    """A name that no network is registered under; the message is one line and lists the known names."""


NetworkClass = TypeVar("NetworkClass", bound="type[nn.Module]")


def register(
    name: str, *, task: str, label: str | None = None, article: str = "a"
) -> Callable[[NetworkClass], NetworkClass]:
    """Class decorator: file the class under `name` with its `task` (one of TASKS) and `label` (a noun phrase for
    messages, "SAR2Optical U-Net"; `article` is the one it takes, "a" or "an"); give it `.arch_name`,
    `.arch_task`, `.arch_label`, and give its instances `.config`."""
    if task not in TASKS:
        raise ValueError(f"network {name!r}: task {task!r} is not one of {', '.join(TASKS)}")

    def deco(cls: NetworkClass) -> NetworkClass:
        if name in REGISTRY and REGISTRY[name] is not cls:
            raise ValueError(f"architecture name {name!r} registered twice")
        REGISTRY[name] = cls
        network = cast("type[Network]", cls)  # from here on the class is one
        network.arch_name = name
        network.arch_task = task
        network.arch_label = label or name
        network.arch_article = article
        _record_config(network)
        return cls

    return deco


def _filled() -> dict[str, type[Network]]:
    """The registry with every network in models/ imported (registered)."""
    import models  # noqa: F401, PLC0415  heavy (torch); importing the package registers every network

    return cast("dict[str, type[Network]]", REGISTRY)


def names(task: str) -> tuple[str, ...]:
    """The registered architectures of `task`, in registration order."""
    if task not in TASKS:
        raise ValueError(f"task {task!r} is not one of {', '.join(TASKS)}")
    return tuple(n for n, cls in _filled().items() if cls.arch_task == task)


def task_of(name: str) -> str | None:
    """The task of the registered architecture `name`; None for a name nothing is registered under."""
    cls = _filled().get(name)
    return cls.arch_task if cls is not None else None


def label(name: str) -> str:
    """The label of `name` for messages ("SAR2Optical U-Net"); the name itself when nothing is registered."""
    cls = _filled().get(name)
    return cls.arch_label if cls is not None else name


def describe(name: str) -> str:
    """What a file holding `name` holds, with its article ("an RGTGAN super-resolution network")."""
    cls = _filled().get(name)
    return f"{cls.arch_article} {cls.arch_label}" if cls is not None else f"a {name} network"


def build(name: str, config: dict[str, Any] | None = None) -> Network:
    """A new network of the registered architecture `name`, built from its keyword arguments."""
    registry = _filled()
    if name not in registry:
        raise UnknownArchitecture(f"unknown architecture {name!r}; known: {', '.join(sorted(registry))}.")
    return registry[name](**(config or {}))


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
