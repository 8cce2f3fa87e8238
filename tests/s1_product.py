"""A small synthetic Sentinel-1 product (GRD or SLC, IW, VV + VH) that GDAL's SAFE driver opens.

`write_s1_product(folder, kind="GRD"|"SLC")` writes `<name>.SAFE/` with manifest.safe, annotation XML (header,
image size, geolocation grid), calibration XML (sigmaNought / betaNought / gamma / dn LUTs), noise XML and
measurement TIFFs carrying the same GCPs; `zip_product(safe)` zips it the way ESA delivers it. The returned
`S1Product` keeps the arrays and LUTs written, so tests compute sigma0 = DN^2 / A^2 themselves.

What GDAL 3.10's SAFE driver reads (found by trying it): manifest.safe with `<xfdu:XFDU>`, a metadataSection
(platform familyName/number, instrument mode, acquisitionPeriod), an informationPackageMap whose
`xfdu:contentUnit unitType="Measurement Data Unit"` lists the measurements, and a dataObjectSection whose
dataObjects (repID s1Level1ProductSchema / s1Level1MeasurementSchema / s1Level1CalibrationSchema) point at the
files by `byteStream/fileLocation@href`; each annotation's adsHeader (missionId, productType, polarisation, mode,
swath), imageInformation (numberOfSamples, numberOfLines, outputPixels: "16 bit Unsigned Integer" for GRD,
"16 bit Signed Integer" for SLC), processingInformation's ellipsoid (without it the GCPs get no CRS) and the
geolocationGridPointList; the
calibration's calibrationVectorList (azimuthTime, line, pixel, sigmaNought, betaNought, gamma). Noise XML is
written (it belongs to a product) but GDAL does not read it.

Run as a script to write one: `python tests/s1_product.py OUT_FOLDER [GRD|SLC]`.
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


@dataclass
class S1Product:
    safe: Path  # the .SAFE folder
    kind: str  # GRD or SLC
    swaths: list[str]  # ["IW"] for GRD, ["IW1", "IW2"] for SLC
    pols: list[str]
    shape: tuple[int, int]  # (lines, samples) of every measurement
    dn: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)  # (swath, pol) -> uint16 or complex64
    lut_lines: np.ndarray = field(default_factory=lambda: np.zeros(0))
    lut_pixels: np.ndarray = field(default_factory=lambda: np.zeros(0))
    luts: dict[tuple[str, str, str], np.ndarray] = field(default_factory=dict)  # (swath, pol, name) -> (L, P)
    gcps: list[tuple[int, int, float, float]] = field(default_factory=list)  # (line, pixel, lat, lon)

    @property
    def manifest(self) -> Path:
        return self.safe / "manifest.safe"


def _time(line: float) -> str:
    return (T0 + dt.timedelta(seconds=line * LINE_TIME)).strftime("%Y-%m-%dT%H:%M:%S.%f")


def _header(kind: str, swath: str, pol: str, lines: int, number: int) -> str:
    return (
        f"<adsHeader><missionId>S1A</missionId><productType>{kind}</productType><polarisation>{pol}</polarisation>"
        f"<mode>IW</mode><swath>{swath}</swath><startTime>{_time(0)}</startTime><stopTime>{_time(lines - 1)}"
        f"</stopTime><absoluteOrbitNumber>38000</absoluteOrbitNumber><missionDataTakeId>300000</missionDataTakeId>"
        f"<imageNumber>{number:03d}</imageNumber></adsHeader>"
    )


def _grid(lines: int, samples: int, swath_index: int) -> list[tuple[int, int, float, float]]:
    """3 x 3 geolocation grid (9 GCPs): a tilted footprint like a descending pass, in degrees."""
    pts = []
    for line in (0, (lines - 1) // 2, lines - 1):
        for pixel in (0, (samples - 1) // 2, samples - 1):
            lat = 45.0 - 0.001 * line + 0.0002 * pixel
            lon = 7.0 + 0.3 * swath_index + 0.0012 * pixel + 0.0003 * line
            pts.append((line, pixel, lat, lon))
    return pts


def _annotation(kind: str, swath: str, pol: str, shape: tuple[int, int], number: int, gcps) -> str:
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
        + _header(kind, swath, pol, lines, number)
        + "<imageAnnotation><imageInformation>"
        f"<productFirstLineUtcTime>{_time(0)}</productFirstLineUtcTime>"
        f"<productLastLineUtcTime>{_time(lines - 1)}</productLastLineUtcTime>"
        f"<rangePixelSpacing>10.0</rangePixelSpacing><azimuthPixelSpacing>10.0</azimuthPixelSpacing>"
        f"<numberOfSamples>{samples}</numberOfSamples><numberOfLines>{lines}</numberOfLines>"
        f"<outputPixels>{pixel_type}</outputPixels></imageInformation>"
        "<processingInformation><ellipsoidName>WGS84</ellipsoidName>"  # GDAL sets the GCPs' CRS from this
        "<ellipsoidSemiMajorAxis>6378137.0</ellipsoidSemiMajorAxis>"
        "<ellipsoidSemiMinorAxis>6356752.314245179</ellipsoidSemiMinorAxis></processingInformation>"
        "</imageAnnotation>"
        f'<geolocationGrid><geolocationGridPointList count="{len(gcps)}">{points}'
        "</geolocationGridPointList></geolocationGrid></product>"
    )


def _vector(tag: str, values: np.ndarray) -> str:
    return f'<{tag} count="{values.size}">' + " ".join(f"{v:.6e}" for v in values) + f"</{tag}>"


def _calibration(kind, swath, pol, shape, number, lut_lines, lut_pixels, luts) -> str:
    vectors = "".join(
        f"<calibrationVector><azimuthTime>{_time(li)}</azimuthTime><line>{li}</line>"
        + f'<pixel count="{lut_pixels.size}">'
        + " ".join(str(int(p)) for p in lut_pixels)
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
        + _header(kind, swath, pol, shape[0], number)
        + "<calibrationInformation><absoluteCalibrationConstant>1.0</absoluteCalibrationConstant>"
        + f'</calibrationInformation><calibrationVectorList count="{lut_lines.size}">{vectors}'
        + "</calibrationVectorList></calibration>"
    )


def _noise(kind, swath, pol, shape, number, lut_lines, lut_pixels) -> str:
    vectors = "".join(
        f"<noiseRangeVector><azimuthTime>{_time(li)}</azimuthTime><line>{li}</line>"
        + f'<pixel count="{lut_pixels.size}">'
        + " ".join(str(int(p)) for p in lut_pixels)
        + "</pixel>"
        + _vector("noiseRangeLut", np.full(lut_pixels.size, 1.0))
        + "</noiseRangeVector>"
        for li in lut_lines
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<noise>'
        + _header(kind, swath, pol, shape[0], number)
        + f'<noiseRangeVectorList count="{lut_lines.size}">{vectors}</noiseRangeVectorList></noise>'
    )


def _manifest(kind: str, swaths: list[str], objects: list[tuple[str, str, str]], lines: int) -> str:
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
        'stop="2021-06-01T06:10:00.000000"><safe:facility name="SAR Studio tests"/></safe:processing></xmlData>'
        "</metadataWrap></metadataObject>"
        '<metadataObject ID="platform" classification="DESCRIPTION" category="DMD"><metadataWrap mimeType="text/xml" '
        'vocabularyName="SAFE"><xmlData><safe:platform><safe:nssdcIdentifier>2014-016A</safe:nssdcIdentifier>'
        "<safe:familyName>SENTINEL-1</safe:familyName><safe:number>A</safe:number><safe:instrument>"
        '<safe:familyName abbreviation="SAR">Synthetic Aperture Radar</safe:familyName><safe:extension>'
        f"<s1sarl1:instrumentMode><s1sarl1:mode>IW</s1sarl1:mode>{swath_tags}</s1sarl1:instrumentMode>"
        "</safe:extension></safe:instrument></safe:platform></xmlData></metadataWrap></metadataObject>"
        '<metadataObject ID="acquisitionPeriod" classification="DESCRIPTION" category="DMD"><metadataWrap '
        'mimeType="text/xml" vocabularyName="SAFE"><xmlData><safe:acquisitionPeriod>'
        f"<safe:startTime>{_time(0)}</safe:startTime><safe:stopTime>{_time(lines - 1)}</safe:stopTime>"
        "</safe:acquisitionPeriod></xmlData></metadataWrap></metadataObject>"
        '<metadataObject ID="generalProductInformation" classification="DESCRIPTION" category="DMD"><metadataWrap '
        'mimeType="text/xml" vocabularyName="SAFE"><xmlData><s1sarl1:standAloneProductInformation>'
        f"<s1sarl1:productClass>S</s1sarl1:productClass><s1sarl1:productType>{kind}</s1sarl1:productType>"
        "<s1sarl1:transmitterReceiverPolarisation>VV</s1sarl1:transmitterReceiverPolarisation>"
        "<s1sarl1:transmitterReceiverPolarisation>VH</s1sarl1:transmitterReceiverPolarisation>"
        "</s1sarl1:standAloneProductInformation></xmlData></metadataWrap></metadataObject>"
        f"{metadata_pointers}</metadataSection>"
        f"<dataObjectSection>{data_objects}</dataObjectSection></xfdu:XFDU>"
    )


def write_s1_product(
    folder: str | Path, kind: str = "GRD", shape: tuple[int, int] = (60, 80), seed: int = 0
) -> S1Product:
    """Write a synthetic IW product (VV + VH) under `folder`; GRD has one swath "IW", SLC has IW1 and IW2."""
    import rasterio
    from rasterio.control import GroundControlPoint
    from rasterio.crs import CRS

    kind = kind.upper()
    rng = np.random.default_rng(seed)
    lines, samples = shape
    swaths = ["IW"] if kind == "GRD" else ["IW1", "IW2"]
    pols = ["VV", "VH"]
    stamp = "20210601t053000-20210601t053025-038000-047cb8"
    name = f"S1A_IW_{kind}{'H' if kind == 'GRD' else '_'}_1SDV_20210601T053000_20210601T053025_038000_047CB8_0001"
    safe = Path(folder) / f"{name}.SAFE"
    for sub in ("annotation/calibration", "measurement"):
        (safe / sub).mkdir(parents=True, exist_ok=True)
    # LUT knots: lines and pixels that do not divide the image evenly, the last ones at (or past) the image edge
    lut_lines = np.array([0, 17, 38, lines - 1])
    lut_pixels = np.array([0, 23, 51, samples - 1])
    product = S1Product(safe, kind, swaths, pols, shape, lut_lines=lut_lines, lut_pixels=lut_pixels)
    objects: list[tuple[str, str, str]] = []
    number = 0
    for si, swath in enumerate(swaths):
        gcps = _grid(lines, samples, si)
        product.gcps = product.gcps or gcps
        for pol in pols:
            number += 1
            base = f"s1a-{swath.lower()}-{kind.lower()}-{pol.lower()}-{stamp}-{number:03d}"
            ll, pp = np.meshgrid(lut_lines, lut_pixels, indexing="ij")
            # smooth, clearly non-constant LUTs (so nearest-knot or wrong-axis lookups would show)
            sigma = 400.0 + 2.0 * pp + 1.5 * ll + 30.0 * si + (5.0 if pol == "VH" else 0.0)
            luts = {"sigmaNought": sigma, "betaNought": 0.9 * sigma + 20.0, "gamma": 1.1 * sigma - 10.0}
            luts["dn"] = np.full_like(sigma, 500.0)
            for key, value in luts.items():
                product.luts[(swath, pol, key)] = value
            if kind == "GRD":
                dn = rng.integers(20, 3000, shape).astype(np.uint16)
                dtype = "uint16"
            else:
                dn = (rng.integers(-900, 900, shape) + 1j * rng.integers(-900, 900, shape)).astype(np.complex64)
                dtype = "complex_int16"
            product.dn[(swath, pol)] = dn
            (safe / "annotation" / f"{base}.xml").write_text(_annotation(kind, swath, pol, shape, number, gcps))
            cal = _calibration(kind, swath, pol, shape, number, lut_lines, lut_pixels, luts)
            (safe / "annotation" / "calibration" / f"calibration-{base}.xml").write_text(cal)
            noise = _noise(kind, swath, pol, shape, number, lut_lines, lut_pixels)
            (safe / "annotation" / "calibration" / f"noise-{base}.xml").write_text(noise)
            tif = safe / "measurement" / f"{base}.tiff"
            gcp_list = [GroundControlPoint(row=li, col=px, x=lon, y=lat, z=100.0) for li, px, lat, lon in gcps]
            with rasterio.open(tif, "w", driver="GTiff", width=samples, height=lines, count=1, dtype=dtype) as ds:
                ds.write(dn, 1)
                ds.gcps = (gcp_list, CRS.from_epsg(4326))
            oid = base.replace("-", "")
            objects += [
                (f"product{oid}", "s1Level1ProductSchema", f"annotation/{base}.xml"),
                (f"calibration{oid}", "s1Level1CalibrationSchema", f"annotation/calibration/calibration-{base}.xml"),
                (f"noise{oid}", "s1Level1NoiseSchema", f"annotation/calibration/noise-{base}.xml"),
                (oid, "s1Level1MeasurementSchema", f"measurement/{base}.tiff"),
            ]
    product.manifest.write_text(_manifest(kind, swaths, objects, lines))
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


if __name__ == "__main__":
    p = write_s1_product(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "GRD")
    print(p.safe, zip_product(p.safe))
