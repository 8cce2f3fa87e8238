"""What GDAL may read for a path that came from the browser: documented formats only, every file under the roots.

GDAL picks a driver from a file's content and follows references inside it: a VRT named `x.tif` reads any
`SourceFilename` (or raw bytes, through a VRTRawRasterBand), a `.ovr` or `.aux.xml` beside a file is read with it,
`/vsicurl/` and `/vsizip/` strings and `SENTINEL1_CALIB:`-style connection strings open other things again. So a
browser-reached path (an upload saved on disk, a path typed into a page) is checked here *before* GDAL sees it:

- the text is a plain path: no `/vsi…/` prefix, no `DRIVER:` connection string;
- it resolves (symlinks followed) under one of `Confine.roots` and is a regular file or a product folder (a FIFO or
  a device is refused before anything opens it);
- its content is decided by magic bytes: TIFF, PNG or JPEG (opened with that one GDAL driver), or a Sentinel-1
  product (.SAFE folder, manifest.safe or .zip, read by core.io.sentinel1: its own XML parser, and GDAL only for the
  measurement TIFFs);
- for a product, every file the manifest names is a relative path inside the product that resolves under the
  roots (a link out of the product folder is refused, whether or not its target exists), every measurement (by
  repID or by a .tif/.tiff name, as core.io.sentinel1 finds them) is a TIFF by content and every other member is XML;
  a zip may hold no symbolic links;
- the open itself runs with `GDAL_ENV`: no directory listing (so no sidecar `.ovr`/`.aux.xml`/`.msk` is found),
  no PAM, no raw VRT bands, no network file names.

Anything outside the roots gets `Confine.refusal`, the one sentence core.roots gives for every refused path (so the
answer never says whether something exists out there). A format we do not open from the browser gets its own
sentence, which names only the file the user gave. The CLI never goes through here: the operator's own VRTs keep
working there.
"""

from __future__ import annotations

import os
import posixpath
import re
import stat
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from core.errors import UserError

# GDAL configuration for every open of a browser-reached file (set thread-locally through rasterio.Env).
GDAL_ENV = {
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",  # no sibling listing: no sidecar .ovr / .aux.xml / .msk / .rpb
    "GDAL_PAM_ENABLED": "NO",  # no .aux.xml read or written
    "GDAL_VRT_ENABLE_RAWRASTERBAND": "NO",  # no raw bytes of arbitrary files, even if a VRT slipped through
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".sar-studio-no-network",  # no /vsicurl/ file name matches
    "GDAL_HTTP_TIMEOUT": "1",
    "CPL_LOG_ERRORS": "OFF",
}

_MAGIC = {
    b"\x89PNG\r\n\x1a\n": "PNG",
    b"\xff\xd8\xff": "JPEG",
    b"II*\x00": "GTiff",
    b"MM\x00*": "GTiff",
    b"II+\x00": "GTiff",
    b"MM\x00+": "GTiff",
}
_CONNECTION = re.compile(r"^[A-Za-z][A-Za-z0-9_]+:")  # SENTINEL1_CALIB:, HDF5:, NETCDF:, WMS:, PG: ...
_MAX_MEMBERS = 5000  # a Sentinel-1 product has a few dozen files; more is not a product
_MAX_MANIFEST = 16 << 20
MEASUREMENT = "s1Level1MeasurementSchema"


@dataclass(frozen=True)
class Confine:
    """Where a browser-reached path may lead GDAL: `roots` (resolved folders) and the one refusal sentence."""

    roots: tuple[Path, ...]
    refusal: str

    def refuse(self) -> UserError:
        return UserError(self.refusal)


@dataclass(frozen=True)
class Checked:
    """A browser-reached path that passed: what to hand GDAL and which single driver may open it."""

    path: Path
    driver: str  # GTiff, PNG, JPEG, or SAFE for a product (read by core.io.sentinel1)
    manifest: str | None = None  # the path of manifest.safe (/vsizip/... in a zip) for products


def sniff_driver(head: bytes) -> str | None:
    """The GDAL driver for a file that starts with `head`: GTiff, PNG or JPEG, else None."""
    for magic, driver in _MAGIC.items():
        if head.startswith(magic):
            return driver
    return None


def not_openable(name: str) -> UserError:
    return UserError(
        f"{name} is not a GeoTIFF, PNG, JPEG or Sentinel-1 product (.SAFE folder, manifest.safe or .zip) by its "
        "content; the browser opens only these, so convert it to GeoTIFF."
    )


def _inside(path: Path, roots: Sequence[Path]) -> bool:
    return any(path == root or root in path.parents for root in roots)


def _head(path: Path, n: int = 8) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(n)


