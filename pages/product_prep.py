"""The speckle page's "Prepare a Sentinel-1 product" section: a product from the allowed server folders, an uploaded
zip or the bundled synthetic sample, prepared with the `prepare` command's choices as a background job (progress,
COG download) and shown on an interactive map (footprint and a north-up overlay in dB).

Thin: the chain is core.products.jobs (core.products.chain underneath), the map's data core.products.footprint.
The map is pydeck (bundled in Streamlit's frontend, as the viewer's map is): the overlay and footprint draw with no
network; the basemap (© CARTO, © OpenStreetMap contributors) is fetched by the user's browser when it is online.
"""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import streamlit as st

from core import io as sio
from core import roots
from core import speckle as sp
from core.catalog import samples_dir
from core.errors import UserError
from core.files import check_output_folder, save_upload, upload_root
from core.io.confine import Confine
from core.io.sentinel1.calibration import CALIBRATIONS
from core.io.sentinel1.metadata import parse_manifest
from core.io.sentinel1.noise import NOISE_CHOICES
from core.io.sentinel1.safexml import ProductFiles
from core.products.chain import PrepareOptions
from core.products.footprint import MapOverlay, map_overlay
from core.products.jobs import start_prepare_job

KEY = "prep"
SOURCES = ("Bundled synthetic sample", "Upload a product zip", "Path on the server")
NO_FILTER = "none"


def _product_path(source: str) -> tuple[Path, Confine | None] | None:
    """The product the user picked and what GDAL may read for it (None: a bundled file), or None while nothing is
    picked; UserError for a refused one."""
    if source == SOURCES[0]:
        found = sorted((samples_dir() / "products").glob("*.zip"))
        if not found:
            raise UserError("no bundled sample product in this installation; upload a zip or give a server path.")
        st.caption(f"{found[0].name}: synthetic (made by scripts, not an acquisition): for trying the chain only.")
        return found[0], None
    if source == SOURCES[1]:
        up = st.file_uploader("Sentinel-1 product (.zip)", type=["zip"], key=f"{KEY}_upload")
        if up is None:
            return None
        blob = up.getvalue()
        check_output_folder(upload_root(), len(blob))  # room for it, before anything is written
        saved = save_upload(blob, up.name, "products")
        return saved, Confine((saved.parent.resolve(),), f"{up.name} could not be read; upload it again.")
    text = st.text_input("Product path (.SAFE folder, its manifest.safe or .zip)", key=f"{KEY}_path")
    if not text.strip():
        return None
    return roots.resolve_allowed(text, "any"), roots.confinement(text, "any")


def _product_layout(path: Path) -> tuple[str, list[str], list[str]]:
    """(product type, swaths, polarisations) from the manifest, without reading pixels."""
    product = parse_manifest(ProductFiles(path))
    pols = sorted({p for s in product.swaths for p in product.pols(s)}, key=lambda p: (p[0] != p[1], p))
    return product.product_type, list(product.swaths), pols


def _choices(path: Path) -> tuple[PrepareOptions, bool, Path | None, bool] | None:
    kind, swaths, pols = _product_layout(path)
    c1, c2, c3 = st.columns(3)
    pol_choices = [*pols, ",".join(pols)] if len(pols) > 1 else pols
    pol = c1.selectbox("Polarisation", pol_choices, index=len(pol_choices) - 1, key=f"{KEY}_pol")
    swath = None
    if kind == "SLC":
        swath_choices = [*swaths, "all"] if len(swaths) > 1 else swaths
        swath = c1.selectbox("Swath", swath_choices, key=f"{KEY}_swath", help="all: TOPS swaths debursted and merged")
    calibration = c2.selectbox("Calibration", CALIBRATIONS, key=f"{KEY}_cal")
    noise = c2.selectbox("Thermal noise", NOISE_CHOICES, key=f"{KEY}_noise")
    classic = [NO_FILTER, *(n for n, s in sp.FILTERS.items() if not s.deep)]
    filt = c3.selectbox(
        "Speckle filter",
        classic,
        key=f"{KEY}_filter",
        format_func=lambda n: sp.FILTERS[n].label if n in sp.FILTERS else n,
    )
    db = c3.checkbox("dB (10·log10)", value=True, key=f"{KEY}_db")
    cog = c3.checkbox("Cloud-Optimized GeoTIFF", value=True, key=f"{KEY}_cog")
    g1, g2 = st.columns(2)
    geocode = g1.checkbox(
        "Geocode (north-up map grid, no DEM)",
        key=f"{KEY}_geocode",
        help="through the product's geolocation grid (thin-plate spline); the scene's UTM zone, its pixel spacing",
    )
    dem_text = g2.text_input(
        "DEM for terrain correction (a raster under the allowed folders; empty: none)",
        key=f"{KEY}_dem",
        disabled=not roots.server_paths(),
        help="needs SAR_STUDIO_DATA_ROOTS; heights taken as ellipsoidal; the output is on the DEM's grid",
    )
    rtc = g2.checkbox("Radiometric terrain flattening (γ⁰ₜ; needs β⁰ calibration)", key=f"{KEY}_rtc")
    dem = roots.resolve_allowed(dem_text, "file") if dem_text.strip() else None
    opts = PrepareOptions(
        pol=pol,
        swath=swath,
        calibration=calibration,
        noise=noise,
        filter=None if filt == NO_FILTER else filt,
        db=db,
        cog=cog,
    )
    return opts, geocode, dem, rtc


