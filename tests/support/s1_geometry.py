"""A synthetic Sentinel-1 IW GRD product with a consistent geometry: orbit, timing, slant-to-ground-range
polynomials and a geolocation grid that all agree, so xarray-sentinel and sarsen read it and terrain correction can
be checked against an independent calculation.

Built on tests/support/s1_product.py (its calibration, noise and manifest pieces). The geometry is analytic:
- orbit: a circle of radius 7071 km in the Earth-fixed frame (Earth rotation left out: it is only a smooth
  trajectory), heading -10 deg (ascending) or 190 deg (descending), right-looking; `orbit_position(t)` and
  `orbit_velocity(t)` give it exactly, the annotation holds state vectors every 10 s as S1 does;
- lines: zero-Doppler azimuth time t0 + line * dt; pixels: ground range pixel * 10 m, with ground range the
  distance along the ellipsoid from the near-range point, and slant range <-> ground range as the annotation's
  srgr/grsr polynomials (fitted here to that geometry);
- geolocation grid: each (line, pixel) solved on the ellipsoid (height 0) from its time and slant range.
`reference_line_pixel(x, y, z)` is the independent inverse: for ECEF points, the zero-Doppler time by root finding
on the analytic orbit (no polynomial orbit fit, no sarsen), then line and pixel.

Run as a script to write one: `python -m tests.support.s1_geometry OUT_FOLDER [ascending|descending]`.
"""

from __future__ import annotations

import datetime as dt
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from pyproj import Transformer
from rasterio.transform import from_origin

from tests.support import s1_product as s1

GM = 3.986004418e14
ORBIT_RADIUS = 7_071_000.0
OMEGA = math.sqrt(GM / ORBIT_RADIUS**3)
SPACING = 10.0  # metres, range and azimuth
C = 299_792_458.0
T0 = s1.T0


