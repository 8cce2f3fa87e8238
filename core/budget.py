"""How much memory a piece of work will take, estimated from sizes alone, and the budget it must fit before it starts.

One estimate per path: a whole-image read (what core.io.read_raster decodes, plus the float working copies every
engine makes of it) and a streamed run (one window with its halo, whatever the scene's size). The budget is
`SAR_STUDIO_MEMORY_GB` when set, else BUDGET_FRACTION of the memory the machine has available now. Checks run on
header dimensions, before anything is decoded, so a 97 KB PNG declaring 10000 x 10000 pixels never reaches the
decoder on a machine that cannot hold it.
"""

from __future__ import annotations

import os

from core.errors import UserError

ENV = "SAR_STUDIO_MEMORY_GB"
BUDGET_FRACTION = 0.5  # of MemAvailable: leaves room for the server, the models and a second session
# Bytes per pixel per band that the engines add to a decoded image: the despeckle path holds about three float64
# arrays (intensity, local mean, local variance) while it works; translation holds float32 input, output and display.
WORK_BYTES_PER_PIXEL = 24
COMPLEX_CONVERT_BYTES = 16  # |z|^2 goes through float64 real**2 and imag**2 before the float32 result
# A header that declares this many times more decoded bytes than the file holds is a decompression bomb or a sparse
# file (ordinary images: 1-20x; constant masks of real scenes stay far below this).
MAX_EXPANSION = 500
EXPANSION_FLOOR = 32 * 1024**2  # small images are never refused for their compression ratio

__all__ = [
    "ENV",
    "MAX_EXPANSION",
    "available_bytes",
    "budget_bytes",
    "check_budget",
    "check_expansion",
    "check_run_time",
    "format_bytes",
    "whole_image_bytes",
    "window_bytes",
]


def available_bytes() -> int:
    """Memory the machine has available now (MemAvailable from /proc/meminfo, else free pages from sysconf)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 8 * 1024**3  # an unknown platform: assume a small workstation


def budget_bytes() -> int:
    """The memory one piece of work may use: SAR_STUDIO_MEMORY_GB, else a fraction of the available memory."""
    text = os.environ.get(ENV, "").strip()
    if text:
        try:
            gb = float(text)
        except ValueError:
            raise UserError(
                f"{ENV}={text!r} is not a number; set it to the gigabytes one run may use, e.g. 4."
            ) from None
        if not gb > 0:
            raise UserError(f"{ENV}={text!r} must be above 0; set it to the gigabytes one run may use, e.g. 4.")
        return int(gb * 1024**3)
    return int(available_bytes() * BUDGET_FRACTION)


def format_bytes(n: float) -> str:
    if n >= 1024**3:
        return f"{n / 1024**3:.1f} GB"
    if n >= 1024**2:
        return f"{n / 1024**2:.0f} MB"
    return f"{n / 1024:.0f} KB" if n >= 1024 else f"{int(n)} B"


def whole_image_bytes(width: int, height: int, bands: int, itemsize: int, is_complex: bool = False) -> int:
    """Peak bytes of a whole-image read and the work on it: the decoded values, the complex-to-intensity
    temporaries, and the engines' float working copies (WORK_BYTES_PER_PIXEL per pixel and band)."""
    px = int(width) * int(height) * int(bands)
    return px * int(itemsize) + (px * COMPLEX_CONVERT_BYTES if is_complex else 0) + px * WORK_BYTES_PER_PIXEL


def window_bytes(window: int, halo: int, bands: int, itemsize: int, is_complex: bool = False) -> int:
    """Peak bytes of a streamed run: one window with its halo on each side, whatever the scene's size."""
    side = int(window) + 2 * int(halo)
    return whole_image_bytes(side, side, bands, itemsize, is_complex)


def check_budget(estimate: int, what: str) -> None:
    """Refuse work whose estimate exceeds the budget, with one sentence naming the size, estimate and budget.

    `what` names the input and its size, e.g. "scene.tif (10000x10000, 1 band complex64)".
    """
    budget = budget_bytes()
    if estimate > budget:
        raise UserError(
            f"{what} needs about {format_bytes(estimate)} of memory, above the budget of {format_bytes(budget)}; "
            f"crop it, stream it (GeoTIFF output), or raise {ENV}."
        )


