"""Files the tools pass around: which suffixes are images, listing them, hashing them, keeping an upload on disk.

One definition each, used by every engine, CLI command and page: sha256 everywhere (cache keys and Gram-file
fingerprints alike), one list of image suffixes, one place where uploaded bytes become a file.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import stat
import tempfile
import warnings
from pathlib import Path

from core.errors import UserError
from core.io import clean_stale_parts, write_bytes
from core.io.gdal_config import configure_gdal

# Raster files the tools read directly (GDAL reads more; these are what folder runs pick up).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
_CHUNK = 1 << 20


def is_image_file(path: str | os.PathLike) -> bool:
    p = Path(path)
    return p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image files directly inside `folder`, sorted by name (hidden files and sub-folders skipped)."""
    return sorted(p for p in Path(folder).iterdir() if not p.name.startswith(".") and is_image_file(p))


def digest_bytes(blob: bytes, length: int = 16) -> str:
    """Hex sha256 of `blob`, shortened to `length` characters (enough for a cache key or a folder name)."""
    return hashlib.sha256(blob).hexdigest()[:length]


def digest_file(path: str | os.PathLike, length: int = 64) -> str:
    """Hex sha256 of a file's content, read in chunks so a large file never sits in memory."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()[:length]


def upload_root() -> Path:
    """Where uploads are kept while a page works on them (SAR_STUDIO_UPLOADS, else the system temp folder)."""
    return Path(os.environ.get("SAR_STUDIO_UPLOADS") or Path(tempfile.gettempdir()) / "sar_studio_uploads")


def save_upload(blob: bytes, name: str, area: str = "") -> Path:
    """Write uploaded bytes to `<upload root>/<area>/<sha256>/<name>` once and return the path.

    Only the final component of `name` is used, so a browser-supplied name cannot escape the folder. The same bytes
    under the same name map to the same path, so a rerun of a page reuses the file instead of writing it again.
    """
    safe = Path(name).name or "upload"
    path = upload_root() / area / digest_bytes(blob) / safe
    if not path.exists() or path.stat().st_size != len(blob):
        write_bytes(path, blob)
    return path


# ------------------------------------------------------------------------------------------------ outputs
# The rules every command that writes follows, in one place: outputs are regular files (or new paths), never one
# of the inputs, in a folder that can be written and has room for them; all checked before any work starts.

# Room kept free beyond the estimate (filesystem metadata, the temporary file beside the target, logs).
FREE_SPACE_MARGIN = 64 << 20


def raster_shape(path: str | os.PathLike) -> tuple[int, int, int] | None:
    """(height, width, bands) from a raster's header, or None when GDAL cannot open it (reading reports why)."""
    import rasterio  # heavy (GDAL): only commands that size their outputs need it

    if not Path(path).is_file():  # a FIFO would block GDAL's open; the reader refuses it in one line
        return None

    configure_gdal()

    try:
        with warnings.catch_warnings():  # a PNG or a plain TIFF has no georeference: not worth a warning here
            warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
            with rasterio.open(path) as ds:
                return int(ds.height), int(ds.width), int(ds.count)
    except Exception:  # noqa: BLE001 - any failure is reported by the reader with its own sentence
        return None


