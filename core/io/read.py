"""Read PNG, JPEG or (Geo)TIFF into a Raster (values, kind, georeference), with a pixel limit for whole reads."""

from __future__ import annotations

import contextlib
import io
import os
import re
import stat
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from core.budget import check_budget, check_expansion, whole_image_bytes
from core.errors import UserError
from core.io.gdal_config import configure_gdal
from core.io.georef import GeoInfo
from core.io.kinds import KINDS, detect_kind
from core.io.source import read_dtype

DEFAULT_MAX_PIXELS = 120_000_000  # about 11k x 11k; override with SAR_STUDIO_MAX_PIXELS or max_pixels=


def max_pixels_default() -> int:
    try:
        return int(os.environ.get("SAR_STUDIO_MAX_PIXELS", DEFAULT_MAX_PIXELS))
    except ValueError:
        return DEFAULT_MAX_PIXELS


@dataclass
class Raster:
    """An image as read: raw values, what they mean, and where they sit on the map."""

    data: np.ndarray  # (H, W) for one band, (H, W, C) for several; dtype as stored (complex -> intensity)
    kind: str  # one of KINDS
    name: str = "image"
    geo: GeoInfo | None = None
    band_names: list[str] = field(default_factory=list)
    detected_kind: str | None = None  # what detection said before any user override

    @property
    def height(self) -> int:
        return int(self.data.shape[0])

    @property
    def width(self) -> int:
        return int(self.data.shape[1])

    @property
    def bands(self) -> int:
        return 1 if self.data.ndim == 2 else int(self.data.shape[2])

    def band(self, i: int) -> np.ndarray:
        return self.data if self.data.ndim == 2 else self.data[..., i]

    def with_kind(self, kind: str | None) -> Raster:
        """The same raster with a user-chosen kind (None or "auto" keeps the detected one)."""
        if kind in (None, "auto"):
            return self
        if kind not in KINDS:
            raise UserError(f"unknown input kind {kind!r}; use one of auto, {', '.join(KINDS)}.")
        return replace(self, kind=kind)


# ----------------------------------------------------------------------------------------------- reading

_MAGIC = {
    b"\x89PNG\r\n\x1a\n": "png",
    b"\xff\xd8\xff": "jpeg",
    b"II*\x00": "tiff",
    b"MM\x00*": "tiff",
    b"II+\x00": "tiff",
    b"MM\x00+": "tiff",
}


def _sniff(head: bytes) -> str | None:
    for magic, fmt in _MAGIC.items():
        if head.startswith(magic):
            return fmt
    return None


def check_input_file(path: str | os.PathLike, name: str | None = None, folders: bool = False) -> None:
    """UserError unless `path` is a regular file (or a folder, with `folders`): a named pipe, device or socket is
    refused before anything opens it (opening a FIFO without a writer blocks forever). A missing path passes: the
    reader says it is missing in its own words."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return
    if stat.S_ISREG(mode) or (folders and stat.S_ISDIR(mode)):
        return
    what = (
        "a folder" if stat.S_ISDIR(mode) else "a named pipe (FIFO)" if stat.S_ISFIFO(mode) else ("a device or socket")
    )
    raise UserError(f"{name or Path(path).name} is {what}, not a regular file; give a file.")


def read_raster(
    source: str | os.PathLike | bytes, name: str | None = None, kind: str | None = None, max_pixels: int | None = None
) -> Raster:
    """Read PNG, JPEG or (Geo)TIFF from a path or bytes. Raises UserError with one sentence on bad input."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        blob = bytes(source)
        name = name or "upload"
    else:
        path = Path(source)
        name = name or path.name
        if not path.exists():
            raise UserError(f"{name}: file not found; check the path.")
        if path.is_dir():
            raise UserError(f"{name} is a folder, not an image file; give an image or use the folder option.")
        check_input_file(path, name)
        blob = path.read_bytes()
    if len(blob) == 0:
        raise UserError(f"{name} is empty (0 bytes); upload the image again.")
    fmt = _sniff(blob[:8])
    if fmt is None:
        raise UserError(f"{name} is not a PNG, JPEG or TIFF image; convert it to one of these formats.")
    limit = max_pixels if max_pixels is not None else max_pixels_default()
    if fmt == "tiff":
        data, geo, band_names = _read_tiff(blob, name, limit)
    else:
        data, geo, band_names = _read_pil(blob, name, limit), None, []
    data = _check_values(data, name, geo)
    detected = detect_kind(data)
    raster = Raster(data=data, kind=detected, name=name, geo=geo, band_names=band_names, detected_kind=detected)
    return raster.with_kind(kind)


def _check_pixels(w: int, h: int, name: str, limit: int) -> None:
    if w <= 0 or h <= 0:
        raise UserError(f"{name} has no pixels ({w}x{h}); check the file.")
    if w * h > limit:
        raise UserError(
            f"{name} is {w}x{h} = {w * h / 1e6:.0f} Mpixel, above the limit of {limit / 1e6:.0f} Mpixel; "
            f"crop it or raise SAR_STUDIO_MAX_PIXELS."
        )


def _check_cost(w: int, h: int, bands: int, itemsize: int, is_complex: bool, size: int, name: str, dtype: str) -> None:
    """From the header, before decoding: refuse bombs and sparse files, then anything over the memory budget."""
    what = f"{name} ({w}x{h}, {bands} band{'s' if bands != 1 else ''} {dtype})"
    check_expansion(w * h * bands * itemsize, size, what)
    check_budget(whole_image_bytes(w, h, bands, itemsize, is_complex), what)


