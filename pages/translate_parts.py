"""Parts of the SAR-to-optical page (pages/translate.py) with their widgets: a large scene or product streamed into a
COG by a background job, the `--backend auto` line after a run, the zip of every result, and the ONNX export."""

import io
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import streamlit as st

from core import io as sio
from core import translate as tr
from core.errors import UserError
from core.files import upload_root
from core.io.confine import Confine
from core.io.products import safe_manifest
from core.translate.estimate import format_duration
from core.translate.export import export_generator_file
from core.translate.generators import GeneratorInfo
from core.translate.scene_job import SceneChoice, open_scene, scene_comparison_png, scene_preview, start_translation_job
from pages.components import progress_bar, run_guarded, stem

KEY = "translate"
PAGE_MAX_MINUTES = 30  # a scene estimated to take longer asks for confirmation first


def auto_caption(notes: list[str]) -> None:
    """`--backend auto`'s choice and its figures, the sentence the CLI prints with --verbose, as one caption."""
    choice = next((n for n in notes if n.startswith("--backend auto")), None)
    if choice:
        st.caption(choice.replace("--backend auto", "Backend auto", 1))


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


def large_scene(
    path: Path,
    confine: Confine,
    get_translator: Callable[[], tr.Translator | None],
    options: tr.TranslateOptions,
    model_path: Path | None,
) -> None:
    """A scene or product streamed into a COG by a background job: choices, preview, estimate, progress, downloads.
    `confine`: what GDAL may read for this browser-reached path (core.io.confine); `get_translator`: the page's
    cached translator for the chosen model and options (None, with the error shown, when there is none)."""
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
    translator = get_translator()
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
    auto_caption(job.notes)
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


def export_section(
    model_path: Path,
    info: GeneratorInfo,
    options: tr.TranslateOptions,
    model_hash: str | None,
    adapter_hash: str | None,
    strength: float,
) -> None:
    """Export the chosen model (its adapter merged) to one checked .onnx file, and offer it for download."""
    st.subheader("Export ONNX")
    if info.onnx:
        st.caption("The model is already an ONNX file.")
    else:
        st.caption(
            "One .onnx file (opset 17, dynamic batch, height and width), LoRA adapter merged, checked against "
            "PyTorch before it is offered."
        )
        if st.button("Export ONNX", key=f"{KEY}_export"):
            out = Path(tempfile.mkdtemp(prefix="sar_studio_export_")) / f"{stem(model_path.name)}.onnx"
            update = progress_bar("Exporting…")
            report = run_guarded(
                export_generator_file, str(model_path), str(out), options.adapter, strength, None, update
            )
            if report is not None:
                st.session_state[f"{KEY}_export_file"] = {
                    "signature": (model_hash, adapter_hash, strength),
                    "path": str(out),
                    "report": report,
                }
        exported = st.session_state.get(f"{KEY}_export_file")
        if (
            exported
            and exported["signature"] == (model_hash, adapter_hash, strength)
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


def zip_button(results: list[tr.TranslationResult]) -> None:
    """One download of every result, PNG and GeoTIFF each."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for r in results:
            zf.writestr(f"{stem(r.name)}_optical.png", tr.encode_result(r, "png"))
            zf.writestr(f"{stem(r.name)}_optical.tif", tr.encode_result(r, "tif"))
    st.download_button(
        f"All {len(results)} results (zip: PNG + GeoTIFF)", buf.getvalue(), "translations.zip", "application/zip",
        key=f"{KEY}_zip",
    )  # fmt: skip
