"""What a Sentinel-1 product holds, from its own XML: the manifest (mission, mode, product type, IPF version, which
files belong to which swath and polarisation) and each measurement's annotation (size, geolocation grid, bursts,
whether the IPF already removed the thermal noise).

Measured before writing this (xarray-sentinel 0.9.6, the reader the team considered): it needs a manifest with
orbit numbers and every field of ESA's schema (our synthetic products and trimmed real ones fail with
"orbit_number=[] not supported"), parses with plain ElementTree (no DTD refusal), keeps only the first
noise-azimuth block of a GRD (its own source says "BROKEN: ... we take the first one"; on our two-block fixture
`open_noise_azimuth_dataset` returned block 1's LUT alone, without its sample range), raises "Unable to organise
noise vectors in a regular line-pixel grid" on range vectors whose pixel lists differ (as real GRD ones do), and
has no reader for the pre-2.90 `noiseVectorList`. The few fields needed here are read directly, with `safexml.parse_xml`.

Every problem ends in one UserError line naming the file and what is wrong.
"""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

import numpy as np

from core.errors import UserError
from core.io.sentinel1.safexml import ProductFiles

MODES = ("IW", "EW", "SM")
PRODUCT_TYPES = ("GRD", "SLC")
POL_ORDER = ("VV", "VH", "HH", "HV")


@dataclass
class Measurement:
    swath: str
    pol: str
    tiff: str = ""
    annotation: str = ""
    calibration: str = ""
    noise: str = ""


@dataclass
class Product:
    name: str
    mission: str
    mode: str
    product_type: str
    ipf_version: str
    measurements: dict[tuple[str, str], Measurement]

    @property
    def swaths(self) -> list[str]:
        return sorted({s for s, _ in self.measurements})

    def pols(self, swath: str) -> list[str]:
        got = {p for s, p in self.measurements if s == swath}
        return sorted(got, key=lambda p: POL_ORDER.index(p) if p in POL_ORDER else 9)


@dataclass
class Burst:
    azimuth_time: float  # seconds since the first burst's start
    first_valid: np.ndarray  # (linesPerBurst,) firstValidSample, -1 on invalid lines
    last_valid: np.ndarray


@dataclass
class Annotation:
    lines: int
    samples: int
    product_type: str
    mode: str
    swath: str
    pol: str
    azimuth_time_interval: float
    range_spacing: float
    azimuth_spacing: float
    noise_removed_by_ipf: bool
    start_time: str
    gcps: list[tuple[float, float, float, float, float]]  # (line, pixel, lon, lat, height)
    lines_per_burst: int = 0
    bursts: list[Burst] = field(default_factory=list)
    first_burst_time: float = float("nan")  # seconds since the epoch, TOPS only
    slant_range_time: float = float("nan")  # two-way, of the first sample (s)
    range_sampling_rate: float = float("nan")  # Hz


def _text(el: ET.Element, path: str, where: str) -> str:
    found = el.find(path)
    if found is None or found.text is None or not found.text.strip():
        raise UserError(f"{where} has no {path.split('/')[-1]}; the file is truncated or not Sentinel-1 XML.")
    return found.text.strip()


def number(el: ET.Element, path: str, where: str, kind: type = float) -> float:
    value = _text(el, path, where)
    try:
        return kind(value)
    except ValueError:
        raise UserError(
            f"{where}: {path.split('/')[-1]} is {value[:30]!r}, not a number; the file is malformed."
        ) from None


def numbers(el: ET.Element, path: str, where: str) -> np.ndarray:
    """A whitespace-separated list of numbers (one LUT, pixel or line list)."""
    value = _text(el, path, where)
    try:
        arr = np.array(value.split(), dtype=np.float64)
    except ValueError:
        bad = next(v for v in value.split() if not _is_number(v))
        raise UserError(f"{where}: {path} holds {bad[:30]!r}, not a number; the file is malformed.") from None
    if not np.isfinite(arr).all():
        raise UserError(f"{where}: {path} holds NaN or infinite values; the file is malformed.")
    return arr


def _is_number(v: str) -> bool:
    try:
        float(v)
    except ValueError:
        return False
    return True


