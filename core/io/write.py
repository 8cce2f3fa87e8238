"""Write PNG/JPEG/GeoTIFF atomically (temporary file beside the target, renamed on success), with georeference."""

from __future__ import annotations

import contextlib
import fcntl
import io
import io as _io
import os
import re
import tempfile
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from core.compute import thread_plan
from core.errors import UserError
from core.io.gdal_config import configure_gdal
from core.io.georef import GeoInfo
from core.io.render import encode_png

if TYPE_CHECKING:
    from rasterio.io import DatasetWriter


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds."""
    path = Path(path)
    if path.exists() and not path.is_file():
        raise UserError(f"{path} exists and is not a regular file (a folder, pipe or device); give another path.")
    if path.parent and not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_parts(path.parent, path.name)  # what a killed run writing this target left behind
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    fcntl.flock(fd, fcntl.LOCK_EX)  # held while we write: clean_stale_parts leaves a locked file alone
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
    finally:
        os.close(fd)  # releases the lock (the kernel releases it too when the process dies, even by SIGKILL)


# Our temporary files: `.<target name>.<8 random characters>.part` (atomic_output), `....gtiff.part` (BlockWriter's
# COG work file), `.sar_studio_probe.<8>.part` (the writability probe). A kill (SIGKILL, power loss) leaves them.
STALE_PART = re.compile(r"^\..+\.[A-Za-z0-9_]{8}(\.gtiff)?\.part$")


def _being_written(part: Path) -> bool:
    """True while a live writer holds the flock atomic_output takes on `part` (or, for a COG work file, on the
    `.part` it belongs to). A process that died, however, holds nothing."""
    owner = (
        part.with_name(part.name.removesuffix(".gtiff.part") + ".part") if part.name.endswith(".gtiff.part") else part
    )
    try:
        fd = os.open(owner, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return False  # the owner is gone: a COG work file whose run died between the two files
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return True  # a filesystem without locks: keep the file rather than risk another run's output
    finally:
        os.close(fd)  # also drops the lock if we got it
    return False


def clean_stale_parts(folder: str | os.PathLike, target: str | None = None) -> list[Path]:
    """Remove our temporary files in `folder` (not recursive) that no live writer holds, only those of the output
    named `target` when given; returns what went. A run killed by SIGKILL leaves them; the next run removes them."""
    removed: list[Path] = []
    try:
        entries = list(os.scandir(str(folder)))
    except OSError:
        return removed
    for e in entries:
        if not STALE_PART.match(e.name) or (target is not None and not e.name.startswith(f".{target}.")):
            continue
        with contextlib.suppress(OSError):
            if e.is_file(follow_symlinks=False) and not _being_written(Path(e.path)):
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


# ----------------------------------------------------------------------------------------------- compression
#
# GeoTIFF codec of every file we write: ZSTD (default), DEFLATE, LZW or NONE, with the horizontal predictor
# (3 = floating point for float data, 2 = integer differencing for integers), a level where the codec has one, and
# NUM_THREADS for the encoder from the thread budget (core.compute.thread_plan; blocks are compressed in parallel,
# and the file's bytes are the same for any thread count). Default: ZSTD level DEFAULT_ZSTD_LEVEL (measured in
# bench/RESULTS.md: far less CPU than DEFLATE for about the same size on filtered float32 output). The CLI's
# `--compress CODEC[:LEVEL]` sets SAR_STUDIO_COMPRESS for the run (and its Dask workers), which every writer reads.

COMPRESSIONS = ("zstd", "deflate", "lzw", "none")
COMPRESS_ENV = "SAR_STUDIO_COMPRESS"
DEFAULT_COMPRESS = "zstd"
DEFAULT_ZSTD_LEVEL = 1
LEVELS = {"zstd": (1, 22), "deflate": (1, 12)}  # GDAL's ZSTD_LEVEL and ZLEVEL (12: libdeflate's highest)


def parse_compress(text: str | None) -> tuple[str, int | None]:
    """ "zstd", "deflate:6", "none" -> (codec, level or None); a one-line UserError for anything else."""
    text = (text or "").strip().lower() or DEFAULT_COMPRESS
    codec, _, level_text = text.partition(":")
    if codec not in COMPRESSIONS:
        raise UserError(
            f"unknown compression {codec!r}; use one of {', '.join(COMPRESSIONS)} (e.g. zstd or deflate:6)."
        )
    if not level_text:
        return codec, (DEFAULT_ZSTD_LEVEL if codec == "zstd" else None)
    if codec not in LEVELS:
        raise UserError(f"{codec} has no level; give {codec} alone, or zstd:1-22 or deflate:1-12.")
    lo, hi = LEVELS[codec]
    try:
        level = int(level_text)
    except ValueError:
        level = lo - 1
    if not lo <= level <= hi:
        raise UserError(f"{codec} level {level_text!r} is out of range; use {codec}:{lo} to {codec}:{hi}.")
    return codec, level


def compression_options(dtype: npt.DTypeLike, compress: str | None = None) -> dict:
    """GDAL creation options for `compress` ("codec[:level]"; None: SAR_STUDIO_COMPRESS, else the default)."""

    codec, level = parse_compress(compress if compress is not None else os.environ.get(COMPRESS_ENV))
    if codec == "none":
        return {"compress": "none"}
    opts: dict = {"compress": codec, "predictor": 3 if np.dtype(dtype).kind == "f" else 2}
    if level is not None:
        opts["zstd_level" if codec == "zstd" else "zlevel"] = level
    threads = thread_plan().gdal
    if threads > 1:
        opts["num_threads"] = threads
    return opts


def cog_options(dtype: npt.DTypeLike, compress: str | None = None) -> dict:
    """The same choice as COG driver options (upper-case keys; the COG driver has no ZLEVEL, it takes LEVEL)."""
    opts = compression_options(dtype, compress)
    out = {"COMPRESS": opts["compress"].upper()}
    if "predictor" in opts:
        out["PREDICTOR"] = "YES" if opts["predictor"] == 2 else "FLOATING_POINT"
    level = opts.get("zstd_level", opts.get("zlevel"))
    if level is not None:
        out["LEVEL"] = level
    if "num_threads" in opts:
        out["NUM_THREADS"] = opts["num_threads"]
    return out


def encode_geotiff(
    data: np.ndarray, geo: GeoInfo | None = None, band_names: list[str] | None = None, compress: str | None = None
) -> bytes:
    """(H, W) or (H, W, C) array -> GeoTIFF bytes (compress: see compression_options), with the georeference."""
    import rasterio
    from rasterio.io import MemoryFile

    configure_gdal()
    arr = data if data.ndim == 3 else data[..., None]
    if arr.dtype == np.float64:
        arr = arr.astype(np.float32)
    h, w, c = arr.shape
    profile = geotiff_profile(w, h, c, arr.dtype, geo, compress=compress)
    with warnings.catch_warnings(), rasterio.Env(GDAL_PAM_ENABLED="NO"), MemoryFile() as mem:
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        with mem.open(**profile) as ds:
            ds.write(np.moveaxis(arr, -1, 0))
            write_georef(ds, geo, band_names)
        return bytes(mem.read())


def geotiff_profile(
    width: int,
    height: int,
    count: int,
    dtype: npt.DTypeLike,
    geo: GeoInfo | None,
    block: int = 256,
    compress: str | None = None,
) -> dict:
    """Creation options of every GeoTIFF we write: the codec (compression_options), tiled when large enough,
    georeference of `geo`."""
    dtype = np.dtype(dtype)
    profile: dict = dict(driver="GTiff", width=width, height=height, count=count, dtype=dtype.name)
    profile.update(compression_options(dtype, compress), BIGTIFF="IF_SAFER")
    if height >= block and width >= block:
        profile.update(tiled=True, blockxsize=block, blockysize=block)
    if geo is not None:
        profile.update(geo.creation_profile())
    return profile


def write_georef(ds: DatasetWriter, geo: GeoInfo | None, band_names: list[str] | None) -> None:
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
