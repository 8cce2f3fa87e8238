"""Uploaded dataset zips: checked whole before anything is written, extracted into a per-session folder, removed later.

Checks before extraction, on the central directory alone (`ZipFile.infolist`): entry count, total uncompressed size,
compression ratio (a zip bomb), encrypted entries, compression methods Python cannot decode, unsafe paths (absolute,
`..`, drive letters), links, and file/folder name clashes. Then the wanted members (images and split.json) are
written into a hidden staging folder beside `dest` in chunks, each bounded by its declared size, and the staging
folder is renamed onto `dest` only when every CRC checked out: a refused zip leaves nothing behind.

Lifetime (pages): `session_folder(id)` is `<upload root>/datasets/<session id>/`, touched whenever that session uses
it. `sweep_datasets` removes session folders untouched for `max_age_s` that no live run reads (the page calls it
at start), and `release_dataset` removes one extracted dataset when the run using it has ended.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import stat
import tempfile
import time
import zipfile
from collections.abc import Iterable
from pathlib import Path
from posixpath import normpath

from core.errors import UserError
from core.files import IMAGE_SUFFIXES, upload_root
from core.train.layouts import detect_layout

MAX_ZIP_BYTES = 4 * 1024**3
MAX_ZIP_FILES = 200_000
MAX_RATIO = 200  # uncompressed / compressed, per entry and overall; images compress far less than this
RATIO_FLOOR = 16 * 1024**2  # entries below this size are never refused for their ratio
SUPPORTED_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
DATASETS = "datasets"
_CHUNK = 1 << 20


def extract_zip(blob: bytes, dest: str | Path, name: str = "upload.zip") -> Path:
    """Extract an uploaded dataset zip safely into `dest` (which must not exist yet); returns the dataset root.

    Refused (UserError, one sentence, nothing written): not a zip, too many files, too large or too compressed
    uncompressed, encrypted or undecodable entries, unsafe paths, links, name clashes, a bad CRC. Only images and
    split.json are extracted. If everything sits in one top-level folder, that folder is the dataset root.
    """
    try:
        zf = zipfile.ZipFile(io.BytesIO(blob))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError):
        raise UserError(f"{name} is not a zip archive; upload a .zip of the dataset folder.") from None
    with zf:
        wanted = _check_members(zf, name)
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent))
        try:
            for m, clean in wanted:
                _extract_member(zf, m, staging / clean, name)
            os.replace(staging, dest)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return dataset_root(dest)


def _check_members(zf: zipfile.ZipFile, name: str) -> list[tuple[zipfile.ZipInfo, str]]:
    members = zf.infolist()
    if len(members) > MAX_ZIP_FILES:
        raise UserError(f"{name} holds {len(members)} files, above the limit of {MAX_ZIP_FILES}; use a server folder.")
    total = sum(m.file_size for m in members)
    if total > MAX_ZIP_BYTES:
        raise UserError(
            f"{name} unpacks to more than {MAX_ZIP_BYTES // 1024**3} GB; put the dataset in a "
            f"folder on the server instead."
        )
    packed = sum(m.compress_size for m in members)
    if total > RATIO_FLOOR and total > MAX_RATIO * max(packed, 1):
        raise UserError(
            f"{name} unpacks {packed} bytes into {total / 1024**2:.0f} MB ({total / max(packed, 1):.0f}x), "
            f"typical of a zip bomb; it was refused, zip the images themselves."
        )
    wanted = []
    files: set[str] = set()
    folders: set[str] = set()
    for m in members:
        raw = m.filename.replace("\\", "/")
        clean = normpath(raw)
        if (
            raw.startswith("/")
            or clean.startswith("../")
            or clean == ".."
            or "/../" in f"/{clean}/"
            or (len(raw) > 1 and raw[1] == ":")
        ):
            raise UserError(
                f"{name} contains the unsafe path {m.filename!r} (outside the archive); "
                f"it was refused, re-create the zip from the dataset folder."
            )
        if stat.S_ISLNK(m.external_attr >> 16):
            raise UserError(f"{name} contains a link ({m.filename}); links are refused, zip the files themselves.")
        if m.flag_bits & 0x1:
            raise UserError(f"{name} has an encrypted entry ({m.filename}); zip the dataset again without a password.")
        if m.compress_type not in SUPPORTED_METHODS:
            raise UserError(
                f"{name} uses compression method {m.compress_type} for {m.filename}, which cannot be read; "
                f"zip it again with the standard (deflate) method."
            )
        if m.file_size > RATIO_FLOOR and m.file_size > MAX_RATIO * max(m.compress_size, 1):
            raise UserError(
                f"{name} unpacks {m.filename} from {m.compress_size} bytes to {m.file_size / 1024**2:.0f} MB, "
                f"typical of a zip bomb; it was refused, zip the images themselves."
            )
        parts = clean.split("/")
        parents = {"/".join(parts[:i]) for i in range(1, len(parts))}
        key = clean.lower()  # a clash on a case-insensitive filesystem is a clash too
        if m.is_dir():
            folders.add(key)
            continue
        if key in files or key in folders or any(p.lower() in files for p in parents):
            raise UserError(f"{name} has two entries named {m.filename!r} (a file and a folder, or twice); rename one.")
        files.add(key)
        folders.update(p.lower() for p in parents)
        if clean.startswith("__MACOSX/") or Path(clean).name.startswith("._"):
            continue
        if Path(clean).suffix.lower() in IMAGE_SUFFIXES or Path(clean).name == "split.json":
            wanted.append((m, clean))
    if files & folders:
        clash = sorted(files & folders)[0]
        raise UserError(f"{name} has two entries named {clash!r} (a file and a folder, or twice); rename one.")
    if not wanted:
        raise UserError(f"{name} holds no images; zip the dataset folder (e.g. sar/ and optical/).")
    return wanted


def _extract_member(zf: zipfile.ZipFile, m: zipfile.ZipInfo, target: Path, name: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with zf.open(m) as src, open(target, "xb") as out:  # zipfile stops at the declared size, then checks the CRC
            for chunk in iter(lambda: src.read(_CHUNK), b""):
                out.write(chunk)
    except zipfile.BadZipFile as exc:
        what = "a bad checksum (CRC)" if "CRC" in str(exc) else "corrupt data"
        raise UserError(f"{name} has {what} in {m.filename}; the upload is damaged, zip the dataset again.") from None
    except (NotImplementedError, RuntimeError, EOFError, OSError, ValueError) as exc:
        raise UserError(
            f"{name}: {m.filename} could not be extracted ({type(exc).__name__}); zip the dataset again."
        ) from None


def dataset_root(dest: Path) -> Path:
    """The dataset root inside an extracted zip: its only top-level folder when it has one with a layout."""
    entries = [p for p in dest.iterdir() if not p.name.startswith(".")] if dest.is_dir() else []
    if len(entries) == 1 and entries[0].is_dir():
        with contextlib.suppress(UserError):
            detect_layout(entries[0])
            return entries[0]
    return dest


# ----------------------------------------------------------------------------------- per-session lifetime


def datasets_dir() -> Path:
    return upload_root() / DATASETS


def session_folder(session_id: str) -> Path:
    """This browser session's folder for extracted zips, touched so the sweep sees the session is alive."""
    folder = datasets_dir() / Path(session_id).name
    folder.mkdir(parents=True, exist_ok=True)
    os.utime(folder)
    return folder


