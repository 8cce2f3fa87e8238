"""Speckle filtering: classic filters and MERLIN on linear intensity, compared in a grid with ENL, mean ratio, EPI.

Large scenes (a path on the server, or an upload over PAGE_WHOLE_PIXELS) take another path: a decimated preview,
one classic filter streamed into a COG by a background job with progress, offered as a download.
"""

from pathlib import Path

import numpy as np
import streamlit as st

from core import io as sio
from core import roots
from core import speckle as sp
from core.compute import DEVICES, resolve_device
from core.errors import UserError
from core.files import digest_file, save_upload, upload_root
from core.io.confine import Confine
from core.speckle.compare import (
    FilterResult,
    band_labels,
    enl_region,
    estimated_looks,
    input_key,
    metrics_table,
    result_tif,
    results_zip,
    shown_params,
    windows_too_big,
)
from core.speckle.jobs import PAGE_WHOLE_PIXELS, decimated_read, decimated_results, scene_size, start_scene_job
from pages.components import (
    KEPT_CAPTION,
    compare_view,
    download_buttons,
    keep_result,
    kept_result,
    pick_inputs,
    progress_bar,
    read_input,
    run_guarded,
    server_path_input,
    show_notes,
    stem,
)
from pages.product_prep import product_prep_section
from pages.viewer import show_images

KEY = "speckle"

st.title("Speckle filtering")
st.write(
    "Classic filters and MERLIN deep despeckling on **linear intensity** (as SNAP does), one band at a time. "
    "Every result is shown in dB with the input's own 2–98 % stretch, so the images are comparable; "
    "the table gives ENL over a homogeneous area (higher is smoother), the mean ratio output/input "
    "(1 means radiometry kept) and the edge preservation index against the input (higher keeps more edges)."
)


def _param_widget(fname: str, p: sp.Param):
    key = f"{KEY}_{fname}_{p.name}"
    label = p.name.replace("_", " ")
    if p.kind == "int":
        return st.number_input(
            label,
            min_value=int(p.min),
            max_value=int(p.max),
            value=int(p.default),
            step=int(p.step or 1),
            key=key,
            help=p.help,
        )
    if p.kind == "float":
        return st.number_input(
            label,
            min_value=float(p.min),
            max_value=float(p.max),
            value=None if p.default is None else float(p.default),
            step=float(p.step or 0.1),
            key=key,
            help=p.help,
            placeholder="estimated" if p.default is None else None,
        )
    if p.kind == "bool":
        return st.checkbox(label, value=bool(p.default), key=key, help=p.help)
    return st.selectbox(label, list(p.choices), index=list(p.choices).index(p.default), key=key, help=p.help)


def _preview(values: np.ndarray, kind: str) -> np.ndarray:
    inten = sio.to_intensity(values, kind) if kind != "display" else values
    return sp.render_with_limits(inten, sp.display_limits(inten))


def large_scene(path: Path, confine: Confine) -> None:
    """Preview, several classic filters streamed into COGs by one background job (one read of the scene),
    named phases with time left, then metrics and the comparison on the decimated results, and downloads.
    `confine`: what GDAL may read for this browser-reached path (core.io.confine)."""
    try:
        h, w = scene_size(path, swath=None, confine=confine)
        with sio.open_source(path, confine=confine) as src:
            kind, bands = src.kind, src.count
        preview = decimated_read(path, confine=confine)
    except UserError as exc:
        st.error(str(exc))
        return
    st.caption(f"{path.name}: {w}×{h}, {bands} band(s), read as {sio.KIND_LABELS[kind]}; streamed in blocks.")
    if preview is not None:
        st.image(_preview(preview, kind), caption="decimated preview", width="stretch")
    classic = [n for n, s in sp.FILTERS.items() if not s.deep]
    fnames = st.multiselect(
        "Filters (one read of the scene for all of them)",
        classic,
        default=["lee"],
        key=f"{KEY}_scene_filters",
        format_func=lambda n: sp.FILTERS[n].label,
    )
    chosen_params = {}
    cols = st.columns(max(1, min(3, len(fnames))))
    for i, fname in enumerate(fnames):
        with cols[i % len(cols)].expander(sp.FILTERS[fname].label, expanded=True):
            values = {p.name: _param_widget(f"scene_{fname}", p) for p in sp.FILTERS[fname].params}
        chosen_params[fname] = {k: v for k, v in values.items() if v is not None}
    job = st.session_state.get(f"{KEY}_scene_job")
    if st.button("Filter the whole scene", type="primary", key=f"{KEY}_scene_run", disabled=not fnames):
        outputs = {f: upload_root() / "results" / f"{stem(path.name)}_{f}_cog.tif" for f in fnames}
        job = start_scene_job(path, outputs, chosen_params, confine=confine)
        st.session_state[f"{KEY}_scene_job"] = job
    if job is not None and not job.finished:
        _scene_job_status()
    elif job is not None:
        _scene_job_done(job)


