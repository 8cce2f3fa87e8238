"""Write PNG/JPEG/GeoTIFF atomically (temporary file beside the target, renamed on success), with georeference."""

from __future__ import annotations

import contextlib
import io
import os
import re
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from core.errors import UserError
from core.io.georef import GeoInfo
from core.io.render import encode_png


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds."""
    path = Path(path)
    if path.exists() and not path.is_file():
        raise UserError(f"{path} exists and is not a regular file (a folder, pipe or device); give another path.")
    if path.parent and not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
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


# Our temporary files: `.<target name>.<8 random characters>.part` (atomic_output), `....gtiff.part` (BlockWriter's
# COG work file), `.sar_studio_probe.<8>.part` (the writability probe). A kill (SIGKILL, power loss) leaves them.
STALE_PART = re.compile(r"^\..+\.[A-Za-z0-9_]{8}(\.gtiff)?\.part$")
# Only files untouched this long are stale: a file being written by another run in the same folder is newer.
STALE_PART_AGE_S = 2 * 3600


def clean_stale_parts(folder: str | os.PathLike, max_age_s: float = STALE_PART_AGE_S) -> list[Path]:
    """Remove our temporary files older than `max_age_s` from `folder` (not recursive); returns what went."""
    removed: list[Path] = []
    now = time.time()
    try:
        entries = list(os.scandir(str(folder)))
    except OSError:
        return removed
    for e in entries:
        if not STALE_PART.match(e.name):
            continue
        with contextlib.suppress(OSError):
            if e.is_file(follow_symlinks=False) and now - e.stat(follow_symlinks=False).st_mtime > max_age_s:
                os.unlink(e.path)
                removed.append(Path(e.path))
    return removed


def constant_output_note(data: np.ndarray, name: str = "the output") -> str | None:
    """A warning when `data` holds one value everywhere (integer outputs: within one step of rounding, as a
    tiled 127/128 grey is; float outputs: within 1e-6 relative) or no finite value at all: a blank result."""
    arr = np.asarray(data)
    if arr.size == 0:
        return None
    if arr.dtype.kind == "f":
        finite = np.isfinite(arr)
        if not finite.any():
            return f"Warning: {name} has no finite value (all NaN or infinite); the model or the input is wrong."
        lo, hi = float(np.min(arr, where=finite, initial=np.inf)), float(np.max(arr, where=finite, initial=-np.inf))
        flat = hi - lo <= 1e-6 * max(1.0, abs(hi), abs(lo))
    else:
        lo, hi = float(arr.min()), float(arr.max())
        flat = hi - lo <= (1 if arr.dtype.itemsize == 1 else 0)
    if not flat:
        return None
    return (
        f"Warning: {name} has the same value ({lo:g}) at every pixel; the model or the input is likely wrong "
        f"(a damaged checkpoint, a blank image)."
    )


def encode_geotiff(data: np.ndarray, geo: GeoInfo | None = None, band_names: list[str] | None = None) -> bytes:
    """(H, W) or (H, W, C) array -> GeoTIFF bytes (deflate), carrying the whole georeference of `geo`."""
    import rasterio
    from rasterio.io import MemoryFile

    arr = data if data.ndim == 3 else data[..., None]
    if arr.dtype == np.float64:
        arr = arr.astype(np.float32)
    h, w, c = arr.shape
    profile = geotiff_profile(w, h, c, arr.dtype, geo)
    with warnings.catch_warnings(), rasterio.Env(GDAL_PAM_ENABLED="NO"), MemoryFile() as mem:
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        with mem.open(**profile) as ds:
            ds.write(np.moveaxis(arr, -1, 0))
            write_georef(ds, geo, band_names)
        return bytes(mem.read())


def geotiff_profile(width: int, height: int, count: int, dtype, geo: GeoInfo | None, block: int = 256) -> dict:
    """Creation options of every GeoTIFF we write: deflate, tiled when large enough, georeference of `geo`."""
    dtype = np.dtype(dtype)
    profile: dict = dict(driver="GTiff", width=width, height=height, count=count, dtype=dtype.name)
    profile.update(compress="deflate", BIGTIFF="IF_SAFER")
    if dtype.kind == "f":
        profile["predictor"] = 3
    if height >= block and width >= block:
        profile.update(tiled=True, blockxsize=block, blockysize=block)
    if geo is not None:
        profile.update(geo.creation_profile())
    return profile


def write_georef(ds, geo: GeoInfo | None, band_names: list[str] | None) -> None:
    """GCPs, RPCs, tags and band descriptions onto an open GeoTIFF (the profile carried CRS/transform/nodata)."""
    if geo is not None:
        geo.apply_to(ds, band_names)
        return
    for i, n in enumerate(band_names or []):
        if i < ds.count:
            ds.set_band_description(i + 1, n)


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


def zip_bytes(files: list[tuple[str, bytes]], readme: str | None = None) -> bytes:
    """One zip holding `files` ((name, bytes); names made unique) and, when given, a README.txt that says what each
    file is. Rasters are already compressed, so members are stored with light deflate."""
    import io as _io
    import zipfile

    buf = _io.BytesIO()
    seen: set[str] = set()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        if readme:
            zf.writestr("README.txt", readme)
            seen.add("README.txt")
        for name, data in files:
            base, dot, ext = name.rpartition(".")
            unique, n = name, 1
            while unique in seen:
                n += 1
                unique = f"{base}_{n}.{ext}" if dot else f"{name}_{n}"
            seen.add(unique)
            zf.writestr(unique, data)
    return buf.getvalue()
