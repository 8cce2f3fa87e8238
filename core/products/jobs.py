"""Preparing a Sentinel-1 product as a background job for the pages (core.jobs runs it; nothing here imports
streamlit): the chain of core.products.chain with the page's choices, progress into the job, the result's path.

The geometry step comes from `geometry_step`: geocoding without a DEM (core.products.geocode) or terrain correction
with a DEM (core.products.terrain, optionally radiometric flattening), checked before the job starts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from core.errors import UserError
from core.io.confine import GDAL_ENV, Confine, check_path
from core.jobs import BackgroundJob, start_job
from core.products import geocode as gc
from core.products import terrain
from core.products.chain import GeometryStep, PrepareOptions, prepare_product


@dataclass(frozen=True)
class StepWords:
    """How geometry_step words a refusal for its caller: the page names its choices, the CLI its options."""

    rtc_without_dem: str
    rtc_calibration: str  # {calibration}: the calibration chosen instead of beta0
    map_options_without_map: str


PAGE_WORDS = StepWords(
    "radiometric terrain flattening needs a DEM: pick one, or leave flattening off.",
    "radiometric terrain flattening works on beta0: choose beta0 instead of {calibration}.",
    "a CRS or resolution applies to a map output: turn geocoding on or pick a DEM.",
)


def geometry_step(
    product: str | os.PathLike,
    geocode: bool = False,
    dem: str | os.PathLike | None = None,
    rtc: bool = False,
    calibration: str = "sigma0",
    crs: str | None = None,
    resolution: float | None = None,
    cog: bool = False,
    words: StepWords = PAGE_WORDS,
) -> GeometryStep | None:
    """The chain's geometry step for these choices: None (radar geometry), geocoding, or terrain correction; the
    one function of the page's product job and of `prepare` / `despeckle` / `translate --geocode/--dem/--rtc`
    (core.cli.map_options). Checks what it can before any work starts; `words`: how a refusal names the choices.
    `cog`: the geocoding writes the COG itself."""
    if rtc and dem is None:
        raise UserError(words.rtc_without_dem)
    if rtc and calibration != "beta0":
        raise UserError(words.rtc_calibration.format(calibration=calibration))
    if dem is None and not geocode:
        if crs is not None or resolution is not None:
            raise UserError(words.map_options_without_map)
        return None
    if dem is not None:
        if not Path(dem).is_file():
            raise UserError(f"{Path(dem).name}: DEM not found; check the path.")
        terrain.read_radar_geometry(product)  # a product without orbit, timing or range conversion: one line now

        def correct(radar: Path, out: Path, progress) -> None:
            terrain.terrain_correct(
                product, radar, out, dem, rtc=rtc, crs=crs, resolution=resolution, progress=progress
            )

        return correct

    def to_map(radar: Path, out: Path, progress) -> None:
        gc.geocode_raster(radar, out, crs=crs, resolution=resolution, cog=cog, progress=progress)

    return to_map


def confined_product(product: str | os.PathLike, confine: Confine) -> Path:
    """A browser-reached product checked by core.io.confine (a Sentinel-1 product by content, every file under
    `confine.roots`): its resolved path."""
    checked = check_path(product, confine)
    if checked.driver != "SAFE":
        raise UserError(
            f"{Path(product).name} is not a Sentinel-1 product by its content; give the .SAFE folder, its "
            "manifest.safe or the zip."
        )
    return checked.path


def confined_dem(dem: str | os.PathLike, confine: Confine) -> Path:
    """A browser-reached DEM checked by core.io.confine (a GeoTIFF by content, under `confine.roots`)."""
    checked = check_path(dem, confine)
    if checked.driver != "GTiff":
        raise UserError(f"{Path(dem).name} is not a GeoTIFF by its content; give the DEM as GeoTIFF.")
    return checked.path


def start_prepare_job(
    product: str | os.PathLike,
    output: str | os.PathLike,
    options: PrepareOptions,
    geocode: bool = False,
    dem: str | os.PathLike | None = None,
    rtc: bool = False,
    product_confine: Confine | None = None,
    dem_confine: Confine | None = None,
) -> BackgroundJob:
    """Check the choices, then run the chain from `product` into `output` in a background thread.
    `product_confine` / `dem_confine`: that input came from the browser: checked first (core.io.confine), and the
    whole job runs with its GDAL_ENV (no sidecar files, no PAM, no raw VRT bands, no network names)."""
    import rasterio

    if product_confine is not None:
        product = confined_product(product, product_confine)
    if dem is not None and dem_confine is not None:
        dem = confined_dem(dem, dem_confine)
    step = geometry_step(product, geocode, dem, rtc, options.calibration)
    env = GDAL_ENV if (product_confine or dem_confine) is not None else {}

    def work(job: BackgroundJob):
        with rasterio.Env(**env):  # thread-local: entered in the job's own thread
            result = prepare_product(product, output, options, geometry=step, progress=job.progress)
        job.notes.extend(result.notes)
        return result

    return start_job(product, output, "prepare", work)
