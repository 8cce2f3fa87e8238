"""`--backend auto`: pick PyTorch eager or ONNX Runtime, and the batch size, from a measurement that survives load.

The measurement builds both backends once, warms each up, then runs ROUNDS interleaved rounds (eager, ONNX, eager,
ONNX, ...; every batch size in each round, 1 and 4, also 8 on CUDA) on random tiles at the model's tile size, and
keeps the best time per tile of each backend and batch: a burst of load from another process slows some rounds,
not the best of them. A short pause after each pass lets ONNX Runtime's spinning threads park, so they do not slow
the eager pass that follows. The noise is the spread of the rounds (median over best, at least NOISE_FLOOR); on the
CPU, ONNX Runtime is kept when it is within the noise of eager (the one measured faster in bench/RESULTS.md), so the
choice is never worse than the other backend by more than the noise.

The answer is cached in `<cache>/backend.json` (core.onnx.cache_dir: SAR_STUDIO_CACHE or ~/.cache/sar-studio),
keyed by the model file's digest, the device, the tile size, the batch sizes tried and the machine (host, CPUs this
process may use and its thread budget, torch and onnxruntime versions): any of them changes, it is measured again.
The choice and its figures are in the sentence `choose` returns (the translation's notes: the page and the CLI show
them) and in `last_detail()`.
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable
from importlib import metadata
from typing import Any

import numpy as np

from core.compute import thread_plan, usable_cpus
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
        f"{platform.node()}/{platform.machine()}/{usable_cpus()}cpu/{thread_plan().torch}thr/"
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


ROUNDS = 5  # interleaved rounds; fewer when the time budget runs out (at least MIN_ROUNDS)
MIN_ROUNDS = 3
BUDGET_S = 6.0  # time the measurement may take after the warm-up, all rounds together
NOISE_FLOOR = 0.05  # relative: differences below 5 % are never called a win
PAUSE_S = 0.02  # after each pass: ONNX Runtime's threads stop spinning
CACHE_VERSION = "v2"  # interleaved best-of rounds; entries of the single-pass measurement are measured again

_LAST: dict[str, Any] = {}


def measure(make_translator: Callable[[str], Any], tile: int, channels: int, cuda: bool) -> dict[str, Any]:
    """{"timings": {backend: {batch: best s/tile}}, "rounds": {backend: {batch: [s/tile per round]}}, ...} with
    `make_translator(backend)` building each backend once."""
    batches = (1, 4, 8) if cuda else (1, 4)
    rng = np.random.default_rng(0)
    inputs = {b: rng.uniform(0, 255, (b, tile, tile, channels)).astype(np.float32) for b in batches}
    runners = {}
    try:
        for backend in ("torch", "onnx"):
            runners[backend] = make_translator(backend)
        for tr in runners.values():  # warm-up: first passes allocate and pick kernels
            for b in batches:
                tr.run_batch(inputs[b])
                time.sleep(PAUSE_S)
        rounds: dict[str, dict[str, list[float]]] = {k: {str(b): [] for b in batches} for k in runners}
        t_start = time.perf_counter()
        for r in range(ROUNDS):
            for backend, tr in runners.items():  # eager, onnx, eager, onnx, ...
                for b in batches:
                    t0 = time.perf_counter()
                    tr.run_batch(inputs[b])
                    rounds[backend][str(b)].append((time.perf_counter() - t0) / b)
                    time.sleep(PAUSE_S)
            if r + 1 >= MIN_ROUNDS and time.perf_counter() - t_start > BUDGET_S:
                break
    finally:
        for tr in runners.values():
            tr.close()
    timings = {k: {n: min(v) for n, v in per.items()} for k, per in rounds.items()}
    return {"timings": timings, "rounds": rounds, "n_rounds": len(rounds["torch"][str(batches[0])])}


def noise_of(rounds: dict[str, dict[str, list[float]]]) -> float:
    """Relative spread of the rounds: the largest (median - best) / best over backends and batches, at least
    NOISE_FLOOR."""
    spread = [NOISE_FLOOR]
    for per in rounds.values():
        for times in per.values():
            if times:
                best = min(times)
                spread.append((float(np.median(times)) - best) / best if best > 0 else 0.0)
    return max(spread)


def decide(timings: dict[str, dict[str, float]], noise: float, cuda: bool) -> tuple[str, int]:
    """(backend, batch): the fastest per tile; on the CPU ONNX Runtime when it is within `noise` of the fastest."""
    best = {k: min(per, key=lambda n: per[n]) for k, per in timings.items()}
    fastest = min(best, key=lambda k: timings[k][best[k]])
    if not cuda and fastest != "onnx" and "onnx" in timings:
        if timings["onnx"][best["onnx"]] <= timings[fastest][best[fastest]] * (1 + noise):
            fastest = "onnx"
    return fastest, int(best[fastest])


def choose(
    digest: str, device: str, tile: int, channels: int, make_translator: Callable[[str], Any], cuda: bool
) -> tuple[str, int, str]:
    """(backend, batch size, one sentence with the figures), measured once per model, device, tile, batch sizes
    and machine."""
    batches = "1,4,8" if cuda else "1,4"
    key = f"{CACHE_VERSION}|{digest}|{device}|{tile}|{channels}ch|b{batches}|{machine_key()}"
    cache = _load_cache()
    entry = cache.get(key)
    cached = isinstance(entry, dict) and "timings" in entry and "rounds" in entry
    if not cached:
        entry = {**measure(make_translator, tile, channels, cuda), "measured": time.strftime("%Y-%m-%d %H:%M")}
        cache[key] = entry
        _save_cache(cache)
    assert isinstance(entry, dict)
    timings: dict[str, dict[str, float]] = entry["timings"]
    noise = noise_of(entry["rounds"])
    backend, batch = decide(timings, noise, cuda)
    label = {"torch": "PyTorch eager", "onnx": "ONNX Runtime"}
    figures = "; ".join(
        f"{label[k]} " + ", ".join(f"batch {n} {1000 * v:.1f}" for n, v in per.items()) for k, per in timings.items()
    )
    why = (
        f"--backend auto chose {label[backend]} at batch {batch}: best of {entry.get('n_rounds', '?')} interleaved "
        f"rounds, ms per {tile}² tile: {figures} (noise {100 * noise:.0f} %; "
        f"{'cached measurement' if cached else 'measured now'} for this model on this machine, "
        f"in {cache_dir() / CACHE_FILE})."
    )
    _LAST.clear()
    _LAST.update(backend=backend, batch=batch, timings=timings, noise=noise, cached=cached, why=why)
    return backend, batch, why


def last_detail() -> dict[str, Any]:
    """The last choice of this process: backend, batch, timings (s per tile), noise, cached, why (for a page)."""
    return dict(_LAST)
