"""SAR-to-optical translation engine: any generator file, PyTorch or ONNX Runtime, CPU or CUDA, any image size.

    gen = core.translate.generators.load_generator("pix2pix_gen_180.pth")           # or .safetensors / .onnx
    translator = Translator(gen, TranslateOptions(backend="torch", device="auto", adapter=None))  # .translator
    result = translate_raster(core.io.read_raster("scene.tif"), translator, progress=cb)
    result.output  # uint8 (H, W, 3), the size of the input; result.geo carries the input's georeference
    write_result(result, "out.tif")  # core.translate.results: every output of a result, page and CLI alike

How a SAR image becomes network input (every step is reported in `result.notes`):
1. Optional speckle pre-filter (core.speckle) on linear intensity.
2. Float SAR (intensity, amplitude, dB) becomes an 8-bit image the way the model was trained
   (`input_scaling`, core.translate.inputs): dB on SEN1-2's fixed range for SEN1-2-trained weights, or a 2-98 %
   percentile stretch (core.io.render) for SAR Studio's models. 8-bit display inputs are used as they are.
   Two-band VV/VH input: VV only (default for one- and three-channel grey models), the false colour
   R = VV, G = VH, B = VV/VH ratio, or two channels VV, VH (models with two input channels).
3. The display image fills the model's input channels as its normalisation says ("grey3": grey copied to
   R = G = B for SAR2Optical), then x/255*2-1 (see core.translate.generators for the normalisation record).
4. Tiles at the model's size (256 for the U-Nets) with overlap and feathered blending (core.tiling); tiles are
   streamed in batches, only the input and the output accumulator are scene-sized. Output: tanh -> (y+1)/2*255.
   Generators that normalise per input (instance norm, SE pooling) get statistics of the whole image, recorded
   once and frozen for every tile (core.translate.sample_norms), so tiles do not differ in tone: no seams.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from core import io as sio
from core import speckle
from core.errors import UserError
from core.tiling import count_tiles, pad_to, tile_blend
from core.translate.inputs import (
    PREFILTER_DISPLAY_NOTE,
    Limits,
    fit_channels,
    is_calibrated,
    plan_input,
    prefilter_display,
    stretch_limits,
    to_display,
)
from core.translate.results import TranslationResult, output_geo
from core.translate.sample_norms import STATS_PIXELS, stats_windows
from core.translate.translator import ProgressFn, TranslateOptions, Translator

# ------------------------------------------------------------------------------------------------ input mapping


MIN_SIDE = (
    16  # px; smaller images are nearly all padding in the network's tile (16-32 px multiples): a meaningless output
)


def check_size(name: str, height: int, width: int, translator: Translator) -> None:
    """Refuse an image smaller than the generator's minimum side with one sentence (the page and the CLI)."""
    m = MIN_SIDE
    if min(height, width) < m:
        raise UserError(
            f"{name} is {width}×{height} px, smaller than the {m} px per side {translator.gen.label} needs; "
            f"use a larger image."
        )


def network_input(
    raster: sio.Raster,
    translator: Translator,
    options: TranslateOptions | None = None,
    progress: ProgressFn | None = None,
    limits: Limits | None = None,
) -> tuple[np.ndarray, list[str]]:
    """The uint8 display image (H, W, C_in) fed to the network, and sentences saying which conversion ran.

    `limits` fixes the 2-98 % stretch (as a streamed scene computes it once); by default it is the image's own."""
    opts = options or translator.options
    check_size(raster.name, raster.height, raster.width, translator)
    notes: list[str] = []
    calibrated = is_calibrated(raster.kind, raster.data.dtype)
    plan = plan_input(raster.kind, raster.bands, translator, opts.dualpol, opts.input_scaling, calibrated)
    data = raster.data
    nodata = raster.geo.nodata if raster.geo is not None else None
    if opts.prefilter and raster.kind == "display":
        data = prefilter_display(data, opts.prefilter, opts.prefilter_params)
        notes.append(PREFILTER_DISPLAY_NOTE.format(name=opts.prefilter))
    elif opts.prefilter:
        data = speckle.despeckle_raster(raster, opts.prefilter, progress=progress, **(opts.prefilter_params or {})).data
        notes.append(f"Speckle pre-filter: {opts.prefilter} on linear intensity.")
    notes += plan.notes
    if limits is None:
        limits = stretch_limits(plan, data, nodata)
    img = to_display(plan, data, nodata, limits)
    img = fit_channels(img, translator.gen.in_channels, notes)
    return img, notes


# ---------------------------------------------------------------------------------------------------- translate


def _to_uint8(display: np.ndarray) -> np.ndarray:
    """Round and clip to 8 bits, in place when possible (no scene-sized float temporaries)."""
    if display.dtype == np.float32 and display.flags.writeable and display.flags.c_contiguous:
        np.rint(display, out=display)
        np.clip(display, 0, 255, out=display)
        return display.astype(np.uint8)
    return np.clip(np.rint(display), 0, 255).astype(np.uint8)


