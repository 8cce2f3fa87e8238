"""SAR to optical: any generator (SAR Studio, SAR2Optical, pix2pix, pix2pixHD / C-HR-GAN, ONNX), any image size."""

import io
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import streamlit as st

from core import cards, catalog, roots, speckle
from core import io as sio
from core import translate as tr
from core.compute import DEVICES
from core.errors import UserError
from core.files import digest_bytes, digest_file, save_upload, upload_root
from core.io.confine import Confine
from core.io.products import safe_manifest
from core.jobs import scene_size
from core.speckle.jobs import PAGE_WHOLE_PIXELS
from core.translate.estimate import format_duration
from core.translate.generators import load_generator
from core.translate.inputs import SCALING_LABELS, SCALINGS
from core.translate.scene_job import (
    SceneChoice,
    open_scene,
    scene_comparison_png,
    scene_preview,
    start_translation_job,
)
from pages.components import (
    IMAGE_TYPES,
    compare_view,
    download_buttons,
    pick_inputs,
    progress_bar,
    read_input,
    run_guarded,
    server_path_input,
    stem,
)

KEY = "translate"
PAGE_MAX_MINUTES = 30  # a scene estimated to take longer asks for confirmation first
CHECKPOINTS = catalog.checkpoints_dir()

st.title("SAR to optical")
st.write(
    "Translate SAR into an optical-like RGB image with a generator from SAR Studio's training, SAR2Optical "
    "(`pix2pix_gen_*.pth`), junyanz pix2pix, pix2pixHD or C-HR-GAN (`latest_net_G.pth`), or an `.onnx` export. "
    "Images of any size are translated at native resolution in overlapping, blended tiles; the output has the "
    "input's size and, for GeoTIFFs, its georeference. Float SAR becomes the network's 8-bit input the way the "
    "model was trained: σ⁰ dB on SEN1-2's fixed range for SEN1-2 weights, a per-image 2–98 % stretch for SAR "
    "Studio's own models (see Options)."
)


# ------------------------------------------------------------------------------------------------ model


@st.cache_data(show_spinner=False, max_entries=32)
def _file_hash(path: str, mtime: float, size: int) -> str:
    return digest_file(path, 16)


def path_hash(path: Path) -> str:
    """Cache key of a model file or a peft adapter folder (the digests of its files), re-hashed when it changes."""
    if path.is_dir():
        return digest_bytes("".join(path_hash(p) for p in sorted(path.iterdir()) if p.is_file()).encode())
    stat = path.stat()
    return _file_hash(str(path), stat.st_mtime, stat.st_size)


@st.cache_resource(show_spinner=False, max_entries=3)
def _translator(
    model_hash: str,
    model_path: str,
    backend: str,
    device: str,
    half: bool,
    tile: int | None,
    adapter_hash: str | None,
    adapter_path: str | None,
    strength: float,
) -> tr.Translator:
    opts = tr.TranslateOptions(
        backend=backend, device=device, half=half, tile=tile, adapter=adapter_path, adapter_strength=strength
    )
    return tr.open_translator(model_path, opts)


@st.cache_resource(show_spinner=False, max_entries=4)
def _generator_info(model_hash: str, model_path: str):

    gen = load_generator(model_path)
    return {
        "description": gen.description,
        "arch": gen.arch,
        "tile": gen.native_tile,
        "multiple": gen.size_multiple,
        "onnx": gen.onnx is not None,
        "in_channels": gen.in_channels,
    }


st.subheader("Model")
bundled = catalog.translation_models()
sent = st.session_state.get("translate_model_path")
# A path typed in the browser is offered only when the operator allowed server paths (core.roots); a generator the
# Training page sent is one of the app's own run folders and is offered as its own source.
FROM_TRAINING = "From the Training page"
sources = ["Bundled (checkpoints/)", "Upload"] + (["Path on the server"] if roots.server_paths() else [])
default_source = 0 if bundled else 1
sent_path = Path(sent) if sent else None
if sent_path is not None:
    if sent_path.parent.resolve() == CHECKPOINTS.resolve() and sent_path in bundled:
        default_source = 0
    elif "Path on the server" in sources and roots.is_allowed(sent_path):
        default_source = 2
        if not st.session_state.get(f"{KEY}_model_path"):
            st.session_state[f"{KEY}_model_path"] = str(sent_path)
    elif sent_path.resolve() in {p.resolve() for p in catalog.base_generators()}:
        sources.append(FROM_TRAINING)
        default_source = len(sources) - 1
