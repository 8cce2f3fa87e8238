"""SAR-to-optical translation engine: any generator file, PyTorch or ONNX Runtime, CPU or CUDA, any image size.

    gen = core.translate.generators.load_generator("pix2pix_gen_180.pth")           # or .safetensors / .onnx
    translator = Translator(gen, TranslateOptions(backend="torch", device="auto", adapter=None))
    result = translate_raster(core.io.read_raster("scene.tif"), translator, progress=cb)
    result.output  # uint8 (H, W, 3), the size of the input; result.geo carries the input's georeference

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

import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from core import cards, metrics, speckle
from core import io as sio
from core.cards import WARNING_TAG, result_warning, with_mark_tag, with_warning_tag
from core.compute import resolve_device
from core.errors import UserError
from core.files import digest_file
from core.onnx import cached_export, export_onnx, make_session
from core.tiling import count_tiles, pad_to, tile_blend
from core.translate import backends as translate_backend
from core.translate.generators import LoadedGenerator, load_generator
from core.translate.inputs import (
    DUALPOL_LABELS as DUALPOL_LABELS,  # re-exported: pages and the CLI name them from here
)
from core.translate.inputs import (
    DUALPOL_MODES as DUALPOL_MODES,
)
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
from core.translate.sample_norms import STATS_PIXELS, SampleNorms, per_sample_layers, stats_windows

ProgressFn = Callable[[float, str], None]
BACKENDS = ("torch", "onnx")  # what a user picks on the page
BACKEND_CHOICES = ("auto", *BACKENDS)  # the CLI adds auto (its default)


@dataclass
class TranslateOptions:
    backend: str = "torch"  # "torch" (PyTorch eager), "onnx" (ONNX Runtime) or "auto" (measured, see below)
    device: str = "auto"  # "auto", "cpu" or "cuda"
    half: bool = False  # float16 on CUDA (PyTorch backend); ignored on CPU, with a note
    tile: int | None = None  # None: the model's native size (256 for the U-Nets)
    overlap: int = 32  # pixels shared by neighbouring tiles, feather-blended
    batch_size: int | None = 4  # tiles (or whole small images) per forward pass; None: chosen by "auto", else 4
    adapter: str | None = None  # LoRA adapter: peft folder or SAR2Optical adapter file
    adapter_strength: float = 1.0
    prefilter: str | None = None  # core.speckle filter name applied to SAR intensity first
    prefilter_params: dict = field(default_factory=dict)
    dualpol: str = "auto"  # how two-band VV/VH input is fed, see DUALPOL_MODES
    input_scaling: str = "auto"  # how dB becomes 0..255: auto, sen1-2, stretch, display (core.translate.inputs)
    threads: int | None = None  # ONNX Runtime intra-op threads (None: its default)


@dataclass
class TranslationResult:
    name: str
    output: np.ndarray  # uint8 (H, W, 3)
    network_input: np.ndarray  # uint8 display image that was fed (H, W) or (H, W, C)
    geo: sio.GeoInfo | None
    notes: list[str]
    tiles: int

    def __post_init__(self) -> None:
        blank = sio.constant_output_note(self.output, f"the translation of {self.name}")
        if blank and blank not in self.notes:
            self.notes = [*self.notes, blank]


# ---------------------------------------------------------------------------------------------- backends


class Translator:
    """A generator ready to run: backend, device, adapter and normalisation resolved once."""

    def __init__(
        self, gen: LoadedGenerator, options: TranslateOptions | None = None, progress: ProgressFn | None = None
    ):
        self.gen = gen
        self.options = opts = options or TranslateOptions()
        if opts.backend not in BACKEND_CHOICES:
            raise UserError(f"unknown backend {opts.backend!r}; use auto, torch or onnx.")
        self.notes: list[str] = [f"Model: {gen.description}."]
        self.warning = result_warning(gen.path, opts.adapter)  # the model card says: trained on synthetic scenes
        self.notes += [self.warning] if self.warning else []
        self.norm = dict(gen.normalization)
        if gen.onnx is not None and gen.onnx.metadata.get("normalization"):
            self.norm.update(gen.onnx.metadata["normalization"])
        if gen.onnx is not None and "channels" not in (gen.onnx.metadata.get("normalization") or {}):
            self.norm["channels"] = {1: "grey", 2: "vv_vh"}.get(gen.in_channels, "grey3")
        self._tmpdir: str | None = None
        self.session: Any = None  # onnxruntime.InferenceSession on the ONNX Runtime backend
        self.model: Any = None  # torch nn.Module on the PyTorch backend
        self.provider: str | None = None
        self.dtype: Any = None  # torch dtype on the PyTorch backend
        self.sample_norms: SampleNorms | None = None  # per-sample layers of a PyTorch model (frozen per image)
        self.lock = threading.RLock()  # one image at a time while statistics are frozen (a shared translator)
        backend = opts.backend
        chosen_batch = None
        if gen.model is not None and backend != "torch" and per_sample_layers(gen.model):
            backend = "torch"
            self.notes.append(
                "The generator normalises per image (instance norm / global pooling): its tiles run with "
                "statistics of the whole image frozen in PyTorch (core.translate.sample_norms), so PyTorch runs "
                "instead of ONNX Runtime."
            )
        if backend == "auto":
            backend, chosen_batch, why = self._auto_backend(gen, opts)
            self.notes.append(why)
        self.batch_size = int(opts.batch_size or chosen_batch or 4)
        if gen.onnx is not None and backend == "torch":
            backend = "onnx"
            self.notes.append("An ONNX file runs with ONNX Runtime; the backend was switched to ONNX Runtime.")
        if gen.onnx is not None and opts.adapter:
            raise UserError(
                "LoRA adapters apply to PyTorch checkpoints; merge the adapter before export "
                "(export-onnx --lora) or load the .safetensors/.pth model."
            )
        self.backend = backend
        model = gen.model
        if model is not None and opts.adapter:
            from core.lora import apply_adapter, merge_adapter  # noqa: PLC0415 - heavy (torch, peft): core.lora, only with an adapter

            model, note = apply_adapter(model, opts.adapter, opts.adapter_strength)
            model = merge_adapter(model)
            self.notes.append(note)
        if backend == "torch":
            import torch  # heavy: the ONNX Runtime backend and the CLI's --help do without it

            device, device_note = resolve_device(opts.device)
            if device_note:
                self.notes.append(device_note)
            self.device = device
            self.dtype = torch.float32
            if opts.half:
                if device == "cuda":
                    self.dtype = torch.float16
                    self.notes.append("Half precision (float16) on CUDA.")
                else:
                    self.notes.append("Half precision is only used on CUDA; running float32 on the CPU.")
            self.model = model.to(device=device, dtype=self.dtype).eval()
            self.sample_norms = SampleNorms(self.model)
            self.notes.append(f"Backend: PyTorch eager on {device.upper() if device == 'cuda' else 'CPU'}.")
        else:
            path = gen.path if gen.onnx is not None else self._export_temp(model, progress)
            if opts.half:
                self.notes.append("Half precision applies to the PyTorch backend on CUDA; ONNX Runtime runs float32.")
            self.session, self.provider, session_note = make_session(path, opts.device, opts.threads)
            if session_note:
                self.notes.append(session_note)
            self.device = "cuda" if self.provider == "CUDAExecutionProvider" else "cpu"
            self.input_name = self.session.get_inputs()[0].name
            self.notes.append(f"Backend: ONNX Runtime, provider in use: {self.provider}.")
            fixed = gen.onnx.fixed_batch if gen.onnx is not None else None
            self.max_batch = fixed if fixed else None

    def _auto_backend(self, gen: LoadedGenerator, opts: TranslateOptions) -> tuple[str, int | None, str]:
        """--backend auto: (backend, batch or None, why). See core.translate.backends."""
        if gen.onnx is not None:
            return "onnx", None, "--backend auto: an ONNX file runs with ONNX Runtime."
        if opts.adapter:
            return "torch", None, "--backend auto: a LoRA adapter is merged in PyTorch, so PyTorch eager runs."
        device, _ = resolve_device(opts.device)
        tile = self.tile_size()

        def make(backend: str) -> Translator:
            return Translator(gen, replace(opts, backend=backend, batch_size=1, adapter=None))

        backend, batch, why = translate_backend.choose(
            self._digest(), device, tile, gen.in_channels, make, device == "cuda"
        )
        return backend, batch, why

    def _digest(self) -> str:
        if not hasattr(self, "_digest_value"):
            self._digest_value = digest_file(self.gen.path, 16)
        return self._digest_value

    def _export_temp(self, model: Any, progress: ProgressFn | None) -> Path:
        if not self.options.adapter:  # the checkpoint as it is: export once, keep the file beside it
            path, note = cached_export(
                model,
                self.gen.path,
                self._digest(),
                self.tile_size(),
                self.gen.normalization,
                progress=(lambda f, m: progress(0.0, f"preparing ONNX Runtime: {m}")) if progress else None,
            )
            self.notes.append(note)
            return path
        self._tmpdir = tempfile.mkdtemp(prefix="sar_studio_onnx_")
        path = Path(self._tmpdir) / "generator.onnx"
        size = self.tile_size()
        report = export_onnx(
            model,
            path,
            size=size,
            normalization=self.gen.normalization,
            progress=(lambda f, m: progress(0.0, f"preparing ONNX Runtime: {m}")) if progress else None,
        )
        self.notes.append(
            f"Exported to ONNX for ONNX Runtime (max difference to PyTorch {report['max_abs_diff']:.1e})."
        )
        return path

    def close(self) -> None:
        self.session = None
        if self._tmpdir:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    def __del__(self) -> None:  # pragma: no cover - best effort clean-up of the temporary ONNX export
        try:
            self.close()
        except Exception:
            pass

    # -- sizes
    def tile_size(self, requested: int | None = None) -> int:
        gen = self.gen
        tile = int(requested or self.options.tile or gen.native_tile)
        m = gen.size_multiple
        if tile <= 0 or tile % m:
            raise UserError(
                f"tile size {tile} is not a multiple of {m}, which {gen.label} needs; "
                f"use {m * max(1, round(tile / m))}."
            )
        if gen.onnx is not None and gen.onnx.fixed_hw and tuple(gen.onnx.fixed_hw) != (tile, tile):
            raise UserError(
                f"{gen.path.name} only takes {gen.onnx.fixed_hw[0]}x{gen.onnx.fixed_hw[1]} inputs; "
                f"use tile {gen.onnx.fixed_hw[0]}."
            )
        return tile

    # -- image-wide statistics (core.translate.sample_norms)
    @contextmanager
    def image_statistics(self, sample: np.ndarray | None) -> Iterator[None]:
        """While open, per-sample layers use the statistics of `sample` (N, h, w, C display values: the whole image,
        or tiles spread over it), recorded in one pass. No-op without such layers or with `sample` None."""
        if not self.sample_norms or sample is None:
            yield
            return
        import torch

        with self.lock:
            x = self._prepare(sample)
            with torch.inference_mode():
                t = torch.from_numpy(x).to(self.device, self.dtype)
                self.sample_norms.record(lambda: self.model(t))
            with self.sample_norms.frozen():
                yield

    def _prepare(self, batch: np.ndarray) -> np.ndarray:
        """(N, h, w, C) display values -> (N, C, h, w) network input, as the checkpoint's normalisation says."""
        x = np.asarray(batch, np.float32)
        if x.ndim == 3:
            x = x[..., None]
        if self.norm.get("input") == "x/255":
            x = x / np.float32(255.0)
        else:
            x = x / np.float32(127.5) - np.float32(1.0)
        return np.ascontiguousarray(np.transpose(x, (0, 3, 1, 2)))

    # -- one batch
    def run_batch(self, batch: np.ndarray) -> np.ndarray:
        """(N, t, t, C) display values 0..255 (float) -> (N, t, t, 3) display values 0..255 (float, unclipped)."""
        x = self._prepare(batch)
        if self.backend == "torch":
            import torch  # heavy, as in __init__ (already imported there for this backend)

            with torch.inference_mode():
                t = torch.from_numpy(x).to(self.device, self.dtype)
                y = self.model(t).float().cpu().numpy()
        else:
            step = self.max_batch or len(x)
            y = np.concatenate(
                [self.session.run(None, {self.input_name: x[i : i + step]})[0] for i in range(0, len(x), step)], axis=0
            ).astype(np.float32)
        y = np.transpose(y, (0, 2, 3, 1))
        if self.norm.get("output") in ("sigmoid", "0_1", "x"):
            return y * np.float32(255.0)
        return (y + np.float32(1.0)) * np.float32(127.5)


