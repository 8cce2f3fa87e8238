"""Whole-scene despeckling as a background job for the page (the runner is core.jobs, shared with translation):
a thread streams the scene into a COG while the page polls its progress; previews are decimated reads.

Pages keep one job per run in their session; nothing here imports streamlit.
"""

from __future__ import annotations

import os

from core import io as sio
from core.io.confine import Confine
from core.jobs import BackgroundJob, decimated_read, scene_size, start_job
from core.speckle.stream import stream_despeckle

PAGE_WHOLE_PIXELS = 4096 * 4096  # above this the page streams the scene instead of filtering it in memory
SceneJob = BackgroundJob  # the name this module's callers know

__all__ = ["PAGE_WHOLE_PIXELS", "SceneJob", "decimated_read", "scene_size", "start_scene_job"]


def start_scene_job(
    source: str | os.PathLike,
    output: str | os.PathLike,
    name: str,
    params: dict,
    calibration: str | None = None,
    pol: str = "all",
    swath: str | None = None,
    confine: Confine | None = None,
) -> BackgroundJob:
    """Stream `source` through filter `name` into the COG `output` in a background thread. `confine`: the source
    came from the browser (core.io.confine checks it again when the job opens it)."""

    def work(job: BackgroundJob) -> None:
        with sio.open_source(job.source, calibration=calibration, pol=pol, swath=swath, confine=confine) as src:
            job.notes.extend(src.notes)
            stream_despeckle(src, job.output, name, cog=True, progress=job.progress, **params)

    return start_job(source, output, name, work)
