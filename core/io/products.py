"""Open any raster GDAL opens, or a Sentinel-1 product, as a windowed `Source`; describe it for `core info`.

A Sentinel-1 product is the .SAFE folder, its manifest.safe, or the zipped product: `open_source` hands it to
core.io.sentinel1 (its own manifest/annotation/calibration/noise reader; thermal noise removal, calibration, TOPS
deburst, swath merging). GDAL's SAFE driver is not used: it opens no EW or SM product and no product missing a calibration file,
lists no calibrated subdataset for GRD, and for SLC its SENTINEL1_CALIB:SIGMA0 bands return |z|^2 unchanged
(GDAL 3.10.3, see tests/io/test_io_products.py).
"""

from __future__ import annotations

import os
import warnings
import zipfile
from pathlib import Path
from typing import Any

from core.budget import check_expansion
from core.errors import UserError
from core.io.confine import GDAL_ENV, Confine, check_path
from core.io.gdal_config import configure_gdal
from core.io.georef import GeoInfo, crs_name
from core.io.kinds import detect_kind
from core.io.read import check_input_file
from core.io.sentinel1.calibration import CALIBRATIONS
from core.io.sentinel1.product import check_product, open_product
from core.io.source import Source, gdal_itemsize, preview, read_dtype, work_dtype

# ------------------------------------------------------------------------------------------------ opening


def open_source(
    source: str | os.PathLike,
    calibration: str | None = None,
    pol: str = "all",
    swath: str | None = None,
    noise: str | None = None,
    confine: Confine | None = None,
    kind: str | None = None,
) -> Source:
    """Open a GDAL raster or a Sentinel-1 product. calibration: sigma0|beta0|gamma0|none (default sigma0 for
    products, none otherwise); pol: VV|VH|...|all (or "VV,VH"); swath: IW1.. for SLC products (GRD has one);
    noise: remove|keep, products only (default remove, keep with calibration none). Products are read by
    core.io.sentinel1 (noise, deburst, merged swaths).

    `confine`: the path came from the browser, so it is checked first (core.io.confine: documented formats by
    content, every file under the roots) and opened with one driver and GDAL_ENV. None (the CLI): any GDAL raster.

    `kind`: what the values are, when already known (a Dask worker opening the scene its client opened): the
    decimated read that detects it is skipped (a read of every tile of the file)."""
    import rasterio

    configure_gdal()  # before the first read: the preview below would fill GDAL's default cache (5 % of RAM)
    if calibration is not None and calibration not in CALIBRATIONS:
        raise UserError(f"unknown calibration {calibration!r}; use one of {', '.join(CALIBRATIONS)}.")
    path, driver = Path(source), None
    if confine is not None:
        checked = check_path(source, confine)
        path, driver = checked.path, checked.driver
    with rasterio.Env(**(GDAL_ENV if confine is not None else {})):
        return _open(path, Path(source).name, calibration, pol, swath, noise, driver, kind)


def _open(
    path: Path,
    name: str,
    calibration: str | None,
    pol: str,
    swath: str | None,
    noise: str | None,
    driver: str | None,
    kind: str | None = None,
) -> Source:
    import rasterio

    check_input_file(path, name, folders=True)  # a FIFO would block GDAL's open forever
    manifest = safe_manifest(path)
    if manifest is not None:
        calibration = calibration or "sigma0"
        default_noise = "keep" if calibration == "none" else "remove"  # "none" asks for the DN as stored
        return open_product(path, calibration, pol, swath, noise or default_noise)
    if noise not in (None, "keep"):
        raise UserError(f"{name} is not a Sentinel-1 product, so it has no noise tables; leave out --noise.")
    if not path.exists():
        raise UserError(f"{name}: file not found; check the path.")
    if calibration not in (None, "none"):
        raise UserError(f"{name} is not a Sentinel-1 product, so it has no calibration tables; use --calibration none.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
            ds = rasterio.open(path, driver=driver)
    except rasterio.errors.RasterioError as exc:
        raise UserError(
            f"{name} could not be opened by GDAL ({_short(exc)}); it is not a raster or it is truncated or corrupt: "
            "export it again."
        ) from None
    try:
        return _raster_source(ds, path, name, pol, kind)
    except BaseException:
        ds.close()
        raise


def _raster_source(ds: Any, path: Path, name: str, pol: str, kind: str | None = None) -> Source:
    import rasterio

    if ds.driver in ("GTiff", "PNG", "JPEG") and path.is_file():  # a header declaring 10^12 pixels in 150 bytes
        px_bytes = ds.width * ds.height * ds.count * gdal_itemsize(ds.dtypes[0])
        check_expansion(px_bytes, path.stat().st_size, f"{name} ({ds.width}x{ds.height}, {ds.count} band(s))")
    geo = GeoInfo.from_dataset(ds)
    dtype = work_dtype(read_dtype(ds.dtypes[0]))
    bands = [(ds, i) for i in range(1, ds.count + 1)]
    names = [d or f"band {i + 1}" for i, d in enumerate(ds.descriptions)]
    if pol != "all":
        sel = [i for i, n in enumerate(names) if n.upper() == pol.upper()]
        if not sel:
            raise UserError(f"{name} has no band named {pol}; its bands are {', '.join(names)}.")
        bands, names = [bands[i] for i in sel], [names[i] for i in sel]
    src = Source(name, ds.driver, ds.width, ds.height, names, dtype, "intensity", geo, _bands=bands)
    if kind is not None:
        src.kind = kind
        return src
    try:
        src.kind = detect_kind(preview(src))
    except rasterio.errors.RasterioError as exc:
        raise UserError(
            f"{name} could not be read ({_short(exc)}); the file is truncated or corrupt: export it again."
        ) from None
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
        facts = check_product(path)  # every table read and checked: a broken product ends here, in one line
        swaths = facts.pop("swaths")
        swath = swaths[0]
    with open_source(path, swath=swath, calibration="none", noise="keep") as src:
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
            info.update(product_type=src.product_type, swaths=swaths, calibrations=list(CALIBRATIONS), **facts)
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
        lines.append(
            f"           {info['mode']} mode, IPF {info['ipf_version']}, {info['noise']}"
            + (f", {info['bursts']} bursts per swath (debursted when read)" if info["bursts"] else "")
        )
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
