"""A generator ready to run: `Translator(gen, TranslateOptions(...))` resolves backend, device, precision, LoRA
adapter and normalisation once, and `run_batch` maps display tiles (0..255) to display tiles.

Backends: "torch" (PyTorch eager), "onnx" (ONNX Runtime: an .onnx file, or the checkpoint exported once and cached
beside it, core.onnx) or "auto" (measured per machine and model, core.translate.backends). A generator that
normalises per image (instance norm, SE pooling) always runs in PyTorch, with statistics of the whole image frozen
for every tile (`image_statistics`, core.translate.sample_norms). Every choice made is a sentence in `notes`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from core.cards import result_warning
from core.compute import resolve_device
from core.errors import UserError
from core.files import digest_file
from core.onnx import cached_export, export_onnx, make_session
from core.translate import backends as translate_backend
from core.translate.generators import LoadedGenerator, load_generator
from core.translate.sample_norms import SampleNorms, per_sample_layers

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
            from core.lora import apply_adapter, merge_adapter  # noqa: PLC0415 - heavy: torch, peft; only with an adapter

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