source = st.radio("Model source", sources, index=default_source, horizontal=True, key=f"{KEY}_model_source")
model_path: Path | None = None
if source == sources[0]:
    if not bundled:
        st.warning(
            f"checkpoints/ is empty: no bundled model has been trained or added yet ({CHECKPOINTS}). "
            f"Upload a generator file or give its path on the server, or train one on the Training page."
        )
    else:
        names = [p.name for p in bundled]
        index = names.index(Path(sent).name) if sent and Path(sent).name in names else 0
        chosen = st.selectbox("Bundled model", names, index=index, key=f"{KEY}_bundled")
        model_path = CHECKPOINTS / chosen
        card = catalog.model_card(model_path)
        if card:
            with st.expander("Model card"):
                st.markdown(card)
elif source == sources[1]:
    up = st.file_uploader(
        "Generator file (.safetensors, .pth, .onnx); for files over the upload limit give a path",
        type=["safetensors", "pth", "pt", "onnx"],
        key=f"{KEY}_model_upload",
    )
    if up is not None:
        model_path = save_upload(up.getvalue(), up.name, KEY)
elif source == FROM_TRAINING and sent_path is not None:
    model_path = sent_path
    st.caption(f"Generator of the training run {sent_path.parent.name}.")
else:
    model_path = server_path_input(
        "Model file on the server", f"{KEY}_model_path", "file", placeholder="/data/models/pix2pix_gen_180.pth"
    )

info = None
model_hash = None
if model_path is not None:
    model_hash = path_hash(model_path)
    info = run_guarded(_generator_info, model_hash, str(model_path))
    if info is not None:
        st.caption(
            f"{model_path.name}: {info['description']}; input multiple of {info['multiple']} px, "
            f"default tile {info['tile']} px."
        )

with st.expander("Options: backend, device, adapter, tiles, pre-filter", expanded=False):
    c1, c2, c3 = st.columns(3)
    backend = c1.selectbox(
        "Backend",
        tr.BACKENDS,
        key=f"{KEY}_backend",
        format_func=lambda b: {"torch": "PyTorch", "onnx": "ONNX Runtime"}[b],
        help="ONNX Runtime runs .onnx files, and .pth/.safetensors models after an automatic export.",
    )
    device = c2.selectbox(
        "Device",
        DEVICES,
        key=f"{KEY}_device",
        help="auto uses CUDA when available; a CUDA request without a GPU runs on the CPU, with a note.",
    )
    half = c3.checkbox("Half precision (CUDA)", key=f"{KEY}_half", help="float16 on CUDA with PyTorch; ignored on CPU.")
    default_tile = info["tile"] if info else 256
    multiple = info["multiple"] if info else 256
    c4, c5, c6 = st.columns(3)
    tile = c4.number_input(
        "Tile (px)",
        min_value=multiple,
        max_value=4096,
        value=max(default_tile, multiple),
        step=multiple,
        key=f"{KEY}_tile_{multiple}",
        help="Tiles at the model's training size; a multiple of what the network needs.",
    )
    overlap = c5.number_input(
        "Overlap (px)",
        min_value=0,
        max_value=2048,
        value=32,
        step=8,
        key=f"{KEY}_overlap",
        help="Overlapping tiles are blended with feathered weights.",
    )
    batch = c6.number_input("Batch (tiles per pass)", min_value=1, max_value=64, value=4, key=f"{KEY}_batch")
    c7, c8 = st.columns(2)
    adapters = catalog.adapters()
    adapter_modes = (
        ["None"]
        + (["Bundled"] if adapters else [])
        + ["Upload file"]
        + (["Path on the server"] if roots.server_paths() else [])
    )
    adapter_mode = c7.radio(
        "LoRA adapter",
        adapter_modes,
        horizontal=True,
        key=f"{KEY}_adapter_mode",
        help="peft adapter folder (bundled in checkpoints/, or a path) or a SAR2Optical adapter "
        "file (.pth / .safetensors).",
    )
    adapter_path: Path | None = None
    if adapter_mode == "Bundled":
        chosen_adapter = c7.selectbox(
            "Bundled adapter (checkpoints/)", [p.name for p in adapters], key=f"{KEY}_adapter_bundled"
        )
        adapter_path = CHECKPOINTS / chosen_adapter
    elif adapter_mode == "Upload file":
        aup = c7.file_uploader("Adapter file", type=["pth", "pt", "safetensors"], key=f"{KEY}_adapter_upload")
        if aup is not None:
            adapter_path = save_upload(aup.getvalue(), aup.name, KEY)
    elif adapter_mode == "Path on the server":
        adapter_path = server_path_input("Adapter folder or file", f"{KEY}_adapter_path", "any", where=c7)
    strength = c7.slider("Adapter strength", 0.0, 2.0, 1.0, 0.05, key=f"{KEY}_strength", disabled=adapter_path is None)
    filter_names = list(speckle.FILTERS)
    prefilter = c8.selectbox("Speckle pre-filter (SAR values only)", ["none"] + filter_names, key=f"{KEY}_prefilter")
    dualpol = c8.selectbox(
        "Dual-pol VV/VH input", tr.DUALPOL_MODES, key=f"{KEY}_dualpol", format_func=lambda m: tr.DUALPOL_LABELS[m]
    )
    input_scaling = c8.selectbox(
        "Input scaling (how dB becomes the network's input)",
        SCALINGS,
        key=f"{KEY}_scaling",
        format_func=lambda m: SCALING_LABELS[m],
        help="A network only works on inputs scaled as in its training: SEN1-2 weights (SAR2Optical, most pix2pix "
        "SAR models) on σ⁰ dB with a fixed range, SAR Studio's models on a per-image stretch.",
    )

