"""Terrain correction with the user's DEM: a radar-geometry raster onto the DEM's grid (or a requested one), block
by block, with optional radiometric terrain flattening (gamma0_T, Small 2011).

Range-Doppler geometry per output pixel (the DEM's heights are taken as ellipsoidal heights, as sarsen does):
1. the output block's map coordinates and DEM heights -> ECEF (PROJ);
2. zero-Doppler azimuth time and slant range from the product's orbit: sarsen's `simulate_acquisition`
   (Newton on (X - P(t)) . V(t) = 0, orbit state vectors fitted by `OrbitPolyfitInterpolator`), on plain
   in-memory blocks (no Dask graph over the scene);
3. line = (t - first line time) / azimuth time interval; pixel = ground range (the annotation's srgr polynomials,
   xarray-sentinel's `slant_range_time_to_ground_range`) / range pixel spacing; Sentinel-1 counts a pixel's centre
   as its index, so GDAL's corner convention is + 0.5;
4. sample OUR radar raster there (bilinear on linear values, `core.products.geocode.sample`): what `prepare`
   calibrated, noise-removed or filtered is what gets terrain-corrected. Without a raster the product itself is read
   (calibrated as `core.io.open_source` does).
RTC (`rtc=True`): sarsen's `gamma_weights_bilinear` sums each DEM facet's area projected normal to the look
direction onto the radar grid (`grouping_area_factor` 3 x 3 radar pixels) and spreads it back; gamma0_T = beta0 /
that normalised area. It needs neighbouring DEM facets that land on the same radar cells, so each block is
simulated with a halo of `RTC_HALO` DEM pixels (sarsen chunks the same way: 2048 px with a 128 px overlap); the
input must be beta0.
Metadata (orbit, timing, range conversion) comes from xarray-sentinel; only GRD is supported (an SLC's debursted
lines have no single azimuth time axis).
"""

from __future__ import annotations

import math
import os
import os.path
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import UserError
from core.files import check_outputs
from core.io.blocks import BlockWriter, iter_windows
from core.io.georef import GeoInfo, crs_name
from core.io.kinds import to_db
from core.io.products import open_source, safe_manifest
from core.io.source import Source, Window
from core.products.geocode import GridMapping, default_resolution, gcp_offset_for, sample
from core.progress import ProgressFn

BLOCK = 512
RTC_HALO = 64  # DEM pixels simulated around each block for the gamma-area sums
SPEED_OF_LIGHT = 299_792_458.0


@dataclass
class RadarGeometry:
    """What maps a ground point to (line, pixel) of a GRD measurement, read with xarray-sentinel."""

    orbit: Any  # sarsen.orbit.OrbitPolyfitInterpolator
    first_line_time: np.datetime64
    line_interval: float  # seconds
    range_pixel_spacing: float  # metres
    coordinate_conversion: Any  # xarray.Dataset: sr0, srgrCoefficients over azimuth_time
    lines: int
    samples: int
    grid_parameters: dict  # sarsen's radar grid for the gamma-area sums

    def line_pixel(self, azimuth_time, slant_range_time) -> tuple[np.ndarray, np.ndarray]:
        """Sentinel-1 (line, pixel) (pixel centre = index) of xarray azimuth / slant-range times."""
        import xarray as xr
        import xarray_sentinel

        line = (azimuth_time - self.first_line_time) / np.timedelta64(1, "ns") / 1e9 / self.line_interval
        # the conversion records span the product's lines only; xarray's interp gives NaN past them and the
        # polynomial's sum then skips the NaN (ground range 0): hold the first / last record instead
        times = self.coordinate_conversion.azimuth_time.values
        held = xr.where(azimuth_time < times[0], times[0], xr.where(azimuth_time > times[-1], times[-1], azimuth_time))
        ground = xarray_sentinel.slant_range_time_to_ground_range(held, slant_range_time, self.coordinate_conversion)
        pixel = np.asarray(ground, np.float64) / self.range_pixel_spacing
        pixel[~np.isfinite(np.asarray(slant_range_time, np.float64))] = np.nan
        return np.asarray(line, np.float64), pixel