def _describe_kind(st_mode: int) -> str:
    if stat.S_ISDIR(st_mode):
        return "a folder"
    if stat.S_ISFIFO(st_mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(st_mode) or stat.S_ISBLK(st_mode):
        return "a device"
    if stat.S_ISSOCK(st_mode):
        return "a socket"
    return "not a regular file"


def _existing_ancestor(path: Path) -> Path:
    p = path.absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def check_output_folder(folder: str | os.PathLike, size: int = 0) -> None:
    """UserError unless `folder` (or, when it does not exist yet, the folder it would be made in) can be
    written and has about `size` bytes free plus a margin. Stale temporary files of ours are cleaned there."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise UserError(f"{folder} is a file, not a folder; give an output folder.")
    base = _existing_ancestor(folder)
    if not os.access(base, os.W_OK | os.X_OK):
        raise UserError(f"output folder {base} cannot be written (permission denied); choose another folder.")
    try:
        fd, probe = tempfile.mkstemp(prefix=".sar_studio_probe.", suffix=".part", dir=base)
    except OSError as exc:
        raise UserError(
            f"output folder {base} cannot be written ({exc.strerror or exc}); choose another folder."
        ) from None
    os.close(fd)
    with contextlib.suppress(FileNotFoundError):  # another run's clean-up may have taken it already
        os.unlink(probe)
    free = shutil.disk_usage(base).free
    if free < size + FREE_SPACE_MARGIN:
        raise UserError(
            f"not enough free space in {base}: the output needs about {_mb(size + FREE_SPACE_MARGIN)} and "
            f"{_mb(free)} is free; free some space or choose another folder."
        )
    if base == folder.absolute():
        clean_stale_parts(base)


def _mb(n: int) -> str:
    if n < 1e6:
        return f"{n / 1e3:.0f} kB"
    return f"{n / 1e6:.0f} MB" if n < 1e9 else f"{n / 1e9:.1f} GB"


def output_bytes(src: str | os.PathLike, bytes_per_px: int = 4, per_band: bool = True) -> int:
    """Upper estimate of an output's size from its input's header (uncompressed), 0 when the header is unreadable."""
    shape = raster_shape(src)
    if shape is None:
        return 0
    h, w, c = shape
    return h * w * (c if per_band else 1) * bytes_per_px


def check_outputs(pairs: list[tuple[Path, Path]], size: int = 0, also_inputs: tuple | list = ()) -> None:
    """Check a plan of (input file, output file) pairs before any work: every output is a new path or a regular
    file, no output is one of the inputs (same resolved path or same file by inode; `also_inputs` are further
    files read, such as a reference image or the model), no two inputs share an output, and each output folder
    can be written with `size` bytes (the estimate for the whole plan) free."""
    inputs: dict = {}
    for src in [s for s, _ in pairs] + list(also_inputs):
        p = Path(src)
        inputs[p.resolve()] = p
        with contextlib.suppress(OSError):
            ist = p.stat()
            inputs[(ist.st_dev, ist.st_ino)] = p
    seen: dict[Path, Path] = {}
    folders: list[Path] = []
    for src, dst in pairs:
        dst = Path(dst)
        key = dst.resolve()
        if key in inputs:
            raise UserError(
                f"the output {dst} is the input {inputs[key].name}; it would be overwritten; give another output path."
            )
        st: os.stat_result | None
        try:
            st = os.stat(dst)
        except FileNotFoundError:
            st = None
        except OSError as exc:
            raise UserError(f"the output {dst} cannot be checked ({exc.strerror}); give another output path.") from None
        if st is not None:
            if not stat.S_ISREG(st.st_mode):
                raise UserError(
                    f"the output {dst} exists and is {_describe_kind(st.st_mode)}; give a new file name or a regular file."
                )
            if (st.st_dev, st.st_ino) in inputs:
                raise UserError(
                    f"the output {dst} is the same file as the input {inputs[(st.st_dev, st.st_ino)].name} "
                    f"(a link to it); give another output path."
                )
        if key in seen:
            raise UserError(
                f"{Path(src).name} and {seen[key].name} would both be written to {dst}; "
                f"rename one of them or write a single format."
            )
        seen[key] = Path(src)
        if dst.parent.absolute() not in folders:
            folders.append(dst.parent.absolute())
    for folder in folders:
        check_output_folder(folder, size)


def skip_own_outputs(files: list[Path], suffixes: tuple[str, ...]) -> tuple[list[Path], list[Path]]:
    """(inputs to process, files skipped): a file named `<stem>_<suffix>.<ext>` is skipped as one of our own
    earlier outputs when `<stem>.<image ext>` is in the same list, so a second folder run in the same folder does
    not filter its own results again (a_lee.tif is skipped beside a.tif; a lone road_lee.tif is processed)."""
    stems = {f.stem for f in files}
    keep: list[Path] = []
    skipped: list[Path] = []
    for f in files:
        own = any(f.stem.endswith("_" + s) and f.stem[: -len(s) - 1] in stems for s in suffixes)
        (skipped if own else keep).append(f)
    return keep, skipped
