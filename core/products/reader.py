"""Open a Sentinel-1 product as a windowed `Source`: calibrated, thermal noise removed, TOPS SLC debursted.

`open_product(path, calibration, pol, swath, noise)` reads the manifest and annotation with core.products'
own safe XML reader and the measurement TIFFs with rasterio (through /vsizip/ for a zip), so IW, EW and SM,
GRD and SLC, single and dual polarisation open the same way, and any missing or malformed part ends in one
UserError line. `read(window)` evaluates, for that window only:
    value = (I − η) / A²    I = DN² (GRD amplitude) or |z|² (SLC), η the noise power (--noise remove), A the LUT
with results <= 0 set to NOISE_FLOOR (counted: `clipped_fraction`), and I = 0 (no data) kept at 0, the output's
nodata. `swath`: one swath, or "all" / a list ("IW1,IW2") for a TOPS SLC, merged by core.products.merge.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import UserError
from core.io.gdal_config import configure_gdal
from core.io.georef import GeoInfo
from core.io.products import Source, Window
from core.products.bursts import DeburstPlan, plan_deburst
from core.products.calibration import VectorGrid, read_calibration
from core.products.metadata import Annotation, Product, parse_annotation, parse_manifest
from core.products.noise import NOISE_FLOOR, NoiseModel, read_noise
from core.products.safexml import ProductFiles

NOISE_CHOICES = ("remove", "keep")
CALIBRATIONS = ("sigma0", "beta0", "gamma0", "none")


@dataclass
class _Band:
    ds: Any
    pol: str
    lut: VectorGrid | None
    noise: NoiseModel | None


@dataclass
class ProductSource(Source):
    """A Source over one swath of a Sentinel-1 product (see the module docstring for what read() returns)."""

    noise: str = "keep"
    plan: DeburstPlan | None = None
    annotation: Annotation | None = None
    clipped: int = 0
    counted: int = 0
    _pbands: list[_Band] = field(default_factory=list, repr=False)
    _note_index: int = -1

    @property
    def count(self) -> int:
        return len(self._pbands)

    @property
    def clipped_fraction(self) -> float:
        return self.clipped / self.counted if self.counted else 0.0

    def read(self, window: Window | None = None) -> np.ndarray:
        win = window or Window(0, 0, self.height, self.width)
        out_rows = np.arange(win.row, win.row + win.height)
        cols = np.arange(win.col, win.col + win.width)
        rows = self.plan.rows[out_rows] if self.plan is not None else out_rows
        planes = []
        for band in self._pbands:
            raw = self._read_rows(band.ds, rows, win)
            if not (self.calibration != "none" or band.noise is not None or np.iscomplexobj(raw)):
                planes.append(raw)  # uncalibrated GRD amplitude, as stored
                continue
            if np.iscomplexobj(raw):
                inten = raw.real.astype(np.float64) ** 2 + raw.imag.astype(np.float64) ** 2
            else:
                inten = raw.astype(np.float64) ** 2
            valid = inten > 0
            if self.plan is not None:
                valid &= (cols[None, :] >= self.plan.first_sample[out_rows, None]) & (
                    cols[None, :] <= self.plan.last_sample[out_rows, None]
                )
            value = inten
            if band.noise is not None:
                value = value - band.noise.eta(np.maximum(rows, 0), cols)
            if band.lut is not None:
                a = band.lut.at(np.maximum(rows, 0), cols)
                value = value / (a * a)
            if band.noise is not None:
                low = valid & (value <= 0)
                self.clipped += int(low.sum())
                self.counted += int(valid.sum())
                value = np.where(low, NOISE_FLOOR, value)
            planes.append(np.where(valid, value, 0.0).astype(np.float32))
        if self.noise == "remove" and self._note_index >= 0:
            self.notes[self._note_index] = self.noise_note()
        return planes[0] if len(planes) == 1 else np.stack(planes, axis=-1)

    def _read_rows(self, ds: Any, rows: np.ndarray, win: Window) -> np.ndarray:
        from rasterio.windows import Window as RWindow

        if self.plan is None:
            return ds.read(1, window=RWindow(win.col, win.row, win.width, win.height))
        kind = ds.dtypes[0]
        out = np.zeros((len(rows), win.width), dtype=np.complex64 if "complex" in kind else kind)
        k = 0
        while k < len(rows):  # runs of consecutive input lines: one read each
            j = k
            while j + 1 < len(rows) and rows[j + 1] == rows[j] + 1 and rows[k] >= 0:
                j += 1
            if rows[k] >= 0:
                out[k : j + 1] = ds.read(1, window=RWindow(win.col, int(rows[k]), win.width, j - k + 1))
            k = j + 1
        return out

    def noise_note(self) -> str:
        return (
            f"thermal noise removed: {100 * self.clipped_fraction:.2f} % of the valid pixels read fell at or below "
            f"the noise and were set to {NOISE_FLOOR:g} (-50 dB)"
        )

    def close(self) -> None:
        for band in self._pbands:
            band.ds.close()


def open_product(
    path: str | os.PathLike,
    calibration: str = "sigma0",
    pol: str = "all",
    swath: str | None = None,
    noise: str = "remove",
) -> ProductSource:
    """One swath of a product, bands = the chosen polarisations ("VV", "VV,VH" or "all")."""
    import rasterio

    configure_gdal()  # GDAL's block cache before the first read (core.io.gdal_config)

    if calibration not in CALIBRATIONS:
        raise UserError(f"unknown calibration {calibration!r}; use one of {', '.join(CALIBRATIONS)}.")
    if noise not in NOISE_CHOICES:
        raise UserError(f"unknown noise choice {noise!r}; use remove or keep.")
    files = ProductFiles(Path(path))
    product = parse_manifest(files)
    if swath is not None and ("," in swath or swath.lower() == "all"):
        from core.products.merge import open_merged  # noqa: PLC0415 - circle: core.products.reader -> core.products.merge (KNOWN in tests/test_import_layers.py)

        wanted = (
            product.swaths if swath.lower() == "all" else [pick_swath(product, s.strip()) for s in swath.split(",")]
        )
        opened: list[ProductSource] = []
        try:
            for s in wanted:
                opened.append(open_product(path, calibration, pol, s, noise))
        except BaseException:
            for o in opened:
                o.close()
            raise
        return open_merged(product, opened)
    swath = pick_swath(product, swath)
    pols = pick_pols(product, swath, pol)
    name = files.name
    bands: list[_Band] = []
    anns: list[Annotation] = []
    try:
        for p in pols:
            meas = product.measurements[(swath, p)]
            ann = parse_annotation(files, meas.annotation)
            if anns and (ann.lines, ann.samples) != (anns[0].lines, anns[0].samples):
                raise UserError(f"{name}: the {p} image is {ann.samples} x {ann.lines}, not the size of {pols[0]}.")
            if noise == "remove" and ann.noise_removed_by_ipf:
                raise UserError(
                    f"{name}: the annotation says the thermal noise was already removed "
                    "(thermalNoiseCorrectionPerformed); use --noise keep."
                )
            lut = None if calibration == "none" else read_calibration(files, meas.calibration, calibration)
            tops = bool(ann.bursts)
            nm = read_noise(files, meas.noise, ann.lines_per_burst, len(ann.bursts)) if noise == "remove" else None
            if not files.exists(meas.tiff):
                raise UserError(f"{name} lacks {meas.tiff}, the {p} measurement; download the product again.")
            try:
                ds = rasterio.open(files.gdal_path(meas.tiff))
            except rasterio.errors.RasterioError as exc:
                msg = " ".join(str(exc).replace(files.gdal_path(meas.tiff), "").split())[:100]
                raise UserError(
                    f"{name}: {meas.tiff} could not be opened ({msg}); it is truncated or corrupt: download the product again."
                ) from None
            bands.append(_Band(ds, p, lut, nm))
            anns.append(ann)
            if (ds.height, ds.width) != (ann.lines, ann.samples):
                raise UserError(
                    f"{name}: {meas.tiff} is {ds.width} x {ds.height} but its annotation says "
                    f"{ann.samples} x {ann.lines}; download the product again."
                )
        ann = anns[0]
        plan = plan_deburst(ann, f"{name}: {product.measurements[(swath, pols[0])].annotation}") if tops else None
    except BaseException:
        for b in bands:
            b.ds.close()
        raise
    height = plan.height if plan is not None else ann.lines
    gcps = plan.gcps(ann.gcps) if plan is not None else ann.gcps
    from rasterio.crs import CRS

    calibrated = calibration != "none" or noise == "remove"
    is_slc = product.product_type == "SLC"
    tags = product_tags(product, ann, swath, pols, calibration, noise, plan is not None)
    band_tags = tuple({"POLARIZATION": p, "SWATH": swath, "CALIBRATION": calibration.upper()} for p in pols)
    geo = GeoInfo(
        nodata=0.0,
        gcps=tuple(tuple(float(v) for v in g) for g in gcps),  # type: ignore[misc]
        gcp_crs=CRS.from_epsg(4326).to_wkt(),
        band_descriptions=tuple(pols),
        tags=tags,
        band_tags=band_tags,
    )
    kind = "intensity" if calibrated or is_slc else "amplitude"
    dtype = np.dtype(np.float32) if calibrated or is_slc else np.dtype(bands[0].ds.dtypes[0])
    src = ProductSource(
        name,
        "SAFE",
        ann.samples,
        height,
        list(pols),
        dtype,
        kind,
        geo,
        calibration,
        product.product_type,
        noise=noise,
        plan=plan,
        annotation=ann,
    )
    src._pbands = bands
    src._bands = [(b.ds, 1) for b in bands]  # what Source's helpers (previews) read
    src._luts = [None] * len(bands)
    steps = [f"{calibration} (DN² / A², LUT from the product)" if calibration != "none" else "uncalibrated"]
    if noise == "remove":
        steps.insert(
            0,
            f"thermal noise removed ({product.ipf_version and 'IPF ' + product.ipf_version + ', '}"
            f"{bands[0].noise.layout if bands[0].noise else ''} noise tables)",
        )
    if plan is not None:
        steps.append(f"{len(ann.bursts)} bursts debursted ({ann.lines} -> {height} lines)")
    src.notes.append(f"Sentinel-1 {product.mode} {product.product_type} {swath} {'+'.join(pols)}: " + ", ".join(steps))
    if product.product_type == "SLC" and len(product.swaths) > 1:
        src.notes.append(f"swath {swath} only (this product has {', '.join(product.swaths)}; --swath all merges them)")
    if noise == "remove":
        src.notes.append(src.noise_note())
        src._note_index = len(src.notes) - 1
    return src


def pick_swath(product: Product, swath: str | None) -> str:
    swaths = product.swaths
    if swath is None:
        if len(swaths) > 1:
            raise UserError(
                f"{product.name} is an {product.mode} {product.product_type} product with swaths {', '.join(swaths)}; "
                "choose one with --swath, or merge them with --swath all (TOPS SLC)."
            )
        return swaths[0]
    if "," in swath or swath.lower() == "all":
        raise UserError(
            f"merging swaths ({swath}) is not supported yet; choose one of {', '.join(swaths)} with --swath."
        )
    if swath.upper() not in swaths:
        raise UserError(f"{product.name} has no swath {swath}; its swaths are {', '.join(swaths)}.")
    return swath.upper()


def pick_pols(product: Product, swath: str, pol: str) -> list[str]:
    have = product.pols(swath)
    if pol.upper() in ("ALL", ""):
        return have
    wanted = [p.strip().upper() for p in pol.split(",") if p.strip()]
    for p in wanted:
        if p not in have:
            raise UserError(f"{product.name} has no {p} polarisation in {swath}; it has {', '.join(have)}.")
    if len(set(wanted)) != len(wanted):
        raise UserError(f"--pol {pol} names a polarisation twice.")
    return wanted


def product_tags(
    product: Product, ann: Annotation, swath: str, pols: list[str], calibration: str, noise: str, deburst: bool
) -> dict[str, str]:
    """What was applied, for the output's tags (the clipped fraction is added when the run ends)."""
    tags = {
        "MISSION_ID": product.mission,
        "MODE": product.mode,
        "PRODUCT_TYPE": product.product_type,
        "SWATH": swath,
        "POLARISATIONS": ",".join(pols),
        "IPF_VERSION": product.ipf_version or "unknown",
        "ACQUISITION_START_TIME": ann.start_time,
        "CALIBRATION": calibration.upper(),
        "THERMAL_NOISE": "REMOVED" if noise == "remove" else "KEPT",
        "RANGE_PIXEL_SPACING": f"{ann.range_spacing:g}",
        "AZIMUTH_PIXEL_SPACING": f"{ann.azimuth_spacing:g}",
        "SOURCE_PRODUCT": product.name,
    }
    if noise == "remove":
        tags["NOISE_FLOOR"] = f"{NOISE_FLOOR:g}"
    if product.product_type == "SLC":
        tags["DEBURST"] = "YES" if deburst else "NO (stripmap: no bursts)"
    return tags


def check_product(path: str | os.PathLike) -> dict[str, Any]:
    """Read and check every measurement's annotation, calibration and noise tables and open every measurement;
    what `core info` shows. A missing or malformed part ends in one UserError line."""
    files = ProductFiles(Path(path))
    product = parse_manifest(files)
    layouts, bursts, done = set(), 0, False
    for swath in product.swaths:
        open_product(path, "sigma0", "all", swath, "keep").close()
        for p in product.pols(swath):
            meas = product.measurements[(swath, p)]
            ann = parse_annotation(files, meas.annotation)
            for cal in ("beta0", "gamma0"):
                read_calibration(files, meas.calibration, cal)
            done = done or ann.noise_removed_by_ipf
            if not ann.noise_removed_by_ipf:
                layouts.add(read_noise(files, meas.noise, ann.lines_per_burst, len(ann.bursts)).layout)
            bursts = max(bursts, len(ann.bursts))
    return {
        "swaths": product.swaths,
        "mode": product.mode,
        "ipf_version": product.ipf_version or "unknown",
        "noise": "already removed by the IPF" if done else " / ".join(sorted(layouts)) + " noise tables",
        "bursts": bursts,
    }