def _urlpath(product: str | os.PathLike) -> str:
    manifest = safe_manifest(Path(product))
    if manifest is None:
        raise UserError(
            f"{Path(product).name} is not a Sentinel-1 product; terrain correction needs the product (.SAFE folder, "
            "manifest.safe or .zip) for its orbit and timing."
        )
    if manifest.startswith("/vsizip/"):  # GDAL's path -> fsspec's zip URL for xarray-sentinel
        inner = manifest[len("/vsizip/") :]
        cut = inner.lower().index(".zip") + 4
        return f"zip://{inner[cut + 1 :]}::{inner[:cut]}"
    return manifest


def read_radar_geometry(product: str | os.PathLike, pol: str | None = None) -> RadarGeometry:
    """Orbit, timing and range conversion of a GRD product's measurement (first polarisation unless `pol`)."""
    import xarray_sentinel
    from sarsen.orbit import OrbitPolyfitInterpolator
    from sarsen.sentinel1 import azimuth_slant_range_grid

    url = _urlpath(product)
    name = Path(product).name
    try:
        top = xarray_sentinel.open_sentinel1_dataset(url)
        if top.attrs.get("product_type") != "GRD":
            raise UserError(
                f"{name} is a {top.attrs.get('product_type')} product; terrain correction supports GRD only for now."
            )
        groups = [g for g in top.attrs.get("subgroups", []) if g.count("/") == 1]
        if pol is not None:
            groups = [g for g in groups if g.endswith("/" + pol.upper())] or groups
        group = groups[0]
        orbit = xarray_sentinel.open_sentinel1_dataset(url, group=f"{group}/orbit")
        conversion = xarray_sentinel.open_sentinel1_dataset(url, group=f"{group}/coordinate_conversion").compute()
        info = _image_information(url, group)
    except UserError:
        raise
    except Exception as exc:  # xarray-sentinel raises many kinds on a product missing what it needs
        msg = " ".join(str(exc).split())[:120]
        raise UserError(
            f"{name}: the orbit, timing or range conversion could not be read ({type(exc).__name__}: {msg}); "
            "terrain correction needs a complete annotation."
        ) from None
    attrs = {
        "product_type": "GRD",
        "product_first_line_utc_time": info["productFirstLineUtcTime"],
        "azimuth_time_interval": float(info["azimuthTimeInterval"]),
        "range_pixel_spacing": float(info["rangePixelSpacing"]),
        "azimuth_pixel_spacing": float(info["azimuthPixelSpacing"]),
        "image_slant_range_time": float(info["slantRangeTime"]),
    }
    interp = OrbitPolyfitInterpolator.from_position(orbit.data_vars["position"].compute())
    return RadarGeometry(
        orbit=interp,
        first_line_time=np.datetime64(attrs["product_first_line_utc_time"], "ns"),
        line_interval=attrs["azimuth_time_interval"],
        range_pixel_spacing=attrs["range_pixel_spacing"],
        coordinate_conversion=conversion,
        lines=int(info["numberOfLines"]),
        samples=int(info["numberOfSamples"]),
        grid_parameters=azimuth_slant_range_grid(attrs),
    )


def _image_information(url: str, group: str) -> dict:
    """The annotation's imageInformation of `group` (e.g. IW/VV), parsed by xarray-sentinel's schema reader, without
    opening the measurement (xarray-sentinel's pol group opens it, and cannot inside a zip)."""

    from xarray_sentinel import esa_safe
    from xarray_sentinel.sentinel1 import find_available_groups, get_fs_path

    fs, manifest = get_fs_path(url)
    with fs.open(manifest) as f:
        attrs, files = esa_safe.parse_manifest_sentinel1(f)
    groups = find_available_groups(files, os.path.dirname(manifest), attrs["product_type"], fs=fs)
    annotation = next(p for p in groups[group] if p.endswith(".xml"))
    with fs.open(annotation) as f:
        return esa_safe.parse_tag(f, "//imageInformation")


@dataclass
class TerrainCorrected:
    path: Path
    crs: str
    resolution: float
    width: int
    height: int
    rtc: bool

    def summary(self) -> str:
        what = "gamma0_T (terrain-flattened)" if self.rtc else "terrain-corrected (geometric)"
        return f"{self.path.name}: {self.width} x {self.height} px, {self.crs}, {self.resolution:g} per pixel, {what}"


