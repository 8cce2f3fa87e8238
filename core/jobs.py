"""Background jobs for the pages: one runner for every page that streams a whole scene into a file.

A job runs `work(job)` in a daemon thread; `work` reports progress through `job.progress(done, total)` and adds
sentences to `job.notes`. The page keeps the job in its session and polls `fraction`, `eta_seconds`, `error` and
`finished` (a fragment re-run every second); nothing here imports streamlit. A UserError ends the job with its
sentence; anything else ends it with one sentence naming the failure, never a thread dying silently.

Previews of large rasters are decimated reads (overviews where the file has them), never the whole scene.
"""

from __future__ import annotations

import os
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np

from core import io as sio
from core.errors import UserError
from core.io.confine import GDAL_ENV, Confine, check_path
from core.io.gdal_config import configure_gdal


@dataclass
class BackgroundJob:
    """One background run: what it reads and writes, its progress, its end (error, notes, result)."""

    source: Path
    output: Path
    label: str  # what runs (a filter, a model), for the progress text
    done: int = 0
    total: int = 0
    error: str | None = None
    finished: bool = False
    notes: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None
    result: object = None  # what `work` returned
    thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total else 0.0

    @property
    def elapsed(self) -> float:
        return (self.ended or time.monotonic()) - self.started

    @property
    def eta_seconds(self) -> float | None:
        """Seconds left at the pace so far (None before the first unit is done)."""
        if not self.done or not self.total:
            return None
        return self.elapsed / self.done * max(0, self.total - self.done)

    def progress(self, done: int, total: int) -> None:
        self.done, self.total = done, total

    def status_text(self, unit: str) -> str:
        """'lee: block 12/40, about 1 min left' for a progress bar."""
        eta = self.eta_seconds
        left = "" if eta is None or self.finished else f", about {_duration(eta)} left"
        return f"{self.label}: {unit} {self.done}/{self.total or '?'}{left}"


J = TypeVar("J", bound=BackgroundJob)


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def start_job(
    source: str | os.PathLike, output: str | os.PathLike, label: str, work: Callable[[BackgroundJob], object]
) -> BackgroundJob:
    """Run `work(job)` in a background thread and return the job at once."""
    return run_job(BackgroundJob(Path(source), Path(output), label), work)


def run_job(job: J, work: Callable[[J], object]) -> J:
    """Run `work(job)` in a background thread and return `job` at once: the runner of every page job (a job type
    with more to tell, such as core.speckle.jobs.DespeckleJob, is a BackgroundJob made by its caller)."""

    def run() -> None:
        try:
            job.result = work(job)
        except UserError as exc:
            job.error = str(exc)
        except Exception as exc:  # a bug, but the page must say something instead of spinning forever
            job.error = f"{job.label} failed ({type(exc).__name__}: {exc}); please report it."
        finally:
            job.ended = time.monotonic()
            job.finished = True

    job.thread = threading.Thread(target=run, name=f"{job.label} {job.source.name}", daemon=True)
    job.thread.start()
    return job


def scene_size(
    path: str | os.PathLike, calibration: str | None = None, swath: str | None = None, confine: Confine | None = None
) -> tuple[int, int]:
    """(height, width) of a raster or product without reading its pixels."""
    with sio.open_source(path, calibration=calibration, swath=swath, confine=confine) as src:
        return src.height, src.width


def decimated_read(path: str | os.PathLike, size: int = 1024, confine: Confine | None = None) -> np.ndarray | None:
    """At most `size` pixels on the long side, nearest neighbour, from overviews where the file has them:
    (h, w) or (h, w, C) float32 values as stored (complex ones, an SLC's, as intensity |z|², as core.io reads
    them). With `confine` (a browser-reached path) the file is checked and opened as core.io.confine says; a
    product then has no preview here (None)."""
    import rasterio  # only previews need it
    from rasterio.enums import Resampling

    configure_gdal()
    driver = None
    if confine is not None:
        checked = check_path(path, confine)
        if checked.manifest is not None:
            return None
        path, driver = checked.path, checked.driver
    with warnings.catch_warnings(), rasterio.Env(**(GDAL_ENV if confine is not None else {})):
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        with rasterio.open(path, driver=driver) as ds:
            step = max(1, -(-max(ds.height, ds.width) // size))
            shape = (ds.count, max(1, ds.height // step), max(1, ds.width // step))
            x = ds.read(out_shape=shape, resampling=Resampling.nearest, masked=False)
            x = (np.abs(x) ** 2 if np.iscomplexobj(x) else x).astype(np.float32)  # complex: intensity, as sources read
            if ds.nodata is not None and np.isfinite(ds.nodata):
                x[x == ds.nodata] = np.nan
    return x[0] if x.shape[0] == 1 else np.moveaxis(x, 0, -1)
