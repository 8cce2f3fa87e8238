"""A small synthetic Sentinel-1 product (IW / EW / SM / WV, GRD or SLC) written the way ESA structures one.

`write_s1_product(folder, kind="GRD"|"SLC", mode="IW"|"EW"|"SM"|"WV", noise_layout="2.90"|"legacy", ...)` writes
`<name>.SAFE/` with manifest.safe, annotation XML (header, image size and azimuth time interval, geolocation grid,
swathTiming with bursts for a TOPS SLC), calibration XML (sigmaNought / betaNought / gamma / dn LUTs), noise XML
and measurement TIFFs carrying the same GCPs; `zip_product(safe)` zips it the way ESA delivers it. The returned
`S1Product` keeps the arrays and LUTs written, so tests compute sigma0 = DN^2 / A^2 themselves; tests that check
noise removal parse the XML files written here themselves.

Noise XML: "2.90" (IPF 2.90 and later) writes `noiseRangeVectorList` (vectors whose pixel lists differ, as in real
products) and `noiseAzimuthVectorList` blocks (GRD: two sub-swath blocks split in range, SLC: one per swath);
"legacy" writes the pre-2.90 `noiseVectorList`. Noise power reaches about 2000 DN², so the darkest DN (20..44)
fall below it and are clipped.

TOPS SLC (IW or EW): `n_bursts` bursts of `lines_per_burst` lines, each starting `burst_spacing` lines after the
previous on the azimuth timeline (so consecutive bursts overlap), with the first 2 and last 3 lines of each burst
invalid (firstValidSample -1) and samples outside [3 + b, samples - 4 - b] invalid (zeros in the TIFF).
`content="lines"` writes each valid SLC pixel as (input line + 1) + 0j, so a test can tell exactly which input lines
a deburst kept. SM SLC is stripmap: no bursts.

What GDAL 3.10's SAFE driver reads (found by trying it; tests/io/test_io_products.py still opens IW products with
it): manifest.safe with `<xfdu:XFDU>`, a metadataSection (platform familyName/number, instrument mode,
acquisitionPeriod), an informationPackageMap whose `xfdu:contentUnit unitType="Measurement Data Unit"` lists the
measurements, and a dataObjectSection whose dataObjects point at the files by `byteStream/fileLocation@href`; each
annotation's adsHeader, imageInformation (outputPixels "16 bit Unsigned Integer" for GRD, "16 bit Signed Integer"
for SLC), processingInformation's ellipsoid (without it the GCPs get no CRS) and the geolocationGridPointList.

Run as a script to write one: `python -m tests.support.s1_product OUT_FOLDER [GRD|SLC] [IW|EW|SM]`.
"""

from __future__ import annotations

import datetime as dt
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

T0 = dt.datetime(2021, 6, 1, 5, 30, 0)
LINE_TIME = 0.002  # seconds per azimuth line
RANGE_RATE = 64e6  # range sampling rate (Hz): a sample is 1/RANGE_RATE s of two-way slant range time
SWATH_LINE_SHIFT = 3  # TOPS SLC: each swath's bursts start this many lines after the previous swath's
SWATH_RANGE_OVERLAP = 12  # TOPS SLC: samples shared by adjacent swaths


