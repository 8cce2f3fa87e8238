"""Whole-scene despeckling as a background job for the page: a thread streams the scene into a COG while the page
polls its progress; previews are decimated reads (overviews where the file has them), never the whole scene.

Pages keep one SceneJob per run in their session; nothing here imports streamlit.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core import io as sio
from core.errors import UserError
from core.io.confine import Confine
from core.io.kinds import to_intensity
from core.jobs import decimated_read, scene_size
from core.speckle.stream import stream_despeckle_many

PAGE_WHOLE_PIXELS = 4096 * 4096  # above this the page streams the scene instead of filtering it in memory


__all__ = ["PAGE_WHOLE_PIXELS", "SceneJob", "decimated_read", "decimated_results", "scene_size", "start_scene_job"]


@dataclass
class SceneJob:
    """One whole-scene run of one or more filters (sharing the read). `phase` names what it is doing now, from the
    moment it starts; `eta_s` is the time left, from the rate of the blocks done so far."""

    source: Path
    outputs: dict[str, Path]  # filter name -> output COG
    phase: str = "starting"
    done: int = 0
    total: int = 0
    error: str | None = None
    finished: bool = False
    notes: list[str] = field(default_factory=list)
    kind: str = "intensity"  # what the scene's (and the outputs') values are
    band_names: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    blocks_started: float | None = None
    blocks_ended: float | None = None
    ended: float | None = None
    thread: threading.Thread | None = field(default=None, repr=False)
    confine: Confine | None = None  # a browser-reached source: what GDAL may read (core.io.confine)

    @property
    def filter_name(self) -> str:  # the first filter (one-filter callers)
        return next(iter(self.outputs))

    @property
    def output(self) -> Path:
        return self.outputs[self.filter_name]

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 0.0

    @property
    def elapsed_s(self) -> float:
        return (self.ended or time.monotonic()) - self.started

    @property
    def eta_s(self) -> float | None:
        """Seconds left for the blocks (None until one block is done). Overviews take a further time, told apart
        by `phase`, that no block rate predicts."""
        if self.blocks_started is None or not self.done or not self.total or self.done >= self.total:
            return None
        rate = (time.monotonic() - self.blocks_started) / self.done
        return rate * (self.total - self.done)

    def status_text(self) -> str:
        """One line for a progress bar: phase, blocks, elapsed and time left."""
        parts = [self.phase]
        if self.total and self.phase == "filtering blocks":
            parts.append(f"block {self.done}/{self.total}")
        parts.append(f"{_clock(self.elapsed_s)} elapsed")
        if self.eta_s is not None:
            parts.append(f"about {_clock(self.eta_s)} left for the blocks")
        return " · ".join(parts)


def _clock(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m}:{s:02d}" if m < 60 else f"{m // 60}:{m % 60:02d}:{s:02d}"


def start_scene_job(
    source: str | os.PathLike,
    output: str | os.PathLike | dict[str, str | os.PathLike],
    name: str | dict[str, dict],
    params: dict | None = None,
    calibration: str | None = None,
    pol: str = "all",
    swath: str | None = None,
    confine: Confine | None = None,
) -> SceneJob:
    """Stream `source` through one filter (`name`, `params`, `output`) or several ({name: params}, {name: output})
    into COGs in a background thread; every window of the scene is read once for all of them. `confine`: the source
    came from the browser (core.io.confine checks it again when the job opens it and when the page reads it)."""
    filters = {name: dict(params or {})} if isinstance(name, str) else {k: dict(v) for k, v in name.items()}
    if isinstance(output, dict):
        outputs = {k: Path(output[k]) for k in filters}
    else:
        outputs = {next(iter(filters)): Path(output)}
    job = SceneJob(Path(source), outputs, confine=confine)

    def progress(done: int, total: int) -> None:
        if job.blocks_started is None:
            job.blocks_started = time.monotonic()
        job.done, job.total = done, total
        if done >= total:
            job.blocks_ended = time.monotonic()

    def phase(text: str) -> None:
        job.phase = text
        if text == "filtering blocks":
            job.blocks_started = time.monotonic()

    def work() -> None:
        try:
            job.phase = "reading the scene: opening it"
            with sio.open_source(job.source, calibration=calibration, pol=pol, swath=swath, confine=confine) as src:
                job.notes.extend(src.notes)
                job.kind, job.band_names = src.kind, list(src.band_names or [])
                runs = [(n, filters[n], job.outputs[n]) for n in filters]
                stream_despeckle_many(src, runs, cog=True, progress=progress, notes=job.notes, phase=phase)
            job.phase = "done"
        except UserError as exc:
            job.error = str(exc)
        except Exception as exc:  # a bug, but the page must say something instead of spinning forever
            job.error = f"the filter failed ({type(exc).__name__}: {exc}); please report it."
        finally:
            job.ended = time.monotonic()
            job.finished = True

    job.thread = threading.Thread(target=work, name=f"despeckle {job.source.name}", daemon=True)
    job.thread.start()
    return job


def decimated_results(job: SceneJob, size: int = 1024) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The finished job's input and outputs as linear intensity, decimated to at most `size` pixels a side (from
    overviews where the files have them): what the page compares and measures after a whole-scene run."""

    def inten(path: Path, confine: Confine | None = None) -> np.ndarray:
        x = decimated_read(path, size, confine=confine)
        if x is None:  # a product: its decimated values are not its calibrated ones (the page says so)
            raise UserError(f"{path.name} is a product: metrics on its decimated values are not computed here.")
        return x if job.kind == "intensity" else to_intensity(x, job.kind)

    src = inten(job.source, job.confine)
    outs = {name: inten(path) for name, path in job.outputs.items()}
    h = min(a.shape[0] for a in (src, *outs.values()))  # overview sizes can round apart by a pixel
    w = min(a.shape[1] for a in (src, *outs.values()))
    return src[:h, :w], {k: v[:h, :w] for k, v in outs.items()}