def _dem_ecef(x: np.ndarray, y: np.ndarray, h: np.ndarray, crs) -> Any:
    """(axis, y, x) xarray of ECEF coordinates of a block: map x (w,), y (h,), heights (h, w)."""
    import xarray as xr
    from pyproj import CRS, Transformer

    xx, yy = np.meshgrid(x, y)
    tr = Transformer.from_crs(CRS.from_user_input(crs).to_3d(), "EPSG:4978", always_xy=True)
    ex, ey, ez = tr.transform(xx, yy, h)
    data = np.stack([np.asarray(ex), np.asarray(ey), np.asarray(ez)])
    return xr.DataArray(data, dims=("axis", "y", "x"), coords={"axis": [0, 1, 2], "y": y, "x": x})


def simulate_block(geom: RadarGeometry, x: np.ndarray, y: np.ndarray, heights: np.ndarray, crs, rtc: bool):
    """(line, pixel, gamma normalised area or None) of DEM points (Sentinel-1 convention)."""
    from sarsen.apps import simulate_acquisition
    from sarsen.radiometry import gamma_weights_bilinear

    ecef = _dem_ecef(x, y, heights, crs)
    wanted = ["azimuth_time", "slant_range_time"] + (["gamma_area"] if rtc else [])
    acq = simulate_acquisition(ecef, geom.orbit, include_variables=wanted)
    line, pixel = geom.line_pixel(acq.azimuth_time, acq.slant_range_time)
    area = None
    if rtc:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            area = np.asarray(gamma_weights_bilinear(acq, **geom.grid_parameters), np.float64)
    return line, pixel, area


@dataclass
class DemGrid:
    crs: str  # WKT
    x0: float
    y0: float
    resolution: float
    width: int
    height: int

    @property
    def transform(self) -> tuple[float, ...]:
        return (self.resolution, 0.0, self.x0, 0.0, -self.resolution, self.y0)

    def coords(self, win: Window) -> tuple[np.ndarray, np.ndarray]:
        x = self.x0 + (win.col + np.arange(win.width) + 0.5) * self.resolution
        y = self.y0 - (win.row + np.arange(win.height) + 0.5) * self.resolution
        return x, y


def _footprint_bounds(geo: GeoInfo, shape: tuple[int, int], crs_wkt: str, margin: float) -> tuple[float, ...]:
    """Bounds in `crs_wkt` of the swath outline through the product's geolocation grid, grown by `margin`."""
    mapping = GridMapping(geo, crs_wkt, gcp_offset_for(geo))
    try:
        n = 65
        t = np.linspace(0.0, 1.0, n)
        h, w = float(shape[0]), float(shape[1])
        lines = np.concatenate([t * h, t * h, np.zeros(n), np.full(n, h)])
        pixels = np.concatenate([np.zeros(n), np.full(n, w), t * w, t * w])
        x, y = mapping.to_map(lines, pixels)
    finally:
        mapping.close()
    return float(x.min()) - margin, float(y.min()) - margin, float(x.max()) + margin, float(y.max()) + margin


def output_grid(dem, geo: GeoInfo, shape: tuple[int, int], crs: str | None, resolution: float | None) -> DemGrid:
    """The DEM's own grid cropped to the swath (default), or the swath on `crs` at `resolution`."""
    from pyproj import CRS

    if dem.crs is None:
        raise UserError(f"{Path(dem.name).name} has no CRS; give a DEM with a map or geographic reference.")
    t = dem.transform
    if crs is None and resolution is None:
        if t.b != 0 or t.d != 0 or abs(abs(t.a) - abs(t.e)) > 1e-9 * abs(t.a) or t.e >= 0:
            raise UserError("the DEM's grid is rotated, not square or not north-up; give --crs and --resolution.")
        res = float(t.a)
        x_min, y_min, x_max, y_max = _footprint_bounds(geo, shape, dem.crs.to_wkt(), 2 * res)
        c0 = max(0, math.floor((x_min - t.c) / res))
        c1 = min(dem.width, math.ceil((x_max - t.c) / res))
        r0 = max(0, math.floor((t.f - y_max) / res))
        r1 = min(dem.height, math.ceil((t.f - y_min) / res))
        if c1 <= c0 or r1 <= r0:
            raise UserError(f"the DEM {Path(dem.name).name} does not cover the scene; give a DEM over the swath.")
        return DemGrid(dem.crs.to_wkt(), t.c + c0 * res, t.f - r0 * res, res, c1 - c0, r1 - r0)
    target = CRS.from_user_input(crs) if crs else CRS.from_wkt(dem.crs.to_wkt())
    if resolution is None:
        mapping = GridMapping(geo, target.to_wkt(), gcp_offset_for(geo))
        resolution = default_resolution(geo, mapping)
        mapping.close()
    res = float(resolution)
    x_min, y_min, x_max, y_max = _footprint_bounds(geo, shape, target.to_wkt(), 0.0)
    x0, y0 = math.floor(x_min / res) * res, math.ceil(y_max / res) * res
    w, h = math.ceil((x_max - x0) / res), math.ceil((y0 - y_min) / res)
    return DemGrid(target.to_wkt(), x0, y0, res, max(1, w), max(1, h))