def open_translator(
    model_path: str | os.PathLike, options: TranslateOptions | None = None, progress: ProgressFn | None = None
) -> Translator:
    return Translator(load_generator(model_path), options, progress)


# ----------------------------------------------------------------------------------------- input mapping

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


# ------------------------------------------------------------------------------------------- translate


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


def output_geo(geo: sio.GeoInfo | None, warning: str | None = None) -> sio.GeoInfo | None:
    """The georeference of a translation output: the input's, without its nodata, with the model's warning tag."""
    if geo is None:
        return with_warning_tag(None, warning)
    # the input's nodata value (e.g. -9999) means nothing in an 8-bit RGB output; a model card's warning is a tag
    return with_warning_tag(replace(geo, nodata=None), warning)


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


def result_warning_text(result: TranslationResult) -> str | None:
    """The model card's warning a result carries (a demo model trained on synthetic scenes), or None."""
    return result.geo.tags.get(WARNING_TAG) if result.geo is not None else None


def exported_output(result: TranslationResult) -> np.ndarray:
    """The RGB image as every export shows it: a demo model's result with its warning band burned into the
    bottom rows (core.cards), a real checkpoint's result as it is."""
    return cards.burn_warning(result.output) if result_warning_text(result) else result.output


def exported_geo(result: TranslationResult) -> sio.GeoInfo | None:
    """The GeoTIFF's georeference and tags: MARK_TAG added where the warning band is burned in."""
    if not result_warning_text(result):
        return result.geo
    return with_mark_tag(result.geo, result.output.shape[0])


