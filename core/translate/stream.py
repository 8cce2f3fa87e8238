"""Translate a whole scene in bounded memory: tiles read from disk, output blocks written as they finish.

    with open_source("S1A_...zip", calibration="sigma0") as src:
        result = translate_scene(src, "out.tif", translator, progress=cb)

1. The 2-98 % stretch of every input channel is computed once, from a decimated read of the whole scene (every
   `step`-th row and column, strips read one after another, so at most about 4 Mpixel are kept), the same for
   every tile (stated in the notes). With a speckle pre-filter the strips are filtered before decimation, so the
   stretch is that of the filtered scene.
2. Tiles are processed one row of tiles at a time: the band of input rows under that row is read (with the
   pre-filter's halo), converted to 8 bits on the fixed limits (core.translate.inputs), cut into tiles, run in
   batches, and feather-blended (core.tiling's weights) into a buffer one row of tiles high. Rows no later
   tile touches are final; they are written through core.io.BlockWriter (tiled GeoTIFF at a temporary path,
   renamed at the end; `cog=True` for a Cloud-Optimized GeoTIFF) in whole GeoTIFF block rows.
Peak memory: one band of input rows, its tiles and the blend buffer, so it grows with the scene's width, not with
its size. Tile positions, weights and summation order are those of core.tiling.tile_blend, so the output equals
the in-memory translation (core.translate.translate_raster) given the same stretch limits, up to the network's
batch-dependent rounding.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from core import cards, speckle
from core import io as sio
from core.errors import UserError
from core.io import Source, Window
from core.tiling import BlendWeights, pad_to, tile_starts
from core.translate.engine import statistics_batch
from core.translate.inputs import (
    PREFILTER_DISPLAY_NOTE,
    InputPlan,
    Limits,
    fit_channels,
    fixed_limits,
    is_calibrated,
    plan_input,
    prefilter_display,
    prefilter_halo,
    prefilter_values,
    stretch_limits,
    to_display,
)
from core.translate.results import output_geo
from core.translate.sample_norms import STATS_PIXELS, stats_windows
from core.translate.translator import TranslateOptions, Translator

SAMPLE_PIXELS = 4_000_000  # decimated read for the stretch: at most about this many pixels
ProgressFn = Callable[[int, int], None]


@dataclass
class SceneResult:
    path: Path
    width: int
    height: int
    tiles: int
    limits: Limits
    notes: list[str] = field(default_factory=list)


def sample_step(height: int, width: int, target: int = SAMPLE_PIXELS) -> int:
    """Decimation step so that the sample holds at most about `target` pixels (1 for scenes up to `target`)."""
    return max(1, int(np.ceil(np.sqrt(height * width / target))))


class _Reader:
    """Windows of a Source in the translator's input form: optional pre-filter with its halo, then values."""

    def __init__(self, src: Source, kind: str, opts: TranslateOptions):
        self.src, self.kind, self.opts = src, kind, opts
        self.nodata = src.geo.nodata
        self.halo = prefilter_halo(opts.prefilter, opts.prefilter_params) if opts.prefilter else 0

    def rows(self, row: int, height: int) -> np.ndarray:
        """Values of rows [row, row + height), all columns, pre-filtered when asked."""
        wr = sio.read_window(self.src, Window(row, 0, height, self.src.width), self.halo)
        data = wr.data
        if self.opts.prefilter:
            if self.kind == "display":
                data = prefilter_display(data, self.opts.prefilter, self.opts.prefilter_params)
            else:
                data = prefilter_values(data, self.kind, self.opts.prefilter, self.opts.prefilter_params, self.nodata)
        return data[wr.core]


