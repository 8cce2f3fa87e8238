"""GDAL's process-wide settings, applied once before the first raster is opened or written: the block cache and
GDAL's own threads.

Why: GDAL's block cache defaults to 5 % of the machine's RAM (1.2 GB on 24 GB, 12.8 GB on a 256 GB server, per
process and per Dask worker), and the first read of a scene (the decimated preview of `open_source`) fills it, so a
cap set later comes too late (issue 24: Lee 7x7 peaked at 1,515 MiB on 20000 x 16000 with the default cache, 369 MiB
with 64 MB). Every reader, writer, product open and preview in core.io calls `configure_gdal()` first.

Size: DEFAULT_CACHE_MB holds the tiles one streamed window touches (a 518² window spans at most 3 x 3 tiles of 512²
float32, 9 MB) with room for the output's; `stream_filter` raises it to what its windows need when the file's blocks
are larger (striped files: full-width strips; several bands) with `ensure_gdal_cache`, at most MAX_AUTO_CACHE_MB.
Measured (bench/RESULTS.md): Lee 7x7 on 20000 x 16000 peaked at 370 MiB with 64 MB, 321 MiB with 16 MB, same
CPU. Override: SAR_STUDIO_GDAL_CACHE_MB=<megabytes> (wins over everything); a GDAL_CACHEMAX in the environment
without it is left to GDAL. GDAL_NUM_THREADS comes from the thread budget (core.compute.thread_plan) unless the
environment sets it. configure_gdal also fixes the C heap's mmap threshold (core.budget.bound_heap_growth).
"""

from __future__ import annotations

import os

from core.budget import bound_heap_growth
from core.compute import thread_plan
from core.errors import UserError

CACHE_ENV = "SAR_STUDIO_GDAL_CACHE_MB"
DEFAULT_CACHE_MB = 16
MAX_AUTO_CACHE_MB = 256  # what `ensure_gdal_cache` may grow to for striped or wide-tiled scenes; the env is not capped

_state: dict[str, int] = {}  # "cache": bytes set by us (absent until the first call)


def gdal_cache_bytes() -> int | None:
    """Bytes GDAL's block cache gets: SAR_STUDIO_GDAL_CACHE_MB, else DEFAULT_CACHE_MB; None when the user set
    GDAL_CACHEMAX (and not ours), which GDAL then reads itself."""
    text = os.environ.get(CACHE_ENV, "").strip()
    if text:
        try:
            mb = float(text)
        except ValueError:
            raise UserError(f"{CACHE_ENV}={text!r} is not a number; set it to megabytes, e.g. 64.") from None
        if not mb >= 1:
            raise UserError(f"{CACHE_ENV}={text!r} is below 1; set it to megabytes, e.g. 64.")
        return int(mb * 1024 * 1024)
    if os.environ.get("GDAL_CACHEMAX"):
        return None
    return DEFAULT_CACHE_MB * 1024 * 1024


def configure_gdal() -> None:
    """Set GDAL's block cache and GDAL_NUM_THREADS once per process (cheap on later calls)."""
    if "cache" in _state:
        return

    bound_heap_growth()  # the other half of flat memory: the C heap (see its note)
    if not os.environ.get("GDAL_NUM_THREADS"):
        # read by GDAL on each use (after thread-local and global options), so it holds in every thread
        os.environ["GDAL_NUM_THREADS"] = str(thread_plan().gdal)
    want = gdal_cache_bytes()
    if want is not None:
        _set_cache(want)
    _state["cache"] = want or 0


def ensure_gdal_cache(need_bytes: int) -> None:
    """Grow the cache to `need_bytes` (capped at MAX_AUTO_CACHE_MB) for a wide scene, unless the user chose it."""
    configure_gdal()
    if os.environ.get(CACHE_ENV, "").strip() or os.environ.get("GDAL_CACHEMAX"):
        return
    want = min(int(need_bytes), MAX_AUTO_CACHE_MB * 1024 * 1024)
    if want > _state["cache"]:
        _set_cache(want)
        _state["cache"] = want


def gdal_cache_in_use() -> int:
    """GDAL's cache limit now, in bytes (GDALGetCacheMax64)."""
    from rasterio.env import get_gdal_config

    return int(get_gdal_config("GDAL_CACHEMAX"))


def _set_cache(nbytes: int) -> None:
    # rasterio maps GDAL_CACHEMAX to GDALSetCacheMax64: process-wide and immediate, from any thread
    from rasterio.env import set_gdal_config

    set_gdal_config("GDAL_CACHEMAX", int(nbytes))