def parse_manifest(files: ProductFiles) -> Product:
    """The product's measurements grouped by (swath, pol), with mission, mode, type and IPF version."""
    root = files.xml("manifest.safe")
    where = f"{files.name}: manifest.safe"
    family = root.findtext(".//platform/number", "") or ""
    mission = f"S1{family.strip()}" if family.strip() else "S1"
    mode = (root.findtext(".//instrumentMode/mode") or "").strip().upper()
    ptype = (root.findtext(".//standAloneProductInformation/productType") or "").strip().upper()
    software = root.find(".//software")
    ipf = software.get("version", "") if software is not None else ""
    hrefs = [
        (obj.get("repID", ""), loc.get("href", ""))
        for obj in root.iter("dataObject")
        for loc in obj.iter("fileLocation")
    ]
    if mode == "WV":
        raise UserError(
            f"{files.name} is a wave-mode (WV) product: vignettes, not an image we can prepare; use an IW, EW or SM product."
        )
    if mode and mode not in MODES:
        raise UserError(f"{files.name}: acquisition mode {mode!r} is not IW, EW or SM; this product is not supported.")
    if ptype and ptype not in PRODUCT_TYPES:
        raise UserError(f"{files.name} is a {ptype} product; only Level-1 GRD and SLC products can be read.")
    groups: dict[tuple[str, str], Measurement] = {}
    for _rep, href in hrefs:
        base = href.rsplit("/", 1)[-1]
        m = re.match(r"^(?:calibration-|noise-)?(s1[a-d])-([a-z0-9]+)-([a-z]+)-([hv]{2})-.*\.(xml|tiff)$", base, re.I)
        if not m:
            continue
        key = (m.group(2).upper(), m.group(4).upper())
        meas = groups.setdefault(key, Measurement(*key))
        rel = href.strip().removeprefix("./")
        if base.startswith("calibration-"):
            meas.calibration = rel
        elif base.startswith("noise-"):
            meas.noise = rel
        elif base.endswith(".tiff"):
            meas.tiff = rel
        elif "rfi" not in base:
            meas.annotation = rel
        mode = mode or m.group(2).upper().rstrip("0123456789")[:2]
        ptype = ptype or m.group(3).upper()[:3]
    if not groups:
        raise UserError(f"{where} lists no measurement; the product is incomplete, download it again.")
    for meas in groups.values():
        if not meas.tiff:
            raise UserError(f"{files.name}: the manifest names no measurement TIFF for {meas.swath} {meas.pol}.")
        if not meas.annotation:
            raise UserError(f"{files.name}: the manifest names no annotation for {meas.swath} {meas.pol}.")
    return Product(files.name, mission, mode, ptype, ipf, groups)


def _seconds(stamp: str, where: str) -> float:
    try:
        return dt.datetime.fromisoformat(stamp.strip()).timestamp()
    except ValueError:
        raise UserError(f"{where}: {stamp[:30]!r} is not a time; the file is malformed.") from None


def parse_annotation(files: ProductFiles, rel: str) -> Annotation:
    root = files.xml(rel)
    where = f"{files.name}: {rel}"
    lines = int(number(root, "imageAnnotation/imageInformation/numberOfLines", where, int))
    samples = int(number(root, "imageAnnotation/imageInformation/numberOfSamples", where, int))
    if lines < 1 or samples < 1:
        raise UserError(f"{where} gives an empty image ({samples} x {lines}); the file is malformed.")
    info = root.find("imageAnnotation/imageInformation")
    assert info is not None
    dt_line = float(info.findtext("azimuthTimeInterval") or "nan")
    done = (root.findtext(".//thermalNoiseCorrectionPerformed") or "false").strip().lower() == "true"
    gcps = []
    for pt in root.iter("geolocationGridPoint"):
        gcps.append(
            (
                number(pt, "line", where),
                number(pt, "pixel", where),
                number(pt, "longitude", where),
                number(pt, "latitude", where),
                float(pt.findtext("height") or 0.0),
            )
        )
    if not gcps:
        raise UserError(f"{where} has no geolocation grid; the product cannot be placed on the map.")
    ann = Annotation(
        lines=lines,
        samples=samples,
        product_type=(root.findtext("adsHeader/productType") or "").strip().upper(),
        mode=(root.findtext("adsHeader/mode") or "").strip().upper(),
        swath=(root.findtext("adsHeader/swath") or "").strip().upper(),
        pol=(root.findtext("adsHeader/polarisation") or "").strip().upper(),
        azimuth_time_interval=dt_line,
        range_spacing=float(info.findtext("rangePixelSpacing") or "nan"),
        azimuth_spacing=float(info.findtext("azimuthPixelSpacing") or "nan"),
        noise_removed_by_ipf=done,
        start_time=(info.findtext("productFirstLineUtcTime") or "").strip(),
        gcps=gcps,
        slant_range_time=float(info.findtext("slantRangeTime") or "nan"),
        range_sampling_rate=float(root.findtext("generalAnnotation/productInformation/rangeSamplingRate") or "nan"),
    )
    timing = root.find("swathTiming")
    bursts = list(timing.iter("burst")) if timing is not None else []
    if bursts:
        assert timing is not None
        lpb = int(number(timing, "linesPerBurst", where, int))
        if not np.isfinite(dt_line) or dt_line <= 0:
            raise UserError(f"{where} has bursts but no azimuthTimeInterval; the file is malformed.")
        t0 = _seconds(_text(bursts[0], "azimuthTime", where), where)
        ann.first_burst_time = t0
        for b in bursts:
            first = numbers(b, "firstValidSample", where).astype(np.int64)
            last = numbers(b, "lastValidSample", where).astype(np.int64)
            if first.size != lpb or last.size != lpb:
                raise UserError(f"{where}: a burst's valid-sample lists do not have linesPerBurst ({lpb}) entries.")
            ann.bursts.append(Burst(_seconds(_text(b, "azimuthTime", where), where) - t0, first, last))
        ann.lines_per_burst = lpb
        if lpb * len(bursts) != lines:
            raise UserError(f"{where}: {len(bursts)} bursts of {lpb} lines do not make the {lines} lines of the image.")
    return ann
