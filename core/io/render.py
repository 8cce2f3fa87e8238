"""Display: dB then a 2-98 % percentile stretch; dual-pol false colour; labelled comparison panels; PNG bytes."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import numpy as np

from core.io.kinds import to_db, to_intensity
from core.io.read import Raster, valid_mask

if TYPE_CHECKING:
    from PIL.ImageFont import FreeTypeFont, ImageFont


def stretch(
    values: np.ndarray,
    lo: float = 2.0,
    hi: float = 98.0,
    mask: np.ndarray | None = None,
    limits: tuple[float, float] | None = None,
) -> np.ndarray:
    """Percentile stretch to uint8. `limits` fixes (low, high) so several images share one scale."""
    v = np.asarray(values, dtype=np.float32)
    if limits is None:
        limits = percentile_limits(v, lo, hi, mask)
    a, b = limits
    scale = 255.0 / (b - a) if b > a else 0.0
    out = np.clip((v - a) * scale, 0, 255)
    out = np.nan_to_num(out, nan=0.0)
    return np.rint(out).astype(np.uint8)


def percentile_limits(
    values: np.ndarray, lo: float = 2.0, hi: float = 98.0, mask: np.ndarray | None = None
) -> tuple[float, float]:
    v = np.asarray(values, dtype=np.float32)
    sel = np.isfinite(v) if mask is None else (mask & np.isfinite(v))
    finite = v[sel]
    if finite.size == 0:
        return 0.0, 1.0
    if finite.size > 4_000_000:  # percentiles of a regular subsample: same answer to display precision
        finite = finite[:: finite.size // 4_000_000]
    a, b = np.percentile(finite, [lo, hi])
    return float(a), float(b)


def render(raster: Raster, lo: float = 2.0, hi: float = 98.0) -> np.ndarray:
    """Display image (uint8, grey or RGB). SAR: dB then percentile stretch; two bands: VV/VH false colour."""
    if raster.kind == "display":
        d = raster.data
        if d.dtype == np.uint8:
            return d if d.ndim == 2 or d.shape[2] == 3 else d[..., 0]
        return stretch(d, lo, hi)
    mask = valid_mask(raster)
    inten = to_intensity(raster.data, raster.kind)
    if raster.bands == 1:
        return stretch(to_db(inten), lo, hi, mask)
    if raster.bands == 2:
        return render_dualpol(inten[..., 0], inten[..., 1], lo, hi, mask)
    return np.stack([stretch(to_db(inten[..., i]), lo, hi, mask) for i in range(3)], axis=-1)


def render_intensity(
    intensity: np.ndarray, lo: float = 2.0, hi: float = 98.0, limits: tuple[float, float] | None = None
) -> np.ndarray:
    """Grey display of one linear-intensity band: dB, then stretch (optionally with shared dB limits)."""
    return stretch(to_db(intensity), lo, hi, limits=limits)


def render_dualpol(
    vv: np.ndarray, vh: np.ndarray, lo: float = 2.0, hi: float = 98.0, mask: np.ndarray | None = None
) -> np.ndarray:
    """False colour from linear intensities: R = VV dB, G = VH dB, B = VV/VH ratio (VV dB - VH dB)."""
    vv_db, vh_db = to_db(vv), to_db(vh)
    return np.stack(
        [stretch(vv_db, lo, hi, mask), stretch(vh_db, lo, hi, mask), stretch(vv_db - vh_db, lo, hi, mask)], axis=-1
    )


DUALPOL_CONVENTION = "R = VV (dB), G = VH (dB), B = VV/VH ratio (VV dB − VH dB), each 2–98 % stretched"


def to_rgb(img: np.ndarray) -> np.ndarray:
    """uint8 grey or RGB -> uint8 RGB."""
    if img.ndim == 2:
        return np.repeat(img[..., None], 3, axis=2)
    if img.shape[2] == 1:
        return np.repeat(img, 3, axis=2)
    return img[..., :3]


def encode_png(img: np.ndarray) -> bytes:
    """uint8 (H, W) or (H, W, 3) -> PNG bytes."""
    from PIL import Image

    if img.dtype != np.uint8:
        raise ValueError("encode_png takes uint8 images; render or stretch first")
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    return buf.getvalue()


def _font(size: int) -> FreeTypeFont | ImageFont:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # pragma: no cover - very old Pillow
        return ImageFont.load_default()


def comparison_image(
    panels: list[tuple[str, np.ndarray]], columns: int | None = None, gap: int = 8, label_height: int | None = None
) -> np.ndarray:
    """Labelled side-by-side (or grid) of uint8 images, each resized to the first panel's height if needed."""
    from PIL import Image, ImageDraw

    if not panels:
        raise ValueError("comparison_image needs at least one panel")
    imgs = [to_rgb(p) for _, p in panels]
    h0 = imgs[0].shape[0]
    resized = []
    for im in imgs:
        if im.shape[0] != h0:
            w = max(1, round(im.shape[1] * h0 / im.shape[0]))
            im = np.asarray(Image.fromarray(im).resize((w, h0), Image.Resampling.NEAREST))
        resized.append(im)
    cols = columns or len(resized)
    rows = (len(resized) + cols - 1) // cols
    cell_w = max(im.shape[1] for im in resized)
    lh = label_height or max(18, min(40, h0 // 12))
    canvas = Image.new("RGB", (cols * cell_w + (cols - 1) * gap, rows * (h0 + lh) + (rows - 1) * gap), "white")
    draw = ImageDraw.Draw(canvas)
    font = _font(max(11, lh - 6))
    for i, ((label, _), im) in enumerate(zip(panels, resized)):
        r, c = divmod(i, cols)
        x, y = c * (cell_w + gap), r * (h0 + lh + gap)
        draw.text((x + 4, y + 2), label, fill="black", font=font)
        canvas.paste(Image.fromarray(im), (x, y + lh))
    return np.asarray(canvas)