@dataclass
class Geometry:
    e1: np.ndarray  # unit ECEF vector of the orbit at t = 0 (relative to the product's first line)
    e2: np.ndarray  # unit ECEF direction of motion at t = 0
    line_time: float  # seconds per line
    sr0: float  # slant range of pixel 0, metres
    srgr: np.ndarray  # ground range = sum c_k (R - sr0)^k
    grsr: np.ndarray  # slant range = sum c_k g^k
    lines: int
    samples: int

    def position(self, t):
        t = np.asarray(t, float)[..., None]
        return ORBIT_RADIUS * (np.cos(OMEGA * t) * self.e1 + np.sin(OMEGA * t) * self.e2)

    def velocity(self, t):
        t = np.asarray(t, float)[..., None]
        return ORBIT_RADIUS * OMEGA * (-np.sin(OMEGA * t) * self.e1 + np.cos(OMEGA * t) * self.e2)

    def ground_point(self, t: float, slant_range: float) -> np.ndarray:
        """ECEF point on the ellipsoid (height 0) at zero Doppler from time t, at `slant_range`, right side."""
        from scipy.optimize import brentq

        p, v = self.position(t), self.velocity(t)
        vh = v / np.linalg.norm(v)
        right = np.cross(vh, p / np.linalg.norm(p))
        right /= np.linalg.norm(right)
        down = -np.cross(right, vh)

        def height(alpha: float) -> float:
            x = p + slant_range * (math.cos(alpha) * down + math.sin(alpha) * right)
            return float(_geodetic(x)[2])

        alpha = brentq(height, 0.05, 1.2, xtol=1e-12)
        return p + slant_range * (math.cos(alpha) * down + math.sin(alpha) * right)

    def reference_line_pixel(self, xyz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(line, pixel) of ECEF points (N, 3): zero-Doppler time by root finding on the analytic orbit."""
        from scipy.optimize import brentq

        lines, pixels = [], []
        for x in np.atleast_2d(xyz):

            def doppler(t: float, x=x) -> float:
                return float(np.dot(x - self.position(t), self.velocity(t)))

            t = brentq(doppler, -60.0, 60.0 + self.lines * self.line_time, xtol=1e-12)
            r = float(np.linalg.norm(x - self.position(t)))
            g = np.polyval(self.srgr[::-1], r - self.sr0)
            lines.append(t / self.line_time)
            pixels.append(g / SPACING)
        return np.array(lines), np.array(pixels)


def _geodetic(xyz: np.ndarray) -> np.ndarray:
    from pyproj import Transformer

    tr = Transformer.from_crs("EPSG:4978", "EPSG:4979", always_xy=True)
    lon, lat, h = tr.transform(*np.asarray(xyz, float).T)
    return np.array([lon, lat, h])


def _ecef(lon, lat, h):
    from pyproj import Transformer

    tr = Transformer.from_crs("EPSG:4979", "EPSG:4978", always_xy=True)
    return np.array(tr.transform(lon, lat, h))


def make_geometry(pass_: str, shape: tuple[int, int], centre=(45.5, 7.3)) -> Geometry:
    lat0, lon0 = centre
    heading = -10.0 if pass_ == "ascending" else 190.0
    # nadir about 480 km to the left of the scene (incidence near 35 degrees)
    look = math.radians(heading + 90.0)
    from pyproj import Geod

    lon_n, lat_n, _ = Geod(ellps="WGS84").fwd(lon0, lat0, math.degrees(look) + 180.0, 480e3)
    e1 = _ecef(lon_n, lat_n, 0.0)
    e1 = e1 / np.linalg.norm(e1)
    phi, lam = math.radians(lat_n), math.radians(lon_n)
    north = np.array([-math.sin(phi) * math.cos(lam), -math.sin(phi) * math.sin(lam), math.cos(phi)])
    east = np.array([-math.sin(lam), math.cos(lam), 0.0])
    h = math.radians(heading)
    e2 = math.cos(h) * north + math.sin(h) * east
    e2 -= np.dot(e2, e1) * e1
    e2 /= np.linalg.norm(e2)
    lines, samples = shape
    # one line per 10 m of ground track (the first line is at t = 0)
    ground_speed = OMEGA * 6_371_000.0
    line_time = SPACING / ground_speed
    geo = Geometry(e1, e2, line_time, 0.0, np.zeros(1), np.zeros(1), lines, samples)
    # near range: slant range to the scene centre's cross-track position, minus half the swath
    p0 = geo.position(0.0)
    centre_xyz = _ecef(lon0, lat0, 0.0)
    r_centre = float(np.linalg.norm(centre_xyz - p0))
    width = samples * SPACING
    rs = np.linspace(r_centre - 0.45 * width, r_centre + 0.45 * width, 41)
    pts = np.array([geo.ground_point(0.0, r) for r in rs])
    chord = np.r_[0.0, np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))]
    # ground range from pixel 0: choose sr0 so that the scene centre sits mid-swath
    g_of_r = np.polyfit(rs - rs[0], chord, 4)
    half = 0.5 * width
    # slant range of pixel 0 is where the ground range is half a swath before the centre
    g_centre = np.polyval(g_of_r, r_centre - rs[0])
    r0 = rs[0] + float(np.interp(g_centre - half, chord, rs - rs[0]))
    # refit both polynomials with pixel 0 at r0
    rr = np.linspace(r0, r0 + 0.7 * width, 61)
    pts = np.array([geo.ground_point(0.0, r) for r in rr])
    gg = np.r_[0.0, np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))]
    geo.sr0 = float(r0)
    geo.srgr = np.polyfit(rr - r0, gg, 5)[::-1]
    geo.grsr = np.polyfit(gg, rr, 5)[::-1]
    return geo


def _time(seconds: float) -> str:
    return (T0 + dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%f")


def _annotation(geo: Geometry, pol: str, number: int, gcps: list) -> str:
    lines, samples = geo.lines, geo.samples
    times = np.arange(-60.0, 60.0 + lines * geo.line_time + 10.0, 10.0)
    orbits = "".join(
        f"<orbit><time>{_time(t)}</time><frame>Earth Fixed</frame><position><x>{p[0]:.6f}</x><y>{p[1]:.6f}</y>"
        f"<z>{p[2]:.6f}</z></position><velocity><x>{v[0]:.9f}</x><y>{v[1]:.9f}</y><z>{v[2]:.9f}</z></velocity>"
        "</orbit>"
        for t, p, v in zip(times, geo.position(times), geo.velocity(times))
    )
    conversions = "".join(
        f"<coordinateConversion><azimuthTime>{_time(t)}</azimuthTime><slantRangeTime>{2 * geo.sr0 / C:.12e}"
        f'</slantRangeTime><sr0>{geo.sr0:.6f}</sr0><srgrCoefficients count="6">'
        + " ".join(f"{c:.15e}" for c in geo.srgr)
        + '</srgrCoefficients><gr0>0.0</gr0><grsrCoefficients count="6">'
        + " ".join(f"{c:.15e}" for c in geo.grsr)
        + "</grsrCoefficients></coordinateConversion>"
        for t in (0.0, lines * geo.line_time)
    )
    points = "".join(
        f"<geolocationGridPoint><azimuthTime>{_time(li * geo.line_time)}</azimuthTime>"
        f"<slantRangeTime>{srt:.12e}</slantRangeTime><line>{li}</line><pixel>{px}</pixel>"
        f"<latitude>{lat:.10f}</latitude><longitude>{lon:.10f}</longitude><height>0.0</height>"
        f"<incidenceAngle>{inc:.6f}</incidenceAngle><elevationAngle>{inc - 4:.6f}</elevationAngle>"
        "</geolocationGridPoint>"
        for li, px, lat, lon, srt, inc in gcps
    )
    mid_inc = float(np.median([g[5] for g in gcps]))
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<product>'
        + s1._header("GRD", "IW", pol, lines, number, "IW")
        + "<generalAnnotation><productInformation><pass>"
        + ("Ascending" if geo.e2[2] > 0 else "Descending")
        + "</pass><timelinessCategory>Fast-24h</timelinessCategory><platformHeading>0</platformHeading>"
        "<projection>Ground Range</projection><rangeSamplingRate>6.4345241e7</rangeSamplingRate>"
        "<radarFrequency>5.405e9</radarFrequency><azimuthSteeringRate>1.59</azimuthSteeringRate>"
        "</productInformation>"
        f'<orbitList count="{len(times)}">{orbits}</orbitList></generalAnnotation>'
        "<imageAnnotation><imageInformation>"
        f"<productFirstLineUtcTime>{_time(0)}</productFirstLineUtcTime>"
        f"<productLastLineUtcTime>{_time((lines - 1) * geo.line_time)}</productLastLineUtcTime>"
        f"<ascendingNodeTime>{_time(-1000)}</ascendingNodeTime><anchorTime>{_time(0)}</anchorTime>"
        f"<productComposition>Assembled</productComposition><sliceNumber>1</sliceNumber>"
        f'<sliceList count="0"></sliceList>'
        f"<slantRangeTime>{2 * geo.sr0 / C:.12e}</slantRangeTime><pixelValue>Detected</pixelValue>"
        f"<outputPixels>16 bit Unsigned Integer</outputPixels><rangePixelSpacing>{SPACING}</rangePixelSpacing>"
        f"<azimuthPixelSpacing>{SPACING}</azimuthPixelSpacing><azimuthTimeInterval>{geo.line_time:.12e}"
        f"</azimuthTimeInterval><azimuthFrequency>{1 / geo.line_time:.6f}</azimuthFrequency>"
        f"<numberOfSamples>{samples}</numberOfSamples><numberOfLines>{lines}</numberOfLines>"
        f"<zeroDopMinusAcqTime>0</zeroDopMinusAcqTime><incidenceAngleMidSwath>{mid_inc:.6f}"
        "</incidenceAngleMidSwath></imageInformation>"
        "<processingInformation><ellipsoidName>WGS84</ellipsoidName>"
        "<ellipsoidSemiMajorAxis>6378137.0</ellipsoidSemiMajorAxis>"
        "<ellipsoidSemiMinorAxis>6356752.314245179</ellipsoidSemiMinorAxis>"
        "<thermalNoiseCorrectionPerformed>false</thermalNoiseCorrectionPerformed></processingInformation>"
        "</imageAnnotation>"
        "<swathTiming><linesPerBurst>0</linesPerBurst><samplesPerBurst>0</samplesPerBurst>"
        '<burstList count="0"></burstList></swathTiming>'
        f'<geolocationGrid><geolocationGridPointList count="{len(gcps)}">{points}'
        "</geolocationGridPointList></geolocationGrid>"
        f'<coordinateConversion><coordinateConversionList count="2">{conversions}</coordinateConversionList>'
        "</coordinateConversion></product>"
    )


def _manifest_with_orbit(text: str, pass_: str) -> str:
    """s1_product's manifest plus the orbit reference xarray-sentinel reads (numbers, pass, ascending node)."""
    orbit = (
        '<metadataObject ID="measurementOrbitReference" classification="DESCRIPTION" category="DMD">'
        '<metadataWrap mimeType="text/xml" vocabularyName="SAFE"><xmlData><safe:orbitReference '
        'xmlns:s1="http://www.esa.int/safe/sentinel-1.0/sentinel-1">'
        '<safe:orbitNumber type="start">38000</safe:orbitNumber><safe:orbitNumber type="stop">38000</safe:orbitNumber>'
        '<safe:relativeOrbitNumber type="start">66</safe:relativeOrbitNumber>'
        '<safe:relativeOrbitNumber type="stop">66</safe:relativeOrbitNumber><safe:cycleNumber>230</safe:cycleNumber>'
        f"<safe:extension><s1:orbitProperties><s1:pass>{pass_.upper()}</s1:pass>"
        f"<s1:ascendingNodeTime>{_time(-1000)}</s1:ascendingNodeTime></s1:orbitProperties></safe:extension>"
        "</safe:orbitReference></xmlData></metadataWrap></metadataObject>"
        '<metadataObject ID="generalProductInformationTakeId" classification="DESCRIPTION" category="DMD">'
        '<metadataWrap mimeType="text/xml" vocabularyName="SAFE"><xmlData>'
        "<s1sarl1:missionDataTakeID>300000</s1sarl1:missionDataTakeID></xmlData></metadataWrap></metadataObject>"
    )
    return text.replace("<metadataSection>", "<metadataSection>" + orbit, 1)


@dataclass
class GeometryProduct:
    safe: Path
    geometry: Geometry
    gcps: list  # (line, pixel, lat, lon, slant range time, incidence)

    @property
    def manifest(self) -> Path:
        return self.safe / "manifest.safe"


def write_geometry_product(
    folder: str | Path, pass_: str = "ascending", shape: tuple[int, int] = (300, 400), grid: tuple[int, int] = (6, 9)
) -> GeometryProduct:
    """A one-polarisation (VV) IW GRD product whose orbit, timing, range conversion and grid agree."""
    import rasterio
    from rasterio.control import GroundControlPoint
    from rasterio.crs import CRS

    base_product = s1.write_s1_product(folder, "GRD", shape)  # calibration, noise, manifest layout
    safe = base_product.safe
    geo = make_geometry(pass_, shape)
    lines, samples = shape
    gcps = []
    for li in np.linspace(0, lines - 1, grid[0]).round().astype(int):
        for px in np.linspace(0, samples - 1, grid[1]).round().astype(int):
            t = li * geo.line_time
            r = float(np.polyval(geo.grsr[::-1], px * SPACING))
            x = geo.ground_point(t, r)
            lon, lat, _ = _geodetic(x)
            p = geo.position(t)
            look = (x - p) / np.linalg.norm(x - p)
            normal = _ecef_normal(lon, lat)
            inc = math.degrees(math.acos(float(-np.dot(look, normal))))
            gcps.append((int(li), int(px), float(lat), float(lon), 2 * r / C, inc))
    for ann in sorted((safe / "annotation").glob("*.xml")):
        pol = "VV" if "-vv-" in ann.name else "VH"
        number = int(ann.stem.rsplit("-", 1)[1])
        ann.write_text(_annotation(geo, pol, number, gcps))
    for tif in sorted((safe / "measurement").glob("*.tiff")):
        with rasterio.open(tif, "r+") as ds:
            ds.gcps = (
                [GroundControlPoint(row=li, col=px, x=lon, y=lat, z=0.0) for li, px, lat, lon, _, _ in gcps],
                CRS.from_epsg(4326),
            )
    base_product.manifest.write_text(_manifest_with_orbit(base_product.manifest.read_text(), pass_))
    return GeometryProduct(safe, geo, gcps)


def _ecef_normal(lon: float, lat: float) -> np.ndarray:
    phi, lam = math.radians(lat), math.radians(lon)
    return np.array([math.cos(phi) * math.cos(lam), math.cos(phi) * math.sin(lam), math.sin(phi)])


def write_dem(path, product, spacing: float, hill: bool) -> None:
    tr = Transformer.from_crs("EPSG:4326", "EPSG:32632", always_xy=True)
    x, y = tr.transform([g[3] for g in product.gcps], [g[2] for g in product.gcps])
    x0, y0 = min(x) - 600, max(y) + 600
    w, h = int((max(x) - min(x) + 1200) / spacing), int((max(y) - min(y) + 1200) / spacing)
    xx, yy = np.meshgrid(x0 + (np.arange(w) + 0.5) * spacing, y0 - (np.arange(h) + 0.5) * spacing)
    z = np.zeros((h, w))
    if hill:  # a 500 m Gaussian hill on a 300 m plateau: layover-free at 38 deg incidence, yet strongly shifted
        z = 300 + 500 * np.exp(-((xx - np.mean(x)) ** 2 + (yy - np.mean(y)) ** 2) / (2 * 800**2))
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=w,
        height=h,
        count=1,
        dtype="float32",
        crs="EPSG:32632",
        transform=from_origin(x0, y0, spacing, spacing),
    ) as ds:
        ds.write(z.astype(np.float32), 1)


if __name__ == "__main__":
    p = write_geometry_product(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "ascending")
    print(p.safe)
