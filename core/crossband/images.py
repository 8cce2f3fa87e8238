"""Display images in and out of cross-band generation.

SAR inputs are shown and optimised as what a user looks at: dB with a 2-98 % stretch (one band), scaled to
[-1, 1]; an 8-bit display image is taken as it is. The result is such a display image, written as PNG/JPEG or as
a GeoTIFF of the same values with the content's georeference.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from core import io as sio
from core.errors import UserError

RESULT_BAND_NAME = "cross-band (display dB, 0-255)"


def band_display(raster: sio.Raster, band: int | None = None) -> np.ndarray:
    """What the user sees of one band: uint8 (H, W); SAR is dB with a 2-98 % stretch. An 8-bit RGB display
    image stays RGB (H, W, 3) unless a band is chosen. `band` is 0-based."""
    if raster.kind == "display":
        d = raster.data
        if d.dtype != np.uint8:
            d = sio.stretch(d)
        if d.ndim == 3 and band is None:
            return d if d.shape[2] == 3 else d[..., 0]
        return d if d.ndim == 2 else d[..., _check_band(raster, band or 0)]
    b = _check_band(raster, band or 0)
    inten = sio.to_intensity(raster.band(b), raster.kind)
    mask = sio.valid_mask(raster)
    return sio.stretch(sio.to_db(inten), mask=mask)


def _check_band(raster: sio.Raster, band: int) -> int:
    if not 0 <= band < raster.bands:
        raise UserError(
            f"{raster.name} has {raster.bands} band(s); band {band + 1} does not exist, "
            f"choose a band from 1 to {raster.bands}."
        )
    return band


def read_display(
    source: Any,
    name: str | None = None,
    band: int | None = None,
    kind: str | None = None,
    max_pixels: int | None = None,
) -> tuple[np.ndarray, sio.Raster]:
    """Read a raster (path or bytes) and return its display image and the raster itself."""
    raster = sio.read_raster(source, name=name, kind=kind, max_pixels=max_pixels)
    return band_display(raster, band), raster


def to_tensor(img: np.ndarray, device: str = "cpu") -> Any:
    """uint8 (H, W) or (H, W, 3) -> float tensor (1, C, H, W) in [-1, 1], C = 1 or 3."""
    import torch  # heavy: loaded on first use so `python -m core --help` stays light

    x = torch.from_numpy(np.array(img, dtype=np.float32)).div(127.5).sub(1.0)
    x = x[None, None] if x.ndim == 2 else x.permute(2, 0, 1)[None]
    return x.to(device)


def to_display(x: Any) -> np.ndarray:
    """(1, C, H, W) tensor in [-1, 1] -> uint8 (H, W) or (H, W, 3)."""
    a = ((x.detach()[0].clamp(-1, 1) + 1.0) * 127.5).round().to("cpu").numpy().astype(np.uint8)
    return a[0] if a.shape[0] == 1 else np.ascontiguousarray(a.transpose(1, 2, 0))


def as_rgb(x: Any) -> Any:
    """What the feature networks take: (N, 3, H, W), or (N, 1, H, W) for grey, which they read as R = G = B."""
    return x


def result_geo(geo: sio.GeoInfo | None) -> sio.GeoInfo | None:
    """The content's georeference for a result: CRS and transform kept; the input's nodata value does not apply
    to 0-255 display values."""
    return replace(geo, nodata=None) if geo is not None else None


def encode_result_geotiff(image: np.ndarray, geo: sio.GeoInfo | None) -> bytes:
    """A result as GeoTIFF bytes (for a download button), with the content's georeference."""
    return sio.encode_geotiff(image, result_geo(geo), [RESULT_BAND_NAME])


def write_result_image(path: str | os.PathLike, image: np.ndarray, geo: sio.GeoInfo | None = None) -> Path:
    """PNG/JPEG: the display image; GeoTIFF: the same uint8 values with the content's georeference."""
    suffix = Path(path).suffix.lower()
    if suffix in (".tif", ".tiff"):
        return sio.write_geotiff(path, image, result_geo(geo), [RESULT_BAND_NAME])
    return sio.write_image(path, image)


def comparison_png(content: np.ndarray, image: np.ndarray, style_img: np.ndarray | None = None) -> bytes:
    """A labelled content | style | generated PNG."""
    panels = [("content", content)]
    if style_img is not None:
        panels.append(("style", style_img))
    panels.append(("generated", image))
    return sio.encode_png(sio.comparison_image(panels))


def grid_png(panels: list[tuple[str, np.ndarray]], columns: int = 4) -> bytes:
    """Labelled images as one PNG grid."""
    return sio.encode_png(sio.comparison_image(panels, columns=min(columns, len(panels))))


def value_histograms(images: dict[str, np.ndarray | None], bins: int = 32) -> dict[str, dict]:
    """Per image: histogram of the display values (0-255, `bins` bins, as fractions of the pixels), mean and std,
    and its correlation with the first image (the content): what the cross-band figure draws."""
    items = [(k, v) for k, v in images.items() if v is not None]
    first = items[0][1].astype(np.float64).ravel() if items else None
    out: dict[str, dict] = {}
    for name, img in items:
        v = img.astype(np.float64)
        v = v.mean(axis=2) if v.ndim == 3 else v
        counts, edges = np.histogram(v, bins=bins, range=(0, 256))
        corr = None
        if first is not None and v.size == first.size and v.std() > 0 and first.std() > 0:
            corr = float(np.corrcoef(v.ravel(), first)[0, 1])
        out[name] = dict(
            fraction=counts / max(1, v.size),
            centres=0.5 * (edges[:-1] + edges[1:]),
            mean=float(v.mean()),
            std=float(v.std()),
            corr_with_content=corr,
        )
    return out