adapter_card = catalog.model_card(adapter_path) if adapter_path is not None and adapter_mode == "Bundled" else None
if adapter_card:
    with st.expander("Adapter card"):  # outside the options expander: Streamlit does not nest expanders
        st.markdown(adapter_card)

adapter_hash = path_hash(adapter_path) if adapter_path is not None else None
options = tr.TranslateOptions(
    backend=backend,
    device=device,
    half=half,
    tile=int(tile),
    overlap=int(overlap),
    batch_size=int(batch),
    adapter=str(adapter_path) if adapter_path else None,
    adapter_strength=float(strength),
    prefilter=None if prefilter == "none" else prefilter,
    dualpol=dualpol,
    input_scaling=input_scaling,
)


def _page_translator() -> tr.Translator | None:
    """The cached translator for the chosen model and options (None, with the error shown, when it fails)."""
    if model_path is None or info is None:
        return None
    return run_guarded(
        _translator,
        model_hash,
        str(model_path),
        backend,
        device,
        half,
        int(tile),
        adapter_hash,
        options.adapter,
        float(strength),
    )


# ------------------------------------------------------------------------------------------- large scenes


@st.cache_data(show_spinner=False, max_entries=8)
def _scene_preview(
    path: str,
    mtime: float,
    calibration: str | None,
    pol: str,
    swath: str | None,
    noise: str | None,
    confine: Confine,
) -> np.ndarray:
    return scene_preview(path, SceneChoice(calibration, pol, swath, noise=noise, confine=confine))


