"""Name -> network: what each network is (declared, read without torch) and its class (imported on first build).

Every registered class takes only keyword arguments that are plain JSON values (ints, floats, strings, bools,
lists), so that its config can be stored in a safetensors header and rebuilt exactly.

One source per network: the `@register("name", task=..., label=..., size_multiple=...)` line above its class in
models/<file>.py, with plain literal arguments. It is read twice, from the same text:
- without importing anything (`declarations()`: the decorator's arguments and the literal defaults of the class's
  `__init__`, parsed with `ast` from models/*.py, about 30 ms of CPU once per process), so that listing networks,
  labelling them and describing a checkpoint from its metadata (`names`, `task_of`, `label`, `describe`,
  `full_config`, `size_multiple`) never loads torch (seconds and hundreds of MB on a page's first render);
- when Python runs it (`register`), which files the class in REGISTRY and checks that it says what the text says.
`build(name)` and `network_class(name)` import the network's own module (torch) on first use, not every network.

Task: one of TASKS. Label: a noun phrase for messages ("SAR2Optical U-Net"); article: "a" or "an".
size_multiple: what the input's height and width must be multiples of, as an integer or an expression over the
config's arguments ("2 ** n_down"), evaluated on a checkpoint's config without building the network; the class
gets it as a `size_multiple` property. Adding a network is one file in models/ with its `@register` line.

Like BasicSR's ARCH_REGISTRY, but a plain dict. This module imports nothing from core and nothing heavy: an
unknown name raises UnknownArchitecture (a ValueError) with a one-line message.
"""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
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


REGISTRY: dict[str, type[nn.Module]] = {}  # the classes imported so far (build imports the rest on demand)
MODELS = Path(__file__).resolve().parent
NOT_NETWORKS = ("__init__", "registry")  # modules of models/ that declare no network

# What a network is for. translate: SAR-to-optical generators (core.translate); superres: x4 reference-based
# super-resolution (core.superres); despeckle: despeckling networks (core.speckle); discriminator: GAN critics
# used in training (core.train); feature: fixed feature extractors for losses and metrics (VGG, Inception for FID).
TASKS = ("translate", "superres", "despeckle", "discriminator", "feature")


class UnknownArchitecture(ValueError):
    """A name that no network is registered under; the message is one line and lists the known names."""


@dataclass(frozen=True)
class Declaration:
    """What one `@register` line declares, plus the literal defaults of the class's keyword arguments."""

    name: str
    task: str
    label: str
    article: str = "a"
    size_multiple: int | str = 1
    module: str = ""  # "models.sar2optical_unet"; empty for a network registered outside models/ (tests)
    defaults: dict[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------------------- declarations (no torch)

_DECLARED_KEYS = ("task", "label", "article", "size_multiple")


@functools.cache
def _declared_in_files() -> dict[str, Declaration]:
    """Every `@register` line of models/*.py, by name, in file order then line order (the order importing the
    package registered them in). Arguments must be plain literals: anything else is an error naming the file."""
    found: dict[str, Declaration] = {}
    for path in sorted(MODELS.rglob("*.py")):  # a network split into a package of models/ counts too
        parts = path.relative_to(MODELS).with_suffix("").parts
        parts = parts[:-1] if parts[-1] == "__init__" else parts
        if not parts or (len(parts) == 1 and parts[0] in NOT_NETWORKS):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in tree.body:
            if not isinstance(node, ast.ClassDef):
                continue
            for deco in node.decorator_list:
                if isinstance(deco, ast.Call) and getattr(deco.func, "id", None) == "register":
                    decl = _read_decorator(deco, node, path, ".".join(("models", *parts)))
                    if decl.name in found:
                        raise ValueError(f"architecture name {decl.name!r} registered twice ({decl.module})")
                    found[decl.name] = decl
    return found


def _read_decorator(deco: ast.Call, cls: ast.ClassDef, path: Path, module: str) -> Declaration:
    where = f"models/{path.relative_to(MODELS).as_posix()}:{deco.lineno}"
    try:
        args = [ast.literal_eval(a) for a in deco.args]
        kwargs = {k.arg: ast.literal_eval(k.value) for k in deco.keywords if k.arg}
    except ValueError:
        raise ValueError(f"{where}: @register takes plain literal arguments (strings, numbers)") from None
    if len(args) != 1 or not isinstance(args[0], str) or set(kwargs) - set(_DECLARED_KEYS):
        raise ValueError(f'{where}: write @register("name", task=..., label=..., article=..., size_multiple=...)')
    return Declaration(
        name=args[0],
        task=kwargs.get("task", ""),
        label=kwargs.get("label") or args[0],
        article=kwargs.get("article", "a"),
        size_multiple=kwargs.get("size_multiple", 1),
        module=module,
        defaults=_literal_defaults(cls),
    )


def _literal_defaults(cls: ast.ClassDef) -> dict[str, Any]:
    """The keyword arguments of the class's own __init__ that have literal defaults (tuples stay tuples)."""
    init = next((n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)
    if init is None:
        return {}
    a = init.args
    positional = [*a.posonlyargs, *a.args]
    pairs = list(zip(positional[len(positional) - len(a.defaults) :], a.defaults, strict=True))
    pairs += [(arg, d) for arg, d in zip(a.kwonlyargs, a.kw_defaults, strict=True) if d is not None]
    out: dict[str, Any] = {}
    for arg, node in pairs:
        try:
            out[arg.arg] = ast.literal_eval(node)
        except ValueError:
            continue  # not a plain value: the network's own default applies (build knows it)
    return out


_extra: dict[str, Declaration] = {}  # networks registered at run time outside models/ (a test's dummy network)


def declarations() -> dict[str, Declaration]:
    """Every network, by name: models/*.py's declarations, then networks registered elsewhere at run time."""
    return {**_declared_in_files(), **{n: d for n, d in _extra.items() if n not in _declared_in_files()}}


def declaration(name: str) -> Declaration:
    """The declaration of `name`; UnknownArchitecture (one line, the known names) when nothing declares it."""
    found = declarations()
    if name not in found:
        raise UnknownArchitecture(f"unknown architecture {name!r}; known: {', '.join(sorted(found))}.")
    return found[name]


def names(task: str) -> tuple[str, ...]:
    """The architectures of `task`, in registration order."""
    if task not in TASKS:
        raise ValueError(f"task {task!r} is not one of {', '.join(TASKS)}")
    return tuple(n for n, d in declarations().items() if d.task == task)


def task_of(name: str) -> str | None:
    """The task of the architecture `name`; None for a name nothing is registered under."""
    decl = declarations().get(name)
    return decl.task if decl is not None else None


def label(name: str) -> str:
    """The label of `name` for messages ("SAR2Optical U-Net"); the name itself when nothing is registered."""
    decl = declarations().get(name)
    return decl.label if decl is not None else name


def describe(name: str) -> str:
    """What a file holding `name` holds, with its article ("an RGTGAN super-resolution network")."""
    decl = declarations().get(name)
    return f"{decl.article} {decl.label}" if decl is not None else f"a {name} network"


def full_config(name: str, config: dict[str, Any] | None = None) -> dict[str, Any]:
    """`config` with the declared defaults filled in: the `.config` a network built from it records (for
    arguments with literal defaults), without building it."""
    return {**declaration(name).defaults, **(config or {})}


def size_multiple(name: str, config: dict[str, Any] | None = None) -> int:
    """What the input's height and width must be multiples of for `name` built with `config` (defaults filled in)."""
    rule = declaration(name).size_multiple
    if isinstance(rule, int):
        return rule
    return int(_evaluate(rule, full_config(name, config), name))


_OPERATORS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Pow: operator.pow,
    ast.FloorDiv: operator.floordiv,
}


def _evaluate(expression: str, config: dict[str, Any], name: str) -> int:
    """An arithmetic expression over the config's integer arguments ("2 ** (n_a + n_b)"): + - * ** // only."""

    def ev(node: ast.AST) -> int:
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, ast.Name) and isinstance(config.get(node.id), int):
            return int(config[node.id])
        if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
            return int(_OPERATORS[type(node.op)](ev(node.left), ev(node.right)))
        raise ValueError(f"network {name!r}: size_multiple {expression!r} is not integer arithmetic on its config")

    return ev(ast.parse(expression, mode="eval").body)


