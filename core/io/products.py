"""Open any raster GDAL opens, or a Sentinel-1 product, as a windowed `Source`; describe it for `core info`.

A Sentinel-1 product is the .SAFE folder, its manifest.safe, or the zipped product (read through /vsizip/).
GDAL's SAFE driver finds the measurements, their annotation, GCPs (EPSG:4326) and calibration files.

Calibration: measured on GDAL 3.10.3 (the rasterio 1.4.4 wheel), the driver lists no calibrated subdataset for
GRD at all, and for SLC its SENTINEL1_CALIB:SIGMA0|BETA0|GAMMA:…:INTENSITY bands return |z|^2 unchanged (the same
values as UNCALIB; see tests/test_io_products.py). So the LUT is applied here, in `_Lut`: sigma0 = DN^2 / A^2 with
A bilinear between the LUT's (line, pixel) knots, the interpolation GDAL's SAFECalibratedRasterBand uses (last
interval extended past the last knot). The calibration file is the one GDAL associates with the measurement.
"""

from __future__ import annotations

import os
import re
import warnings
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from core.errors import UserError
from core.io.gdal_config import configure_gdal
from core.io.georef import GeoInfo, crs_name
from core.io.kinds import detect_kind

CALIBRATIONS = ("sigma0", "beta0", "gamma0", "none")
_LUT_TAG = {"sigma0": "sigmaNought", "beta0": "betaNought", "gamma0": "gamma"}
POLS = ("VV", "VH", "HH", "HV")


class Window(NamedTuple):
    row: int
    col: int
    height: int
    width: int