def _calibration_of(source: Source) -> str:
    tags = [t.get("CALIBRATION", "") for t in source.geo.band_tags] + [source.geo.tags.get("CALIBRATION", "")]
    return next((t.upper() for t in tags if t), "")


def terrain_correct(
    product: str | os.PathLike,
    radar_raster: str | os.PathLike | Source | None,
    dst: str | os.PathLike,
    dem: str | os.PathLike,
    *,
    rtc: bool = False,
    crs: str | None = None,
    resolution: float | None = None,
    db: bool = False,
    cog: bool = False,
    pol: str | None = None,
    progress: ProgressFn | None = None,
) -> TerrainCorrected:
    """Terrain-correct `radar_raster` (radar geometry of `product`; None: the product, calibrated) onto the DEM.

    rtc: radiometric terrain flattening (the raster must be beta0; gamma0_T is written). crs / resolution: a
    requested grid instead of the DEM's (the DEM is resampled bilinearly onto it). db: 10·log10 after resampling."""
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.vrt import WarpedVRT

    inputs = [Path(str(product)), Path(str(dem))] + (
        [Path(str(radar_raster))] if isinstance(radar_raster, (str, os.PathLike)) else []
    )
    check_outputs([(inputs[0], Path(dst))], also_inputs=inputs[1:])  # never over an input; a writable folder
    geom = read_radar_geometry(product, pol)
    with open_source(product, calibration="none", pol=pol or "all") as measured:
        footprint = measured.geo  # the product's geolocation grid places the swath
    own = not isinstance(radar_raster, Source)
    if isinstance(radar_raster, Source):
        source = radar_raster
    elif radar_raster is None:
        source = open_source(product, calibration="beta0" if rtc else "sigma0", pol=pol or "all")
    else:
        source = open_source(radar_raster)
    try:
        if (source.height, source.width) != (geom.lines, geom.samples):
            raise UserError(
                f"{source.name} is {source.width} x {source.height} px but the product's measurement is "
                f"{geom.samples} x {geom.lines}; give the radar-geometry raster made from this product."
            )
        if rtc and _calibration_of(source) != "BETA0":
            raise UserError(
                f"terrain flattening (--rtc) needs beta0 in radar geometry, and {source.name} holds "
                f"{_calibration_of(source) or 'values of unknown calibration'}; prepare it with --calibration beta0."
            )
        try:
            dem_ds = rasterio.open(dem)
        except rasterio.errors.RasterioError:
            raise UserError(f"{Path(dem).name} could not be opened as a raster; give a DEM GDAL reads.") from None
        with dem_ds:
            grid = output_grid(dem_ds, footprint, (geom.lines, geom.samples), crs, resolution)
            same = crs is None and resolution is None
            reader = (
                dem_ds
                if same
                else WarpedVRT(
                    dem_ds,
                    crs=rasterio.crs.CRS.from_wkt(grid.crs),
                    transform=rasterio.transform.Affine(*grid.transform),
                    width=grid.width,
                    height=grid.height,
                    resampling=Resampling.bilinear,
                    src_nodata=dem_ds.nodata,
                    nodata=float("nan"),
                )
            )
            offset = (
                (
                    round((dem_ds.transform.f - grid.y0) / grid.resolution),
                    round((grid.x0 - dem_ds.transform.c) / grid.resolution),
                )
                if same
                else (0, 0)
            )
            try:
                return _write(geom, source, reader, offset, grid, dst, rtc, db, cog, progress)
            finally:
                if reader is not dem_ds:
                    reader.close()
    finally:
        if own:
            source.close()


