"""Model cards: the .md beside a model file or adapter folder, its machine-readable front matter, and the warning a
result carries when the card says the model was trained on synthetic scenes only.

A card may open with front matter, `key: value` lines between two `---` lines:

    ---
    training_data: synthetic
    ---

`training_data: synthetic` makes every result of the model carry SYNTHETIC_WARNING: in the translation's GeoTIFF
tags (WARNING_TAG), and in its pixels: a red band with BAND_TEXT burned over the bottom rows (burn_warning,
band_rows: a tenth of the height, 10 to 512 rows, so it shows in overviews) of the shown image, the downloaded PNG
and the GeoTIFF (whose MARK_TAG says which rows), and under the comparison PNG (warn_png).
"""

from __future__ import annotations

import io
import os
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from core.io import GeoInfo

if TYPE_CHECKING:
    from PIL import Image, ImageFont

WARNING_TAG = "SAR_STUDIO_WARNING"
MARK_TAG = "SAR_STUDIO_MARK"  # where the warning band was burned into a result's pixels
SYNTHETIC_WARNING = (
    "Demo model trained on synthetic scenes only: on real SAR this is not a land-cover map; do not interpret it."
)
BAND_TEXT = "SYNTHETIC-TRAINED DEMO MODEL: NOT A MAP OF REAL LAND COVER"

__all__ = [
    "BAND_TEXT",
    "MARK_TAG",
    "SYNTHETIC_WARNING",
    "WARNING_TAG",
    "band_rows",
    "burn_warning",
    "card_body",
    "card_fields",
    "card_path",
    "result_warning",
    "training_data",
    "warn_png",
    "warning_band",
    "with_mark_tag",
    "with_warning_tag",
]


# ------------------------------------------------------------------------------------------- reading


def card_path(model: str | os.PathLike) -> Path:
    """The card of a model file (x.safetensors -> x.md) or an adapter folder (x_lora -> x_lora.md)."""
    p = Path(model)
    return p.with_suffix(".md") if p.suffix else p.with_name(p.name + ".md")


def _split(text: str) -> tuple[dict[str, str], str]:
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        return {}, text
    for end in range(1, len(lines)):
        if lines[end].strip() == "---":
            fields = {}
            for line in lines[1:end]:
                key, sep, value = line.partition(":")
                if sep and key.strip():
                    fields[key.strip()] = value.strip()
            return fields, "\n".join(lines[end + 1 :]).lstrip("\n")
    return {}, text  # no closing line: not front matter


def card_fields(model: str | os.PathLike) -> dict[str, str]:
    """The card's front matter (`key: value` lines between `---` lines at the top); {} without a card."""
    card = card_path(model)
    return _split(card.read_text())[0] if card.is_file() else {}


def card_body(text: str) -> str:
    """The card's text for display, without the front matter."""
    return _split(text)[1]


def training_data(model: str | os.PathLike) -> str | None:
    """What the card says the model was trained on (e.g. "synthetic", "real"), or None."""
    return card_fields(model).get("training_data") or None


def result_warning(model: str | os.PathLike, adapter: str | os.PathLike | None = None) -> str | None:
    """SYNTHETIC_WARNING when the model's card (or its adapter's) says it was trained on synthetic scenes."""
    paths = [model] + ([adapter] if adapter else [])
    return SYNTHETIC_WARNING if any(training_data(p) == "synthetic" for p in paths) else None


# ------------------------------------------------------------------------------------------- marking


def with_warning_tag(geo: GeoInfo | None, warning: str | None) -> GeoInfo | None:
    """The output's georeference with WARNING_TAG added (a bare GeoInfo when the input had none)."""
    if not warning:
        return geo
    geo = geo if geo is not None else GeoInfo()
    return replace(geo, tags={**geo.tags, WARNING_TAG: warning})


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    from PIL import ImageFont  # heavy (Pillow): only burning a band draws text

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # pragma: no cover - very old Pillow
        return ImageFont.load_default()


def _band(width: int, height: int, text: str) -> Image.Image:
    """A dark red band with the text in white, shrunk until it fits the width."""
    from PIL import Image, ImageDraw  # heavy (Pillow): only burning a band draws

    band = Image.new("RGB", (width, height), (150, 0, 0))
    draw = ImageDraw.Draw(band)
    size = max(6, height - 6)
    font = _font(size)
    length = draw.textlength(text, font=font)
    if length > width - 6:  # jump close to the fitting size first (wide scenes: hundreds of sizes otherwise)
        size = max(6, int(size * (width - 6) / length))
        font = _font(size)
    while size > 6 and draw.textlength(text, font=font) > width - 6:
        size -= 1
        font = _font(size)
    draw.text((3, max(0, (height - size) // 2 - 1)), text, fill=(255, 255, 255), font=font)
    return band


def burn_warning(img: np.ndarray, text: str = BAND_TEXT) -> np.ndarray:
    """A copy of a uint8 image with a warning band over its bottom rows (same size, so it fits every view)."""
    rgb = np.asarray(img)
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[..., None], 3, axis=2)
    out = np.ascontiguousarray(rgb[..., :3]).copy()
    h, w = out.shape[:2]
    out[h - band_rows(h) :] = warning_band(w, h, text)
    return out


def band_rows(height: int) -> int:
    """Height of the warning band burned into an image `height` rows high: a tenth, 10 to 512 rows (still a few
    pixels in a 1/32 overview of a large scene)."""
    return min(height, max(10, min(height // 10, 512)))


def warning_band(width: int, height: int, text: str = BAND_TEXT) -> np.ndarray:
    """The (band_rows(height), width, 3) uint8 band burn_warning puts over the bottom rows of an image."""
    return np.asarray(_band(width, band_rows(height), text))


def with_mark_tag(geo: GeoInfo | None, height: int) -> GeoInfo:
    """The georeference with MARK_TAG saying where the warning band sits in the pixels."""
    geo = geo if geo is not None else GeoInfo()
    return replace(geo, tags={**geo.tags, MARK_TAG: f"bottom {band_rows(height)} rows: warning band burned in"})


def warn_png(png: bytes, text: str = SYNTHETIC_WARNING) -> bytes:
    """A PNG (e.g. a comparison) with a warning band added below it."""
    from PIL import Image  # heavy (Pillow): only a PNG with a warning band

    with Image.open(io.BytesIO(png)) as im:
        top = im.convert("RGB")
    bh = max(18, min(40, top.height // 12))
    canvas = Image.new("RGB", (top.width, top.height + bh), "white")
    canvas.paste(top, (0, 0))
    canvas.paste(_band(top.width, bh, text), (0, top.height))
    buf = io.BytesIO()
    canvas.save(buf, format="PNG")
    return buf.getvalue()
