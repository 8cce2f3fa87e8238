"""What an interactive image viewer needs, prepared here so that pages only draw it.

A `ViewPanel` is one image reduced for the browser: a stride-decimated copy (at most `max_side` pixels a side, so a
large scene never ships megapixels), its display values (dB for SAR intensity, the value itself for DN or dB files,
RGB for optical output), the values in the file's own units for the cursor read-out (σ⁰ linear beside its dB), the
stretch limits and a named colour map, a histogram of the display values with those limits, and, for georeferenced
data, the footprint's corners in longitude/latitude for a map overlay.

Decimation is a stride (every n-th pixel), not an average, so the value under the cursor is a real pixel of the file
at the full-resolution coordinates shown beside it (x, y are full-resolution column and row).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.io.georef import GeoInfo
from core.io.kinds import to_db, to_intensity
from core.io.read import Raster
from core.io.render import percentile_limits, render, to_rgb

MAX_SIDE = 512  # longest side of an image sent to the browser
HIST_BINS = 64

# Named colour maps as control points (position, (r, g, b)); the same list feeds the page's colour bar, so the PNG
# used by the swipe view and the map overlay match the interactive view exactly. viridis / magma / cividis are the
# matplotlib maps sampled at nine points (their public definitions); "gray" is linear.
COLORMAPS: dict[str, list[tuple[float, tuple[int, int, int]]]] = {
    "gray": [(0.0, (0, 0, 0)), (1.0, (255, 255, 255))],
    "viridis": [
        (0.0, (68, 1, 84)),
        (0.125, (71, 44, 122)),
        (0.25, (59, 81, 139)),
        (0.375, (44, 113, 142)),
        (0.5, (33, 144, 141)),
        (0.625, (39, 173, 129)),
        (0.75, (92, 200, 99)),
        (0.875, (170, 220, 50)),
        (1.0, (253, 231, 37)),
    ],
    "magma": [
        (0.0, (0, 0, 4)),
        (0.125, (28, 16, 68)),
        (0.25, (79, 18, 123)),
        (0.375, (129, 37, 129)),
        (0.5, (181, 54, 122)),
        (0.625, (229, 80, 100)),
        (0.75, (251, 135, 97)),
        (0.875, (254, 194, 135)),
        (1.0, (252, 253, 191)),
    ],
    "cividis": [
        (0.0, (0, 34, 78)),
        (0.125, (18, 53, 112)),
        (0.25, (59, 73, 108)),
        (0.375, (87, 92, 109)),
        (0.5, (112, 113, 115)),
        (0.625, (138, 134, 120)),
        (0.75, (165, 156, 116)),
        (0.875, (195, 180, 102)),
        (1.0, (254, 232, 56)),
    ],
}


@dataclass
class ViewPanel:
    """One image prepared for the viewer (see the module docstring)."""

    label: str
    shape: tuple[int, int]  # full-resolution (height, width)
    step: int  # decimation stride: shown pixel (i, j) is file pixel (i * step, j * step)
    z: np.ndarray | None  # (h, w) float32 display values (dB, DN...), None for RGB panels
    rgb: np.ndarray | None  # (h, w, 3) uint8 for RGB / false-colour panels, None for single-band
    linear: np.ndarray | None  # (h, w[, c]) float32 values in the file's linear unit for the read-out, or None
    unit: str  # unit of z: "dB", "DN", "RGB"
    value_name: str  # e.g. "σ⁰", "amplitude", "DN"
    limits: tuple[float, float]  # display stretch limits in `unit`
    colormap: str
    hist_counts: np.ndarray
    hist_edges: np.ndarray
    corners_lonlat: list[tuple[float, float]] | None = None  # bottom-left, top-left, top-right, bottom-right

    @property
    def xs(self) -> np.ndarray:
        w = (self.z if self.z is not None else self.rgb).shape[1]  # type: ignore[union-attr]
        return np.arange(w) * self.step

    @property
    def ys(self) -> np.ndarray:
        h = (self.z if self.z is not None else self.rgb).shape[0]  # type: ignore[union-attr]
        return np.arange(h) * self.step

    def colour_image(self) -> np.ndarray:
        """uint8 RGB of what the interactive view shows (colour map applied), for the swipe view and the map."""
        if self.rgb is not None:
            return self.rgb
        return apply_colormap(self.z, self.limits, self.colormap)  # type: ignore[arg-type]


def display_step(shape: tuple[int, ...], max_side: int = MAX_SIDE) -> int:
    """Stride that brings the longest side to at most `max_side`."""
    return max(1, int(np.ceil(max(shape[0], shape[1]) / max_side)))


def decimate(arr: np.ndarray, step: int) -> np.ndarray:
    return np.ascontiguousarray(arr[::step, ::step])


def colorscale(name: str) -> list[list]:
    """The colour map as a plotly colour scale ([[t, "rgb(r,g,b)"], ...])."""
    return [[t, f"rgb({r},{g},{b})"] for t, (r, g, b) in _points(name)]


def _points(name: str) -> list[tuple[float, tuple[int, int, int]]]:
    if name not in COLORMAPS:
        raise ValueError(f"unknown colour map {name!r}; choose one of {', '.join(COLORMAPS)}")
    return COLORMAPS[name]


def apply_colormap(values: np.ndarray, limits: tuple[float, float], name: str = "gray") -> np.ndarray:
    """Stretch `values` linearly between `limits` and map through the named colour map -> uint8 RGB."""
    pts = _points(name)
    a, b = limits
    t = (np.asarray(values, dtype=np.float32) - a) / (b - a if b > a else 1.0)
    t = np.nan_to_num(np.clip(t, 0.0, 1.0), nan=0.0)
    pos = np.array([p for p, _ in pts])
    out = np.stack([np.interp(t, pos, [c[i] for _, c in pts]) for i in range(3)], axis=-1)
    return np.rint(out).astype(np.uint8)


def histogram(values: np.ndarray, limits: tuple[float, float], bins: int = HIST_BINS) -> tuple[np.ndarray, np.ndarray]:
    """Histogram of the finite values over a range a little wider than the stretch limits (so they show)."""
    v = np.asarray(values, dtype=np.float32)
    v = v[np.isfinite(v)]
    a, b = limits
    pad = 0.25 * (b - a) if b > a else 1.0
    lo, hi = (float(v.min()), float(v.max())) if v.size else (a - pad, b + pad)
    lo, hi = max(lo, a - pad), min(hi, b + pad)
    if not hi > lo:
        lo, hi = lo - 0.5, lo + 0.5
    return np.histogram(v, bins=bins, range=(lo, hi))


def intensity_panel(
    intensity: np.ndarray,
    label: str,
    limits: tuple[float, float] | None = None,
    colormap: str = "gray",
    value_name: str = "σ⁰",
    geo: GeoInfo | None = None,
    max_side: int = MAX_SIDE,
) -> ViewPanel:
    """One band of linear intensity: shown in dB with a colour map; read-out in linear and dB."""
    step = display_step(intensity.shape, max_side)
    lin = decimate(np.asarray(intensity, dtype=np.float32), step)
    bad = ~np.isfinite(lin)
    db = np.where(bad, np.nan, to_db(np.where(bad, 1.0, lin))).astype(np.float32)
    lim = limits if limits is not None else percentile_limits(db)
    counts, edges = histogram(db, lim)
    return ViewPanel(
        label, intensity.shape[:2], step, db, None, lin, "dB", value_name, lim, colormap, counts, edges,
        footprint_lonlat(geo, intensity.shape[:2]),
    )  # fmt: skip


def value_panel(
    values: np.ndarray,
    label: str,
    unit: str = "DN",
    limits: tuple[float, float] | None = None,
    colormap: str = "gray",
    geo: GeoInfo | None = None,
    max_side: int = MAX_SIDE,
) -> ViewPanel:
    """One band shown in its own unit (DN of a display image, dB of a dB file): no conversion."""
    step = display_step(values.shape, max_side)
    z = decimate(np.asarray(values, dtype=np.float32), step)
    lim = limits if limits is not None else percentile_limits(z)
    counts, edges = histogram(z, lim)
    return ViewPanel(
        label, values.shape[:2], step, z, None, None, unit, unit, lim, colormap, counts, edges,
        footprint_lonlat(geo, values.shape[:2]),
    )  # fmt: skip


def rgb_panel(
    img: np.ndarray,
    label: str,
    linear: np.ndarray | None = None,
    value_name: str = "RGB",
    geo: GeoInfo | None = None,
    max_side: int = MAX_SIDE,
) -> ViewPanel:
    """A uint8 RGB (or false-colour) image; `linear` (h, w, c) optional values for the read-out (e.g. VV, VH)."""
    step = display_step(img.shape, max_side)
    rgb = decimate(to_rgb(img), step)
    lum = rgb.astype(np.float32).mean(axis=2)
    counts, edges = np.histogram(lum, bins=HIST_BINS, range=(0, 256))
    lin = None if linear is None else decimate(np.asarray(linear, dtype=np.float32), step)
    return ViewPanel(
        label, img.shape[:2], step, None, rgb, lin, "RGB", value_name, (0.0, 255.0), "gray", counts, edges,
        footprint_lonlat(geo, img.shape[:2]),
    )  # fmt: skip


def display_panel(img: np.ndarray, label: str, geo: GeoInfo | None = None, max_side: int = MAX_SIDE) -> ViewPanel:
    """An 8-bit display image (no radiometry): grey as DN with the full 0–255 scale, colour as RGB."""
    if img.ndim == 3 and img.shape[2] >= 3:
        return rgb_panel(img[..., :3], label, geo=geo, max_side=max_side)
    band = img if img.ndim == 2 else img[..., 0]
    return value_panel(band, label, "DN", limits=(0.0, 255.0), geo=geo, max_side=max_side)


def raster_panel(
    raster: Raster,
    label: str | None = None,
    limits: tuple[float, float] | None = None,
    colormap: str = "gray",
    max_side: int = MAX_SIDE,
) -> ViewPanel:
    """A raster in its own units: display images as DN/RGB, SAR as dB with σ⁰ (or amplitude) beside it;
    two bands as VV/VH false colour with both linear values in the read-out."""

    label = label or raster.name
    geo = raster.geo
    if raster.kind == "display":
        return display_panel(raster.data, label, geo, max_side)
    inten = to_intensity(raster.data, raster.kind)
    if raster.bands == 1:
        band = inten if inten.ndim == 2 else inten[..., 0]
        return intensity_panel(band, label, limits, colormap, "σ⁰", geo, max_side)
    step = display_step(raster.data.shape, max_side)
    small = Raster(decimate(raster.data, step), raster.kind, raster.name, None)
    panel = rgb_panel(render(small), label, decimate(inten, step), "σ⁰ per band")
    panel.step, panel.shape = step, raster.data.shape[:2]
    panel.corners_lonlat = footprint_lonlat(geo, raster.data.shape)
    return panel


def value_at(panel: ViewPanel, row: int, col: int) -> dict[str, float]:
    """The read-out the viewer shows for full-resolution pixel (row, col): the nearest shown pixel's values."""
    i, j = int(row) // panel.step, int(col) // panel.step
    out: dict[str, float] = {}
    if panel.z is not None:
        out[panel.unit] = float(panel.z[i, j])
    if panel.rgb is not None:
        out.update(zip("RGB", (float(v) for v in panel.rgb[i, j])))
    if panel.linear is not None:
        v = panel.linear[i, j]
        if np.ndim(v) == 0:
            out[panel.value_name] = float(v)
        else:
            for n, x in enumerate(np.atleast_1d(v)):
                out[f"{panel.value_name} [{n}]"] = float(x)
    return out


