"""What the tools offer out of the box: bundled models, bundled samples and the folders they live in.

One place for every page and command: the checkpoints folder is `$SAR_STUDIO_CHECKPOINTS` when set (else
checkpoints/ in the repository), run folders are core.train.runs' (`$SAR_STUDIO_RUNS`), samples are samples/.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

from core.cards import card_body, card_path
from core.checkpoints import FORMAT, read_metadata
from core.errors import UserError
from core.files import digest_bytes, list_images
from core.train.runs import list_runs, runs_root

ROOT = Path(__file__).resolve().parent.parent
MODEL_SUFFIXES = (".safetensors", ".pth", ".pt", ".onnx")
ADAPTER_CONFIG = "adapter_config.json"  # what makes a folder a peft adapter
PAIRS_SAR = "pairs/sar"  # synthetic SAR samples with an optical partner in samples/pairs/optical/
PAIRS_OPTICAL = "pairs/optical"
SUPERRES_DEMO = "rgtgan_demo.safetensors"

__all__ = [
    "ADAPTER_CONFIG",
    "MODEL_SUFFIXES",
    "PAIRS_OPTICAL",
    "PAIRS_SAR",
    "ROOT",
    "SUPERRES_DEMO",
    "adapters",
    "base_generators",
    "checkpoints_dir",
    "declared_archs",
    "is_translation_model",
    "model_card",
    "optical_partner",
    "runs_root",
    "sample_paths",
    "sample_description",
    "samples_dir",
    "superres_demo",
    "translation_models",
]


# ------------------------------------------------------------------------------------------ folders


def checkpoints_dir() -> Path:
    """The bundled-models folder: $SAR_STUDIO_CHECKPOINTS when set, else checkpoints/ in the repository."""
    env = os.environ.get("SAR_STUDIO_CHECKPOINTS")
    return Path(env).expanduser() if env else ROOT / "checkpoints"


def samples_dir() -> Path:
    return ROOT / "samples"


# ------------------------------------------------------------------------------------------- models


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []


@functools.cache
def declared_archs(task: str) -> tuple[str, ...]:
    """The architectures of `task` as the `@register("name", task=...)` lines in models/*.py declare them, read
    without importing the networks (importing `models` imports torch: seconds and hundreds of MB), so that listing
    the bundled models does not load torch. `models.registry.names(task)` is the truth once the networks are
    imported; tests/core/test_cli_startup.py keeps the two equal. Read once per process (~50 ms)."""
    import ast  # noqa: PLC0415

    found: list[str] = []
    for path in sorted((ROOT / "models").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            for deco in node.decorator_list if isinstance(node, ast.ClassDef) else ():
                if not (isinstance(deco, ast.Call) and getattr(deco.func, "id", None) == "register" and deco.args):
                    continue
                given = {k.arg: k.value for k in deco.keywords}.get("task")
                name = deco.args[0]
                if isinstance(name, ast.Constant) and isinstance(given, ast.Constant) and given.value == task:
                    found.append(str(name.value))
    return tuple(found)


def is_translation_model(path: str | os.PathLike) -> bool:
    """A model file the translation engine may load. Our .safetensors files name their architecture, so only
    translation generators among them count (not e.g. RGTGAN); foreign files are offered and checked on load."""
    p = Path(path)
    if p.suffix.lower() not in MODEL_SUFFIXES:
        return False
    if p.suffix.lower() != ".safetensors":
        return True
    try:
        meta = read_metadata(p)
    except UserError:
        return False
    return meta.get("format") != FORMAT or meta.get("arch") in declared_archs("translate")


def _is_our_generator(path: Path) -> bool:
    try:
        return read_metadata(path).get("arch") in declared_archs("translate")
    except UserError:
        return False


def translation_models() -> list[Path]:
    """Bundled translation generators (.safetensors, .pth, .pt, .onnx) in the checkpoints folder, by name."""
    return [p for p in _files(checkpoints_dir()) if is_translation_model(p)]


def adapters() -> list[Path]:
    """peft adapter folders (holding adapter_config.json) in the checkpoints folder, by name."""
    folder = checkpoints_dir()
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and (p / ADAPTER_CONFIG).is_file())


def base_generators() -> list[Path]:
    """Generators to fine-tune: our .safetensors translation generators in the checkpoints folder, then the
    generators of finished runs (newest run first)."""
    found = [p for p in _files(checkpoints_dir()) if p.suffix == ".safetensors" and _is_our_generator(p)]
    return found + [r.generator_path for r in list_runs() if r.generator_path.exists()]


def superres_demo() -> Path | None:
    """The bundled compact RGTGAN, if the checkpoints folder has it."""
    path = checkpoints_dir() / SUPERRES_DEMO
    return path if path.is_file() else None


def model_card(path: str | os.PathLike) -> str | None:
    """The model card's text for display (.md beside a model file or adapter folder, front matter left out)."""
    card = card_path(path)
    return card_body(card.read_text()) if card.is_file() else None


# ------------------------------------------------------------------------------------------ samples


def sample_paths(category: str) -> list[Path]:
    """Images in samples/<category>/ (e.g. "sar", "pairs/sar", "superres/lr"), sorted by name."""
    folder = samples_dir() / category
    return list_images(folder) if folder.is_dir() else []


def sample_description(blob: bytes) -> dict[str, str] | None:
    """What a bundled sample is, from the .json beside it (written by scripts/make_samples.py): `kind_label` (its
    values, e.g. uncalibrated DN² rather than sigma0), `lacks` (calibration, georeference) and `source`. Matched
    by content (sha256), so an upload of the same file is described too; None for any other image."""
    digest = digest_bytes(blob, 64)
    for sidecar in sorted(samples_dir().glob("*/*.json")):
        try:
            info = json.loads(sidecar.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(info, dict) and info.get("sha256") == digest:
            return {k: str(v) for k, v in info.items()}
    return None


def optical_partner(name: str) -> Path | None:
    """The bundled optical scene of a synthetic pair sample ("pairs/sar/x.png" -> samples/pairs/optical/x.png)."""
    folder, _, file_name = name.rpartition("/")
    if folder != PAIRS_SAR:
        return None
    partner = samples_dir() / PAIRS_OPTICAL / file_name
    return partner if partner.is_file() else None
