"""A whole scene or Sentinel-1 product translated by a background job for the page (runner: core.jobs, the same
as the speckle page's): streamed into a Cloud-Optimized GeoTIFF, with a decimated preview before and a comparison
image of bounded size after (at most PREVIEW_SIZE pixels per side and panel, whatever the scene's size).

    job = start_translation_job("/data/S1A_....zip", "out_cog.tif", translator, options, calibration="sigma0")
    job.fraction, job.eta_seconds, job.finished, job.error       # polled by the page
    png = scene_comparison_png(job, choice, translator, options)   # once finished
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from core import cards
from core import io as sio
from core.io.confine import Confine
from core.jobs import BackgroundJob, decimated_read, start_job
from core.translate.engine import check_size
from core.translate.inputs import fit_channels, is_calibrated, plan_input, to_display
from core.translate.stream import SceneResult, _Reader, scene_sample, translate_scene
from core.translate.translator import TranslateOptions, Translator

PREVIEW_SIZE = 1024  # px on the long side of a preview and of each panel of the comparison image


@dataclass
class SceneChoice:
    """What the user chose for a scene or product: its values and, for products, calibration / polarisation /
    swath / thermal noise (core.io.open_source)."""

    calibration: str | None = None
    pol: str = "all"
    swath: str | None = None
    kind: str = "auto"
    noise: str | None = None  # products: thermal noise "remove" (default) or "keep" (core.products)
    confine: Confine | None = None  # a browser-reached path: what GDAL may read (core.io.confine); None on the CLI


def open_scene(path: str | os.PathLike, choice: SceneChoice) -> sio.Source:
    """The scene as the translation reads it; a product goes through core.products' reader (thermal noise removal,
    calibration, TOPS deburst), the first stage of the analysis-ready chain."""
    return sio.open_source(path, choice.calibration, choice.pol, choice.swath, choice.noise, confine=choice.confine)


def scene_preview(path: str | os.PathLike, choice: SceneChoice, size: int = PREVIEW_SIZE) -> np.ndarray:
    """A decimated uint8 preview (dB, 2-98 % stretch; 8-bit images as they are) of at most `size` px per side,
    read strip by strip (bounded memory). Band 1 for multi-band scenes."""
    with open_scene(path, choice) as src:
        step = max(1, -(-max(src.height, src.width) // size))
        kind = src.kind if choice.kind == "auto" else choice.kind
        reader = _Reader(src, kind, TranslateOptions())
        values = scene_sample(reader, step)
    band = values if values.ndim == 2 else values[..., 0]
    if kind == "display" and band.dtype == np.uint8:
        return band
    return sio.stretch(sio.to_db(sio.to_intensity(band, kind)))


def start_translation_job(
    path: str | os.PathLike,
    output: str | os.PathLike,
    translator: Translator,
    options: TranslateOptions,
    choice: SceneChoice,
) -> BackgroundJob:
    """Translate the scene at `path` into the COG `output` in a background thread (job.result: SceneResult)."""

    def work(job: BackgroundJob) -> SceneResult:
        with open_scene(job.source, choice) as src:
            check_size(src.name, src.height, src.width, translator)
            job.notes.extend(translator.notes + src.notes)
            res = translate_scene(
                src, job.output, translator, options, kind=choice.kind, cog=True, progress=job.progress
            )
        job.notes.extend(n for n in res.notes if n not in job.notes)
        return res

    return start_job(path, output, translator.gen.path.name, work)


def scene_comparison_png(
    job: BackgroundJob, choice: SceneChoice, translator: Translator, options: TranslateOptions | None = None
) -> bytes:
    """Side-by-side PNG of a finished job, each panel at most PREVIEW_SIZE px per side: the SAR input as it was
    fed to the network (same scaling limits, decimated) and the translation (from the COG's overviews). A demo
    model's result keeps its warning band, and the band goes under the image too."""
    res = job.result
    if not isinstance(res, SceneResult):
        raise ValueError("the job has not produced a translation")

    with open_scene(job.source, choice) as src:
        step = max(1, -(-max(src.height, src.width) // PREVIEW_SIZE))
        kind = src.kind if choice.kind == "auto" else choice.kind
        opts = options or translator.options
        calibrated = is_calibrated(kind, src.dtype, src.calibration if src.product_type else None)
        plan = plan_input(kind, src.count, translator, opts.dualpol, opts.input_scaling, calibrated)
        fed = to_display(plan, scene_sample(_Reader(src, kind, opts), step), src.geo.nodata, res.limits)
    fed = fit_channels(fed, translator.gen.in_channels, [])
    translated = decimated_read(job.output, PREVIEW_SIZE)  # our own COG: never None (that is for confined products)
    assert translated is not None
    out = np.clip(np.rint(translated), 0, 255).astype(np.uint8)
    shown_in = fed[..., :3] if fed.shape[2] >= 3 else fed[..., 0]
    png = sio.encode_png(sio.comparison_image([("SAR input (as fed)", shown_in), ("Translated", out)]))
    return cards.warn_png(png, translator.warning) if translator.warning else png