@st.fragment(run_every=1.0)
def _scene_job_status() -> None:
    """Polls the running job each second; when it ends, one full rerun shows the results (no more polling)."""
    job = st.session_state.get(f"{KEY}_scene_job")
    if job is None:
        return
    if job.finished:
        st.rerun()
    labels = ", ".join(sp.FILTERS[f].label for f in job.outputs)
    st.progress(job.fraction, text=f"{labels}: {job.status_text()}")


def _scene_job_done(job) -> None:
    if job.error:
        st.error(job.error)
        return
    labels = ", ".join(sp.FILTERS[f].label for f in job.outputs)
    st.progress(1.0, text=f"{labels}: done in {job.elapsed:.0f} s")
    show_notes(job.notes)
    if all(p.exists() for p in job.outputs.values()):
        _scene_results(job)


def _scene_results(job) -> None:
    """Metrics and the comparison on the decimated results (not the full resolution: said so), and downloads."""
    try:
        src, outs = decimated_results(job)
    except Exception:  # noqa: BLE001 - a product folder has no decimated read; the downloads still work
        src, outs = None, {}
    if src is not None and outs:
        results = [FilterResult(f, sp.FILTERS[f].label, {}, o) for f, o in outs.items()]
        names = job.band_names if len(job.band_names) == (1 if src.ndim == 2 else src.shape[2]) else None
        names = names or [f"band {i + 1}" for i in range(1 if src.ndim == 2 else src.shape[2])]
        step = max(1, round(scene_size(job.outputs[job.filter_name])[1] / src.shape[1]))
        try:
            region, how = enl_region(src if src.ndim == 2 else src[..., 0], min(32, *src.shape[:2]), names[0])
            st.subheader("Metrics (decimated result)")
            st.dataframe(metrics_table(src, results, region, names), hide_index=True, width="stretch")
            st.caption(
                f"Measured on about one pixel in {step} along each axis (the overviews), not at full resolution: ENL "
                f"over rows {region[0]}–{region[0] + region[2] - 1}, columns {region[1]}–{region[1] + region[3] - 1}"
                f" of that grid ({how})."
            )
        except UserError as exc:
            st.error(str(exc))
        limits = sp.display_limits(src)
        views = [sp.view_panel(src, "Input (decimated)", limits)] + [
            sp.view_panel(r.intensity, r.label, limits) for r in results
        ]
        show_images(views, f"{KEY}_scene_view", columns=3)
    st.caption("Each download is one filter's whole-scene result (Cloud-Optimized GeoTIFF, input's units).")
    cols = st.columns(len(job.outputs))
    for col, (f, path) in zip(cols, job.outputs.items()):
        with open(path, "rb") as fh:
            col.download_button(f"{sp.FILTERS[f].label}: COG", fh, path.name, "image/tiff", key=f"{KEY}_scene_dl_{f}")


if roots.server_paths():  # the one path rule (core.roots): no field unless the operator set SAR_STUDIO_DATA_ROOTS
    with st.expander("Large scene or Sentinel-1 product on the server"):
        scene_path = server_path_input(
            "Path on the server (GeoTIFF, .SAFE folder, manifest.safe or .zip)", f"{KEY}_scene_path", "any"
        )
        if scene_path is not None:
            large_scene(scene_path, roots.confinement(st.session_state[f"{KEY}_scene_path"], "any"))

product_prep_section()

inputs = pick_inputs(KEY, "SAR image", category="sar")
if not inputs:
    st.info("Pick a bundled Sentinel-1 sample or upload a SAR image (float32 GeoTIFF intensity works best).")
    st.stop()
name, blob = inputs[0]
if Path(name).suffix.lower() in (".tif", ".tiff"):
    saved = save_upload(blob, name, "speckle")
    # an upload may lead GDAL nowhere but its own folder (a VRT named .tif is refused by content)
    upload_confine = Confine((saved.parent.resolve(),), f"{name} could not be read; upload it again.")
    try:
        big = np.prod(scene_size(saved, confine=upload_confine)) > PAGE_WHOLE_PIXELS
    except UserError:
        big = False  # read_input below says what is wrong with it
    if big:
        st.info("A large scene: it is filtered block by block into a Cloud-Optimized GeoTIFF.")
        large_scene(saved, upload_confine)
        st.stop()
raster = read_input(name, blob, KEY)
if raster is None:
    st.stop()
