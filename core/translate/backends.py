"""`--backend auto`: pick PyTorch eager or ONNX Runtime, and the batch size, from a short measurement.

The measurement times a few forward passes of random tiles at the model's tile size, eager first and then ONNX
Runtime (ONNX Runtime's spinning threads slow an eager run that follows it in the same process, so the order
matters), at batch 1 and 4 (also 8 on CUDA), and keeps the lowest time per tile. The answer is cached in
`<cache>/backend.json` (core.onnx.cache_dir: SAR_STUDIO_CACHE or ~/.cache/sar-studio), keyed by the model file's
digest, the device, the tile size and the machine (host, CPU count, torch and onnxruntime versions), so only the
first run on a machine pays for it (a second or so for the demo U-Net).
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable
from importlib import metadata
from typing import Any

import numpy as np

from core.io import atomic_output
from core.onnx import cache_dir

CACHE_FILE = "backend.json"


def _version(pkg: str) -> str:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return "none"


def machine_key() -> str:
    return (
        f"{platform.node()}/{platform.machine()}/{os.cpu_count()}cpu/"
        f"torch{_version('torch')}/ort{_version('onnxruntime')}"
    )


def _load_cache() -> dict[str, Any]:
    path = cache_dir() / CACHE_FILE
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _save_cache(cache: dict[str, Any]) -> None:
    with atomic_output(cache_dir() / CACHE_FILE) as tmp:
        tmp.write_text(json.dumps(cache, indent=1, sort_keys=True))


def _per_tile(run: Callable[[np.ndarray], object], shape: tuple[int, ...], batch: int, budget_s: float = 0.4) -> float:
    """Seconds per tile of `run` on a random batch: one warm-up pass, then the best of up to 3 timed passes."""
    x = np.random.default_rng(0).uniform(0, 255, (batch, *shape)).astype(np.float32)
    run(x)
    best = float("inf")
    spent = 0.0
    for _ in range(3):
        t0 = time.perf_counter()
        run(x)
        dt = time.perf_counter() - t0
        best, spent = min(best, dt), spent + dt
        if spent > budget_s:
            break
    return best / batch


def measure(make_translator: Callable[[str], Any], tile: int, channels: int, cuda: bool) -> dict[str, dict[str, float]]:
    """{backend: {batch: seconds per tile}} with `make_translator(backend)` building each in turn."""
    batches = (1, 4, 8) if cuda else (1, 4)
    out: dict[str, dict[str, float]] = {}
    for backend in ("torch", "onnx"):  # eager first: see the module note
        tr = make_translator(backend)
        try:
            out[backend] = {str(b): _per_tile(tr.run_batch, (tile, tile, channels), b) for b in batches}
        finally:
            tr.close()
    return out


def choose(
    digest: str, device: str, tile: int, channels: int, make_translator: Callable[[str], Any], cuda: bool
) -> tuple[str, int, str]:
    """(backend, batch size, one sentence saying why), measured once per model, device, tile and machine."""
    key = f"{digest}|{device}|{tile}|{machine_key()}"
    cache = _load_cache()
    entry = cache.get(key)
    cached = isinstance(entry, dict) and "timings" in entry
    if not cached:
        entry = {"timings": measure(make_translator, tile, channels, cuda), "measured": time.strftime("%Y-%m-%d")}
        cache[key] = entry
        _save_cache(cache)
    assert isinstance(entry, dict)
    timings: dict[str, dict[str, float]] = entry["timings"]
    backend, batch = min(
        ((b, int(n)) for b, per in timings.items() for n in per), key=lambda bn: timings[bn[0]][str(bn[1])]
    )
    label = {"torch": "PyTorch eager", "onnx": "ONNX Runtime"}
    best = {b: min(per.values()) for b, per in timings.items()}
    other = "onnx" if backend == "torch" else "torch"
    why = (
        f"--backend auto chose {label[backend]} at batch {batch}: {1000 * timings[backend][str(batch)]:.1f} ms per "
        f"{tile}² tile against {1000 * best[other]:.1f} ms for {label[other]} "
        f"({'cached measurement' if cached else 'measured now'} for this model on this machine, "
        f"in {cache_dir() / CACHE_FILE})."
    )
    return backend, batch, why