def check_path(source: str | os.PathLike, confine: Confine) -> Checked:
    """Refuse anything GDAL must not read for a browser-reached `source`; see the module docstring."""
    text = os.fspath(source)
    if not text.strip() or text.startswith("/vsi") or _CONNECTION.match(text) or "\x00" in text:
        raise confine.refuse()
    try:
        path = Path(text).expanduser().resolve()
        if not _inside(path, confine.roots):
            raise confine.refuse()
        mode = path.stat().st_mode
    except (OSError, RuntimeError, ValueError):  # missing, a loop, unreadable: the same sentence
        raise confine.refuse() from None
    name = Path(text).name
    if stat.S_ISDIR(mode):
        if not (path / "manifest.safe").is_file():
            raise not_openable(name)
        manifest = path / "manifest.safe"
        _check_folder_product(path, manifest, confine)
        return Checked(path, "SAFE", str(manifest))
    if not stat.S_ISREG(mode) or not os.access(path, os.R_OK):  # FIFO, device, socket: never opened
        raise confine.refuse()
    head = _head(path)
    driver = sniff_driver(head)
    if driver is not None:
        return Checked(path, driver)
    if head.startswith(b"PK\x03\x04") and zipfile.is_zipfile(path):
        return Checked(path, "SAFE", _check_zip_product(path, name))
    if path.name.lower() == "manifest.safe":
        _check_folder_product(path.parent, path, confine)
        return Checked(path, "SAFE", str(path))
    raise not_openable(name)


# ----------------------------------------------------------------------------------------------- products


def _manifest_objects(blob: bytes, name: str) -> list[tuple[str, str]]:
    """(repID, href) of every dataObject a manifest names."""
    if b"<!DOCTYPE" in blob or b"<!ENTITY" in blob:  # no product declares a DTD; entity expansion is an attack
        raise not_openable(name)
    try:
        root = ET.fromstring(blob)
    except ET.ParseError:
        raise UserError(f"{name}: its manifest.safe is not valid XML; download the product again.") from None
    objects = []
    for obj in root.iter("dataObject"):
        for loc in obj.iter("fileLocation"):
            objects.append((obj.get("repID", ""), loc.get("href", "")))
    return objects


def _member(href: str, name: str, base: str = "") -> str:
    """The product-relative path of `href`, refused when it is absolute, a URL or climbs out of the product."""
    if not href or "\\" in href or "\x00" in href or _CONNECTION.match(href) or href.startswith("/"):
        raise not_openable(name)
    joined = posixpath.normpath(posixpath.join(base, href))
    if joined == ".." or joined.startswith("../") or (base and not (joined + "/").startswith(base + "/")):
        raise not_openable(name)
    return joined


def _check_content(head: bytes, rep: str, href: str, name: str) -> None:
    """A measurement is a TIFF by content; every other member is XML that core.io.sentinel1 only parses."""
    if rep == MEASUREMENT or href.lower().endswith((".tif", ".tiff")):
        if sniff_driver(head) != "GTiff":
            raise not_openable(name)
    elif not head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        raise not_openable(name)


def _check_folder_product(folder: Path, manifest: Path, confine: Confine) -> None:
    name = folder.name
    count = 0
    for dirpath, dirnames, filenames in os.walk(folder):  # links are not followed, but each is checked
        for entry in dirnames + filenames:
            count += 1
            if count > _MAX_MEMBERS:
                raise not_openable(name)
            target = Path(dirpath, entry)
            try:
                if not _inside(target.resolve(), confine.roots):
                    raise confine.refuse()
            except (OSError, RuntimeError):
                raise confine.refuse() from None
    if manifest.stat().st_size > _MAX_MANIFEST:
        raise not_openable(name)
    for rep, href in _manifest_objects(manifest.read_bytes(), name):
        member = folder / _member(href, name)
        try:
            resolved = member.resolve()
            if not _inside(resolved, confine.roots):
                raise confine.refuse()
            mode = resolved.stat().st_mode
        except FileNotFoundError:  # inside the roots: saying it is missing tells nothing about elsewhere
            raise UserError(
                f"{name} lacks {_member(href, name)}, which its manifest.safe names; download the product again."
            ) from None
        except OSError:
            raise confine.refuse() from None
        if not stat.S_ISREG(mode):
            raise confine.refuse()
        try:
            head = _head(resolved)
        except OSError:
            raise confine.refuse() from None
        _check_content(head, rep, href, name)


def _check_zip_product(path: Path, name: str) -> str:
    """The /vsizip/ path of the zipped product's manifest, after checking every member the manifest names."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            if len(infos) > _MAX_MEMBERS:
                raise not_openable(name)
            by_name = {}
            for info in infos:
                if stat.S_ISLNK(info.external_attr >> 16):  # GDAL would follow a stored link
                    raise not_openable(name)
                by_name[info.filename] = info
            manifests = [m for m in by_name if m.endswith("manifest.safe") and m.count("/") <= 1]
            if not manifests:
                raise UserError(f"{name} holds no manifest.safe; give the zipped .SAFE product as downloaded.")
            manifest = manifests[0]
            if by_name[manifest].file_size > _MAX_MANIFEST:
                raise not_openable(name)
            base = posixpath.dirname(manifest)
            for rep, href in _manifest_objects(zf.read(manifest), name):
                member = _member(href, name, base)
                if member not in by_name:
                    raise UserError(f"{name}: the product lacks {member}; download it again.")
                with zf.open(by_name[member]) as fh:
                    _check_content(fh.read(8), rep, href, name)
    except (zipfile.BadZipFile, OSError, RuntimeError, EOFError) as exc:
        raise UserError(f"{name} is a damaged zip ({type(exc).__name__}); download the product again.") from None
    return f"/vsizip/{path}/{manifest}"
