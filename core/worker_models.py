"""Models per process: `cached_model(key, load)` keeps one loaded model per process (so per Dask worker), keyed by
the model file's sha256 (`model_digest`) and the options, and pins each local worker to one GPU when the machine has
several. Used by the commands that run a network on folders (core.batch runs their files)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.files import digest_file

_MODELS: dict[tuple, Any] = {}
_DIGESTS: dict[tuple, str] = {}


def model_digest(path: str | os.PathLike) -> str:
    """sha256 of a model file, computed once per process for a given (path, size, mtime)."""
    p = Path(path)
    st = p.stat()
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _DIGESTS:
        _DIGESTS[key] = digest_file(p)
    return _DIGESTS[key]


def cached_model(key: tuple, load: Callable[[], Any]) -> Any:
    """The model for `key` (include `model_digest(path)` and the options), loaded once in this process and kept.

    On a Dask worker of a machine with several GPUs, the worker uses GPU (worker number mod GPU count) first."""
    if key not in _MODELS:
        _pin_gpu()
        _MODELS[key] = load()
    return _MODELS[key]


def _pin_gpu() -> None:
    try:
        from distributed import get_worker  # only meaningful inside a worker, where distributed is loaded

        name = get_worker().name
    except (ImportError, ValueError):
        return
    if not isinstance(name, int):
        return
    import torch  # heavy: only model loading reaches here, and it imports torch anyway

    if torch.cuda.device_count() > 1:
        torch.cuda.set_device(name % torch.cuda.device_count())