def footprint_lonlat(geo: GeoInfo | None, shape: tuple[int, ...]) -> list[tuple[float, float]] | None:
    """Image corners (bottom-left, top-left, top-right, bottom-right) in longitude/latitude, or None when the
    raster is not placed by a transform or GCPs (RPC footprints are not drawn)."""
    if geo is None or geo.kind not in ("transform", "gcps"):
        return None
    h, w = shape[0], shape[1]
    corners_px = [(0.0, float(h)), (0.0, 0.0), (float(w), 0.0), (float(w), float(h))]  # (col, row)
    if geo.kind == "transform":
        a, b, c, d, e, f = geo.transform[:6]  # type: ignore[index]
        xs = [a * x + b * y + c for x, y in corners_px]
        ys = [d * x + e * y + f for x, y in corners_px]
        crs = geo.crs
    else:  # nearest GCP to each corner (a footprint for display, not a geocoding)
        pts = np.array([(g[1], g[0], g[2], g[3]) for g in geo.gcps], dtype=np.float64)  # pixel, line, x, y
        idx = [int(np.argmin((pts[:, 0] - x) ** 2 + (pts[:, 1] - y) ** 2)) for x, y in corners_px]
        xs, ys = list(pts[idx, 2]), list(pts[idx, 3])
        crs = geo.gcp_crs
    if crs is None:
        return None
    try:
        from rasterio.crs import CRS
        from rasterio.warp import transform

        src = CRS.from_user_input(crs)
        lon, lat = (xs, ys) if src.to_epsg() == 4326 else transform(src, CRS.from_epsg(4326), xs, ys)
    except Exception:  # noqa: BLE001 - a CRS GDAL cannot use: no map, the rest of the viewer still works
        return None
    pts_ll = [(float(x), float(y)) for x, y in zip(lon, lat)]
    if not all(np.isfinite(p).all() and -180 <= p[0] <= 180 and -90 <= p[1] <= 90 for p in pts_ll):
        return None
    return pts_ll
