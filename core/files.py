"""Files the tools pass around: which suffixes are images, listing them, hashing them, keeping an upload on disk.

One definition each, used by every engine, CLI command and page: sha256 everywhere (cache keys and Gram-file
fingerprints alike), one list of image suffixes, one place where uploaded bytes become a file.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from core.io import write_bytes

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