def _output_name(path: Path, opts: PrepareOptions, geocoded: bool) -> str:
    stem = path.name.removesuffix(".zip").removesuffix(".SAFE") if path.name != "manifest.safe" else path.parent.stem
    parts = [stem, opts.pol.replace(",", ""), opts.calibration, *([opts.filter] if opts.filter else [])]
    parts += ["geo"] if geocoded else []
    parts += ["db"] if opts.db else []
    return "_".join(parts) + ("_cog" if opts.cog else "") + ".tif"


def product_prep_section() -> None:
    """The whole section, in an expander; every failure is one st.error line."""
    with st.expander("Prepare a Sentinel-1 product (analysis-ready, shown on a map)"):
        st.caption(
            "Thermal noise removal, calibration, TOPS deburst, optional speckle filter, geometry, dB: "
            "the `python -m core prepare` chain, streamed in the background."
        )
        sources = SOURCES if roots.server_paths() else SOURCES[:2]
        source = st.selectbox("Product", sources, key=f"{KEY}_source")
        try:
            chosen = _product_path(source)
            if chosen is None:
                return
            path, confine = chosen
            picked = _choices(path)
        except UserError as exc:
            st.error(str(exc))
            return
        if picked is None:
            return
        opts, geocode, dem, rtc = picked
        if st.button("Prepare the product", type="primary", key=f"{KEY}_run"):
            out = upload_root() / "results" / _output_name(path, opts, geocode or dem is not None)
            try:
                out.parent.mkdir(parents=True, exist_ok=True)
                dem_confine = roots.confinement(str(dem), "file") if dem is not None else None
                job = start_prepare_job(path, out, opts, geocode, dem, rtc, confine, dem_confine)
                st.session_state[f"{KEY}_job"] = job
            except (UserError, OSError) as exc:
                st.error(str(exc))
        if st.session_state.get(f"{KEY}_job") is not None:
            _job_status()


@st.fragment(run_every=1.0)
def _job_status() -> None:
    job = st.session_state.get(f"{KEY}_job")
    if job is None:
        return
    if job.error:
        st.error(job.error)
        return
    eta = job.eta_seconds
    left = "" if eta is None or job.finished else f", about {eta:.0f} s left"
    st.progress(job.fraction, text=f"prepare {job.source.name}: {job.fraction:.0%}{left}")
    if not (job.finished and job.output.exists()):
        return
    for n in job.notes:
        st.info(n)
    with open(job.output, "rb") as fh:
        st.download_button(
            f"Download {job.output.name}", fh, job.output.name, "image/tiff", key=f"{KEY}_dl", type="primary"
        )
    bands = list(getattr(job.result, "bands", None) or ["band 1"])
    shown = st.selectbox("Band on the map", bands, key=f"{KEY}_map_band") if len(bands) > 1 else bands[0]
    _result_map(job.output, bands.index(shown) + 1)


@st.cache_data(show_spinner=False, max_entries=4)
def _overlay(path: str, mtime: float, band: int) -> MapOverlay:
    return map_overlay(path, band)


def _png_url(rgba: np.ndarray) -> str:
    return "data:image/png;base64," + base64.b64encode(sio.encode_png(rgba)).decode()


def _colour_bar(lo: float, hi: float) -> None:
    ramp = np.repeat(np.linspace(0, 255, 256).round().astype(np.uint8)[None, :], 14, axis=0)
    left, mid, right = st.columns([1, 4, 1], vertical_alignment="center")
    left.caption(f"{lo:.1f} dB")
    mid.image(ramp, width="stretch")
    right.caption(f"{hi:.1f} dB")


def _result_map(path: Path, band: int = 1) -> None:
    import pydeck as pdk

    try:
        ov = _overlay(str(path), path.stat().st_mtime, band)
    except UserError as exc:
        st.error(str(exc))
        return
    west, south, east, north = ov.bounds
    extent = max(east - west, north - south, 1e-6)
    view = pdk.ViewState(
        longitude=(west + east) / 2,
        latitude=(south + north) / 2,
        zoom=float(np.clip(np.log2(360.0 / extent) - 0.5, 1, 18)),
    )
    layers = [
        pdk.Layer(
            "BitmapLayer",
            data=None,
            id="overlay",
            image=pdk.types.String(_png_url(ov.rgba)),
            bounds=[west, south, east, north],
            opacity=0.9,
        ),
        pdk.Layer(
            "PathLayer",
            data=[{"path": [list(p) for p in ov.footprint]}],
            id="footprint",
            get_path="path",
            get_color=[220, 30, 30],
            width_min_pixels=2,
        ),
    ]
    st.pydeck_chart(
        pdk.Deck(layers=layers, initial_view_state=view, map_provider="carto", map_style="light", tooltip=False),
        key=f"{KEY}_map",
        height=460,
    )
    _colour_bar(*ov.stretch)
    st.caption(
        ov.caption + " Basemap © CARTO, © OpenStreetMap contributors, loaded by your browser when it is online; "
        "the overlay and footprint draw without it."
    )