def encode_result(result: TranslationResult, fmt: str) -> bytes:
    """ "png" or "tif" bytes of a result as exported (see exported_output), for the page's downloads."""
    if fmt == "tif":
        return sio.encode_geotiff(exported_output(result), exported_geo(result), ["red", "green", "blue"])
    return sio.encode_png(exported_output(result))


def write_result(result: TranslationResult, path: str | os.PathLike) -> Path:
    """PNG/JPEG: the RGB image; .tif: GeoTIFF (uint8 RGB) with the input's georeference. Atomic. A demo model's
    result carries its warning band in the pixels (exported_output)."""
    path = Path(path)
    if path.suffix.lower() in (".tif", ".tiff"):
        return sio.write_geotiff(path, exported_output(result), exported_geo(result), ["red", "green", "blue"])
    return sio.write_image(path, exported_output(result))


def comparison_png(result: TranslationResult, optical: np.ndarray | None = None) -> bytes:
    """Labelled side-by-side PNG: SAR input (as fed), translation, and the real optical image when given."""
    panels = [
        (
            "SAR input",
            sio.to_rgb(
                result.network_input[..., :3]
                if result.network_input.ndim == 3 and result.network_input.shape[2] > 3
                else result.network_input
            ),
        ),
        ("Translated", exported_output(result)),
    ]
    if optical is not None:
        panels.append(("Real optical", sio.to_rgb(optical)))
    png = sio.encode_png(sio.comparison_image(panels))
    warning = result_warning_text(result)
    return cards.warn_png(png, warning) if warning else png


def quality_against(result: TranslationResult, optical: np.ndarray) -> dict:
    """PSNR and SSIM of the translation against the real optical image (uint8 RGB or grey, same size)."""
    ref = sio.to_rgb(optical)
    if ref.shape[:2] != result.output.shape[:2]:
        raise UserError(
            f"the optical image is {ref.shape[1]}x{ref.shape[0]} but the translation is "
            f"{result.output.shape[1]}x{result.output.shape[0]}; give the co-registered optical image."
        )
    return {
        "psnr": metrics.psnr(ref, result.output, data_range=255),
        "ssim": metrics.ssim(ref, result.output, data_range=255),
    }
