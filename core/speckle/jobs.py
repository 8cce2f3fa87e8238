"""Whole-scene despeckling as a background job for the page: core.jobs runs core.speckle.stream.despeckle_scene
(the function `python -m core despeckle` runs too) in a thread, streaming the scene into COGs while the page polls
its progress; previews are decimated reads (overviews where the file has them), never the whole scene.

Pages keep one DespeckleJob per run in their session; nothing here imports streamlit.
"""

from __future__ import annotations

import os
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.errors import UserError
from core.io import Source
from core.io.confine import Confine
from core.io.kinds import to_intensity
from core.jobs import BackgroundJob, decimated_read, run_job, scene_size
from core.speckle.stream import despeckle_scene

PAGE_WHOLE_PIXELS = 4096 * 4096  # above this the page streams the scene instead of filtering it in memory


__all__ = [
    "PAGE_WHOLE_PIXELS",
    "DespeckleJob",
    "decimated_read",
    "decimated_results",
    "scene_size",
    "start_scene_job",
]


@dataclass
class DespeckleJob(BackgroundJob):
    """One whole-scene run of one or more filters (sharing the read). `phase` names what it is doing now, from the
    moment it starts; `eta_seconds` is the time left, from the rate of the blocks done so far."""

    outputs: dict[str, Path] = field(default_factory=dict)  # filter name -> output COG
    phase: str = "starting"
    kind: str = "intensity"  # what the scene's (and the outputs') values are
    band_names: list[str] = field(default_factory=list)
    blocks_started: float | None = None
    blocks_ended: float | None = None
    confine: Confine | None = None  # a browser-reached source: what GDAL may read (core.io.confine)

    @property
    def filter_name(self) -> str:  # the first filter (one-filter callers)
        return next(iter(self.outputs))

    @property
    def eta_seconds(self) -> float | None:
        """Seconds left for the blocks (None until one block is done). Overviews take a further time, told apart
        by `phase`, that no block rate predicts."""
        if self.blocks_started is None or not self.done or not self.total or self.done >= self.total:
            return None
        rate = (time.monotonic() - self.blocks_started) / self.done
        return rate * (self.total - self.done)

    def progress(self, done: int, total: int) -> None:
        if self.blocks_started is None:
            self.blocks_started = time.monotonic()
        self.done, self.total = done, total
        if done >= total:
            self.blocks_ended = time.monotonic()

    def set_phase(self, text: str) -> None:
        self.phase = text
        if text == "filtering blocks":
            self.blocks_started = time.monotonic()

    def opened(self, src: Source) -> None:
        self.kind, self.band_names = src.kind, list(src.band_names or [])

    def status_text(self, unit: str = "block") -> str:
        """One line for a progress bar: phase, blocks, elapsed and time left."""
        parts = [self.phase]
        if self.total and self.phase == "filtering blocks":
            parts.append(f"{unit} {self.done}/{self.total}")
        parts.append(f"{_clock(self.elapsed)} elapsed")
        if self.eta_seconds is not None:
            parts.append(f"about {_clock(self.eta_seconds)} left for the blocks")
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
) -> DespeckleJob:
    """Stream `source` through one filter (`name`, `params`, `output`) or several ({name: params}, {name: output})
    into COGs in a background thread (core.jobs.run_job); every window of the scene is read once for all of them.
    `confine`: the source came from the browser (core.io.confine checks it again when the job opens it and when the
    page reads it)."""
    filters = {name: dict(params or {})} if isinstance(name, str) else {k: dict(v) for k, v in name.items()}
    if isinstance(output, dict):
        outputs = {k: Path(output[k]) for k in filters}
    else:
        outputs = {next(iter(filters)): Path(output)}
    first = outputs[next(iter(filters))]
    job = DespeckleJob(Path(source), first, "the filter", outputs=outputs, confine=confine)

    def work(job: DespeckleJob) -> None:
        job.phase = "reading the scene: opening it"
        runs = [(n, filters[n], job.outputs[n]) for n in filters]
        notes = despeckle_scene(  # the function of `python -m core despeckle` too
            job.source,
            runs,
            calibration=calibration,
            pol=pol,
            swath=swath,
            confine=confine,
            cog=True,
            progress=lambda _: nullcontext(job.progress),
            phase=job.set_phase,
            opened=job.opened,
        )
        job.notes.extend(notes)
        job.phase = "done"

    return run_job(job, work)


def decimated_results(job: DespeckleJob, size: int = 1024) -> tuple[np.ndarray, dict[str, np.ndarray]]:
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