def translate_array(
    img: np.ndarray,
    translator: Translator,
    tile: int | None = None,
    overlap: int | None = None,
    batch_size: int | None = None,
    progress: ProgressFn | None = None,
) -> tuple[np.ndarray, int]:
    """uint8 network-ready image (H, W, C) -> (uint8 (H, W, 3), number of tiles). Any size; tiles blended."""
    opts = translator.options
    t = translator.tile_size(tile)
    ov = int(opts.overlap if overlap is None else overlap)
    if ov < 0 or ov >= t // 2:
        raise UserError(f"overlap {ov} must be between 0 and {t // 2 - 1} for tile {t}; use a smaller overlap.")
    bs = max(1, int(batch_size or opts.batch_size or translator.batch_size))
    if img.ndim == 2:
        img = img[..., None]
    h, w = img.shape[:2]
    n = count_tiles(max(h, t), max(w, t), t, ov)
    sample = statistics_batch(img, translator, t) if n > 1 else None
    with translator.image_statistics(sample):
        out = tile_blend(img, translator.run_batch, tile=t, overlap=ov, batch_size=bs, progress=progress)
    return _to_uint8(out), n


def statistics_batch(img: np.ndarray, translator: Translator, tile: int) -> np.ndarray | None:
    """The statistics batch of an image for a generator with per-sample layers (None without them): the whole
    image (reflect-padded to the network's size multiple) up to STATS_PIXELS, else tiles spread over it."""
    if not translator.sample_norms:
        return None
    if img.ndim == 2:
        img = img[..., None]
    h, w = img.shape[:2]
    if h * w <= STATS_PIXELS:
        m = translator.gen.size_multiple
        return pad_to(img, -(-h // m) * m, -(-w // m) * m)[None]
    padded = pad_to(img, tile, tile)
    return np.stack([padded[y : y + tile, x : x + tile] for y, x in stats_windows(h, w, tile)])


def translate_raster(
    raster: sio.Raster,
    translator: Translator,
    options: TranslateOptions | None = None,
    progress: ProgressFn | None = None,
    limits: Limits | None = None,
) -> TranslationResult:
    """Translate one image: output the size of the input, with the input's georeference (`limits`: see
    network_input)."""
    opts = options or translator.options
    img, notes = network_input(raster, translator, opts, limits=limits)
    out, n = translate_array(
        img, translator, tile=opts.tile, overlap=opts.overlap, batch_size=opts.batch_size, progress=progress
    )
    return TranslationResult(
        raster.name,
        out,
        img if img.shape[2] != 1 else img[..., 0],
        output_geo(raster.geo, translator.warning),
        notes,
        n,
    )


def translate_many(
    rasters: Iterable[sio.Raster],
    translator: Translator,
    options: TranslateOptions | None = None,
    progress: ProgressFn | None = None,
    total: int | None = None,
) -> Iterator[TranslationResult]:
    """Translate several images in order. Images exactly one tile in size run together, `batch_size` per pass."""
    opts = options or translator.options
    t = translator.tile_size(opts.tile)
    bs = max(1, int(opts.batch_size or translator.batch_size))
    pending: list[tuple[sio.Raster, np.ndarray, list[str]]] = []
    done = 0

    def report(msg: str) -> None:
        if progress is not None and total:
            progress(min(1.0, done / total), msg)

    def flush() -> Iterator[TranslationResult]:
        nonlocal done
        if not pending:
            return
        batch = np.stack([p[1] for p in pending]).astype(np.float32)
        outs = _to_uint8(translator.run_batch(batch))
        for (r, img, notes), o in zip(pending, outs):
            done += 1
            yield TranslationResult(
                r.name, o, img if img.shape[2] != 1 else img[..., 0], output_geo(r.geo, translator.warning), notes, 1
            )
        report(f"{done} images")
        pending.clear()

    for raster in rasters:
        img, notes = network_input(raster, translator, opts)
        if img.shape[:2] == (t, t):
            pending.append((raster, img, notes))
            if len(pending) >= bs:
                yield from flush()
            continue
        yield from flush()

        def sub(frac: float, msg: str, base: int = done, name: str = raster.name) -> None:
            if progress is not None and total:
                progress(min(1.0, (base + frac) / total), f"{name}: {msg}")

        out, n = translate_array(img, translator, tile=t, overlap=opts.overlap, batch_size=bs, progress=sub)
        done += 1
        yield TranslationResult(
            raster.name,
            out,
            img if img.shape[2] != 1 else img[..., 0],
            output_geo(raster.geo, translator.warning),
            notes,
            n,
        )
        report(f"{done} images")
    yield from flush()
