"""A prepared raster on a map: its footprint and a north-up quick-look overlay, both in longitude/latitude (EPSG:4326).

`footprint_lonlat(path)`: the image border as a closed ring of (lon, lat). A radar-geometry raster (GCPs) has its
border mapped through the GCPs with a thin-plate spline (GDAL's GCP transformer, `tps=True`), which passes exactly
through every GCP, so a GCP on a corner is that corner of the footprint; a map-geometry raster (CRS + transform) has
its border transformed to EPSG:4326. Each side is densified (`per_side` points) so a curved edge stays curved.

`map_overlay(path)`: one band, decimated to at most `max_side` pixels, in dB (10·log10 of intensity; values already
in dB, tag VALUES=dB..., are used as they are; DN amplitude, CALIBRATION=NONE, is squared first), warped north-up
onto EPSG:4326 (nearest neighbour; a GCP raster through GDAL's GCP polynomial, a quick-look for display, not a
geocoding: the geocoded product is the download when geocoding was asked), and stretched linearly between the
2nd and 98th percentiles of the valid dB values to grey; nodata and outside the swath are transparent (alpha 0).
Nothing here imports streamlit.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import UserError
from core.products.chain import GDAL_CACHE_MB

STRETCH_PERCENTILES = (2.0, 98.0)
MAX_SIDE = 1024


@dataclass
class MapOverlay:
    rgba: np.ndarray  # (h, w, 4) uint8, north-up on EPSG:4326, alpha 0 where there is no data
    bounds: tuple[float, float, float, float]  # west, south, east, north (degrees) of `rgba`
    footprint: list[tuple[float, float]]  # closed ring of (lon, lat)
    stretch: tuple[float, float]  # dB shown as black .. white
    band: str  # the band drawn (its description, e.g. VV)
    placed_by: str  # "GCPs" or "CRS + transform"

    @property
    def caption(self) -> str:
        lo, hi = self.stretch
        how = (
            "radar geometry warped north-up through its GCPs (a quick-look, not a geocoding)"
            if self.placed_by == "GCPs"
            else "map geometry"
        )
        return (
            f"{self.band} in dB, grey from {lo:.1f} dB (black) to {hi:.1f} dB (white): the "
            f"percentiles {STRETCH_PERCENTILES[0]:g} to {STRETCH_PERCENTILES[1]:g} of the valid values; {how}; "
            "footprint outlined in red, transparent where there is no data."
        )


def _open(path: Path):
    import rasterio

    try:
        return rasterio.open(path)
    except rasterio.errors.RasterioIOError:
        raise UserError(f"{path.name} could not be read as a raster; prepare the product again.") from None


def _border(width: int, height: int, per_side: int) -> tuple[np.ndarray, np.ndarray]:
    """(cols, rows) along the image border, clockwise from the top-left corner, closed (GDAL's corner convention)."""
    t = np.linspace(0.0, 1.0, per_side, endpoint=False)
    cols = np.concatenate([t * width, np.full_like(t, width), (1 - t) * width, np.zeros_like(t)])
    rows = np.concatenate([np.zeros_like(t), t * height, np.full_like(t, height), (1 - t) * height])
    return np.append(cols, cols[0]), np.append(rows, rows[0])


def footprint_lonlat(path: str | os.PathLike, per_side: int = 16) -> list[tuple[float, float]]:
    """The border of the raster at `path` as a closed ring of (lon, lat); UserError when it is not placed on Earth."""
    import rasterio
    from rasterio.transform import GCPTransformer
    from rasterio.warp import transform as warp_points

    path = Path(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        with _open(path) as ds:
            cols, rows = _border(ds.width, ds.height, per_side)
            gcps, gcp_crs = ds.gcps
            if ds.crs is not None and not ds.transform.is_identity:
                a, b, c, d, e, f = tuple(ds.transform)[:6]
                xs, ys = a * cols + b * rows + c, d * cols + e * rows + f
                crs = ds.crs
            elif gcps and gcp_crs is not None:
                if len(gcps) < 3:
                    raise UserError(f"{path.name} has {len(gcps)} GCPs; a footprint needs at least 3.")
                with GCPTransformer(gcps, tps=len(gcps) >= 4) as tr:
                    xs, ys = tr.xy(rows, cols, offset="ul")
                crs = gcp_crs
            else:
                raise UserError(f"{path.name} has neither a CRS nor GCPs, so it cannot be shown on a map.")
    xs, ys = np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)
    if crs.to_epsg() != 4326:
        lon, lat = warp_points(crs, "EPSG:4326", xs.tolist(), ys.tolist())
        xs, ys = np.asarray(lon), np.asarray(lat)
    return [(float(x), float(y)) for x, y in zip(xs, ys)]


def _to_db(values: np.ndarray, tags: dict[str, str]) -> np.ndarray:
    if tags.get("VALUES", "").startswith("dB"):
        return values.astype(np.float32)
    inten = np.square(values, dtype=np.float32) if tags.get("CALIBRATION") == "NONE" else values
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(inten > 0, 10 * np.log10(inten), np.nan).astype(np.float32)


def map_overlay(path: str | os.PathLike, band: int = 1, max_side: int = MAX_SIDE) -> MapOverlay:
    """Band `band` (1-based) of the raster at `path` as a north-up EPSG:4326 RGBA quick-look (module docstring)."""
    import rasterio
    from rasterio.control import GroundControlPoint
    from rasterio.enums import Resampling
    from rasterio.transform import Affine
    from rasterio.warp import calculate_default_transform, reproject

    path = Path(path)
    footprint = footprint_lonlat(path)
    # a file without overviews is read whole for the decimation: GDAL's block cache (default 5 % of the RAM) is
    # capped so that memory does not grow with the scene (as in core.products.chain)
    with warnings.catch_warnings(), rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB * 1024 * 1024):
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        with _open(path) as ds:
            if not 1 <= band <= ds.count:
                raise UserError(f"{path.name} has {ds.count} band(s); pick one of 1..{ds.count}.")
            step = max(1, -(-max(ds.height, ds.width) // max_side))
            h, w = max(1, ds.height // step), max(1, ds.width // step)
            x = ds.read(band, out_shape=(h, w), resampling=Resampling.nearest).astype(np.float32)
            if ds.nodata is not None and np.isfinite(ds.nodata):
                x[x == ds.nodata] = np.nan
            tags, name = ds.tags(), ds.descriptions[band - 1] or f"band {band}"
            sx, sy = ds.width / w, ds.height / h
            gcps, gcp_crs = ds.gcps
            if ds.crs is not None and not ds.transform.is_identity:
                placed_by, src = "CRS + transform", {"src_transform": ds.transform @ Affine.scale(sx, sy)}
                src_crs = ds.crs
                dst_t, dw, dh = calculate_default_transform(ds.crs, "EPSG:4326", w, h, *_bounds(ds))
            else:
                placed_by, src_crs = "GCPs", gcp_crs
                scaled = [GroundControlPoint(g.row / sy, g.col / sx, g.x, g.y, g.z) for g in gcps]
                src = {"gcps": scaled}
                dst_t, dw, dh = calculate_default_transform(gcp_crs, "EPSG:4326", w, h, gcps=scaled)
    db = _to_db(x, tags)
    out = np.full((dh, dw), np.nan, dtype=np.float32)
    reproject(
        db,
        out,
        src_crs=src_crs,
        dst_transform=dst_t,
        dst_crs="EPSG:4326",
        src_nodata=np.nan,
        dst_nodata=np.nan,
        resampling=Resampling.nearest,
        **src,
    )
    valid = np.isfinite(out)
    if not valid.any():
        raise UserError(f"{path.name} holds no valid values in band {band} to show; check the product and options.")
    lo, hi = (float(v) for v in np.percentile(out[valid], STRETCH_PERCENTILES))
    hi = hi if hi > lo else lo + 1.0
    grey = np.clip((np.nan_to_num(out, nan=lo) - lo) / (hi - lo), 0, 1)
    rgba = np.zeros((dh, dw, 4), dtype=np.uint8)
    rgba[..., :3] = np.round(grey * 255).astype(np.uint8)[..., None]
    rgba[..., 3] = np.where(valid, 255, 0)
    west, north = dst_t.c, dst_t.f
    east, south = west + dst_t.a * dw, north + dst_t.e * dh
    return MapOverlay(rgba, (west, south, east, north), footprint, (lo, hi), name, placed_by)


def _bounds(ds) -> tuple[float, float, float, float]:
    b = ds.bounds
    return b.left, b.bottom, b.right, b.top
