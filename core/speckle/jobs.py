"""Whole-scene despeckling as a background job for the page: a thread streams the scene into a COG while the page
polls its progress; previews are decimated reads (overviews where the file has them), never the whole scene.

Pages keep one SceneJob per run in their session; nothing here imports streamlit.
"""

from __future__ import annotations

import os
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core import io as sio
from core.errors import UserError
from core.io.confine import GDAL_ENV, Confine, check_path
from core.speckle.stream import stream_despeckle

PAGE_WHOLE_PIXELS = 4096 * 4096  # above this the page streams the scene instead of filtering it in memory


@dataclass
class SceneJob:
    source: Path
    output: Path
    filter_name: str
    done: int = 0
    total: int = 0
    error: str | None = None
    finished: bool = False
    notes: list[str] = field(default_factory=list)
    thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 0.0


def start_scene_job(
    source: str | os.PathLike,
    output: str | os.PathLike,
    name: str,
    params: dict,
    calibration: str | None = None,
    pol: str = "all",
    swath: str | None = None,
    confine: Confine | None = None,
) -> SceneJob:
    """Stream `source` through filter `name` into the COG `output` in a background thread. `confine`: the source
    came from the browser (core.io.confine checks it again when the job opens it)."""
    job = SceneJob(Path(source), Path(output), name)

    def progress(done: int, total: int) -> None:
        job.done, job.total = done, total

    def work() -> None:
        try:
            with sio.open_source(job.source, calibration=calibration, pol=pol, swath=swath, confine=confine) as src:
                job.notes.extend(src.notes)
                stream_despeckle(src, job.output, name, cog=True, progress=progress, **params)
        except UserError as exc:
            job.error = str(exc)
        except Exception as exc:  # a bug, but the page must say something instead of spinning forever
            job.error = f"the filter failed ({type(exc).__name__}: {exc}); please report it."
        finally:
            job.finished = True

    job.thread = threading.Thread(target=work, name=f"despeckle {job.source.name}", daemon=True)
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
    (h, w) or (h, w, C) float32 values as stored. With `confine` (a browser-reached path) the file is checked and
    opened as core.io.confine says; a product then has no preview here (None)."""
    import rasterio  # only previews need it
    from rasterio.enums import Resampling

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
            x = ds.read(out_shape=shape, resampling=Resampling.nearest, masked=False).astype(np.float32)
            if ds.nodata is not None and np.isfinite(ds.nodata):
                x[x == ds.nodata] = np.nan
    return x[0] if x.shape[0] == 1 else np.moveaxis(x, 0, -1)
