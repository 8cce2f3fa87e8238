"""Which server folders the browser may read: off unless the operator lists them in SAR_STUDIO_DATA_ROOTS.

`SAR_STUDIO_DATA_ROOTS=/data:/models` (os.pathsep-separated) turns on the pages' server-path fields; each path typed
there is resolved (symlinks and `..` included) and must lie under one of the roots. Every refusal is the same sentence
whether the path is outside the roots, missing, unreadable or of the wrong type, so the fields answer no question about
what exists on the server. Paths the app itself chose (bundled checkpoints, run folders) do not go through here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from core.errors import UserError
from core.files import list_images
from core.io.confine import Confine

ENV = "SAR_STUDIO_DATA_ROOTS"
Want = Literal["file", "dir", "any"]
_WHAT = {"file": "file", "dir": "folder", "any": "file or folder"}

__all__ = [
    "ENV",
    "allowed_roots",
    "confinement",
    "is_allowed",
    "list_allowed_images",
    "refusal",
    "resolve_allowed",
    "server_paths",
]


def allowed_roots() -> list[Path]:
    """The roots from SAR_STUDIO_DATA_ROOTS, resolved; [] (server paths off) when unset or empty."""
    text = os.environ.get(ENV, "")
    return [Path(part).expanduser().resolve() for part in text.split(os.pathsep) if part.strip()]


def server_paths() -> bool:
    """True when the operator allowed server-side paths in the pages."""
    return bool(allowed_roots())


def refusal(text: str, want: Want = "any") -> str:
    """The one sentence every refused path gets (it echoes what was typed, never what it resolves to)."""
    roots = ", ".join(str(r) for r in allowed_roots()) or "none: server paths are off"
    shown = text if len(text) <= 200 else text[:200] + "…"
    return f"{shown} is not a readable {_WHAT[want]} under the allowed data folders ({roots}); give a path under one of them."


def _inside(path: Path, roots: list[Path]) -> bool:
    return any(path == root or root in path.parents for root in roots)


def is_allowed(path: str | os.PathLike) -> bool:
    """True when `path`, resolved, lies under an allowed root."""
    roots = allowed_roots()
    try:
        return bool(roots) and _inside(Path(path).expanduser().resolve(), roots)
    except (OSError, RuntimeError, ValueError):  # a symlink loop, a NUL byte
        return False


def resolve_allowed(path: str | os.PathLike, want: Want = "any") -> Path:
    """The resolved path if it lies under an allowed root, exists as `want` and is readable; else UserError."""
    text = str(path).strip()
    roots = allowed_roots()
    if not roots or not text:
        raise UserError(refusal(text, want))
    try:
        resolved = Path(text).expanduser().resolve()
        ok = _inside(resolved, roots)
        if ok and want == "file":
            ok = resolved.is_file() and os.access(resolved, os.R_OK)
        elif ok and want == "dir":
            ok = resolved.is_dir() and os.access(resolved, os.R_OK | os.X_OK)
        elif ok:
            ok = resolved.exists() and os.access(resolved, os.R_OK)
    except (OSError, RuntimeError, ValueError):
        ok = False
    if not ok:
        raise UserError(refusal(text, want))
    return resolved


def confinement(text: str, want: Want = "any") -> Confine:
    """What GDAL may read for the path typed as `text` (core.io.confine): files under the roots, refused with the
    same sentence as resolve_allowed. Give it to open_source / the speckle scene job with the resolved path."""
    return Confine(tuple(allowed_roots()), refusal(text, want))


def list_allowed_images(folder: str | os.PathLike) -> list[Path]:
    """Image files directly inside an allowed folder, skipping links that lead outside the roots."""
    resolved = resolve_allowed(folder, "dir")
    return [p for p in list_images(resolved) if is_allowed(p) and os.access(p, os.R_OK)]