def _in_use(path: Path, in_use: Iterable[str | os.PathLike]) -> bool:
    path = path.resolve()
    for used in in_use:
        u = Path(used).resolve()
        if u == path or path in u.parents or u in path.parents:
            return True
    return False


def sweep_datasets(max_age_s: float, in_use: Iterable[str | os.PathLike] = ()) -> list[Path]:
    """Remove session folders untouched for `max_age_s` seconds that no path in `in_use` lies in; returns them."""
    root = datasets_dir()
    if not root.is_dir():
        return []
    used = list(in_use)
    now = time.time()
    removed = []
    for folder in root.iterdir():
        with contextlib.suppress(OSError):
            if folder.is_dir() and now - folder.stat().st_mtime > max_age_s and not _in_use(folder, used):
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
    return removed


def release_dataset(path: str | os.PathLike, in_use: Iterable[str | os.PathLike] = ()) -> bool:
    """Remove one extracted dataset (its `<session>/<digest>` folder) if it lies in the datasets folder and no
    path in `in_use` needs it; True when removed."""
    root = datasets_dir().resolve()
    p = Path(path).resolve()
    if root not in p.parents:
        return False
    top = root / p.relative_to(root).parts[0]
    rel = p.relative_to(top).parts
    target = top / rel[0] if rel else top
    if _in_use(target, in_use) or not target.exists():
        return False
    shutil.rmtree(target, ignore_errors=True)
    return True