def _read_heights(reader, win: Window, offset: tuple[int, int]) -> np.ndarray:
    """DEM heights of `win` (grid pixels; `offset` places the grid in the reader), NaN past the DEM's edge or at
    its nodata (an edge block's halo reaches outside)."""
    from rasterio.windows import Window as RWindow

    out = np.full((win.height, win.width), np.nan)
    r0, c0 = win.row + offset[0], win.col + offset[1]
    rr0, cc0 = max(0, r0), max(0, c0)
    rr1, cc1 = min(reader.height, r0 + win.height), min(reader.width, c0 + win.width)
    if rr1 <= rr0 or cc1 <= cc0:
        return out
    h = reader.read(1, window=RWindow(cc0, rr0, cc1 - cc0, rr1 - rr0), out_dtype="float64")
    nodata = reader.nodata
    if nodata is not None and np.isfinite(nodata):
        h[h == nodata] = np.nan
    out[rr0 - r0 : rr1 - r0, cc0 - c0 : cc1 - c0] = h
    return out


def _write(geom, source, reader, offset, grid: DemGrid, dst, rtc, db, cog, progress) -> TerrainCorrected:
    in_db = source.kind == "db"
    out_db = db or in_db
    tags = dict(source.geo.tags)
    tags.update(
        TERRAIN_CORRECTION="range-Doppler from the product's orbit (sarsen), DEM heights as ellipsoidal heights",
        TERRAIN_CORRECTION_CRS=crs_name(grid.crs),
        TERRAIN_CORRECTION_RESOLUTION=f"{grid.resolution:g}",
        TERRAIN_CORRECTION_RESAMPLING="bilinear on linear values",
        TERRAIN_FLATTENING="gamma0_T = beta0 / gamma area (Small 2011, sarsen gamma_weights_bilinear)" if rtc else "no",
    )
    if out_db:
        tags["VALUES"] = "dB (10·log10 after resampling)"
    band_tags = tuple(source.geo.band_tags) if len(source.geo.band_tags) == source.count else ()
    if rtc:
        band_tags = tuple({**t, "CALIBRATION": "GAMMA0_T"} for t in band_tags)
        tags["CALIBRATION"] = "GAMMA0_T"
    out_geo = GeoInfo(
        crs=grid.crs,
        transform=grid.transform,
        nodata=float("nan"),
        band_descriptions=tuple(source.band_names),
        tags=tags,
        band_tags=band_tags,
    )
    halo = RTC_HALO if rtc else 0
    from pyproj import CRS

    metres = grid.resolution * (111_320.0 if CRS.from_wkt(grid.crs).is_geographic else 1.0)
    # output tiles whose source window stays near 1024 px a side (a rotated square needs sqrt(2) its side)
    part = max(16, min(BLOCK, int(1024 * geom.range_pixel_spacing / metres / 1.5)))
    windows = list(iter_windows(grid.height, grid.width, BLOCK))
    with BlockWriter(
        dst, grid.width, grid.height, source.count, "float32", out_geo, list(source.band_names), BLOCK, cog
    ) as writer:
        for k, win in enumerate(windows):
            outer = Window(win.row - halo, win.col - halo, win.height + 2 * halo, win.width + 2 * halo)
            heights = _read_heights(reader, outer, offset)
            x, y = grid.coords(outer)
            with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
                warnings.simplefilter("ignore", RuntimeWarning)
                line, pixel, area = simulate_block(geom, x, y, heights, grid.crs, rtc)
                core = (slice(halo, halo + win.height), slice(halo, halo + win.width))
                line, pixel = line[core], pixel[core]
                finite = np.isfinite(line) & np.isfinite(pixel)
                line, pixel = np.where(finite, line, -1e9), np.where(finite, pixel, -1e9)
                vals = np.empty((win.height, win.width, source.count), np.float32)
                for sub in iter_windows(win.height, win.width, part):  # bounded source reads, any DEM spacing
                    cut = (slice(sub.row, sub.row + sub.height), slice(sub.col, sub.col + sub.width))
                    vals[cut] = sample(source, line[cut] + 0.5, pixel[cut] + 0.5, "bilinear", in_db)
                if area is not None:
                    a = area[core][..., None]
                    vals = np.where(a > 0, vals / a, np.nan).astype(np.float32)
                if out_db:
                    vals = to_db(vals)
            writer.write(win, vals)
            if progress is not None:
                progress(k + 1, len(windows))
    return TerrainCorrected(Path(dst), crs_name(grid.crs), grid.resolution, grid.width, grid.height, rtc)