def _read_pil(blob: bytes, name: str, limit: int) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = None  # we apply our own limit, with a useful message
    try:
        im: Image.Image = Image.open(io.BytesIO(blob))
        _check_pixels(im.width, im.height, name, limit)
        bands = 3 if im.mode == "P" else len(im.getbands())
        itemsize = 2 if im.mode.startswith("I;16") else 4 if im.mode in ("I", "F") else 1
        _check_cost(im.width, im.height, bands, itemsize, False, len(blob), name, im.mode)
        im.load()
    except UserError:
        raise
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as exc:
        raise UserError(
            f"{name} could not be decoded ({_short(exc)}); the file is truncated or corrupt, export it again."
        ) from None
    mode = im.mode
    if mode in ("P", "PA", "CMYK", "YCbCr", "LAB", "HSV", "RGBA", "RGBX", "1"):
        im = im.convert("L" if mode == "1" else "RGB")
    elif mode == "LA":
        im = im.convert("L")
    arr = np.asarray(im)
    if im.mode.startswith("I;16"):
        arr = arr.astype(np.uint16)
    return arr


def _read_tiff(blob: bytes, name: str, limit: int) -> tuple[np.ndarray, GeoInfo | None, list[str]]:
    import rasterio
    from rasterio.errors import RasterioError
    from rasterio.io import MemoryFile

    configure_gdal()
    try:
        with warnings.catch_warnings(), contextlib.ExitStack() as stack:
            warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
            stack.enter_context(rasterio.Env(GDAL_PAM_ENABLED="NO", CPL_LOG_ERRORS="OFF"))
            mem = stack.enter_context(MemoryFile(blob))
            ds = stack.enter_context(mem.open(driver="GTiff"))  # TIFF by its magic bytes: only GTiff opens it
            _check_pixels(ds.width, ds.height, name, limit)
            count = ds.count
            dtype = read_dtype(ds.dtypes[0]) if count else np.dtype(np.uint8)
            _check_cost(ds.width, ds.height, count, dtype.itemsize, dtype.kind == "c", len(blob), name, dtype.name)
            if count < 1 or count > 4:
                raise UserError(
                    f"{name} has {count} bands; SAR Studio reads 1 to 3 bands (VV, VH, ratio or RGB), "
                    f"so export the bands you need."
                )
            data = ds.read()  # (bands, H, W)
            geo = GeoInfo.from_dataset(ds)
            descriptions = [d or f"band {i + 1}" for i, d in enumerate(ds.descriptions)]
    except UserError:
        raise
    except (RasterioError, OSError, ValueError) as exc:
        raise UserError(
            f"{name} could not be read as TIFF ({_short(exc)}); the file is truncated or corrupt, export it again."
        ) from None
    if count == 4:
        if data.dtype != np.uint8:
            raise UserError(f"{name} has 4 bands; SAR Studio reads 1 to 3 bands, so export the bands you need.")
        data, descriptions = data[:3], descriptions[:3]  # RGBA: drop alpha
    if np.iscomplexobj(data):  # single-look complex: work on detected intensity |z|^2
        data = (data.real.astype(np.float64) ** 2 + data.imag.astype(np.float64) ** 2).astype(np.float32)
    elif data.dtype == np.float64:
        data = data.astype(np.float32)
    elif data.dtype.kind in "iu" and data.dtype not in (np.uint8, np.uint16):
        data = data.astype(np.float32)
    arr = data[0] if data.shape[0] == 1 else np.ascontiguousarray(np.moveaxis(data, 0, -1))
    if count == 4 and len(geo.band_tags) == 4:
        geo = replace(geo, band_tags=geo.band_tags[:3], band_descriptions=geo.band_descriptions[:3])
    if not geo.is_georeferenced and geo.nodata is None and not _meaningful(geo.tags):
        return arr, None, descriptions
    return arr, geo, descriptions


def _meaningful(tags: dict[str, str]) -> bool:
    """Tags worth carrying (GDAL adds AREA_OR_POINT and TIFF housekeeping to every GeoTIFF)."""
    return any(k != "AREA_OR_POINT" and not k.startswith("TIFFTAG_") for k in tags)


def _short(exc: BaseException) -> str:

    text = " ".join(str(exc).split()) or type(exc).__name__
    text = re.sub(r"(/vsimem/)?[0-9a-f]{8}-[0-9a-f-]{27}\.tif:\s*", "", text)  # GDAL's in-memory file name
    return text[:120]


def _check_values(data: np.ndarray, name: str, geo: GeoInfo | None) -> np.ndarray:
    if data.dtype.kind == "f":
        valid = np.isfinite(data)
        if geo is not None and geo.nodata is not None and np.isfinite(geo.nodata):
            valid &= data != geo.nodata
        if not valid.any():
            raise UserError(f"{name} holds no valid pixels (all NaN, infinite or nodata); check the export.")
    return data


def valid_mask(raster: Raster) -> np.ndarray:
    """True where a pixel holds data (finite and not nodata), per pixel over all bands."""
    d = raster.data
    m = np.isfinite(d) if d.dtype.kind == "f" else np.ones(d.shape, bool)
    if raster.geo is not None and raster.geo.nodata is not None and np.isfinite(raster.geo.nodata):
        m &= d != raster.geo.nodata
    return np.asarray(m if m.ndim == 2 else m.all(axis=-1))