if min(raster.height, raster.width) < 3:
    st.error(
        f"{name} is {raster.width}×{raster.height} pixels, smaller than the smallest filter window (3×3); "
        "use a larger image."
    )
    st.stop()
if raster.kind == "display":
    st.warning(
        "This is an 8-bit display image: its values have no radiometric meaning, so the filters treat them "
        "as intensity as they are. Choose the input kind above if the file holds real SAR values."
    )
if raster.bands == 3:
    st.warning("Three bands: each is filtered on its own and shown as RGB.")

input_id = input_key(blob, raster.kind)


@st.cache_data(show_spinner=False, max_entries=8)
def _input_intensity(input_id: str, _raster: sio.Raster) -> np.ndarray:
    return sp.input_intensity(_raster)


@st.cache_data(show_spinner=False, max_entries=8)
def _estimated_looks(input_id: str, _intensity: np.ndarray) -> list[float]:
    return estimated_looks(_intensity)


@st.cache_resource(show_spinner=False, max_entries=6)
def _merlin_network(variant: str, device: str, weights_sha: str):
    return sp.load_merlin(variant, device)


def _weights_sha(variant: str) -> str:
    return digest_file(sp.merlin_weights_path(variant))


inten = _input_intensity(input_id, raster)
band_names = band_labels(raster)
looks_est = run_guarded(_estimated_looks, input_id, inten)
if looks_est is not None:
    st.caption(
        "Equivalent number of looks estimated from the image: "
        + ", ".join(f"{b} {v:.2f}" for b, v in zip(band_names, looks_est))
        + ". Filters that need the number of looks use this estimate unless you give one."
    )

# --------------------------------------------------------------------------------------------- options
names = list(sp.FILTERS)
chosen = st.multiselect(
    "Filters to compare",
    names,
    default=["lee", "refined_lee"],
    key=f"{KEY}_filters",
    format_func=lambda n: sp.FILTERS[n].label,
)


params: dict[str, dict] = {}
if chosen:
    cols = st.columns(min(3, len(chosen)))
    for i, fname in enumerate(chosen):
        spec = sp.FILTERS[fname]
        with cols[i % len(cols)].expander(f"{spec.label}", expanded=True):
            st.caption(spec.description)
            params[fname] = {p.name: _param_widget(fname, p) for p in spec.params}
device = "auto"
if any(sp.FILTERS[f].deep for f in chosen):
    device = st.selectbox("Device for MERLIN", DEVICES, key=f"{KEY}_device")

region_mode = st.radio(
    "ENL area",
    ["Most homogeneous window of the input", "Rows and columns I choose"],
    horizontal=True,
    key=f"{KEY}_region_mode",
)
h, w = raster.height, raster.width
if min(h, w) < 3:
    region_request = None
elif region_mode.startswith("Most"):
    size = st.number_input("window size (pixels)", 3, min(h, w), min(32, h, w), key=f"{KEY}_region_size")
    region_request = int(size)
else:
    c1, c2, c3, c4 = st.columns(4)
    r0 = c1.number_input("first row", 0, h - 2, 0, key=f"{KEY}_r0")
    c0 = c2.number_input("first column", 0, w - 2, 0, key=f"{KEY}_c0")
    rh = c3.number_input("rows", 2, h, min(32, h), key=f"{KEY}_rh")
    cw = c4.number_input("columns", 2, w, min(32, w), key=f"{KEY}_cw")
    region_request = (int(r0), int(c0), int(rh), int(cw))

# ------------------------------------------------------------------------------------------------- run
too_big = windows_too_big(chosen, params, raster.height, raster.width)
if too_big:
    st.error(
        f"The image is {raster.width}×{raster.height} pixels, smaller than the window of "
        + ", ".join(too_big)
        + "; choose a smaller window."
    )
if st.button("Run filters", type="primary", key=f"{KEY}_run", disabled=not chosen or bool(too_big)):
    st.session_state.pop(f"{KEY}_results", None)  # the last run's arrays go before the new ones are made
    results, notes = [], []
    update = progress_bar("Filtering…")
    for i, fname in enumerate(chosen):
        spec = sp.FILTERS[fname]
        kwargs = {k: v for k, v in params[fname].items() if v is not None}
        extra = {}
        if spec.deep:
            dev, note = resolve_device(device)
            if note:
                notes.append(note)
            variant = kwargs.get("model", "sentinel_tops")
            net = run_guarded(lambda v=variant, d=dev: _merlin_network(v, d, _weights_sha(v)))
            if net is None:
                continue
            extra = {"device": dev, "network": net}

        def sub(frac, msg="", i=i, label=spec.label):
            update((i + frac) / len(chosen), f"{label}: {msg}")

        out = run_guarded(sp.despeckle, inten, fname, progress=sub, notes=notes, **extra, **kwargs)
        if out is not None:
            results.append(FilterResult(fname, spec.label, shown_params(spec, kwargs), out))
    update(1.0, "done")
    st.session_state[f"{KEY}_results"] = {"input": input_id, "results": results, "notes": notes}
    if results:  # kept for a reload of this browser (core.recent)
        meta = {"input": input_id, "notes": notes, "results": [[r.name, r.label, r.params] for r in results]}
        keep_result(KEY, meta, {f"r{i}": r.intensity for i, r in enumerate(results)})