# ------------------------------------------------------------------------------------- classes (torch)

NetworkClass = TypeVar("NetworkClass", bound="type[nn.Module]")


def register(
    name: str, *, task: str, label: str | None = None, article: str = "a", size_multiple: int | str = 1
) -> Callable[[NetworkClass], NetworkClass]:
    """Class decorator: file the class under `name` with its `task` (one of TASKS), `label` (a noun phrase for
    messages; `article` is the one it takes, "a" or "an") and `size_multiple` (module docstring); give it
    `.arch_name`, `.arch_task`, `.arch_label`, `.size_multiple`, and give its instances `.config`. In models/ the
    arguments must be the ones the file's text declares (they are: it is the same line)."""
    if task not in TASKS:
        raise ValueError(f"network {name!r}: task {task!r} is not one of {', '.join(TASKS)}")
    said = Declaration(name, task, label or name, article, size_multiple)

    def deco(cls: NetworkClass) -> NetworkClass:
        if name in REGISTRY and REGISTRY[name] is not cls:
            raise ValueError(f"architecture name {name!r} registered twice")
        declared = _declared_in_files().get(name)
        if declared is not None and declared.module == cls.__module__:
            text = (declared.task, declared.label, declared.article, declared.size_multiple)
            if text != (said.task, said.label, said.article, said.size_multiple):
                raise ValueError(f"network {name!r}: @register's arguments differ from what {declared.module} reads")
        elif declared is None:
            _extra[name] = said
        REGISTRY[name] = cls
        network = cast("type[Network]", cls)  # from here on the class is one
        network.arch_name = name
        network.arch_task = task
        network.arch_label = said.label
        network.arch_article = article
        # the declared rule is the one answer, for a built network as for a checkpoint's metadata
        cls.size_multiple = property(  # type: ignore[attr-defined]  # set on the class, read on instances
            lambda self: (
                _evaluate(size_multiple, self.config, name) if isinstance(size_multiple, str) else size_multiple
            )
        )
        _record_config(network)
        return cls

    return deco


def network_class(name: str) -> type[Network]:
    """The class registered as `name`, importing its module (torch) when that has not happened yet."""
    decl = declaration(name)
    if name not in REGISTRY and decl.module:
        importlib.import_module(decl.module)  # its @register line files the class
    if name not in REGISTRY:
        raise UnknownArchitecture(f"unknown architecture {name!r}; known: {', '.join(sorted(declarations()))}.")
    return cast("type[Network]", REGISTRY[name])


def build(name: str, config: dict[str, Any] | None = None) -> Network:
    """A new network of the registered architecture `name`, built from its keyword arguments."""
    return network_class(name)(**(config or {}))


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
