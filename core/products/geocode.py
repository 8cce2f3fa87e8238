"""Geocoding without a DEM: a GCP-referenced (radar-geometry) raster onto a north-up map grid, block by block.

The mapping is the product's own geolocation grid, fitted with a thin-plate spline, which passes exactly through
every grid point (GDAL's GCP transformer with TPS, `rasterio.transform.GCPTransformer(gcps, tps=True)`; GDAL's
default order-2 polynomial misses an IW GRD grid by 25 m RMS / 77 m max, and rasterio's `reproject` and
`WarpedVRT` silently ignore METHOD=GCP_TPS, so neither is used here). Between the grid points this is not
terrain-corrected (SNAP's Ellipsoid-Correction-GG is the closest relative); `core.products.terrain` uses a DEM.

How one output block is made (memory does not grow with the scene):
1. map coordinates of the block's pixel centres -> lon/lat (pyproj) -> source (line, pixel) through the TPS,
   evaluated exactly on a sub-grid and bilinearly in between: every `SUBGRID` output pixels, or an eighth of the
   GCPs' spacing where the grid is denser (the TPS bends only at the scale of the grid; the tests measure the
   difference to the exact evaluation: under 0.01 px). Doing every pixel exactly costs about 1.5 s per million
   pixels;
2. read only the source window covering those positions (+1 px halo), through `core.io.open_source`, so a
   Sentinel-1 product is read calibrated;
3. resample (bilinear on linear values, invalid neighbours left out and the weights renormalised; or nearest),
   convert to dB after resampling when asked, and write the block (`core.io.BlockWriter`, atomic, COG optional).
Output pixels whose source position falls outside the raster are nodata (NaN).

Pixel convention (GDAL's): a GCP's (line, pixel) counts from the top-left corner of the top-left pixel, so the
centre of source pixel (i, j) is at (i + 0.5, j + 0.5). Sentinel-1's geolocation grid counts line/pixel at pixel
centres, and GDAL's SAFE driver (so gdalwarp too) passes them over unchanged: half a pixel (5 m on a GRD) off.
Measured on tests/support/s1_geometry.py's product against range-Doppler from the orbit: 0.47 px in line, 0.50 px in
pixel. So GCPs of a Sentinel-1 raster (tags SATELLITE_IDENTIFIER=SENTINEL-1 or MISSION_ID=S1*, which GDAL sets and
our outputs keep) are moved by +0.5 (`gcp_offset`), unless the tag GCP_CONVENTION=corner says they already were.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import UserError
from core.files import check_outputs
from core.io.blocks import BlockWriter, iter_windows
from core.io.georef import GeoInfo, crs_name
from core.io.kinds import to_db, to_intensity
from core.io.products import open_source
from core.io.source import Source, Window
from core.progress import ProgressFn

RESAMPLINGS = ("bilinear", "nearest")
SUBGRID = 16  # at most this many output pixels between exact evaluations of the map -> (line, pixel) chain
BLOCK = 512  # output tile and block size
MAX_SOURCE_WINDOW = 1024  # source pixels a side read for one strip of an output block, about
MAX_GROWTH = 64  # refuse an output grid (its bounding box) with more than this many times the input's pixels


@dataclass
class Geocoded:
    path: Path
    crs: str  # short name, e.g. EPSG:32632
    resolution: float  # in the CRS's units
    width: int
    height: int
    gcps: int

    def summary(self) -> str:
        return (
            f"{self.path.name}: {self.width} x {self.height} px, {self.crs}, {self.resolution:g} per pixel, "
            f"north-up, through {self.gcps} GCPs (thin-plate spline)"
        )


class GridMapping:
    """Map coordinates of a target CRS <-> source (line, pixel) through the GCPs' thin-plate spline."""

    def __init__(self, geo: GeoInfo, crs: str | None = None, gcp_offset: float = 0.0) -> None:
        from pyproj import CRS, Transformer
        from rasterio.control import GroundControlPoint
        from rasterio.transform import GCPTransformer

        if len(geo.gcps) < 3:
            raise UserError(
                "the raster has no ground control points (GCPs) to geocode through; give a radar-geometry raster or "
                "Sentinel-1 product that carries its geolocation grid."
            )
        self.gcp_crs = CRS.from_user_input(geo.gcp_crs or "EPSG:4326")
        o = gcp_offset
        self.gcps = tuple((li + o, px + o, x, y, z) for li, px, x, y, z in geo.gcps)
        points = [GroundControlPoint(row=li, col=px, x=x, y=y, z=z) for li, px, x, y, z in self.gcps]
        self._tps = GCPTransformer(points, tps=True)
        self.gcp_offset = gcp_offset
        self.crs = self.gcp_crs if crs is None else _parse_crs(crs)
        self._to_gcp = Transformer.from_crs(self.crs, self.gcp_crs, always_xy=True)
        self._from_gcp = Transformer.from_crs(self.gcp_crs, self.crs, always_xy=True)

    def close(self) -> None:
        self._tps.close()

    def to_image(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Map (x, y) in `crs` -> source (line, pixel), GDAL corner convention, exactly through the TPS."""
        shape = np.shape(x)
        gx, gy = self._to_gcp.transform(np.ravel(x), np.ravel(y))
        # rowcol with an identity ufunc keeps the fractional line/pixel (the default op floors them)
        rows, cols = self._tps.rowcol(np.asarray(gx), np.asarray(gy), op=np.positive)
        return np.asarray(rows, np.float64).reshape(shape), np.asarray(cols, np.float64).reshape(shape)

    def to_map(self, line: np.ndarray, pixel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Source (line, pixel) -> map (x, y) in `crs` through the TPS."""
        shape = np.shape(line)
        gx, gy = self._tps.xy(np.ravel(line), np.ravel(pixel), offset="ul")
        x, y = self._from_gcp.transform(np.asarray(gx, np.float64), np.asarray(gy, np.float64))
        return np.asarray(x).reshape(shape), np.asarray(y).reshape(shape)

    def gcp_map_coords(self) -> tuple[np.ndarray, np.ndarray]:
        g = np.asarray(self.gcps, np.float64)
        x, y = self._from_gcp.transform(g[:, 2], g[:, 3])
        return np.asarray(x), np.asarray(y)


def _parse_crs(crs: str):
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    try:
        return CRS.from_user_input(crs)
    except CRSError:
        raise UserError(f"unknown CRS {crs!r}; give an EPSG code such as EPSG:32632, or a WKT / PROJ string.") from None


def gcp_offset_for(geo: GeoInfo) -> float:
    """+0.5 for Sentinel-1 GCPs as GDAL hands them over (pixel-centre counts), 0 otherwise; see the docstring."""
    tags = geo.tags
    if tags.get("GCP_CONVENTION", "").lower() == "corner":
        return 0.0
    s1 = tags.get("SATELLITE_IDENTIFIER", "").upper() == "SENTINEL-1" or tags.get("MISSION_ID", "").upper().startswith(
        "S1"
    )
    return 0.5 if s1 else 0.0


def utm_crs_for(geo: GeoInfo) -> str:
    """The UTM zone (WGS 84) of the GCPs' centre: EPSG:326zz north of the equator, EPSG:327zz south."""
    from pyproj import CRS, Transformer

    g = np.asarray(geo.gcps, np.float64)
    lon, lat = Transformer.from_crs(
        CRS.from_user_input(geo.gcp_crs or "EPSG:4326"), "EPSG:4326", always_xy=True
    ).transform(g[:, 2], g[:, 3])
    lon_c, lat_c = float(np.mean(lon)), float(np.mean(lat))
    zone = min(60, max(1, int(math.floor((lon_c + 180.0) / 6.0)) + 1))
    return f"EPSG:{(32600 if lat_c >= 0 else 32700) + zone}"


def pixel_spacing(mapping: GridMapping) -> float:
    """The source's pixel spacing in the target CRS's units, from the GCPs: the side of a square with the area of
    one source pixel (an affine least-squares fit of map x, y on line, pixel), to 3 significant digits."""
    g = np.asarray(mapping.gcps, np.float64)
    x, y = mapping.gcp_map_coords()
    a = np.column_stack([g[:, 0], g[:, 1], np.ones(len(g))])
    (dxl, dxp, _), *_ = np.linalg.lstsq(a, x, rcond=None)
    (dyl, dyp, _), *_ = np.linalg.lstsq(a, y, rcond=None)
    area = abs(dxl * dyp - dxp * dyl)
    if not np.isfinite(area) or area <= 0:
        raise UserError("the GCPs do not span an area (all on one line?); give --resolution.")
    side = math.sqrt(area)
    return float(f"{side:.3g}")


def default_resolution(geo: GeoInfo, mapping: GridMapping) -> float:
    """The product's pixel spacing: a GRD's spacing tags (GDAL's PIXEL_SPACING / LINE_SPACING, or our reader's
    RANGE_ / AZIMUTH_PIXEL_SPACING), in metres, when the CRS is in metres; else the GCP estimate (`pixel_spacing`)."""
    tags = geo.tags
    if tags.get("PRODUCT_TYPE", "").upper() == "SLC":  # slant-range spacing: not a ground spacing
        return pixel_spacing(mapping)
    try:
        if "PIXEL_SPACING" in tags:  # GDAL's SAFE driver
            ps, ls = float(tags["PIXEL_SPACING"]), float(tags["LINE_SPACING"])
        else:  # core.io.sentinel1.reader
            ps, ls = float(tags["RANGE_PIXEL_SPACING"]), float(tags["AZIMUTH_PIXEL_SPACING"])
    except (KeyError, ValueError):
        return pixel_spacing(mapping)
    units = {a.unit_name for a in mapping.crs.axis_info}
    if ps > 0 and ls > 0 and units <= {"metre", "meter"} and units:
        return float(f"{math.sqrt(ps * ls):.3g}")
    return pixel_spacing(mapping)


@dataclass
class OutputGrid:
    x0: float
    y0: float
    resolution: float
    width: int
    height: int

    @property
    def transform(self) -> tuple[float, ...]:
        return (self.resolution, 0.0, self.x0, 0.0, -self.resolution, self.y0)

    def centres(self, win: Window, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Map coordinates of the pixel centres (win.row + rows) x (win.col + cols), as a mesh."""
        x = self.x0 + (win.col + cols + 0.5) * self.resolution
        y = self.y0 - (win.row + rows + 0.5) * self.resolution
        return np.meshgrid(x, y)


def output_grid(mapping: GridMapping, height: int, width: int, resolution: float) -> OutputGrid:
    """The north-up grid holding the raster's whole outline, aligned to multiples of `resolution`."""
    n = 129
    t = np.linspace(0.0, 1.0, n)
    lines = np.concatenate([t * height, t * height, np.zeros(n), np.full(n, float(height))])
    pixels = np.concatenate([np.zeros(n), np.full(n, float(width)), t * width, t * width])
    x, y = mapping.to_map(lines, pixels)
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise UserError("the footprint cannot be expressed in the requested CRS; choose another --crs.")
    x0 = math.floor(float(x.min()) / resolution) * resolution
    y1 = math.floor(float(y.min()) / resolution) * resolution
    x1 = math.ceil(float(x.max()) / resolution) * resolution
    y0 = math.ceil(float(y.max()) / resolution) * resolution
    w, h = int(round((x1 - x0) / resolution)), int(round((y0 - y1) / resolution))
    return OutputGrid(x0, y0, resolution, max(1, w), max(1, h))


def _nodes(n: int, step: int) -> np.ndarray:
    """Sub-grid node positions 0, step, ... covering 0..n-1 (at least two nodes)."""
    k = max(1, math.ceil((n - 1) / step))
    return np.arange(k + 1, dtype=np.float64) * step


def _upsample(coarse: np.ndarray, nr: np.ndarray, nc: np.ndarray, h: int, w: int) -> np.ndarray:
    """Bilinear interpolation of values on nodes (nr x nc) at every integer position of an h x w block."""

    def weights(nodes: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        pos = np.arange(n, dtype=np.float64)
        k = np.clip(np.searchsorted(nodes, pos, side="right") - 1, 0, len(nodes) - 2)
        return k, (pos - nodes[k]) / (nodes[k + 1] - nodes[k])

    kr, fr = weights(nr, h)
    kc, fc = weights(nc, w)
    across = coarse[:, kc] * (1.0 - fc) + coarse[:, kc + 1] * fc
    return across[kr] * (1.0 - fr)[:, None] + across[kr + 1] * fr[:, None]


def subgrid_step(mapping: GridMapping, height: int, width: int, resolution: float) -> int:
    """Output pixels between exact evaluations: an eighth of the GCPs' mean spacing, at most SUBGRID."""
    gcp_spacing_px = math.sqrt(height * width / max(1, len(mapping.gcps)))  # in source pixels
    return max(1, min(SUBGRID, int(gcp_spacing_px * pixel_spacing(mapping) / resolution / 8)))


def source_positions(
    mapping: GridMapping, grid: OutputGrid, win: Window, step: int = SUBGRID
) -> tuple[np.ndarray, np.ndarray]:
    """Source (line, pixel) of every output pixel centre of `win`: exact on a sub-grid, bilinear between."""
    nr, nc = _nodes(win.height, step), _nodes(win.width, step)
    x, y = grid.centres(win, nr, nc)
    line, pixel = mapping.to_image(x, y)
    return _upsample(line, nr, nc, win.height, win.width), _upsample(pixel, nr, nc, win.height, win.width)


def sample(source: Source, line: np.ndarray, pixel: np.ndarray, resampling: str, linear_from_db: bool) -> np.ndarray:
    """Values of `source` at fractional (line, pixel) (corner convention), (h, w, C) float32, NaN outside."""
    h, w = line.shape
    out = np.full((h, w, source.count), np.nan, np.float32)
    inside = (line >= 0) & (line <= source.height) & (pixel >= 0) & (pixel <= source.width)
    if not inside.any():
        return out
    u = line[inside] - 0.5  # array index coordinates: pixel centres at integers
    v = pixel[inside] - 0.5
    r0 = max(0, int(math.floor(u.min())) - 1)
    c0 = max(0, int(math.floor(v.min())) - 1)
    r1 = min(source.height, int(math.floor(u.max())) + 3)
    c1 = min(source.width, int(math.floor(v.max())) + 3)
    data = source.read(Window(r0, c0, r1 - r0, c1 - c0))
    data = data[..., None] if data.ndim == 2 else data
    data = data.astype(np.float32, copy=False)
    if linear_from_db:
        data = to_intensity(data, "db")
    nodata = source.geo.nodata
    valid = np.isfinite(data)
    if nodata is not None and np.isfinite(nodata):
        valid &= data != nodata
    hh, ww, nb = data.shape
    flat = np.where(valid, data, np.float32(0)).reshape(-1, nb)  # invalid values weigh nothing
    mask = valid.reshape(-1, nb).astype(np.float32)
    fi, fj = np.floor(u), np.floor(v)
    i0 = np.clip(fi.astype(np.int64) - r0, 0, hh - 1)  # clamped at the raster's edge: the edge pixel's value
    i1 = np.clip(fi.astype(np.int64) + 1 - r0, 0, hh - 1)
    j0 = np.clip(fj.astype(np.int64) - c0, 0, ww - 1)
    j1 = np.clip(fj.astype(np.int64) + 1 - c0, 0, ww - 1)
    du, dv = (u - fi).astype(np.float32), (v - fj).astype(np.float32)
    # the nearest pixel: nodata there makes the output nodata (no smearing of valid values into the gaps)
    near = np.where(du >= 0.5, i1, i0) * ww + np.where(dv >= 0.5, j1, j0)
    if resampling == "nearest":
        vals = np.where(mask[near] > 0, flat[near], np.nan)
        out[inside] = vals
        return out
    acc = np.zeros((u.size, nb), np.float32)
    wsum = np.zeros_like(acc)
    for k, w in (
        (i0 * ww + j0, (1 - du) * (1 - dv)),
        (i0 * ww + j1, (1 - du) * dv),
        (i1 * ww + j0, du * (1 - dv)),
        (i1 * ww + j1, du * dv),
    ):
        acc += flat[k] * w[:, None]
        wsum += mask[k] * w[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        vals = np.where((mask[near] > 0) & (wsum > 0), acc / wsum, np.nan)
    out[inside] = vals.astype(np.float32)
    return out


def geocode_raster(
    src: str | os.PathLike | Source,
    dst: str | os.PathLike,
    *,
    crs: str | None = None,
    resolution: float | None = None,
    db: bool = False,
    cog: bool = False,
    resampling: str = "bilinear",
    gcp_offset: float | None = None,
    progress: ProgressFn | None = None,
) -> Geocoded:
    """Geocode a GCP-referenced raster (every band) onto a north-up grid; see the module docstring.

    crs: any pyproj CRS text (default: the UTM zone of the scene's centre); resolution: in the CRS's units
    (default: the source's pixel spacing estimated from the GCPs); db: write 10·log10 of the resampled linear
    values (a dB input is resampled in linear and stays dB); cog: Cloud-Optimized GeoTIFF; gcp_offset: added to
    every GCP's line and pixel (default: `gcp_offset_for`, +0.5 for Sentinel-1, else 0)."""
    if resampling not in RESAMPLINGS:
        raise UserError(f"unknown resampling {resampling!r}; use one of {', '.join(RESAMPLINGS)}.")
    if resolution is not None and not (np.isfinite(resolution) and resolution > 0):
        raise UserError(f"resolution must be a positive number of CRS units, not {resolution}.")
    own = not isinstance(src, Source)
    source: Source = src if isinstance(src, Source) else open_source(src)
    try:
        geo = source.geo
        if geo.kind == "transform":
            raise UserError(
                f"{source.name} is already on a map grid ({crs_name(geo.crs)}); geocoding is for radar-geometry "
                "rasters with GCPs (reproject it with gdalwarp instead)."
            )
        if source.kind == "display" and db:
            raise UserError(
                f"{source.name} holds 8-bit display values with no radiometry; dB makes no sense, drop --db."
            )
        crs_text = crs or utm_crs_for(geo)
        offset = gcp_offset_for(geo) if gcp_offset is None else float(gcp_offset)
        mapping = GridMapping(geo, crs_text, offset)
        try:
            res = float(resolution) if resolution is not None else default_resolution(geo, mapping)
            grid = output_grid(mapping, source.height, source.width, res)
            if grid.width * grid.height > MAX_GROWTH * max(1, source.width * source.height):
                raise UserError(
                    f"resolution {res:g} would make a {grid.width} x {grid.height} px grid, over {MAX_GROWTH}x the "
                    f"input's pixels; choose a coarser --resolution."
                )
            if own:  # output is not the input, is a file path, and its folder has room (uncompressed float32)
                check_outputs([(Path(str(src)), Path(dst))], grid.width * grid.height * source.count * 4)
            return _write(source, mapping, grid, dst, crs_text, db, cog, resampling, progress)
        finally:
            mapping.close()
    finally:
        if own:
            source.close()


def _write(source, mapping, grid, dst, crs_text, db, cog, resampling, progress) -> Geocoded:
    geo = source.geo
    in_db = source.kind == "db"
    out_db = db or in_db
    spacing = pixel_spacing(mapping)
    # output tiles of `part` px a side keep one source window near MAX_SOURCE_WINDOW px a side (a rotated square
    # needs up to sqrt(2) times its side), whatever the output resolution
    part = max(16, min(BLOCK, int(MAX_SOURCE_WINDOW * spacing / grid.resolution / 1.5)))
    step = subgrid_step(mapping, source.height, source.width, grid.resolution)
    name = crs_name(mapping.crs.to_wkt())
    tags = dict(geo.tags)
    tags.update(
        GEOCODING="geolocation grid (GCPs), thin-plate spline through every point; no DEM",
        GEOCODING_METHOD="GDAL GCP transformer with TPS; map -> lon/lat (PROJ) -> line/pixel",
        GEOCODING_CRS=name,
        GEOCODING_RESOLUTION=f"{grid.resolution:g}",
        GEOCODING_RESAMPLING=f"{resampling} on linear values" if resampling == "bilinear" else resampling,
        GEOCODING_GCPS=str(len(geo.gcps)),
        GEOCODING_NODATA="NaN outside the swath",
        GEOCODING_GCP_OFFSET=f"{mapping.gcp_offset:g} px added to the GCPs' line and pixel",
    )
    if out_db:
        tags["VALUES"] = "dB (10·log10 after resampling)"
    out_geo = GeoInfo(
        crs=mapping.crs.to_wkt(),
        transform=grid.transform,
        nodata=float("nan"),
        band_descriptions=tuple(source.band_names),
        tags=tags,
        band_tags=tuple(geo.band_tags) if len(geo.band_tags) == source.count else (),
    )
    windows = list(iter_windows(grid.height, grid.width, BLOCK))
    with (
        warnings.catch_warnings(),
        BlockWriter(
            dst, grid.width, grid.height, source.count, "float32", out_geo, list(source.band_names), BLOCK, cog
        ) as writer,
    ):
        warnings.simplefilter("ignore", RuntimeWarning)
        for k, win in enumerate(windows):
            block = np.empty((win.height, win.width, source.count), np.float32)
            for sub in iter_windows(win.height, win.width, part):
                tile = Window(win.row + sub.row, win.col + sub.col, sub.height, sub.width)
                line, pixel = source_positions(mapping, grid, tile, step)
                vals = sample(source, line, pixel, resampling, in_db)
                if out_db:
                    vals = to_db(vals)
                block[sub.row : sub.row + sub.height, sub.col : sub.col + sub.width] = vals
            writer.write(win, block)
            if progress is not None:
                progress(k + 1, len(windows))
    return Geocoded(Path(dst), name, grid.resolution, grid.width, grid.height, len(geo.gcps))