def large_scene(path: Path, confine: Confine) -> None:
    """A scene or product streamed into a COG by a background job: choices, preview, estimate, progress, downloads.
    `confine`: what GDAL may read for this browser-reached path (core.io.confine)."""
    product = safe_manifest(path) is not None
    choice = SceneChoice(confine=confine)
    if product:
        p1, p2, p3, p4 = st.columns(4)
        calibration = p1.selectbox("Calibration", sio.CALIBRATIONS, key=f"{KEY}_scene_cal")
        pol = p2.selectbox("Polarisation", ("VV", "VH", "HH", "HV", "all"), key=f"{KEY}_scene_pol")
        swath = p3.selectbox("Swath (SLC)", ("none", "IW1", "IW2", "IW3"), key=f"{KEY}_scene_swath")
        noise = p4.selectbox(
            "Thermal noise", ("remove", "keep"), key=f"{KEY}_scene_noise", disabled=calibration == "none"
        )
        choice = SceneChoice(
            calibration,
            pol,
            None if swath == "none" else swath,
            noise=None if calibration == "none" else noise,
            confine=confine,
        )
    try:
        with open_scene(path, choice) as src:
            h, w, bands, kind = src.height, src.width, src.count, src.kind
        preview = _scene_preview(
            str(path), path.stat().st_mtime, choice.calibration, choice.pol, choice.swath, choice.noise, confine
        )
    except UserError as exc:
        st.error(str(exc))
        return
    st.caption(f"{path.name}: {w}×{h}, {bands} band(s), {sio.KIND_LABELS[kind]}; translated tile by tile into a COG.")
    st.image(preview, caption=f"decimated preview ({preview.shape[1]}×{preview.shape[0]})", width="stretch")
    translator = _page_translator()
    if translator is None:
        st.info("Choose a model above to translate the scene.")
        return
    est = run_guarded(tr.estimate_duration, translator, [(h, w)], options)
    if est is None:
        return
    st.caption(est.text()[0].upper() + est.text()[1:] + ".")
    too_long = est.seconds > PAGE_MAX_MINUTES * 60
    sure = True
    if too_long:
        sure = st.checkbox(
            f"Run anyway: longer than {PAGE_MAX_MINUTES} min ({format_duration(est.seconds)})",
            key=f"{KEY}_scene_sure",
        )
    if st.button("Translate the whole scene", type="primary", key=f"{KEY}_scene_run", disabled=not sure):
        out = upload_root() / "results" / f"{stem(path.name)}_{stem(model_path.name)}_cog.tif"  # type: ignore[union-attr]
        job = start_translation_job(path, out, translator, options, choice)
        st.session_state[f"{KEY}_scene_job"] = {"job": job, "choice": choice, "translator": translator,
                                                "options": options, "comparison": None}  # fmt: skip
    if st.session_state.get(f"{KEY}_scene_job"):
        _scene_job_status()


@st.fragment(run_every=1.0)
def _scene_job_status() -> None:
    state = st.session_state.get(f"{KEY}_scene_job")
    if not state:
        return
    job = state["job"]
    if job.error:
        st.error(job.error)
        return
    st.progress(job.fraction, text=job.status_text("tile"))
    if not (job.finished and job.output.exists()):
        return
    st.caption(f"Done in {format_duration(job.elapsed)}.")
    if state["translator"].warning:
        st.warning(state["translator"].warning, icon=":material/warning:")
    with st.expander(f"Notes on this translation ({len(job.notes)})", icon=":material/info:"):
        st.info("\n".join(f"- {n}" for n in job.notes))
    if state["comparison"] is None:
        state["comparison"] = run_guarded(
            scene_comparison_png, job, state["choice"], state["translator"], state["options"]
        )
    if state["comparison"] is not None:
        st.image(state["comparison"], caption="input as fed and translation (decimated)", width="stretch")
        st.download_button(
            "Comparison PNG", state["comparison"], f"{stem(job.output.name)}_comparison.png", "image/png",
            key=f"{KEY}_scene_cmp_dl",
        )  # fmt: skip
    with open(job.output, "rb") as fh:
        st.download_button("Cloud-Optimized GeoTIFF", fh, job.output.name, "image/tiff", key=f"{KEY}_scene_dl")


# ------------------------------------------------------------------------------------------------ inputs
st.subheader("SAR images")
if roots.server_paths():
    with st.expander("Large scene or Sentinel-1 product on the server (streamed into a COG)", expanded=True):
        scene_path = server_path_input(
            "Path (GeoTIFF, any GDAL raster, .SAFE folder or .zip)", f"{KEY}_scene_path", "any"
        )
        if scene_path is not None:
            large_scene(scene_path, roots.confinement(st.session_state[f"{KEY}_scene_path"], "any"))
inputs = pick_inputs(KEY, "SAR image", category=(catalog.PAIRS_SAR, "sar"), multiple=True, allow_folder=True)
if st.session_state.get(f"{KEY}_mode") == "Sample":
    st.caption(
        "`pairs/sar/`: synthetic scenes with their real optical partner (PSNR / SSIM shown automatically); "
        "`synthetic_A_*` is the sensor the bundled demo models were trained on, `synthetic_B_*` the sensor of "
        "the bundled LoRA adapter. `sar/`: real Sentinel-1 scenes (no optical partner; the demo models, "
        "trained on synthetic scenes only, do not translate them well)."
    )
