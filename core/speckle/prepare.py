"""Preparing SAR images for a network the way SAR2Optical's extended version does (`preprocess_qxslab.py`):
speckle filter, percentile stretch to 0..255, gamma; one image, or a folder in -> a folder out that keeps every
file name (and format), so that `train` and `translate` read the result as they read the originals.

Steps, in their order (`prepare_image`):
1. speckle filter `filter` (any core.speckle filter, or none) with window `window`: the 8- or 16-bit values are
   amplitudes, filtered on intensity (value squared) and brought back by a square root, as
   `translate --prefilter` treats display images;
2. with `normalize`: clip at the percentiles `p_low` / `p_high` of the image (per band) and stretch to 0..255;
   without it: the values as they are (16-bit scaled by 255 / 65535);
3. gamma: 255 * (x / 255) ** gamma (below 1 brightens).
`grayscale`: the input is read as one grey band (the mean of its bands) and written as RGB (three equal bands), as
their `--grayscale`. Georeference of GeoTIFF inputs is written to the outputs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core import io as sio
from core.errors import UserError
from core.files import check_outputs, list_images
from core.speckle.apply import despeckle
from core.speckle.registry import filter_spec


@dataclass(frozen=True)
class PrepareOptions:
    filter: str = "lee"  # their default
    window: int = 5  # their --window-size default
    p_low: float = 2.0
    p_high: float = 98.0
    normalize: bool = True
    gamma: float = 1.0
    grayscale: bool = False

    def check(self) -> PrepareOptions:
        if self.filter != "none":
            check_window(self.filter, self.window)
        if not 0 <= self.p_low < self.p_high <= 100:
            raise UserError(
                f"percentiles {self.p_low} / {self.p_high} must satisfy 0 <= low < high <= 100; e.g. 2 and 98."
            )
        if self.gamma <= 0:
            raise UserError(f"--gamma {self.gamma} must be positive; 1 leaves the brightness as it is.")
        return self


def check_window(name: str, window: int) -> None:
    """UserError unless `name` is a filter with a window and `window` an odd size of at least 3."""

    spec = filter_spec(name)  # UserError naming the known filters
    if "window" not in spec.param_names:
        raise UserError(f"filter {name} has no window size; leave the window out or choose a windowed filter.")
    if window < 3 or window % 2 == 0:
        raise UserError(f"window {window} for {name} must be an odd number of at least 3, e.g. 5.")


def prefilter_params(name: str | None, window: int | None) -> dict:
    """The filter parameters of `translate --prefilter NAME --prefilter-window N`: {"window": N}, or {}."""
    if window is None:
        return {}
    if not name:
        raise UserError("--prefilter-window needs --prefilter NAME (e.g. --prefilter lee --prefilter-window 5).")
    check_window(name, int(window))
    return {"window": int(window)}


def parse_prefilter(value: str) -> tuple[str, dict]:
    """`NAME` or `NAME:window` (train --prefilter) -> (filter name, its parameters)."""
    name, sep, window = value.partition(":")
    if not sep:
        filter_spec(name)
        return name, {}
    try:
        w = int(window)
    except ValueError:
        raise UserError(f"--prefilter {value!r}: the window after ':' must be a whole number, e.g. lee:5.") from None
    return name, prefilter_params(name, w)


def despeckle_display(data: np.ndarray, name: str, params: dict | None = None) -> np.ndarray:
    """Filter an 8-bit display image as `translate --prefilter` does: values as amplitude, intensity = value²,
    filter, square root, rounded to uint8."""

    amp = data.astype(np.float32)
    out = despeckle(amp * amp, name, **(params or {}))
    return np.clip(np.rint(np.sqrt(np.nan_to_num(np.maximum(out, 0.0), nan=0.0))), 0, 255).astype(np.uint8)


def prepare_image(data: np.ndarray, opts: PrepareOptions) -> np.ndarray:
    """The prepared uint8 image ((H, W) or (H, W, C); (H, W, 3) with grayscale) of an 8- or 16-bit image."""

    if data.dtype not in (np.uint8, np.uint16):
        raise UserError(
            f"preprocess reads 8- or 16-bit images (got {data.dtype}); for float SAR values use "
            f"`python -m core despeckle` or `translate --prefilter`."
        )
    scale = 255.0 / 65535.0 if data.dtype == np.uint16 else 1.0
    x = data.astype(np.float32)
    if opts.grayscale and x.ndim == 3:
        x = x.mean(axis=2)
    if opts.filter != "none":
        x = np.sqrt(np.maximum(despeckle(x * x, opts.filter, window=opts.window), 0.0))
    bands = [x] if x.ndim == 2 else [x[..., c] for c in range(x.shape[2])]
    out = []
    for b in bands:
        if opts.normalize:
            lo, hi = np.nanpercentile(b, [opts.p_low, opts.p_high])
            b = np.clip((b - lo) / max(float(hi - lo), 1e-12), 0.0, 1.0)
        else:
            b = np.clip(b * scale / 255.0, 0.0, 1.0)
        if opts.gamma != 1.0:
            b = b**opts.gamma
        out.append(np.clip(np.rint(np.nan_to_num(b) * 255.0), 0, 255).astype(np.uint8))
    img = out[0] if len(out) == 1 else np.stack(out, axis=2)
    if opts.grayscale:
        img = np.repeat(img[..., None], 3, axis=2)
    return img


def prepare_plan(src: str | Path, dst: str | Path) -> list[tuple[Path, Path]]:
    """(input, output) files: a folder -> every image into the output folder under its own name; a file -> dst
    (a file name, or a folder to put it in under its own name)."""

    src, dst = Path(src), Path(dst)
    if src.is_dir():
        files = list_images(src)
        if not files:
            raise UserError(f"{src} holds no images; give a folder of PNG / JPEG / TIFF images.")
        pairs = [(f, dst / f.name) for f in files]
    elif src.is_file():
        pairs = [(src, dst / src.name if dst.is_dir() or not dst.suffix else dst)]
    else:
        raise UserError(f"input {src} does not exist; give an image file or a folder of images.")
    if src.is_dir() and dst.resolve() == src.resolve():
        raise UserError("the output folder is the input folder; the originals would be overwritten: give another.")
    check_outputs(pairs)
    return pairs


def prepare_files(
    pairs: list[tuple[Path, Path]], opts: PrepareOptions, progress: Callable[[int, int], None] | None = None
) -> list[Path]:
    """Prepare every (input, output) pair; outputs written atomically, with the input's georeference."""
    opts.check()
    written = []
    for i, (src, dst) in enumerate(pairs):
        raster = sio.read_raster(src)
        img = prepare_image(raster.data, opts)
        dst.parent.mkdir(parents=True, exist_ok=True)
        written.append(sio.write_image(dst, img, raster.geo))
        if progress:
            progress(i + 1, len(pairs))
    return written