def scene_sample(reader: _Reader, step: int, strip: int = 256) -> np.ndarray:
    """Every `step`-th row and column of the scene (pre-filtered when the reader is), read strip by strip."""
    src = reader.src
    strip = max(step, (strip // step) * step)  # strips start on multiples of step: one global decimation grid
    parts = [reader.rows(row, min(strip, src.height - row))[::step, ::step] for row in range(0, src.height, strip)]
    return np.concatenate(parts, axis=0)


def scene_limits(reader: _Reader, plan: InputPlan, step: int) -> Limits:
    """Stretch limits from every `step`-th row and column of the scene."""
    return stretch_limits(plan, scene_sample(reader, step), reader.nodata)


def _with_scene_looks(src: Source, kind: str, opts: TranslateOptions, step: int, notes: list[str]) -> TranslateOptions:
    """Options whose pre-filter has its looks estimated once from the scene (band 1), as the whole-image filter
    estimates them, instead of per band of tiles."""
    spec = speckle.filter_spec(opts.prefilter or "")
    params = dict(opts.prefilter_params or {})
    if "looks" not in spec.param_names or params.get("looks") is not None:
        return opts
    raw = scene_sample(_Reader(src, kind, replace(opts, prefilter=None)), step)
    band = raw if raw.ndim == 2 else raw[..., 0]
    inten = band.astype(np.float32) ** 2 if kind == "display" else sio.to_intensity(band, kind)
    valid = np.isfinite(inten)
    if src.geo.nodata is not None and np.isfinite(src.geo.nodata):
        valid &= band != src.geo.nodata
    looks = speckle.estimate_enl(inten, valid)
    notes.append(f"Pre-filter looks estimated once from the scene: L = {looks:.2f}.")
    return replace(opts, prefilter_params={**params, "looks": looks})


def translate_scene(
    src: Source,
    dst: str | os.PathLike,
    translator: Translator,
    options: TranslateOptions | None = None,
    kind: str | None = None,
    cog: bool = False,
    limits: Limits | None = None,
    progress: ProgressFn | None = None,
) -> SceneResult:
    """Translate the scene `src` into the RGB GeoTIFF `dst` (atomic) with the input's georeference.

    `kind` overrides what the values are; `limits` fixes the stretch (default: from a decimated read).
    `progress(done, total)` counts tiles."""
    opts = options or translator.options
    kind = src.kind if kind in (None, "auto") else kind
    if kind not in sio.KINDS:
        raise UserError(f"unknown input kind {kind!r}; use one of auto, {', '.join(sio.KINDS)}.")
    t = translator.tile_size(opts.tile)
    ov = int(opts.overlap)
    if ov < 0 or ov >= t // 2:
        raise UserError(f"overlap {ov} must be between 0 and {t // 2 - 1} for tile {t}; use a smaller overlap.")
    bs = max(1, int(opts.batch_size or translator.batch_size))
    calibrated = is_calibrated(kind, src.dtype, src.calibration if src.product_type else None)
    plan = plan_input(kind, src.count, translator, opts.dualpol, opts.input_scaling, calibrated)
    notes: list[str] = []
    step = sample_step(src.height, src.width)
    if opts.prefilter:
        opts = _with_scene_looks(src, kind, opts, step, notes)
    reader = _Reader(src, kind, opts)
    if opts.prefilter:
        notes.append(
            PREFILTER_DISPLAY_NOTE.format(name=opts.prefilter)
            if kind == "display"
            else f"Speckle pre-filter: {opts.prefilter} on linear intensity, per band of tiles with a "
            f"{reader.halo}-pixel halo."
        )
    notes += plan.notes
    if limits is None and plan.scaling == "sen1-2":
        limits = fixed_limits(plan, np.zeros((1, 1, src.count), np.float32))
    elif limits is None:
        limits = scene_limits(reader, plan, step)
        if limits:
            notes.append(
                "The 2-98 % stretch was computed once from a decimated read of the whole scene "
                + (f"(every {step}th row and column)" if step > 1 else "(every pixel)")
                + ", the same for every tile."
            )
    h, w = src.height, src.width
    ph, pw = max(h, t), max(w, t)  # images smaller than a tile are padded as tile_blend pads them
    ys, xs = tile_starts(ph, t, ov), tile_starts(pw, t, ov)
    total = len(ys) * len(xs)
    geo = output_geo(src.geo, translator.warning)  # no input nodata in an 8-bit RGB output; the card's warning
    sample = scene_statistics_batch(reader, plan, limits, translator, t) if total > 1 else None
    if sample is not None:
        notes.append(
            "Instance-norm / pooling statistics of the whole scene were recorded once "
            + ("over the whole scene" if len(sample) == 1 else f"over {len(sample)} tiles spread over the scene")
            + " and frozen for every tile."
        )
    with translator.image_statistics(sample):
        return _translate_tiles(
            reader, plan, limits, translator, dst, geo, cog, (ys, xs, t, bs, total), notes, progress
        )


def scene_statistics_batch(
    reader: _Reader, plan: InputPlan, limits: Limits, translator: Translator, tile: int
) -> np.ndarray | None:
    """The statistics batch of a scene (core.translate.sample_norms): the whole scene when it is small enough,
    else tiles on a regular grid over it, read band by band; None for generators without per-sample layers."""
    if not translator.sample_norms:
        return None
    src = reader.src
    h, w = src.height, src.width

    def network_form(data: np.ndarray) -> np.ndarray:
        img = fit_channels(to_display(plan, data, reader.nodata, limits), translator.gen.in_channels, [])
        return pad_to(img, tile, tile) if (img.shape[0] < tile or img.shape[1] < tile) else img

    if h * w <= STATS_PIXELS:
        return statistics_batch(network_form(reader.rows(0, h)), translator, tile)
    windows = stats_windows(h, w, tile)
    tiles = []
    for y in sorted({y for y, _ in windows}):
        band = network_form(reader.rows(y, min(tile, h - y)))
        tiles += [band[:, x : x + tile] for yy, x in windows if yy == y]
    return np.stack(tiles)


def _translate_tiles(
    reader: _Reader,
    plan: InputPlan,
    limits: Limits,
    translator: Translator,
    dst: str | os.PathLike,
    geo: sio.GeoInfo | None,
    cog: bool,
    grid: tuple[list[int], list[int], int, int, int],
    notes: list[str],
    progress: Callable[[int, int], None] | None,
) -> SceneResult:
    """Run the tiles row of tiles by row of tiles, blending and writing finished rows (see the module note)."""
    ys, xs, t, bs, total = grid
    src = reader.src
    h, w = src.height, src.width
    pw = max(w, t)
    weights = BlendWeights(ys, xs, t)
    done = 0
    band = None
    if translator.warning:  # a demo model: the warning band goes into the bottom rows of the pixels (core.cards)
        geo = cards.with_mark_tag(geo, h)
        band = cards.warning_band(w, h)
    with sio.BlockWriter(dst, w, h, 3, np.dtype(np.uint8), geo, ["red", "green", "blue"], block=256, cog=cog) as writer:
        out_rows = _RowWriter(writer, w, h, band)
        carry_acc: np.ndarray | None = None  # rows [y, previous y + t) of the blend buffer
        carry_norm: np.ndarray | None = None
        for k, y in enumerate(ys):
            band = reader.rows(y, min(t, h - y))
            img = to_display(plan, band, reader.nodata, limits)
            img = fit_channels(img, translator.gen.in_channels, notes if k == 0 else [])
            img = pad_to(img, t, t) if (h < t or w < t) else img
            acc = np.zeros((t, pw, 3), np.float32)
            norm = np.zeros((t, pw), np.float32)
            if carry_acc is not None and carry_norm is not None:
                acc[: len(carry_acc)] = carry_acc
                norm[: len(carry_norm)] = carry_norm
            for b in range(0, len(xs), bs):
                group = xs[b : b + bs]
                batch = np.stack([img[:, x : x + t] for x in group]).astype(np.float32)
                res = np.asarray(translator.run_batch(batch), np.float32)
                if res.shape[:3] != (len(group), t, t) or res.shape[3] != 3:
                    raise ValueError(f"the network returned {res.shape}, expected ({len(group)}, {t}, {t}, 3)")
                for x, o in zip(group, res):
                    wt = weights(y, x)
                    acc[:, x : x + t] += o * wt[..., None]
                    norm[:, x : x + t] += wt
                done += len(group)
                if progress is not None:
                    progress(done, total)
            final = (ys[k + 1] - y) if k + 1 < len(ys) else t  # rows no later tile row touches
            rows = acc[:final] / norm[:final, :, None]
            out_rows.add(_to_uint8(rows[:, :w])[: max(0, min(final, h - y))])
            carry_acc, carry_norm = acc[final:].copy(), norm[final:].copy()
        out_rows.flush()
    return SceneResult(Path(dst), w, h, total, limits, notes)


def _to_uint8(x: np.ndarray) -> np.ndarray:
    np.rint(x, out=x)
    np.clip(x, 0, 255, out=x)
    return x.astype(np.uint8)


class _RowWriter:
    """Collect finished output rows and write them in whole GeoTIFF block rows (no tile written twice)."""

    def __init__(self, writer: sio.BlockWriter, width: int, height: int = 0, band: np.ndarray | None = None):
        self.writer, self.width = writer, width
        self.row = 0
        self.pending: list[np.ndarray] = []
        self.count = 0
        self.added = 0  # rows received so far
        self.band_start = height - len(band) if band is not None else height
        self.band = band

    def add(self, rows: np.ndarray) -> None:
        if len(rows) == 0:
            return
        start, end = self.added, self.added + len(rows)
        self.added = end
        if self.band is not None and end > self.band_start:  # burn the warning band into its rows
            lo = max(start, self.band_start)
            rows[lo - start :] = self.band[lo - self.band_start : end - self.band_start]
        self.pending.append(rows)
        self.count += len(rows)
        block = self.writer.block
        if self.count >= block:
            data = np.concatenate(self.pending, axis=0)
            n = (len(data) // block) * block
            self.writer.write(Window(self.row, 0, n, self.width), data[:n])
            self.row += n
            rest = data[n:]
            self.pending, self.count = ([rest] if len(rest) else []), len(rest)

    def flush(self) -> None:
        if self.pending:
            data = np.concatenate(self.pending, axis=0)
            self.writer.write(Window(self.row, 0, len(data), self.width), data)
            self.row += len(data)
            self.pending, self.count = [], 0