if not inputs:
    st.info("Pick bundled samples, upload SAR images, or give a folder on the server.")
    st.stop()
if len(inputs) == 1 and Path(inputs[0][0]).suffix.lower() in (".tif", ".tiff"):
    saved = save_upload(inputs[0][1], inputs[0][0], KEY)
    upload_confine = Confine((saved.parent.resolve(),), f"{inputs[0][0]} could not be read; upload it again.")
    try:
        big = int(np.prod(scene_size(saved, confine=upload_confine))) > PAGE_WHOLE_PIXELS
    except UserError:
        big = False  # read_input below says what is wrong with it
    if big:
        st.info("A large scene: it is translated tile by tile into a Cloud-Optimized GeoTIFF by a background job.")
        large_scene(saved, upload_confine)
        st.stop()
rasters = []
for i, (name, blob) in enumerate(inputs):
    r = read_input(name, blob, f"{KEY}_in{i}", kind_control=len(inputs) <= 3)
    if r is not None:
        rasters.append((r, digest_bytes(blob, 12) + r.kind))
if not rasters:
    st.stop()
optical_up = None
if len(rasters) == 1:
    optical_up = st.file_uploader(
        "Real optical image of the same place (optional, for PSNR / SSIM)",
        type=IMAGE_TYPES,
        key=f"{KEY}_optical",
    )
partners = [catalog.optical_partner(name) for name, _ in inputs]
if any(partners) and optical_up is None:
    st.caption(
        f"Bundled optical partner{'s' if sum(map(bool, partners)) > 1 else ''} found "
        f"({', '.join('samples/pairs/optical/' + p.name for p in partners if p)}): used as the real optical "
        f"image for PSNR / SSIM" + (" unless you upload one." if len(rasters) == 1 else ".")
    )

if model_path is None or info is None:
    st.info("Choose a model above to translate.")
    st.stop()

signature = (
    model_hash,
    backend,
    device,
    half,
    int(tile),
    int(overlap),
    adapter_hash,
    float(strength),
    prefilter,
    dualpol,
    input_scaling,
    tuple(h for _, h in rasters),
)

# --------------------------------------------------------------------------------------------------- run
if st.button("Translate", type="primary", key=f"{KEY}_run"):
    st.session_state.pop(f"{KEY}_results", None)  # the last run's arrays go before the new ones are made
    update = progress_bar("Translating…")
    update(0.0, "loading the model")
    translator = _page_translator()
    if translator is not None:

        def go():
            return list(
                tr.translate_many([r for r, _ in rasters], translator, options, progress=update, total=len(rasters))
            )

        results = run_guarded(go)
        if results is not None:
            update(1.0, "done")
            st.session_state[f"{KEY}_results"] = {
                "signature": signature,
                "results": results,
                "notes": list(translator.notes),
            }

state = st.session_state.get(f"{KEY}_results")
if not state or state["signature"] != signature:
    st.stop()
results: list[tr.TranslationResult] = state["results"]
notes = list(state["notes"])
for r in results:
    notes += [n for n in r.notes if n not in notes]
warning = next((r.geo.tags[cards.WARNING_TAG] for r in results if r.geo and cards.WARNING_TAG in r.geo.tags), None)
if warning:
    st.warning(warning, icon=":material/warning:")
if notes:
    with st.expander(f"Notes on this translation ({len(notes)})", icon=":material/info:"):
        st.info("\n".join(f"- {n}" for n in notes))  # one box, folded away, instead of one box per note