@dataclass
class _Lut:
    lines: np.ndarray
    pixels: np.ndarray
    table: np.ndarray  # (lines, pixels)

    def at(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """A at every (row, col) of the grid rows x cols, bilinear between knots."""
        i, mu = _knot_index(rows, self.lines)
        j, nu = _knot_index(cols, self.pixels)
        t = self.table
        top = t[i][:, j] * (1 - nu) + t[i][:, j + 1] * nu
        bottom = t[i + 1][:, j] * (1 - nu) + t[i + 1][:, j + 1] * nu
        return top * (1 - mu[:, None]) + bottom * mu[:, None]


def _knot_index(x: np.ndarray, knots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    i = np.clip(np.searchsorted(knots, x, side="right") - 1, 0, len(knots) - 2)
    mu = (x - knots[i]) / (knots[i + 1] - knots[i])
    return i, mu


@dataclass
class Source:
    """A raster opened for windowed reads: bands as the user chose them, calibrated, with the full georeference."""

    name: str
    driver: str
    width: int
    height: int
    band_names: list[str]
    dtype: np.dtype  # of what read() returns
    kind: str  # what read() returns: intensity after calibration, else detected
    geo: GeoInfo
    calibration: str = "none"
    product_type: str | None = None
    notes: list[str] = field(default_factory=list)
    _bands: list[tuple[Any, int]] = field(default_factory=list, repr=False)  # (dataset, band index) per band
    _luts: list[_Lut | None] = field(default_factory=list, repr=False)
    _square: bool = False  # GRD DN are amplitudes: calibration squares them

    @property
    def count(self) -> int:
        return len(self._bands)

    def read(self, window: Window | None = None) -> np.ndarray:
        """(h, w) or (h, w, C) values of `window` (the whole raster when None)."""
        from rasterio.windows import Window as RWindow

        win = window or Window(0, 0, self.height, self.width)
        rwin = RWindow(win.col, win.row, win.width, win.height)
        planes = []
        for (ds, b), lut in zip(self._bands, self._luts):
            x = ds.read(b, window=rwin)
            if np.iscomplexobj(x):  # single-look complex: detected intensity |z|^2
                x = (x.real.astype(np.float32) ** 2 + x.imag.astype(np.float32) ** 2).astype(np.float32)
            if lut is not None:
                x = x.astype(np.float32)
                if self._square:
                    x = x * x
                rows = np.arange(win.row, win.row + win.height, dtype=np.float64)
                cols = np.arange(win.col, win.col + win.width, dtype=np.float64)
                a = lut.at(rows, cols)
                x = (x / (a * a)).astype(np.float32)
            planes.append(x.astype(self.dtype, copy=False))
        return planes[0] if len(planes) == 1 else np.stack(planes, axis=-1)

    def close(self) -> None:
        for ds in {id(ds): ds for ds, _ in self._bands}.values():
            ds.close()

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ------------------------------------------------------------------------------------------------ opening


def open_source(
    source: str | os.PathLike, calibration: str | None = None, pol: str = "all", swath: str | None = None
) -> Source:
    """Open a GDAL raster or a Sentinel-1 product. calibration: sigma0|beta0|gamma0|none (default sigma0 for
    products, none otherwise); pol: VV|VH|...|all; swath: IW1.. for SLC products (GRD has one)."""
    import rasterio

    configure_gdal()  # before the first read: the preview below would fill GDAL's default cache (5 % of RAM)
    path = Path(source)
    name = path.name
    if calibration is not None and calibration not in CALIBRATIONS:
        raise UserError(f"unknown calibration {calibration!r}; use one of {', '.join(CALIBRATIONS)}.")
    manifest = safe_manifest(path)
    if manifest is not None:
        return _open_s1(manifest, name, calibration or "sigma0", pol, swath)
    if not path.exists():
        raise UserError(f"{name}: file not found; check the path.")
    if calibration not in (None, "none"):
        raise UserError(f"{name} is not a Sentinel-1 product, so it has no calibration tables; use --calibration none.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
            ds = rasterio.open(path)
    except rasterio.errors.RasterioError as exc:
        raise UserError(
            f"{name} could not be opened by GDAL ({_short(exc)}); it is not a raster or it is truncated or corrupt: "
            "export it again."
        ) from None
    geo = GeoInfo.from_dataset(ds)
    dtype = _work_dtype(np.dtype(ds.dtypes[0]))
    bands = [(ds, i) for i in range(1, ds.count + 1)]
    names = [d or f"band {i + 1}" for i, d in enumerate(ds.descriptions)]
    if pol != "all":
        sel = [i for i, n in enumerate(names) if n.upper() == pol.upper()]
        if not sel:
            ds.close()
            raise UserError(f"{name} has no band named {pol}; its bands are {', '.join(names)}.")
        bands, names = [bands[i] for i in sel], [names[i] for i in sel]
    src = Source(name, ds.driver, ds.width, ds.height, names, dtype, "intensity", geo, _bands=bands)
    src._luts = [None] * len(bands)
    src.kind = detect_kind(_preview(src))
    return src


def safe_manifest(path: Path) -> str | None:
    """The GDAL path of a product's manifest.safe (folder, manifest or zip), or None when `path` is no product."""
    if path.is_dir() and (path / "manifest.safe").is_file():
        return str(path / "manifest.safe")
    if path.name.lower() == "manifest.safe" and path.is_file():
        return str(path)
    if path.suffix.lower() == ".zip" and path.is_file() and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            members = [m for m in zf.namelist() if m.endswith("manifest.safe") and m.count("/") <= 1]
        if not members:
            raise UserError(f"{path.name} holds no manifest.safe; give the zipped .SAFE product as downloaded.")
        return f"/vsizip/{path.resolve()}/{members[0]}"
    return None


def _open_s1(manifest: str, name: str, calibration: str, pol: str, swath: str | None) -> Source:
    import rasterio

    try:
        with rasterio.open(manifest) as top:
            tags = dict(top.tags())
            subs = list(top.subdatasets)
    except rasterio.errors.RasterioError as exc:
        raise UserError(f"{name}: GDAL could not open the Sentinel-1 product ({_short(exc)}).") from None
    product = tags.get("PRODUCT_TYPE", "")
    is_slc = product == "SLC"
    grid = _swath_pols(subs)
    swaths = sorted(grid)
    if swath is None:
        if len(swaths) > 1:
            raise UserError(f"{name} is an {product} product with swaths {', '.join(swaths)}; choose one with --swath.")
        swath = swaths[0]
    swath = swath.upper()
    if swath not in grid:
        raise UserError(f"{name} has no swath {swath}; its swaths are {', '.join(swaths)}.")
    pols = sorted(grid[swath], key=lambda p: POLS.index(p) if p in POLS else 9)
    if pol.upper() != "ALL":
        if pol.upper() not in pols:
            raise UserError(f"{name} has no {pol} polarisation; it has {', '.join(pols)}.")
        pols = [pol.upper()]
    unit = "INTENSITY" if is_slc else "AMPLITUDE"
    bands, luts, band_tags = [], [], []
    for p in pols:
        ds = rasterio.open(f"SENTINEL1_CALIB:UNCALIB:{manifest}:{swath}_{p}:{unit}")
        bands.append((ds, 1))
        band_tags.append({**ds.tags(1), "CALIBRATION": calibration.upper()})
        luts.append(None if calibration == "none" else _read_lut(ds.files, calibration, name))
    first = bands[0][0]
    geo = GeoInfo.from_dataset(first)
    geo.tags = {**tags, **{k: v for k, v in first.tags().items() if k not in tags}, "CALIBRATION": calibration.upper()}
    geo.band_tags, geo.band_descriptions = tuple(band_tags), tuple(pols)
    calibrated = calibration != "none"
    kind = "intensity" if calibrated or is_slc else "amplitude"
    dtype = np.dtype(np.float32) if calibrated or is_slc else np.dtype(np.uint16)
    src = Source(name, "SAFE", first.width, first.height, list(pols), dtype, kind, geo, calibration, product)
    src._bands, src._luts, src._square = bands, luts, not is_slc
    src.notes.append(
        f"Sentinel-1 {product} {swath} {'+'.join(pols)}, "
        + (f"{calibration} (DN² / A², LUT from the product)" if calibrated else "uncalibrated DN")
    )
    return src


def _swath_pols(subdatasets: list[str]) -> dict[str, set[str]]:
    grid: dict[str, set[str]] = {}
    for sub in subdatasets:
        m = re.search(r":([A-Z0-9]+)_([VH]{2}):[A-Z]+$", sub)
        if m:
            grid.setdefault(m.group(1), set()).add(m.group(2))
    return grid


def _read_lut(files: list[str], calibration: str, name: str) -> _Lut:
    cal = [f for f in files if re.search(r"/calibration/calibration-[^/]+\.xml$", f)]
    if not cal:
        raise UserError(f"{name} has no calibration file for this measurement; use --calibration none.")
    root = ET.fromstring(_read_vsi(cal[0]))
    tag = _LUT_TAG[calibration]
    lines, pixels, rows = [], None, []
    for vec in root.iter("calibrationVector"):
        lines.append(float(vec.findtext("line", "nan")))
        px = np.array((vec.findtext("pixel") or "").split(), dtype=np.float64)
        pixels = px if pixels is None else pixels
        rows.append(np.array((vec.findtext(tag) or "").split(), dtype=np.float64))
    if len(lines) < 2 or pixels is None or len(pixels) < 2 or any(len(r) != len(pixels) for r in rows):
        raise UserError(f"{name}: the calibration table is incomplete; use --calibration none or download it again.")
    return _Lut(np.array(lines), pixels, np.stack(rows))


def _read_vsi(path: str) -> bytes:
    """Bytes of a file GDAL named: a plain path or /vsizip/<zip>/<member>."""
    if path.startswith("/vsizip/"):
        inner = path[len("/vsizip/") :]
        cut = inner.lower().index(".zip") + 4
        with zipfile.ZipFile(inner[:cut]) as zf:
            return zf.read(inner[cut + 1 :])
    return Path(path).read_bytes()


def _work_dtype(dtype: np.dtype) -> np.dtype:
    """What reading gives, as read_raster does: complex -> float32 intensity, float64/ints -> float32."""
    if dtype.kind == "c" or dtype == np.float64 or (dtype.kind in "iu" and dtype not in (np.uint8, np.uint16)):
        return np.dtype(np.float32)
    return dtype


def _preview(src: Source, size: int = 256) -> np.ndarray:
    """A decimated read (overviews where the file has them) for kind detection and previews."""
    from rasterio.enums import Resampling

    step = max(1, max(src.height, src.width) // size)
    h, w = max(1, src.height // step), max(1, src.width // step)
    ds, b = src._bands[0]
    x = ds.read(b, out_shape=(h, w), resampling=Resampling.nearest)
    return np.abs(x) ** 2 if np.iscomplexobj(x) else x.astype(_work_dtype(x.dtype), copy=False)


def _short(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:120]


# --------------------------------------------------------------------------------------------- describing


def describe(source: str | os.PathLike, block: int = 512, halo: int = 16) -> dict[str, Any]:
    """What a user needs before a long run: driver, size, bands, dtype, kind, georeference, calibration, memory."""
    configure_gdal()
    path = Path(source)
    manifest = safe_manifest(path)
    swaths: list[str] = []
    swath = None
    if manifest is not None:
        import rasterio

        with rasterio.open(manifest) as top:
            grid = _swath_pols(list(top.subdatasets))
        swaths = sorted(grid)
        swath = swaths[0]
    with open_source(path, swath=swath, calibration="none") as src:
        info: dict[str, Any] = {
            "name": src.name,
            "driver": src.driver,
            "width": src.width,
            "height": src.height,
            "bands": src.band_names,
            "dtype": src.dtype.name,
            "kind": src.kind,
            "georeference": src.geo.kind,
            "crs": crs_name(src.geo.crs_wkt) if src.geo.kind != "rpcs" else "EPSG:4326",
            "gcps": len(src.geo.gcps),
            "nodata": src.geo.nodata,
        }
        if manifest is not None:
            info.update(product_type=src.product_type, swaths=swaths, calibrations=list(CALIBRATIONS))
            info["kind_calibrated"] = "intensity"
        else:
            info["calibrations"] = ["none"]
        c = src.count
        whole = src.width * src.height * c * 4  # one float32 working copy
        window = (block + 2 * halo) ** 2 * c * 4 * 4  # input, intensity, output and temporaries of one window
        info["memory_bytes"] = {"whole": whole, "streamed": window}
    return info


def format_description(info: dict[str, Any]) -> str:
    lines = [
        f"{info['name']}  ({info['driver']})",
        f"size       {info['width']} x {info['height']} = {info['width'] * info['height'] / 1e6:.1f} Mpixel",
        f"bands      {len(info['bands'])}: {', '.join(info['bands'])}  ({info['dtype']}, {info['kind']})",
        f"georef     {info['georeference']}"
        + (f", {info['gcps']} GCPs" if info["gcps"] else "")
        + f", {info['crs']}"
        + (f", nodata {info['nodata']}" if info["nodata"] is not None else ""),
    ]
    if info.get("product_type"):
        lines.append(f"product    Sentinel-1 {info['product_type']}, swaths {', '.join(info['swaths'])}")
    lines.append(f"calibration {' | '.join(info['calibrations'])}")
    mem = info["memory_bytes"]
    lines.append(f"memory     whole image ~{_human(mem['whole'])}; streamed ~{_human(mem['streamed'])} per window")
    return "\n".join(lines)


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"