@dataclass
class S1Product:
    safe: Path  # the .SAFE folder
    kind: str  # GRD or SLC
    swaths: list[str]  # ["IW"] for IW GRD, ["IW1", "IW2"] for IW SLC, ["S3"] for SM
    pols: list[str]
    shape: tuple[int, int]  # (lines, samples) of every measurement
    mode: str = "IW"
    dn: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)  # (swath, pol) -> uint16 or complex64
    lut_lines: np.ndarray = field(default_factory=lambda: np.zeros(0))
    lut_pixels: np.ndarray = field(default_factory=lambda: np.zeros(0))
    luts: dict[tuple[str, str, str], np.ndarray] = field(default_factory=dict)  # (swath, pol, name) -> (L, P)
    gcps: list[tuple[int, int, float, float]] = field(default_factory=list)  # (line, pixel, lat, lon)
    files: dict[tuple[str, str, str], Path] = field(default_factory=dict)  # (swath, pol, "noise"|...) -> file
    lines_per_burst: int = 0
    burst_offsets: list[int] = field(default_factory=list)  # each burst's first line on the azimuth timeline
    valid_lines: tuple[int, int] = (0, 0)  # first and last valid line inside a burst
    valid_samples: list[tuple[int, int]] = field(default_factory=list)  # per burst
    swath_sample_step: int = 0  # TOPS SLC: samples between the first samples of adjacent swaths

    @property
    def manifest(self) -> Path:
        return self.safe / "manifest.safe"


def _time(line: float) -> str:
    return (T0 + dt.timedelta(seconds=line * LINE_TIME)).strftime("%Y-%m-%dT%H:%M:%S.%f")


def _header(kind: str, swath: str, pol: str, lines: int, number: int, mode: str) -> str:
    return (
        f"<adsHeader><missionId>S1A</missionId><productType>{kind}</productType><polarisation>{pol}</polarisation>"
        f"<mode>{mode}</mode><swath>{swath}</swath><startTime>{_time(0)}</startTime><stopTime>{_time(lines - 1)}"
        f"</stopTime><absoluteOrbitNumber>38000</absoluteOrbitNumber><missionDataTakeId>300000</missionDataTakeId>"
        f"<imageNumber>{number:03d}</imageNumber></adsHeader>"
    )