names = [r.name for r in results]
pick = st.selectbox("Result", names, key=f"{KEY}_result") if len(results) > 1 else names[0]
res = results[names.index(pick)]
shown_input = (
    res.network_input
    if res.network_input.ndim == 2 or res.network_input.shape[2] in (1, 3)
    else res.network_input[..., 0]
)
res_warning = res.geo.tags.get(cards.WARNING_TAG) if res.geo is not None else None
shown_output = tr.exported_output(res)  # a demo model's warning band travels with the image
source = next((r for r, _ in rasters if r.name == res.name), None)  # the input in its own units, for the read-out
views = [
    sio.view.raster_panel(source, "SAR input (file values)")
    if source is not None and source.data.shape[:2] == res.output.shape[:2]
    else sio.view.display_panel(shown_input, "SAR (as fed to the network)"),
    sio.view.rgb_panel(shown_output, "Translated", geo=res.geo),
]
compare_view(
    shown_input, shown_output, labels=("SAR (as fed to the network)", "Translated"), key=f"{KEY}_cmp", panels=views
)
h, w = res.output.shape[:2]
geo_text = "georeferenced" if res.geo is not None and res.geo.is_georeferenced else "no georeference"
st.caption(f"{res.name}: {w}×{h} px, {res.tiles} tile{'s' if res.tiles != 1 else ''}, {geo_text}.")

optical = None
partner = catalog.optical_partner(res.name)
if optical_up is not None or partner is not None:
    try:
        if optical_up is not None:
            optical_raster = sio.read_raster(optical_up.getvalue(), name=optical_up.name)
        else:
            optical_raster = sio.read_raster(partner)
            st.caption(
                f"PSNR / SSIM against the sample's bundled optical partner, samples/pairs/optical/{partner.name}."
            )
        optical = sio.render(optical_raster)
        q = tr.quality_against(res, optical)
        m1, m2 = st.columns(2)
        m1.metric("PSNR (dB)", f"{q['psnr']:.2f}")
        m2.metric("SSIM", f"{q['ssim']:.4f}")
    except UserError as exc:
        st.error(str(exc))
        optical = None

base = stem(res.name)
comparison = tr.comparison_png(res, optical)  # a demo model's result: band in the panel and below the image
st.caption(f"Downloads hold **{res.name}**'s translation (8-bit RGB): PNG, GeoTIFF with its georeference, and the "
           "input beside the output (comparison PNG).")  # fmt: skip
download_buttons(
    [
        ("PNG", tr.encode_result(res, "png"), f"{base}_optical.png", "image/png"),
        ("GeoTIFF", tr.encode_result(res, "tif"), f"{base}_optical.tif", "image/tiff"),
        ("Comparison PNG", comparison, f"{base}_comparison.png", "image/png"),
    ],
    key=f"{KEY}_dl",
)
if len(results) > 1:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for r in results:
            zf.writestr(f"{stem(r.name)}_optical.png", tr.encode_result(r, "png"))
            zf.writestr(f"{stem(r.name)}_optical.tif", tr.encode_result(r, "tif"))
    st.download_button(
        f"All {len(results)} results (zip: PNG + GeoTIFF)",
        buf.getvalue(),
        "translations.zip",
        "application/zip",
        key=f"{KEY}_zip",
    )

# ------------------------------------------------------------------------------------------------ export
st.subheader("Export ONNX")
if info["onnx"]:
    st.caption("The model is already an ONNX file.")
else:
    st.caption(
        "One .onnx file (opset 17, dynamic batch, height and width), LoRA adapter merged, checked against "
        "PyTorch before it is offered."
    )
    if st.button("Export ONNX", key=f"{KEY}_export"):
        from core.translate.export import export_generator_file

        out = Path(tempfile.mkdtemp(prefix="sar_studio_export_")) / f"{stem(model_path.name)}.onnx"
        update = progress_bar("Exporting…")
        report = run_guarded(
            export_generator_file, str(model_path), str(out), options.adapter, float(strength), None, update
        )
        if report is not None:
            st.session_state[f"{KEY}_export_file"] = {
                "signature": (model_hash, adapter_hash, float(strength)),
                "path": str(out),
                "report": report,
            }
    exported = st.session_state.get(f"{KEY}_export_file")
    if (
        exported
        and exported["signature"] == (model_hash, adapter_hash, float(strength))
        and Path(exported["path"]).exists()
    ):
        rep = exported["report"]
        st.success(
            f"Exported: opset {rep['opset']}, {rep['bytes'] / 1e6:.1f} MB, max |ONNX − PyTorch| = "
            f"{rep['max_abs_diff']:.1e}."
        )
        st.download_button(
            "Download .onnx",
            Path(exported["path"]).read_bytes(),
            Path(exported["path"]).name,
            "application/octet-stream",
            key=f"{KEY}_onnx_dl",
        )
