"""Read, convert, render and write SAR and optical images.

What a file holds is detected from its dtype and value range (`detect_kind`) and can be overridden:
- "display":   8-bit, already display-scaled (most PNG/JPEG in public datasets); no radiometric meaning.
- "amplitude": sqrt of intensity, typically uint16 DN or float.
- "intensity": linear power (sigma0 / beta0 / DN^2), typically float32 GeoTIFF.
- "db":        10*log10(intensity).
Filters work on intensity; display is dB plus a 2-98 % percentile stretch; dual-pol false colour is
R = VV, G = VH, B = VV/VH (the linear ratio, i.e. VV_dB - VH_dB), each stretched on its own.

Every writer goes through `atomic_output`: a temporary file in the destination folder, renamed on success,
so an interrupted or failed write never leaves a half-written output.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator

import numpy as np

from core.errors import UserError

KINDS = ("display", "amplitude", "intensity", "db")
KIND_LABELS = {
    "display": "8-bit display image (no radiometry)",
    "amplitude": "amplitude (sqrt of intensity)",
    "intensity": "linear intensity (sigma0 / power)",
    "db": "decibels (10·log10 intensity)",
}
DEFAULT_MAX_PIXELS = 120_000_000  # about 11k x 11k; override with SAR_STUDIO_MAX_PIXELS or max_pixels=
DB_FLOOR = 1e-10  # intensity floor before log10, i.e. -100 dB


def max_pixels_default() -> int:
    try:
        return int(os.environ.get("SAR_STUDIO_MAX_PIXELS", DEFAULT_MAX_PIXELS))
    except ValueError:
        return DEFAULT_MAX_PIXELS


@dataclass
class GeoInfo:
    """Georeference carried from a GeoTIFF input to every GeoTIFF output."""

    crs: str | None = None  # WKT
    transform: tuple[float, ...] | None = None  # affine a, b, c, d, e, f (rasterio order)
    nodata: float | None = None

    @property
    def is_georeferenced(self) -> bool:
        return self.crs is not None or (
            self.transform is not None and tuple(self.transform) != (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
        )

    def scaled(self, factor: float) -> "GeoInfo":
        """Georeference of the same footprint sampled `factor` times finer (e.g. 4 for x4 super-resolution)."""
        if self.transform is None:
            return replace(self)
        a, b, c, d, e, f = self.transform
        return replace(self, transform=(a / factor, b / factor, c, d / factor, e / factor, f))


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

    def with_kind(self, kind: str | None) -> "Raster":
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


def _read_pil(blob: bytes, name: str, limit: int) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = None  # we apply our own limit, with a useful message
    try:
        im = Image.open(io.BytesIO(blob))
        _check_pixels(im.width, im.height, name, limit)
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

    try:
        with warnings.catch_warnings(), contextlib.ExitStack() as stack:
            warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
            stack.enter_context(rasterio.Env(GDAL_PAM_ENABLED="NO", CPL_LOG_ERRORS="OFF"))
            mem = stack.enter_context(MemoryFile(blob))
            ds = stack.enter_context(mem.open())
            _check_pixels(ds.width, ds.height, name, limit)
            count = ds.count
            if count < 1 or count > 4:
                raise UserError(
                    f"{name} has {count} bands; SAR Studio reads 1 to 3 bands (VV, VH, ratio or RGB), "
                    f"so export the bands you need."
                )
            data = ds.read()  # (bands, H, W)
            crs = ds.crs.to_wkt() if ds.crs else None
            t = ds.transform
            transform = (t.a, t.b, t.c, t.d, t.e, t.f)
            nodata = ds.nodata
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
    geo = GeoInfo(crs=crs, transform=transform, nodata=None if nodata is None else float(nodata))
    if not geo.is_georeferenced and geo.nodata is None:
        geo = None
    return arr, geo, descriptions


def _short(exc: BaseException) -> str:
    import re

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
    return m if m.ndim == 2 else m.all(axis=-1)


def detect_kind(data: np.ndarray) -> str:
    """Guess what the values are from dtype and range. uint8 -> display; uint16/int -> amplitude;
    float with a negative median -> dB; float >= 0 -> intensity (calibrated products are mostly sigma0)."""
    if data.dtype == np.uint8:
        return "display"
    if data.dtype.kind in "iu":
        return "amplitude"
    finite = data[np.isfinite(data)]
    if finite.size == 0:
        return "intensity"
    sample = finite if finite.size <= 1_000_000 else finite[:: finite.size // 1_000_000]
    if (sample < 0).mean() > 0.05 and np.median(sample) < 5 and sample.min() > -200:
        return "db"
    return "intensity"


# -------------------------------------------------------------------------------------------- conversion


def to_intensity(data: np.ndarray, kind: str) -> np.ndarray:
    """Linear intensity as float32. Display images have no radiometry: their values are taken as they are."""
    x = data.astype(np.float32, copy=False)
    if kind == "intensity" or kind == "display":
        return x.astype(np.float32, copy=True)
    if kind == "amplitude":
        return np.square(x, dtype=np.float32)
    if kind == "db":
        return np.power(np.float32(10.0), x / np.float32(10.0), dtype=np.float32)
    raise UserError(f"unknown input kind {kind!r}; use one of {', '.join(KINDS)}.")


def from_intensity(intensity: np.ndarray, kind: str) -> np.ndarray:
    """Back from linear intensity to `kind` (float32; display is clipped to 0..255 and rounded to uint8)."""
    x = intensity.astype(np.float32, copy=False)
    if kind == "intensity":
        return x.copy()
    if kind == "amplitude":
        return np.sqrt(np.maximum(x, 0), dtype=np.float32)
    if kind == "db":
        return to_db(x)
    if kind == "display":
        return np.clip(np.rint(x), 0, 255).astype(np.uint8)
    raise UserError(f"unknown output kind {kind!r}; use one of {', '.join(KINDS)}.")


def to_db(intensity: np.ndarray) -> np.ndarray:
    x = np.asarray(intensity, dtype=np.float32)
    return (10.0 * np.log10(np.maximum(x, DB_FLOOR))).astype(np.float32)


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


# ----------------------------------------------------------------------------------------------- writing


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds."""
    path = Path(path)
    if path.parent and not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the permissions of a normal write
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def encode_png(img: np.ndarray) -> bytes:
    """uint8 (H, W) or (H, W, 3) -> PNG bytes."""
    from PIL import Image

    if img.dtype != np.uint8:
        raise ValueError("encode_png takes uint8 images; render or stretch first")
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    return buf.getvalue()