if f"{KEY}_results" not in st.session_state:  # a reload: the last result of this browser, if it was on this input
    kept = kept_result(KEY)
    if kept is not None and kept[0].get("input") == input_id:
        meta, arrays = kept
        restored = [FilterResult(n, lab, p, arrays[f"r{i}"]) for i, (n, lab, p) in enumerate(meta["results"])]
        st.session_state[f"{KEY}_results"] = {"input": input_id, "results": restored, "notes": meta["notes"]}
        st.caption(KEPT_CAPTION)

state = st.session_state.get(f"{KEY}_results")
if not state or state["input"] != input_id or not state["results"]:
    st.stop()
results = state["results"]
show_notes(state["notes"])

# --------------------------------------------------------------------------------------------- results
limits = sp.display_limits(inten)
input_img = sp.render_with_limits(inten, limits)
panels = [("Input", input_img)] + [(r.label, sp.render_with_limits(r.intensity, limits)) for r in results]
st.subheader("Results")
views = [sp.view_panel(inten, "Input", limits, raster.geo)] + [
    sp.view_panel(r.intensity, r.label, limits, raster.geo) for r in results
]
show_images(views, f"{KEY}_grid", columns=3)
if raster.bands == 2:
    st.caption("False colour: " + sio.DUALPOL_CONVENTION + " (limits taken from the input).")

metrics_rows = None
try:
    region, how = enl_region(inten if inten.ndim == 2 else inten[..., 0], region_request, band_names[0])
    metrics_rows = metrics_table(inten, results, region, band_names)
    st.subheader("Metrics")
    st.dataframe(
        metrics_rows,
        hide_index=True,
        width="stretch",
        column_config={
            "ENL": st.column_config.NumberColumn(format="%.2f"),
            "mean ratio": st.column_config.NumberColumn(format="%.3f"),
            "EPI": st.column_config.NumberColumn(format="%.3f"),
        },
    )
    st.caption(
        f"ENL over rows {region[0]}–{region[0] + region[2] - 1}, columns {region[1]}–{region[1] + region[3] - 1}: "
        f"{how}. EPI: summed absolute neighbour differences of the output over those of the input."
    )
except UserError as exc:
    st.error(str(exc))

st.subheader("Compare")
labels = [r.label for r in results]
pick = st.selectbox(
    "Result to compare with the input", range(len(results)), format_func=lambda i: labels[i], key=f"{KEY}_compare"
)
pick = pick if pick is not None and pick < len(results) else 0
compare_view(
    input_img, panels[pick + 1][1], ("Input", labels[pick]), key=f"{KEY}_cmp", panels=[views[0], views[pick + 1]]
)

# ------------------------------------------------------------------------------------------- downloads
unit = sio.KIND_LABELS[raster.kind].split(" (")[0]
chosen_result = results[pick]
base = f"{stem(name)}_{chosen_result.name}"
st.caption(
    f"Downloads: the first two hold **{chosen_result.label}** only (the result picked above); the comparison PNG "
    "holds the input and every result; the zip holds every result."
)
download_buttons(
    [
        (
            f"GeoTIFF of {chosen_result.label} ({unit}, float)",
            result_tif(raster, chosen_result),
            f"{base}.tif",
            "image/tiff",
        ),
        (f"Display PNG of {chosen_result.label}", sio.encode_png(panels[pick + 1][1]), f"{base}.png", "image/png"),
        (
            "Comparison PNG (all)",
            sio.encode_png(sio.comparison_image(panels)),
            f"{stem(name)}_comparison.png",
            "image/png",
        ),
    ],
    key=KEY,
)


if "zip" not in state:  # built once per run of the filters, kept with the results
    state["zip"] = results_zip(name, raster, results, panels, metrics_rows)
st.download_button(
    f"Zip of every result ({len(results)} filters: float rasters, PNGs, metrics)",
    data=state["zip"],
    file_name=f"{stem(name)}_speckle_results.zip",
    mime="application/zip",
    key=f"{KEY}_zip",
)
