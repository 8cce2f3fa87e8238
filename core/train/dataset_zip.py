"""Uploaded dataset zips: extracted safely (no path traversal, no links, size limits), images and split.json only."""

from __future__ import annotations

import io
import stat
import zipfile
from pathlib import Path
from posixpath import normpath

from core.errors import UserError
from core.files import IMAGE_SUFFIXES
from core.io import atomic_output
from core.train.layouts import detect_layout

MAX_ZIP_BYTES = 4 * 1024**3
MAX_ZIP_FILES = 200_000


def extract_zip(blob: bytes, dest: str | Path, name: str = "upload.zip") -> Path:
    """Extract an uploaded dataset zip safely into `dest`; returns the dataset root inside it.

    Refused (UserError): not a zip, members with absolute paths or `..` (path traversal), links, more than
    MAX_ZIP_FILES files or MAX_ZIP_BYTES uncompressed. Only images and split.json are extracted. If everything
    sits in one top-level folder, that folder is the dataset root.
    """
    try:
        zf = zipfile.ZipFile(io.BytesIO(blob))
    except zipfile.BadZipFile:
        raise UserError(f"{name} is not a zip archive; upload a .zip of the dataset folder.") from None
    members = zf.infolist()
    if len(members) > MAX_ZIP_FILES:
        raise UserError(f"{name} holds {len(members)} files, above the limit of {MAX_ZIP_FILES}; use a server folder.")
    if sum(m.file_size for m in members) > MAX_ZIP_BYTES:
        raise UserError(
            f"{name} unpacks to more than {MAX_ZIP_BYTES // 1024**3} GB; put the dataset in a "
            f"folder on the server instead."
        )
    dest = Path(dest)
    wanted = []
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
        if m.is_dir() or clean.startswith("__MACOSX/") or Path(clean).name.startswith("._"):
            continue
        if Path(clean).suffix.lower() in IMAGE_SUFFIXES or Path(clean).name == "split.json":
            wanted.append((m, clean))
    if not wanted:
        raise UserError(f"{name} holds no images; zip the dataset folder (e.g. sar/ and optical/).")
    for m, clean in wanted:
        target = dest / clean
        if dest.resolve() not in target.resolve().parents:
            raise UserError(f"{name} contains the unsafe path {m.filename!r}; it was refused.")
        with zf.open(m) as src, atomic_output(target) as tmp:
            tmp.write_bytes(src.read())
    tops = {clean.split("/", 1)[0] for _, clean in wanted}
    if len(tops) == 1 and all("/" in clean for _, clean in wanted):
        only = dest / tops.pop()
        try:
            detect_layout(only)
            return only
        except UserError:
            return dest
    return dest