def encode_geotiff(data: np.ndarray, geo: GeoInfo | None = None, band_names: list[str] | None = None) -> bytes:
    """(H, W) or (H, W, C) array -> GeoTIFF bytes (deflate), carrying CRS, transform and nodata when given."""
    import rasterio
    from rasterio.io import MemoryFile
    from rasterio.transform import Affine

    arr = data if data.ndim == 3 else data[..., None]
    if arr.dtype == np.float64:
        arr = arr.astype(np.float32)
    h, w, c = arr.shape
    profile = dict(driver="GTiff", width=w, height=h, count=c, dtype=arr.dtype.name, compress="deflate")
    if arr.dtype.kind == "f":
        profile["predictor"] = 3
    if h >= 256 and w >= 256:
        profile.update(tiled=True, blockxsize=256, blockysize=256)
    if geo is not None:
        if geo.crs is not None:
            profile["crs"] = rasterio.crs.CRS.from_wkt(geo.crs)
        if geo.transform is not None:
            profile["transform"] = Affine(*geo.transform[:6])
        if geo.nodata is not None:
            profile["nodata"] = geo.nodata
    with warnings.catch_warnings(), rasterio.Env(GDAL_PAM_ENABLED="NO"), MemoryFile() as mem:
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        with mem.open(**profile) as ds:
            ds.write(np.moveaxis(arr, -1, 0))
            for i, n in enumerate(band_names or []):
                if i < c:
                    ds.set_band_description(i + 1, n)
        return bytes(mem.read())


def write_bytes(path: str | os.PathLike, blob: bytes) -> Path:
    with atomic_output(path) as tmp:
        tmp.write_bytes(blob)
    return Path(path)


def write_png(path: str | os.PathLike, img: np.ndarray) -> Path:
    return write_bytes(path, encode_png(img))


def write_geotiff(
    path: str | os.PathLike, data: np.ndarray, geo: GeoInfo | None = None, band_names: list[str] | None = None
) -> Path:
    return write_bytes(path, encode_geotiff(data, geo, band_names))


def write_image(
    path: str | os.PathLike, data: np.ndarray, geo: GeoInfo | None = None, band_names: list[str] | None = None
) -> Path:
    """Write by extension: .tif/.tiff -> GeoTIFF with the values as they are; .png/.jpg -> uint8 display."""
    suffix = Path(path).suffix.lower()
    if suffix in (".tif", ".tiff"):
        return write_geotiff(path, data, geo, band_names)
    if suffix in (".png", ".jpg", ".jpeg"):
        if data.dtype != np.uint8:
            raise UserError(f"{Path(path).name}: PNG/JPEG output needs a display image; use .tif for values.")
        if suffix == ".png":
            return write_png(path, data)
        from PIL import Image

        buf = io.BytesIO()
        Image.fromarray(data).save(buf, format="JPEG", quality=95)
        return write_bytes(path, buf.getvalue())
    raise UserError(f"{Path(path).name}: unknown output format {suffix or '(none)'}; use .tif, .png or .jpg.")


# ------------------------------------------------------------------------------------------- comparisons


def _font(size: int):
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