def check_expansion(decoded: int, file_size: int, what: str) -> None:
    """Refuse a header that declares far more decoded bytes than the file holds (decompression bomb, sparse TIFF)."""
    if decoded > EXPANSION_FLOOR and decoded > MAX_EXPANSION * max(file_size, 1):
        raise UserError(
            f"{what} declares {format_bytes(decoded)} of pixels in a {format_bytes(file_size)} file "
            f"({decoded / max(file_size, 1):.0f}x, typical of a decompression bomb or a sparse file); it was refused."
        )


TIME_ENV = "SAR_STUDIO_MAX_RUN_HOURS"
DEFAULT_MAX_RUN_HOURS = 24.0


def check_run_time(seconds: float, what: str, fix: str = "do less at once") -> None:
    """Refuse work estimated to run longer than SAR_STUDIO_MAX_RUN_HOURS (default 24 h), in one sentence.

    `what` says what was estimated from what, e.g. "1000000000 steps at 0.012 s per step (measured on the first)".
    """
    text = os.environ.get(TIME_ENV, "").strip()
    try:
        hours = float(text) if text else DEFAULT_MAX_RUN_HOURS
    except ValueError:
        raise UserError(
            f"{TIME_ENV}={text!r} is not a number; set it to the hours one run may take, e.g. 24."
        ) from None
    if seconds > hours * 3600:
        days = seconds / 86400
        shown = f"{days:.0f} days" if days >= 2 else f"{seconds / 3600:.1f} hours"
        raise UserError(
            f"{what} would take about {shown}, above the limit of {hours:g} hours; lower it or raise {TIME_ENV}."
        )


MMAP_THRESHOLD = 4 * 1024**2  # arrays from this size get their own mapping, returned to the system when freed
_HEAP: list[object] = []  # set once the heap policy of this process is chosen


def bound_heap_growth() -> None:
    """Fix glibc's mmap threshold at MMAP_THRESHOLD (once per process; nothing on other C libraries).

    glibc raises the threshold each time a large mapped block is freed (up to 32 MB), after which whole-scene-sized
    temporaries (2048² reads, samples) come from the heap, and the heap fragments as windows come and go: the peak
    RSS of a streamed Lee 7x7 crept from 254 MiB at 2048² to 291 MiB at 8192²; with the threshold fixed at 4 MB,
    276 MiB, for about 10 % more system time (bench/RESULTS.md)."""
    if _HEAP:
        return
    _HEAP.append(True)
    import ctypes  # noqa: PLC0415 - start-up: ctypes only when the heap bound is set, once per process
    import ctypes.util  # noqa: PLC0415 - start-up: ctypes.util pulls subprocess (35 modules), once per process

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(-3, MMAP_THRESHOLD)  # M_MMAP_THRESHOLD; also turns glibc's dynamic threshold off
    except (OSError, AttributeError):
        pass


WINDOW_MMAP_THRESHOLD = 64 * 1024**2  # a window's temporaries (refined Lee: 13 MB sums per block of rows) stay below
WINDOW_TRIM_THRESHOLD = 256 * 1024**2  # free heap kept at the top before it is given back


def keep_window_heap() -> None:
    """For a process that only filters windows of one size (a Dask worker of a scene): its temporaries come from
    the heap, which keeps its high-water mark instead of giving it back after each window (once per process;
    replaces bound_heap_growth there).

    Every window needs the same memory, so the high-water mark is one window's work whatever the scene's size, and
    nothing is faulted in again: with bound_heap_growth's 4 MB threshold each 13 MB temporary of a refined Lee
    window was a fresh mapping, zeroed by the kernel on first touch, and two workers faulting at once in one memory
    cgroup cost 1.60 s of system time against 0.66 s with this policy on a 4096² scene (bench/RESULTS.md)."""
    if _HEAP and _HEAP[0] == "window":
        return
    _HEAP[:] = ["window"]
    import ctypes  # noqa: PLC0415 - start-up: ctypes only in a scene worker, once per process
    import ctypes.util  # noqa: PLC0415 - start-up: ctypes.util pulls subprocess (35 modules), once per process

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(-3, WINDOW_MMAP_THRESHOLD)  # M_MMAP_THRESHOLD (also turns the dynamic threshold off)
        libc.mallopt(-1, WINDOW_TRIM_THRESHOLD)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        pass
