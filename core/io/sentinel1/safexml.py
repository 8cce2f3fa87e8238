"""Read a Sentinel-1 product's files (folder or zip) and parse their XML safely.

`ProductFiles(path)` finds the product root for a .SAFE folder, its manifest.safe, or the zip as downloaded, and
`read(relative)` returns a member's bytes from either. `parse_xml(data, name)` parses with expat directly and
refuses any document type declaration or entity declaration (the defusedxml rule: no DTD, so no entity expansion,
no external entity, no billion-laughs), and any file that is not well-formed: each ends in one UserError line.
Element and attribute names come back without their namespace prefix (`xfdu:XFDU` -> `XFDU`), which is all the
product's XML needs.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
import xml.parsers.expat
import zipfile
from pathlib import Path

from core.errors import UserError

MAX_XML_BYTES = 64 * 1024 * 1024  # the largest annotation of a real product is a few MB


class _Refused(Exception):
    pass


def _local(name: str) -> str:
    return name.rsplit(":", 1)[-1]


def parse_xml(data: bytes, name: str) -> ET.Element:
    """The root element of `data`; a DTD, an entity declaration or malformed XML ends in one UserError line."""
    if len(data) > MAX_XML_BYTES:
        raise UserError(f"{name} is {len(data) / 1e6:.0f} MB, far larger than any Sentinel-1 XML; download it again.")
    builder = ET.TreeBuilder()
    parser = xml.parsers.expat.ParserCreate()

    def refuse(*_args: object) -> int:
        raise _Refused

    def start(tag: str, attrs: dict[str, str]) -> None:
        builder.start(_local(tag), {_local(k): v for k, v in attrs.items()})

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse
    parser.StartElementHandler = start
    parser.EndElementHandler = lambda tag: builder.end(_local(tag))
    parser.CharacterDataHandler = builder.data
    try:
        parser.Parse(data, True)
    except _Refused:
        raise UserError(
            f"{name} declares a DTD or entities, which no Sentinel-1 file does; refused (download the product again)."
        ) from None
    except xml.parsers.expat.ExpatError as exc:
        raise UserError(f"{name} is not well-formed XML ({exc}); download the product again.") from None
    return builder.close()


class ProductFiles:
    """The files of one product: a .SAFE folder, its manifest.safe, or a zip holding `<name>.SAFE/...`."""

    def __init__(self, path: str | Path) -> None:
        path = Path(path)
        self.name = path.name
        self._zip: Path | None = None
        self._prefix = ""
        if path.suffix.lower() == ".zip":
            self._zip = path.resolve()
            with zipfile.ZipFile(self._zip) as zf:
                self._members = set(zf.namelist())
            manifests = sorted(m for m in self._members if m.endswith("manifest.safe") and m.count("/") <= 1)
            if not manifests:
                raise UserError(f"{path.name} holds no manifest.safe; give the zipped .SAFE product as downloaded.")
            self._prefix = manifests[0][: -len("manifest.safe")]
            self.root = self._zip
        else:
            self.root = path.parent if path.name.lower() == "manifest.safe" else path
            if not (self.root / "manifest.safe").is_file():
                raise UserError(f"{path.name} holds no manifest.safe; give the .SAFE folder, its manifest or the zip.")

    def exists(self, rel: str) -> bool:
        rel = _clean(rel)
        if self._zip is not None:
            return self._prefix + rel in self._members
        return (self.root / rel).is_file()

    def read(self, rel: str) -> bytes:
        rel = _clean(rel)
        if not self.exists(rel):
            raise UserError(f"{self.name} lacks {rel}, which its manifest.safe names; download the product again.")
        if self._zip is not None:
            with zipfile.ZipFile(self._zip) as zf:
                info = zf.getinfo(self._prefix + rel)
                if info.file_size > MAX_XML_BYTES and not rel.endswith(".tiff"):
                    raise UserError(f"{self.name}: {rel} is {info.file_size / 1e6:.0f} MB; download the product again.")
                return zf.read(info)
        return (self.root / rel).read_bytes()

    def xml(self, rel: str) -> ET.Element:
        return parse_xml(self.read(rel), f"{self.name}: {_clean(rel)}")

    def gdal_path(self, rel: str) -> str:
        """A path GDAL opens: the file, or /vsizip/<zip>/<member>."""
        rel = _clean(rel)
        if self._zip is not None:
            return f"/vsizip/{self._zip}/{self._prefix}{rel}"
        return str(self.root / rel)


def _clean(rel: str) -> str:
    rel = rel.strip().removeprefix("./")
    if rel.startswith("/") or ".." in rel.split("/"):
        raise UserError(f"the manifest names {rel!r}, outside the product; download the product again.")
    return rel
