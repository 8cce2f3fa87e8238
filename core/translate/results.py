"""A translation's result and every output made of it, the same for the page and the CLI.

`TranslationResult`: the RGB output (uint8, the input's size), the input as the network was fed, the input's
georeference (without its nodata) carrying the model card's warning as a tag (`output_geo`), and the notes.
A demo model's result (trained on synthetic scenes) carries its warning band burned into the exported pixels
(`exported_output`, core.cards) in every file: `write_result` (PNG / JPEG / GeoTIFF, atomic), `encode_result`
(the page's downloads), `comparison_png`; `quality_against` scores it against the real optical image.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from core import cards, metrics
from core import io as sio
from core.cards import WARNING_TAG, with_mark_tag, with_warning_tag
from core.errors import UserError


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


def output_geo(geo: sio.GeoInfo | None, warning: str | None = None) -> sio.GeoInfo | None:
    """The georeference of a translation output: the input's, without its nodata, with the model's warning tag."""
    if geo is None:
        return with_warning_tag(None, warning)
    # the input's nodata value (e.g. -9999) means nothing in an 8-bit RGB output; a model card's warning is a tag
    return with_warning_tag(replace(geo, nodata=None), warning)


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
