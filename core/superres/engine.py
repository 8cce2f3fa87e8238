"""Reference-based x4 super-resolution (RGTGAN): from an LR image and a sharper reference of the same place.

The network takes four RGB images in [0, 1]: LR, LR bicubic x4, Ref (at 4x the LR size) and Ref bicubic
down-then-up x4; it predicts a residual added to the LR bicubic x4 (`models/rgtgan.py`).

How inputs become RGB in [0, 1]: 8-bit images are divided by 255 (grey is copied to R, G, B); SAR values
(intensity, amplitude, dB) are shown as the app shows them (dB, 2-98 % stretch; VV/VH false colour) and that
display is super-resolved. The output has the input's band count (1 or 3).

The reference is assumed to cover the LR image's footprint: it is resized (bicubic) to exactly 4x the LR size.
A reference of another area must be cropped to the LR footprint first; the network's deformable alignment
absorbs residual shifts of a few LR pixels and small rotations, not a different place.

Large images go through `core.tiling.tile_blend` (scale 4, feathered overlaps). The four inputs are prepared
once for the whole image and packed side by side on the LR grid (HR arrays folded 4x4 into channels), so every
tile sees exactly the crop of the globally prepared inputs: the reference tile is the reference crop of the
same footprint, and no tile-edge bicubic differs from the whole-image one. Memory: about 1.1 kB per LR pixel of
the tiled area (a side shorter than a tile is padded to the tile: a 3 x 100000 strip costs as much as 64 x 100000),
estimated in bytes by `memory_bytes`; above 2 Mpixel's worth (2.2 GB) an image is refused (`check_memory`) unless
SAR_STUDIO_SR_MAX_LR_PIXELS is raised. The output keeps the LR's georeference scaled x4 (GeoInfo.scaled).
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from core import io as sio
from core import metrics
from core.checkpoints import (
    count_weights,
    load_model,
    load_state_strict,
    read_metadata,
    strip_prefixes,
    torch_load_weights,
)
from core.compute import onnx_providers, ort_session_options
from core.errors import UserError
from core.files import digest_file
from core.io import atomic_output
from core.superres.inputs import SCALE, bicubic_upscale, fold, pair_problem, prepare_inputs, unfold
from core.tiling import tile_blend
from models.registry import names

DEFAULT_TILE = 64  # LR pixels per tile side (256 output pixels)
DEFAULT_OVERLAP = 8  # LR pixels
BYTES_PER_LR_PIXEL = 1100  # estimate from array sizes: packed inputs 588 B, x4 output + weights + copies


def max_lr_pixels() -> int:
    """Largest LR image accepted (about 2 GB of working memory); SAR_STUDIO_SR_MAX_LR_PIXELS overrides it."""
    try:
        return int(os.environ.get("SAR_STUDIO_SR_MAX_LR_PIXELS", 2_000_000))
    except ValueError:
        return 2_000_000


def memory_bytes(h: int, w: int, tile: int = DEFAULT_TILE) -> int:
    """Working memory of x4 super-resolution of an h x w LR image: the packed inputs, the x4 accumulator and
    copies sit whole in memory, at the size the tiles are cut from (a side shorter than a tile is padded to it)."""
    return max(h, tile) * max(w, tile) * BYTES_PER_LR_PIXEL


def check_memory(h: int, w: int, tile: int = DEFAULT_TILE) -> None:
    """Refuse an LR image whose working memory is above the limit (SAR_STUDIO_SR_MAX_LR_PIXELS LR pixels' worth)."""
    need, limit = memory_bytes(h, w, tile), max_lr_pixels() * BYTES_PER_LR_PIXEL
    if need > limit:
        raise UserError(
            f"the LR image is {w}x{h}: x4 super-resolution of it (tiles of {tile} px) needs about "
            f"{need / 1e9:.1f} GB of memory, above the limit of {limit / 1e9:.1f} "
            f"GB ({max_lr_pixels():,} LR pixels' worth); crop it or raise SAR_STUDIO_SR_MAX_LR_PIXELS."
        )


# ----------------------------------------------------------------------------------------------- models

KNOWN_FOREIGN = {
    "rgtgan": "gpcd_align.L3_dcnpack.offset.weight",
    "rrsgan": "gpcd_align.L3_dcnpack.conv_offset_mask.weight",
}


def describe_superres_file(path: str | Path) -> str:
    """What a super-resolution model file is, for a page before anything runs, read without torch: our
    .safetensors from its metadata and header (architecture, number of weights); an .onnx or a foreign .pth is
    named as such and checked when it is loaded (`load_superres_model`)."""
    path = Path(path)
    name = path.name
    if not path.is_file():
        raise UserError(f"{name}: model file not found; check the path.")
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        return f"{name} (ONNX export, opened with ONNX Runtime when the model runs)"
    if suffix != ".safetensors":
        return f"{name} (a state_dict, recognised as RGTGAN or RRSGAN and loaded strictly when the model runs)"
    meta = read_metadata(path)
    if meta.get("arch") not in (None, *names("superres")):
        raise UserError(
            f"{name} is a {meta.get('arch')} checkpoint, not a super-resolution model; pick an RGTGAN checkpoint."
        )
    if meta.get("arch") is None:
        return f"{name} (no SAR Studio metadata: checked when the model runs)"
    return f"{name} (SAR Studio {str(meta['arch']).upper()}, {count_weights(path) / 1e6:.2f} M parameters)"


def load_superres_model(path: str | Path, device: str = "cpu"):
    """Our safetensors checkpoint (rgtgan or rrsgan), an RGTGAN or RRSGAN `{iter}_G.pth` state_dict (loaded
    strictly) or an exported .onnx.

    Returns (model in eval mode, description)."""
    from models.rgtgan import RGTGANGenerator  # noqa: PLC0415 - heavy: a network module imports torch; only when it is built

    path = Path(path)
    name = path.name
    if not path.exists():
        raise UserError(f"{name}: model file not found; check the path.")
    if path.suffix.lower() == ".onnx":
        runner = OnnxSuperRes(path, device)
        return runner, f"{name} (ONNX Runtime, {runner.provider})"
    if path.suffix.lower() == ".safetensors":
        description = describe_superres_file(path)  # refuses another task's checkpoint before building anything
        model, meta = load_model(path, device)
        return model, description
    state = torch_load_weights(path)
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not state:
        raise UserError(f"{name} does not hold a state_dict; give RGTGAN's {{iter}}_G.pth or a .safetensors model.")
    state = strip_prefixes(state)
    if KNOWN_FOREIGN["rrsgan"] in state:
        from models.rrsgan import RRSGANGenerator  # noqa: PLC0415 - heavy: a network module imports torch; only when it is built

        model = RRSGANGenerator()
        load_state_strict(model, state, "rrsgan", name)
        return model.to(device).eval(), f"{name} (RRSGAN generator, DCNv2 alignment, full size)"
    if KNOWN_FOREIGN["rgtgan"] not in state:
        raise UserError(
            f"{name} is not an RGTGAN generator (no {KNOWN_FOREIGN['rgtgan']}); "
            f"give RGTGAN's {{iter}}_G.pth (not the discriminator _D.pth)."
        )
    model = RGTGANGenerator()
    load_state_strict(model, state, "rgtgan", name)
    return model.to(device).eval(), f"{name} (RGTGAN generator, 19.9 M parameters, full size)"


class OnnxSuperRes:
    """An exported generator run by ONNX Runtime, called like the torch module (torch tensors in and out)."""

    INPUTS = ("lr", "lr_up", "ref", "ref_dup")

    def __init__(self, path: str | Path, device: str = "cpu"):
        import onnxruntime as ort  # heavy: only .onnx models need it

        ort.set_default_logger_severity(4)
        try:
            opts = ort_session_options()  # threads from the budget
            self.session = ort.InferenceSession(str(path), sess_options=opts, providers=onnx_providers(device))
        except Exception as exc:  # onnxruntime raises its own exception types for bad files
            raise UserError(
                f"{Path(path).name} is not a readable ONNX model ({str(exc).splitlines()[0][:80]}); "
                f"export it again with `python -m core superres-onnx`."
            ) from None
        ort.set_default_logger_severity(2)
        names = tuple(i.name for i in self.session.get_inputs())
        if names != self.INPUTS:
            raise UserError(
                f"{Path(path).name} has inputs {', '.join(names)}, not lr, lr_up, ref, ref_dup; "
                f"export an RGTGAN model with `python -m core superres-onnx`."
            )
        self.provider = self.session.get_providers()[0]

    def eval(self):
        return self

    def to(self, *_):
        return self

    def __call__(self, *tensors):
        import torch  # heavy: the caller passes torch tensors, so torch is imported already

        feed = {n: t.detach().cpu().numpy() for n, t in zip(self.INPUTS, tensors)}
        return torch.from_numpy(self.session.run(None, feed)[0])


# -------------------------------------------------------------------------------------------- inference


def _as_tensor(batch: np.ndarray, device):
    import torch  # heavy: only running the network needs it

    return torch.from_numpy(np.ascontiguousarray(batch)).permute(0, 3, 1, 2).to(device)


def super_resolve(
    lr: np.ndarray,
    ref: np.ndarray,
    model,
    device: str = "cpu",
    tile: int = DEFAULT_TILE,
    overlap: int = DEFAULT_OVERLAP,
    progress: Callable[[float, str], None] | None = None,
) -> np.ndarray:
    """x4 super-resolution of `lr` (h, w, 3) in [0, 1] with reference `ref` (any size, same footprint).

    Returns (4h, 4w, 3) float32 in [0, 1]."""
    import torch  # heavy: only running the network needs it

    lr = np.asarray(lr, np.float32)
    if lr.ndim != 3 or lr.shape[2] != 3 or ref.ndim != 3 or ref.shape[2] != 3:
        raise ValueError("super_resolve takes RGB (H, W, 3) arrays")
    if tile < 8:
        raise UserError(f"tile size {tile} is too small; use at least 8 LR pixels (64 is the default).")
    h, w = lr.shape[:2]
    check_memory(h, w, tile)
    lr_, lr_up, ref_hr, ref_dup = prepare_inputs(lr, ref)
    packed = np.concatenate([lr_, fold(lr_up), fold(ref_hr), fold(ref_dup)], axis=-1)
    dev = torch.device(device)

    def run(batch: np.ndarray) -> np.ndarray:
        b_lr = batch[..., :3]
        parts = [unfold(batch[..., 3 + 48 * i : 3 + 48 * (i + 1)], 3) for i in range(3)]
        with torch.inference_mode():
            out = model(*[_as_tensor(x, dev) for x in (b_lr, *parts)])
        return out.clamp(0, 1).permute(0, 2, 3, 1).float().cpu().numpy()

    if h <= tile and w <= tile:  # one pass at the native size (no padding needed by the network)
        out = run(packed[None])[0]
        if progress:
            progress(1.0, "1/1 tile")
        return out
    return tile_blend(
        packed, run, tile=tile, overlap=min(overlap, tile // 2), scale=SCALE, batch_size=1, progress=progress
    )


# ------------------------------------------------------------------------------------ rasters and metrics


def raster_to_rgb01(raster) -> np.ndarray:
    """What the network sees of a raster: (H, W, 3) float32 in [0, 1] (see the module note)."""
    if raster.kind == "display" and raster.data.dtype == np.uint8:
        img = raster.data
    else:
        img = sio.render(raster)
    return sio.to_rgb(img).astype(np.float32) / 255.0


def _crop(x: np.ndarray, border: int) -> np.ndarray:
    return x[border:-border, border:-border] if border else x


def psnr(a: np.ndarray, b: np.ndarray, border: int = SCALE) -> float:
    """PSNR (dB) of `a` against reference `b`, images in [0, 1], `border` pixels cropped (core.metrics.psnr)."""
    return metrics.psnr(_crop(b, border), _crop(a, border), data_range=1.0)


def ssim(a: np.ndarray, b: np.ndarray, border: int = SCALE) -> float:
    """SSIM of `a` against `b` over RGB, data range 1, `border` cropped (core.metrics.ssim, scikit-image)."""
    return metrics.ssim(_crop(b, border), _crop(a, border), data_range=1.0)


@dataclass
class SRResult:
    bicubic: np.ndarray  # (4h, 4w, 3) float32 [0, 1]
    sr: np.ndarray  # (4h, 4w, 3)
    hr: np.ndarray | None = None  # (4h, 4w, 3) when given
    metrics: dict = field(default_factory=dict)  # {"bicubic": {"psnr", "ssim"}, "model": {...}}
    notes: list[str] = field(default_factory=list)


def compare_to_hr(bicubic: np.ndarray, sr: np.ndarray, hr: np.ndarray) -> dict:
    return {
        "bicubic": {"psnr": psnr(bicubic, hr), "ssim": ssim(bicubic, hr)},
        "model": {"psnr": psnr(sr, hr), "ssim": ssim(sr, hr)},
    }


def superres_rasters(
    lr_raster,
    ref_raster,
    model,
    hr_raster=None,
    device: str = "cpu",
    tile: int = DEFAULT_TILE,
    overlap: int = DEFAULT_OVERLAP,
    progress=None,
) -> SRResult:
    """Everything the page and the CLI show: bicubic, ours, and PSNR / SSIM against HR when given."""
    lr = raster_to_rgb01(lr_raster)
    ref = raster_to_rgb01(ref_raster)
    notes = []
    h, w = lr.shape[:2]
    hr = None
    if hr_raster is not None:
        hr = raster_to_rgb01(hr_raster)
    problem = pair_problem(lr, hr, ref, (hr_raster.name if hr_raster is not None else "HR", ref_raster.name))
    if problem:  # checked before the (slow) network runs
        raise UserError(problem)
    if ref.shape[:2] != (h * SCALE, w * SCALE):
        notes.append(
            f"The reference ({ref.shape[1]}×{ref.shape[0]}) was resized to 4× the LR size "
            f"({w * SCALE}×{h * SCALE}); it is assumed to cover the same area as the LR image."
        )
    sr = super_resolve(lr, ref, model, device, tile, overlap, progress)
    bic = bicubic_upscale(lr)
    result = SRResult(bicubic=bic, sr=sr, hr=hr, notes=notes)
    if hr is not None:
        result.metrics = compare_to_hr(bic, sr, hr)
    return result


def to_output(img01: np.ndarray, bands: int) -> np.ndarray:
    """uint8 output with the input's band count (1: mean of R, G, B; otherwise RGB)."""
    u8 = np.clip(np.rint(img01 * 255.0), 0, 255).astype(np.uint8)
    if bands == 1:
        return np.clip(np.rint(img01.mean(axis=-1) * 255.0), 0, 255).astype(np.uint8)
    return u8


def output_geo(geo):
    """The LR's georeference for the x4 output: pixel size / 4; no nodata (the output is 8-bit display)."""
    return None if geo is None else replace(geo.scaled(SCALE), nodata=None)


def file_hash(path: str | Path) -> str:
    """Cache key of a model file (pages/superres.py): core.files.digest_file, shortened to 16 characters."""
    return digest_file(path, 16)


# ------------------------------------------------------------------------------------------------- ONNX


def export_superres_onnx(model, path: str | Path, lr_size: int = 16) -> Path:
    """Export the generator to one ONNX file (opset 17) with dynamic batch, height and width.

    Inputs `lr` (N, 3, h, w), `lr_up`, `ref`, `ref_dup` (N, 3, 4h, 4w); output `sr` (N, 3, 4h, 4w). The
    deformable sampling is plain grid_sample (ONNX GridSample, opset 16+). TorchScript exporter first (fast),
    then the dynamo exporter."""
    import torch  # heavy: only export needs it

    model = model.eval()
    h = lr_size
    args = (
        torch.rand(1, 3, h, h),
        torch.rand(1, 3, 4 * h, 4 * h),
        torch.rand(1, 3, 4 * h, 4 * h),
        torch.rand(1, 3, 4 * h, 4 * h),
    )
    names = ["lr", "lr_up", "ref", "ref_dup"]
    dyn = {
        n: {0: "batch", 2: "height" if n == "lr" else "height4", 3: "width" if n == "lr" else "width4"} for n in names
    }
    dyn["sr"] = {0: "batch", 2: "height4", 3: "width4"}
    with atomic_output(path) as tmp, warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(
                model,
                args,
                str(tmp),
                input_names=names,
                output_names=["sr"],
                opset_version=17,
                dynamic_axes=dyn,
                dynamo=False,
                do_constant_folding=True,
            )
        except (TypeError, RuntimeError, AttributeError, ValueError):
            onnx_path = Path(str(tmp) + ".onnx")
            try:
                torch.onnx.export(
                    model,
                    args,
                    str(onnx_path),
                    input_names=names,
                    output_names=["sr"],
                    opset_version=17,
                    dynamic_axes=dyn,
                    dynamo=True,
                    external_data=False,
                )
                onnx_path.replace(tmp)
            finally:
                if onnx_path.exists():
                    onnx_path.unlink()
    return Path(path)


def export_superres_file(model_path: str | Path, out_path: str | Path) -> tuple[str, float]:
    """Export a super-resolution model file (.safetensors or {iter}_G.pth) to ONNX and run both on a 12x12 check.

    Returns (model description, max |ONNX - PyTorch| on the check)."""
    import torch  # heavy: only export needs it

    out = Path(out_path)
    if out.suffix.lower() != ".onnx":
        raise UserError(f"{out.name}: the output must end in .onnx.")
    model, desc = load_superres_model(model_path, "cpu")
    if isinstance(model, OnnxSuperRes):
        raise UserError(f"{Path(model_path).name} is already an ONNX model; give a .safetensors or .pth model.")
    export_superres_onnx(model, out)
    g = torch.Generator().manual_seed(0)
    x = [torch.rand(1, 3, 12, 12, generator=g)] + [torch.rand(1, 3, 48, 48, generator=g) for _ in range(3)]
    with torch.inference_mode():
        want = model(*x)
    got = OnnxSuperRes(out)(*x)
    return desc, float((got - want).abs().max())
