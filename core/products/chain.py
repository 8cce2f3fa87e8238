"""The whole chain, product to analysis-ready GeoTIFF: `prepare_product(product, output, options, geometry=None)`.

Steps, each streamed window by window (memory does not grow with the scene):
  1. read one swath, the chosen polarisations (core.io.sentinel1): thermal noise removed (default), calibrated
     (sigma0 default), TOPS SLC debursted; optional speckle filter (core.speckle.stream) -> a radar-geometry
     float32 GeoTIFF of linear values with the product's GCPs (EPSG:4326) and tags recording what was applied;
  2. the geometry step, when given: `geometry(radar_tif, out_tif, progress)` (see GeometryStep);
  3. dB (10·log10, nodata NaN) when asked, and COG when asked, written to `output` atomically.
Intermediate files live in a hidden temporary folder beside the output and are removed whatever happens.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.errors import UserError
from core.files import check_outputs
from core.io import open_source, stream_filter, to_intensity
from core.io.products import safe_manifest
from core.io.sentinel1.product import open_product
from core.progress import ProgressFn

GDAL_CACHE_MB = 64  # GDAL's block cache during the chain

# The geometry step's shape. geometry(radar_tif, out_tif, progress) reads `radar_tif` (float32 GeoTIFF, linear
# values, radar geometry, GCPs in EPSG:4326, nodata 0, band descriptions = polarisations, tags of what was applied)
# and writes `out_tif` (float32 GeoTIFF, linear values, map geometry with CRS + transform, nodata where no data;
# keeping the input's tags and band descriptions), calling progress(done, total) as it goes. dB and COG come after.
GeometryStep = Callable[[Path, Path, "ProgressFn | None"], None]


@dataclass
class PrepareOptions:
    pol: str = "all"  # "VV", "VH", "VV,VH", "all"
    swath: str | None = None  # SLC: IW1, IW2, ... or "all" / "IW1,IW2" (TOPS SLC swaths merged)
    calibration: str = "sigma0"  # sigma0 | beta0 | gamma0 | none
    noise: str = "remove"  # remove | keep
    filter: str | None = None  # a core.speckle filter name
    filter_params: dict = field(default_factory=dict)
    db: bool = False
    cog: bool = False
    block: int = 512


@dataclass
class PrepareResult:
    path: Path
    width: int
    height: int
    bands: list[str]
    tags: dict[str, str]
    notes: list[str]
    clipped_fraction: float | None  # thermal noise removal: share of valid pixels set to the floor


def prepare_product(
    product: str | os.PathLike,
    output: str | os.PathLike,
    options: PrepareOptions | None = None,
    geometry: GeometryStep | None = None,
    progress: ProgressFn | None = None,
) -> PrepareResult:
    """Run the chain (module docstring) on a Sentinel-1 product (.SAFE folder, manifest.safe or zip)."""

    opts = options or PrepareOptions()
    src_path, out = Path(product), Path(output)
    if out.suffix.lower() not in (".tif", ".tiff"):
        raise UserError(f"{out.name}: prepare writes a GeoTIFF; name the output .tif.")
    if not src_path.exists():
        raise UserError(f"{src_path.name}: not found; check the path.")
    if safe_manifest(src_path) is None:
        raise UserError(
            f"{src_path.name} is not a Sentinel-1 product; give the .SAFE folder, its manifest.safe or the zip."
        )
    if opts.filter:
        from core.speckle import check_params, filter_spec  # noqa: PLC0415 - start-up: the speckle package (25 of ours) only with a filter, not `prepare --help`

        spec = filter_spec(opts.filter)
        if spec.deep:
            raise UserError(
                "prepare streams the scene; MERLIN needs it whole: use a classic filter or despeckle a crop."
            )
        opts.filter_params = check_params(spec, opts.filter_params)
    import rasterio

    # GDAL's block cache defaults to 5 % of the RAM and fills with blocks already read and written: capped, so the
    # peak stays a few windows whatever the scene (as core.speckle.stream does)
    try:
        with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB * 1024 * 1024):
            return _prepare(src_path, out, opts, geometry, progress)
    except rasterio.errors.RasterioIOError as exc:
        msg = " ".join(str(exc).split())[:120]
        raise UserError(
            f"{src_path.name} could not be read ({msg}); the product is truncated or corrupt: download it again."
        ) from None


def _prepare(src_path: Path, out: Path, opts: PrepareOptions, geometry, progress) -> PrepareResult:
    src = open_product(src_path, opts.calibration, opts.pol, opts.swath, opts.noise)
    stages = 1 + (geometry is not None) + (opts.db or opts.cog)
    try:
        size = src.width * src.height * src.count * 4
        check_outputs([(src_path, out)], size * (stages + 1))
        work = Path(tempfile.mkdtemp(prefix=".prepare-", dir=out.parent.absolute()))
        try:
            notes: list[str] = []
            radar = work / "radar.tif"
            _radar_stage(src, radar, opts, _stage(progress, 0, stages), notes)
            clipped = src.clipped_fraction if opts.noise == "remove" else None
            tags = _finish_tags(radar, opts, clipped)
            current, k = radar, 1
            if geometry is not None:
                mapped = work / "map.tif"
                geometry(radar, mapped, _stage(progress, k, stages))
                if not mapped.is_file():
                    raise RuntimeError("the geometry step wrote no output")
                _set_tags(mapped, GEOMETRY="map grid (CRS + transform), see the GEOCODING / TERRAIN_CORRECTION tags")
                current, k = mapped, k + 1
            if opts.db or opts.cog:
                _final_stage(current, out, src.kind, opts, _stage(progress, k, stages))
            else:
                os.replace(current, out)  # same folder: atomic
            notes = list(src.notes) + notes
            return PrepareResult(out, src.width, src.height, list(src.band_names), tags, notes, clipped)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    finally:
        src.close()


def _stage(progress: ProgressFn | None, k: int, n: int) -> ProgressFn | None:
    if progress is None:
        return None

    def update(done: int, total: int) -> None:
        progress(k * 100 + (100 * done) // max(total, 1), n * 100)

    return update


def _radar_stage(src, dst: Path, opts: PrepareOptions, progress, notes: list[str]) -> None:

    src.clipped = src.counted = 0
    if opts.filter:
        from core.speckle.stream import stream_despeckle  # noqa: PLC0415 - start-up: the speckle package (25 of ours) only with a filter, not `prepare --help`

        stream_despeckle(src, dst, opts.filter, block=opts.block, progress=progress, notes=notes, **opts.filter_params)
    else:
        stream_filter(src, dst, lambda x: x, halo=0, block=opts.block, progress=progress)


def _finish_tags(path: Path, opts: PrepareOptions, clipped: float | None) -> dict[str, str]:
    """Add what is known only at the end (clipped fraction) and the chain's own steps to the radar file's tags."""
    import rasterio

    extra = {"FILTER": opts.filter or "NONE", "VALUES": "linear", "GEOMETRY": "radar (GCPs)"}
    if clipped is not None:
        extra["NOISE_CLIPPED_FRACTION"] = f"{clipped:.6f}"
        if opts.filter:
            extra["NOISE_CLIPPED_FRACTION_NOTE"] = "estimated over the pixels read (filter halos counted again)"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)  # GCPs only: no transform
        ds = rasterio.open(path, "r+")
    with ds:
        ds.update_tags(**extra)
        return dict(ds.tags())


def _set_tags(path: Path, **tags: str) -> None:
    import rasterio

    with rasterio.open(path, "r+") as ds:
        ds.update_tags(**tags)


def _final_stage(current: Path, out: Path, kind: str, opts: PrepareOptions, progress) -> None:

    src = open_source(current)
    try:
        if opts.db:
            src.geo.nodata = float("nan")
            src.geo.tags = {**src.geo.tags, "VALUES": "dB (10*log10 of the linear values)"}

            def to_db(x: np.ndarray) -> np.ndarray:
                inten = to_intensity(x, kind) if kind == "amplitude" else x.astype(np.float32)
                with np.errstate(divide="ignore", invalid="ignore"):
                    return np.where(inten > 0, 10 * np.log10(inten), np.nan).astype(np.float32)

            fn = to_db
        else:

            def fn(x: np.ndarray) -> np.ndarray:
                return x

        stream_filter(
            src,
            out,
            fn,
            halo=0,
            block=opts.block,
            dtype="float32" if opts.db else None,
            cog=opts.cog,
            progress=progress,
        )
    finally:
        src.close()