def _grid(lines: int, samples: int, swath_index: int, step: float = 0.001) -> list[tuple[int, int, float, float]]:
    """3 x 3 geolocation grid (9 GCPs): a tilted footprint like a descending pass, `step` degrees per line."""
    pts = []
    for line in (0, (lines - 1) // 2, lines - 1):
        for pixel in (0, (samples - 1) // 2, samples - 1):
            lat = 45.0 - step * line + 0.2 * step * pixel
            lon = 7.0 + 0.3 * swath_index + 1.2 * step * pixel + 0.3 * step * line
            pts.append((line, pixel, lat, lon))
    return pts


def _list(values) -> str:
    return " ".join(str(int(v)) for v in values)


def _annotation(kind, mode, swath, pol, shape, number, gcps, bursts: str, noise_done: bool, srt: float) -> str:
    lines, samples = shape
    pixel_type = "16 bit Signed Integer" if kind == "SLC" else "16 bit Unsigned Integer"
    points = "".join(
        f"<geolocationGridPoint><azimuthTime>{_time(li)}</azimuthTime><slantRangeTime>0.0053</slantRangeTime>"
        f"<line>{li}</line><pixel>{px}</pixel><latitude>{lat:.8f}</latitude><longitude>{lon:.8f}</longitude>"
        f"<height>100.0</height><incidenceAngle>35.0</incidenceAngle><elevationAngle>30.0</elevationAngle>"
        f"</geolocationGridPoint>"
        for li, px, lat, lon in gcps
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<product>'
        + _header(kind, swath, pol, lines, number, mode)
        + f"<generalAnnotation><productInformation><rangeSamplingRate>{RANGE_RATE!r}</rangeSamplingRate>"
        "</productInformation></generalAnnotation><imageAnnotation><imageInformation>"
        f"<productFirstLineUtcTime>{_time(0)}</productFirstLineUtcTime>"
        f"<productLastLineUtcTime>{_time(lines - 1)}</productLastLineUtcTime>"
        f"<azimuthTimeInterval>{LINE_TIME}</azimuthTimeInterval><slantRangeTime>{srt!r}</slantRangeTime>"
        f"<rangePixelSpacing>10.0</rangePixelSpacing><azimuthPixelSpacing>10.0</azimuthPixelSpacing>"
        f"<numberOfSamples>{samples}</numberOfSamples><numberOfLines>{lines}</numberOfLines>"
        f"<outputPixels>{pixel_type}</outputPixels></imageInformation>"
        "<processingInformation><ellipsoidName>WGS84</ellipsoidName>"  # GDAL sets the GCPs' CRS from this
        "<ellipsoidSemiMajorAxis>6378137.0</ellipsoidSemiMajorAxis>"
        "<ellipsoidSemiMinorAxis>6356752.314245179</ellipsoidSemiMinorAxis>"
        f"<thermalNoiseCorrectionPerformed>{'true' if noise_done else 'false'}</thermalNoiseCorrectionPerformed>"
        "</processingInformation></imageAnnotation>"
        + bursts
        + f'<geolocationGrid><geolocationGridPointList count="{len(gcps)}">{points}'
        "</geolocationGridPointList></geolocationGrid></product>"
    )


def _vector(tag: str, values: np.ndarray) -> str:
    return f'<{tag} count="{values.size}">' + " ".join(f"{v:.6e}" for v in values) + f"</{tag}>"


def _calibration(kind, mode, swath, pol, shape, number, lut_lines, lut_pixels, luts) -> str:
    vectors = "".join(
        f"<calibrationVector><azimuthTime>{_time(li)}</azimuthTime><line>{li}</line>"
        + f'<pixel count="{lut_pixels.size}">'
        + _list(lut_pixels)
        + "</pixel>"
        + _vector("sigmaNought", luts["sigmaNought"][i])
        + _vector("betaNought", luts["betaNought"][i])
        + _vector("gamma", luts["gamma"][i])
        + _vector("dn", luts["dn"][i])
        + "</calibrationVector>"
        for i, li in enumerate(lut_lines)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<calibration>'
        + _header(kind, swath, pol, shape[0], number, mode)
        + "<calibrationInformation><absoluteCalibrationConstant>1.0</absoluteCalibrationConstant>"
        + f'</calibrationInformation><calibrationVectorList count="{lut_lines.size}">{vectors}'
        + "</calibrationVectorList></calibration>"
    )


def _noise(kind, mode, swath, pol, shape, number, noise_lines, layout: str, si: int) -> str:
    """Range vectors with their own pixel lists; 2.90 adds azimuth blocks (GRD: two sub-swaths, SLC: one)."""
    lines, samples = shape
    range_tag, vec_tag, lut_tag = (
        ("noiseRangeVectorList", "noiseRangeVector", "noiseRangeLut")
        if layout == "2.90"
        else ("noiseVectorList", "noiseVector", "noiseLut")
    )
    vectors = []
    for k, li in enumerate(noise_lines):
        px = np.array([0, 11 + k, 37 + 2 * k, samples - 1])
        val = 300.0 + 150.0 * k + 20.0 * px + 200.0 * si + (0.0 if pol in ("VV", "HH") else 100.0)
        vectors.append(
            f"<{vec_tag}><azimuthTime>{_time(li)}</azimuthTime><line>{li}</line>"
            f'<pixel count="{px.size}">{_list(px)}</pixel>{_vector(lut_tag, val)}</{vec_tag}>'
        )
    body = f'<{range_tag} count="{len(vectors)}">{"".join(vectors)}</{range_tag}>'
    if layout == "2.90":
        if kind == "GRD":
            half = samples // 2
            blocks = [(f"{mode}1", 0, half - 1, [1.0, 1.3, 0.8]), (f"{mode}2", half, samples - 1, [0.9, 1.1, 1.2])]
        else:
            blocks = [(swath, 0, samples - 1, [1.1, 0.7, 1.0])]
        az = "".join(
            f"<noiseAzimuthVector><swath>{name}</swath><firstAzimuthLine>0</firstAzimuthLine>"
            f"<firstRangeSample>{first}</firstRangeSample><lastAzimuthLine>{lines - 1}</lastAzimuthLine>"
            f"<lastRangeSample>{last}</lastRangeSample>"
            f'<line count="3">0 {lines // 3} {lines - 1}</line>{_vector("noiseAzimuthLut", np.array(lut))}'
            "</noiseAzimuthVector>"
            for name, first, last, lut in blocks
        )
        body += f'<noiseAzimuthVectorList count="{len(blocks)}">{az}</noiseAzimuthVectorList>'
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<noise>'
        + _header(kind, swath, pol, lines, number, mode)
        + body
        + "</noise>"
    )


def _swath_timing(lpb: int, samples: int, offsets: list[int], valid: tuple[int, int], vsamples, shift: int) -> str:
    bursts = []
    for off, (fs, ls) in zip(offsets, vsamples):
        off += shift
        first = np.full(lpb, -1)
        last = np.full(lpb, -1)
        first[valid[0] : valid[1] + 1] = fs
        last[valid[0] : valid[1] + 1] = ls
        bursts.append(
            f"<burst><azimuthTime>{_time(off)}</azimuthTime><byteOffset>0</byteOffset>"
            f'<firstValidSample count="{lpb}">{_list(first)}</firstValidSample>'
            f'<lastValidSample count="{lpb}">{_list(last)}</lastValidSample></burst>'
        )
    return (
        f"<swathTiming><linesPerBurst>{lpb}</linesPerBurst><samplesPerBurst>{samples}</samplesPerBurst>"
        f'<burstList count="{len(bursts)}">{"".join(bursts)}</burstList></swathTiming>'
    )


def _manifest(kind, mode, swaths, pols, objects, lines, ipf) -> str:
    """objects: (ID, repID, href)."""
    # each measurement's content unit names the metadata objects of its annotation, calibration and noise
    measurement_units = "".join(
        f'<xfdu:contentUnit unitType="Measurement Data Unit" repID="s1Level1MeasurementSchema" '
        f'dmdID="{" ".join(o for o, r, _ in objects if r != rep and o.endswith(oid))}">'
        f'<dataObjectPointer dataObjectID="{oid}"/></xfdu:contentUnit>'
        for oid, rep, _ in objects
        if rep == "s1Level1MeasurementSchema"
    )
    metadata_pointers = "".join(
        f'<metadataObject ID="{oid}" classification="DESCRIPTION" category="DMD" repID="{rep}">'
        f'<dataObjectPointer dataObjectID="{oid}"/></metadataObject>'
        for oid, rep, _ in objects
        if rep != "s1Level1MeasurementSchema"
    )
    other_units = "".join(
        f'<xfdu:contentUnit unitType="Metadata Unit" repID="{rep}"><dataObjectPointer dataObjectID="{oid}"/>'
        "</xfdu:contentUnit>"
        for oid, rep, _ in objects
        if rep != "s1Level1MeasurementSchema"
    )
    data_objects = "".join(
        f'<dataObject ID="{oid}" repID="{rep}"><byteStream mimeType="{"image/tiff" if href.endswith(".tiff") else "text/xml"}">'
        f'<fileLocation locatorType="URL" href="./{href}"/></byteStream></dataObject>'
        for oid, rep, href in objects
    )
    swath_tags = "".join(f"<s1sarl1:swath>{s}</s1sarl1:swath>" for s in swaths)
    pol_tags = "".join(
        f"<s1sarl1:transmitterReceiverPolarisation>{p}</s1sarl1:transmitterReceiverPolarisation>" for p in pols
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<xfdu:XFDU xmlns:xfdu="urn:ccsds:schema:xfdu:1" xmlns:safe="http://www.esa.int/safe/sentinel-1.0" '
        'xmlns:s1sarl1="http://www.esa.int/safe/sentinel-1.0/sentinel-1/sar/level-1" '
        'xmlns:gml="http://www.opengis.net/gml" version="esa/safe/sentinel-1.0/sentinel-1/sar/level-1/standard">'
        '<informationPackageMap><xfdu:contentUnit unitType="SAFE Archive Information Package" '
        'dmdID="acquisitionPeriod platform generalProductInformation measurementFrameSet" pdiID="processing">'
        f"{other_units}{measurement_units}</xfdu:contentUnit></informationPackageMap>"
        "<metadataSection>"
        '<metadataObject ID="processing" classification="PROCESSING" category="PDI"><metadataWrap mimeType="text/xml"'
        ' vocabularyName="SAFE"><xmlData><safe:processing name="synthetic" start="2021-06-01T06:00:00.000000" '
        'stop="2021-06-01T06:10:00.000000"><safe:facility name="SAR Studio tests">'
        f'<safe:software name="Sentinel-1 IPF" version="{ipf}"/></safe:facility></safe:processing></xmlData>'
        "</metadataWrap></metadataObject>"
        '<metadataObject ID="platform" classification="DESCRIPTION" category="DMD"><metadataWrap mimeType="text/xml" '
        'vocabularyName="SAFE"><xmlData><safe:platform><safe:nssdcIdentifier>2014-016A</safe:nssdcIdentifier>'
        "<safe:familyName>SENTINEL-1</safe:familyName><safe:number>A</safe:number><safe:instrument>"
        '<safe:familyName abbreviation="SAR">Synthetic Aperture Radar</safe:familyName><safe:extension>'
        f"<s1sarl1:instrumentMode><s1sarl1:mode>{mode}</s1sarl1:mode>{swath_tags}</s1sarl1:instrumentMode>"
        "</safe:extension></safe:instrument></safe:platform></xmlData></metadataWrap></metadataObject>"
        '<metadataObject ID="acquisitionPeriod" classification="DESCRIPTION" category="DMD"><metadataWrap '
        'mimeType="text/xml" vocabularyName="SAFE"><xmlData><safe:acquisitionPeriod>'
        f"<safe:startTime>{_time(0)}</safe:startTime><safe:stopTime>{_time(lines - 1)}</safe:stopTime>"
        "</safe:acquisitionPeriod></xmlData></metadataWrap></metadataObject>"
        '<metadataObject ID="generalProductInformation" classification="DESCRIPTION" category="DMD"><metadataWrap '
        'mimeType="text/xml" vocabularyName="SAFE"><xmlData><s1sarl1:standAloneProductInformation>'
        f"<s1sarl1:productClass>S</s1sarl1:productClass><s1sarl1:productType>{kind}</s1sarl1:productType>"
        f"{pol_tags}</s1sarl1:standAloneProductInformation></xmlData></metadataWrap></metadataObject>"
        f"{metadata_pointers}</metadataSection>"
        f"<dataObjectSection>{data_objects}</dataObjectSection></xfdu:XFDU>"
    )


def _swaths(kind: str, mode: str) -> list[str]:
    if mode == "SM":
        return ["S3"]
    if mode == "WV":
        return ["WV1"]
    return [mode] if kind == "GRD" else [f"{mode}1", f"{mode}2"]


def write_s1_product(
    folder: str | Path,
    kind: str = "GRD",
    shape: tuple[int, int] = (60, 80),
    seed: int = 0,
    mode: str = "IW",
    pols: tuple[str, ...] = ("VV", "VH"),
    noise_layout: str = "2.90",
    ipf: str = "003.40",
    noise_done: bool = False,
    n_bursts: int = 3,
    lines_per_burst: int = 24,
    burst_spacing: int = 16,
    content: str = "random",
    gcp_step: float = 0.001,
) -> S1Product:
    """Write a synthetic product under `folder` (see the module docstring). A TOPS SLC (IW/EW) has
    n_bursts * lines_per_burst lines whatever shape[0] says."""
    import rasterio
    from rasterio.control import GroundControlPoint
    from rasterio.crs import CRS

    kind, mode = kind.upper(), mode.upper()
    rng = np.random.default_rng(seed)
    tops = kind == "SLC" and mode in ("IW", "EW")
    lines, samples = (n_bursts * lines_per_burst, shape[1]) if tops else shape
    shape = (lines, samples)
    swaths = _swaths(kind, mode)
    stamp = "20210601t053000-20210601t053025-038000-047cb8"
    pol_code = {("VV", "VH"): "DV", ("VV",): "SV", ("HH", "HV"): "DH", ("HH",): "SH", ("VH",): "SV"}.get(pols, "DV")
    res = {"GRD": "H" if mode == "IW" else "M", "SLC": "_"}[kind]
    name = f"S1A_{mode}_{kind}{res}_1S{pol_code}_20210601T053000_20210601T053025_038000_047CB8_0001"
    safe = Path(folder) / f"{name}.SAFE"
    for sub in ("annotation/calibration", "measurement"):
        (safe / sub).mkdir(parents=True, exist_ok=True)
    # LUT knots: lines and pixels that do not divide the image evenly, the last ones at (or past) the image edge
    lut_lines = np.array([0, 17, 38, lines - 1])
    lut_pixels = np.array([0, 23, 51, samples - 1])
    product = S1Product(safe, kind, swaths, list(pols), shape, mode, lut_lines=lut_lines, lut_pixels=lut_pixels)
    if tops:
        product.lines_per_burst = lines_per_burst
        product.burst_offsets = [b * burst_spacing for b in range(n_bursts)]
        product.valid_lines = (2, lines_per_burst - 4)
        product.valid_samples = [(3 + b, samples - 4 - b) for b in range(n_bursts)]
        product.swath_sample_step = samples - SWATH_RANGE_OVERLAP
        noise_lines = [b * lines_per_burst + lines_per_burst // 2 - 3 for b in range(n_bursts)]
    else:
        noise_lines = [0, 25, lines - 1] if lines > 26 else [0, lines - 1]
    objects: list[tuple[str, str, str]] = []
    number = 0
    for si, swath in enumerate(swaths):
        gcps = _grid(lines, samples, si, gcp_step)
        product.gcps = product.gcps or gcps
        for pol in pols:
            number += 1
            base = f"s1a-{swath.lower()}-{kind.lower()}-{pol.lower()}-{stamp}-{number:03d}"
            ll, pp = np.meshgrid(lut_lines, lut_pixels, indexing="ij")
            # smooth, clearly non-constant LUTs (so nearest-knot or wrong-axis lookups would show)
            sigma = 400.0 + 2.0 * pp + 1.5 * ll + 30.0 * si + (5.0 if pol in ("VH", "HV") else 0.0)
            luts = {"sigmaNought": sigma, "betaNought": 0.9 * sigma + 20.0, "gamma": 1.1 * sigma - 10.0}
            luts["dn"] = np.full_like(sigma, 500.0)
            for key, value in luts.items():
                product.luts[(swath, pol, key)] = value
            if kind == "GRD":
                dn = rng.integers(20, 3000, shape, dtype=np.uint16)
                dtype = "uint16"
            else:
                if content in ("lines", "timeline", "range"):
                    code = {
                        "lines": np.arange(lines)[:, None] + np.zeros(shape),  # input line
                        "timeline": (  # line on the product's azimuth timeline (swaths shifted)
                            np.repeat(np.array(product.burst_offsets or [0]), lines_per_burst)[:, None]
                            + (np.arange(lines) % max(lines_per_burst, 1))[:, None]
                            + si * SWATH_LINE_SHIFT
                            + np.zeros(shape)
                        ),
                        "range": si * product.swath_sample_step + np.arange(samples)[None, :] + np.zeros(shape),
                    }[content]
                    dn = (code + 1 + 0j).astype(np.complex64)
                else:
                    dn = (rng.integers(-900, 900, shape) + 1j * rng.integers(-900, 900, shape)).astype(np.complex64)
                dtype = "complex_int16"
            bursts = ""
            if tops:
                v0, v1 = product.valid_lines
                for b, (fs, ls) in enumerate(product.valid_samples):  # invalid lines and samples are zeros
                    block = dn[b * lines_per_burst : (b + 1) * lines_per_burst]
                    block[:v0] = 0
                    block[v1 + 1 :] = 0
                    block[:, :fs] = 0
                    block[:, ls + 1 :] = 0
                bursts = _swath_timing(
                    lines_per_burst, samples, product.burst_offsets, (v0, v1), product.valid_samples,
                    si * SWATH_LINE_SHIFT,
                )  # fmt: skip
            product.dn[(swath, pol)] = dn
            srt = 0.0053 + si * (samples - SWATH_RANGE_OVERLAP) / RANGE_RATE
            ann = _annotation(kind, mode, swath, pol, shape, number, gcps, bursts, noise_done, srt)
            (safe / "annotation" / f"{base}.xml").write_text(ann)
            cal = _calibration(kind, mode, swath, pol, shape, number, lut_lines, lut_pixels, luts)
            cal_path = safe / "annotation" / "calibration" / f"calibration-{base}.xml"
            cal_path.write_text(cal)
            noise = _noise(kind, mode, swath, pol, shape, number, noise_lines, noise_layout, si)
            noise_path = safe / "annotation" / "calibration" / f"noise-{base}.xml"
            noise_path.write_text(noise)
            tif = safe / "measurement" / f"{base}.tiff"
            gcp_list = [GroundControlPoint(row=li, col=px, x=lon, y=lat, z=100.0) for li, px, lat, lon in gcps]
            with rasterio.open(tif, "w", driver="GTiff", width=samples, height=lines, count=1, dtype=dtype) as ds:
                ds.write(dn, 1)
                ds.gcps = (gcp_list, CRS.from_epsg(4326))
            product.files.update(
                {
                    (swath, pol, "annotation"): safe / "annotation" / f"{base}.xml",
                    (swath, pol, "calibration"): cal_path,
                    (swath, pol, "noise"): noise_path,
                    (swath, pol, "measurement"): tif,
                }
            )
            oid = base.replace("-", "")
            objects += [
                (f"product{oid}", "s1Level1ProductSchema", f"annotation/{base}.xml"),
                (f"calibration{oid}", "s1Level1CalibrationSchema", f"annotation/calibration/calibration-{base}.xml"),
                (f"noise{oid}", "s1Level1NoiseSchema", f"annotation/calibration/noise-{base}.xml"),
                (oid, "s1Level1MeasurementSchema", f"measurement/{base}.tiff"),
            ]
    product.manifest.write_text(_manifest(kind, mode, swaths, pols, objects, lines, ipf))
    return product


def zip_product(safe: str | Path) -> Path:
    """`<name>.zip` beside the folder, holding `<name>.SAFE/...` as ESA delivers it."""
    safe = Path(safe)
    out = safe.with_suffix(".zip")
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(safe.rglob("*")):
            if f.is_file():
                zf.write(f, f.relative_to(safe.parent).as_posix())
    return out


def _lut_reference(lines, pixels, table, shape):
    """A at every pixel, bilinear between knots, by a plain per-pixel loop (GDAL's formula)."""
    h, w = shape
    out = np.zeros(shape)
    for r in range(h):
        i = min(max(np.searchsorted(lines, r, "right") - 1, 0), len(lines) - 2)
        mu = (r - lines[i]) / (lines[i + 1] - lines[i])
        for c in range(w):
            j = min(max(np.searchsorted(pixels, c, "right") - 1, 0), len(pixels) - 2)
            nu = (c - pixels[j]) / (pixels[j + 1] - pixels[j])
            top = table[i, j] * (1 - nu) + table[i, j + 1] * nu
            bottom = table[i + 1, j] * (1 - nu) + table[i + 1, j + 1] * nu
            out[r, c] = top * (1 - mu) + bottom * mu
    return out


if __name__ == "__main__":
    args = sys.argv[1:]
    p = write_s1_product(args[0], args[1] if len(args) > 1 else "GRD", mode=args[2] if len(args) > 2 else "IW")
    print(p.safe, zip_product(p.safe))
