"""Super-resolution: x4 from a low-resolution image and a sharper reference of the same place (RGTGAN)."""

from types import SimpleNamespace

import numpy as np
import streamlit as st

from core import catalog
from core import io as sio
from core import superres as sr
from core.compute import DEVICES, resolve_device
from core.files import digest_bytes, digest_file, save_upload
from pages.components import (
    KEPT_CAPTION,
    download_buttons,
    keep_result,
    kept_result,
    pick_inputs,
    progress_bar,
    read_input,
    run_guarded,
    show_notes,
    stem,
)
from pages.viewer import show_images

KEY = "superres"
DEMO = catalog.superres_demo()

st.title("Super-resolution ×4")
st.write(
    "Reference-based super-resolution (RGTGAN): a low-resolution image plus a sharper reference image of the "
    "same area (another date or view) give an image 4× larger in each direction. The reference is resized to "
    "4× the LR size, so it should cover the same footprint; the network aligns what is shifted or rotated a "
    "little. SAR inputs are super-resolved as displayed (dB, 2–98 % stretch)."
)

# --------------------------------------------------------------------------------------------- model
with st.sidebar:
    st.subheader("Model")
    sources = (["Bundled demo (compact RGTGAN)"] if DEMO is not None else []) + ["Upload a model"]
    source = st.radio("Super-resolution model", sources, key=f"{KEY}_model_src")
    device_req = st.selectbox("Device", DEVICES, key=f"{KEY}_device")
    tile = st.number_input(
        "Tile size (LR pixels)",
        16,
        512,
        sr.DEFAULT_TILE,
        16,
        key=f"{KEY}_tile",
        help="Larger images are processed in overlapping tiles of this size.",
    )

model_path = None
if source.startswith("Bundled"):
    model_path = DEMO
    st.caption(
        "Model: bundled compact RGTGAN demo trained on synthetic optical scenes "
        "(see checkpoints/rgtgan_demo.md). Upload RGTGAN's own `{iter}_G.pth` for the full network."
    )
else:
    up = st.file_uploader(
        "Model file: our .safetensors, RGTGAN's or RRSGAN's {iter}_G.pth, or an exported .onnx",
        type=["safetensors", "pth", "pt", "onnx"],
        key=f"{KEY}_model_upload",
    )
    if up is not None:
        model_path = save_upload(up.getvalue(), up.name, KEY)
if model_path is None:
    st.info("Upload a super-resolution model, or use the bundled demo.")
    st.stop()

model_hash = digest_file(model_path, 16)


@st.cache_data(show_spinner=False, max_entries=8)
def _describe(path: str, file_hash: str) -> str:
    return sr.describe_superres_file(path)  # from the file's header: the network is built when it runs


@st.cache_resource(show_spinner=False, max_entries=4)
def _load_model(path: str, file_hash: str, device: str):
    return sr.load_superres_model(path, device)


model_desc = run_guarded(_describe, str(model_path), model_hash)
if model_desc is None:
    st.stop()
st.caption(
    f"Model: {model_desc}. Device: {device_req}"
    + (" (CUDA when PyTorch finds a CUDA GPU as the model runs, else the CPU)." if device_req == "auto" else ".")
)

# -------------------------------------------------------------------------------------------- inputs
c_lr, c_ref, c_hr = st.columns(3)
with c_lr:
    lr_in = pick_inputs(
        f"{KEY}_lr", "Low-resolution image", category="superres/lr", default_sample="synthetic_town.png"
    )
default_name = lr_in[0][0] if lr_in else None
# Reference and True HR belong to the LR image: when the LR sample changes, they follow it (a sample of the same
# name), so PSNR / SSIM are never scored against another scene's HR image.
if st.session_state.get(f"{KEY}_lr_mode", "Sample") == "Sample" and default_name:
    if st.session_state.get(f"{KEY}_paired_lr") != default_name:
        st.session_state[f"{KEY}_paired_lr"] = default_name
        for part in ("ref", "hr"):
            if default_name in {p.name for p in catalog.sample_paths(f"superres/{part}")}:
                st.session_state[f"{KEY}_{part}_sample"] = default_name
with c_ref:
    ref_in = pick_inputs(f"{KEY}_ref", "Reference image", category="superres/ref", default_sample=default_name)
with c_hr:
    use_hr = st.checkbox(
        "Compare with the true HR image",
        value=True,
        key=f"{KEY}_use_hr",
        help="PSNR and SSIM against it (border of 4 pixels cropped), for bicubic and for the model.",
    )
    hr_in = (
        pick_inputs(f"{KEY}_hr", "True HR image", category="superres/hr", default_sample=default_name) if use_hr else []
    )
if not lr_in or not ref_in:
    st.info("Pick or upload a low-resolution image and a reference image.")
    st.stop()

with c_lr:
    lr_r = read_input(*lr_in[0], key=f"{KEY}_lr")
with c_ref:
    ref_r = read_input(*ref_in[0], key=f"{KEY}_ref")
hr_r = None
if hr_in:
    with c_hr:
        hr_r = read_input(*hr_in[0], key=f"{KEY}_hr")
if lr_r is None or ref_r is None:
    st.stop()
with c_lr:
    st.image(sio.render(lr_r), caption=f"LR {lr_r.width}×{lr_r.height}", width="stretch")
with c_ref:
    st.image(sio.render(ref_r), caption=f"Reference {ref_r.width}×{ref_r.height}", width="stretch")

run_id = digest_bytes(
    b"".join(
        [
            lr_in[0][1],
            ref_in[0][1],
            hr_in[0][1] if hr_in else b"",
            model_hash.encode(),
            device_req.encode(),
            str(tile).encode(),
            lr_r.kind.encode(),
            ref_r.kind.encode(),
        ]
    )
)


def _super_resolve(path, file_hash, device_req, lr, ref, hr, tile, bar) -> SimpleNamespace:
    """Resolve the device and load the model now, when it runs (torch), then super-resolve; the result carries the
    device used and the network's label."""
    device, device_note = resolve_device(device_req)
    model, _ = _load_model(path, file_hash, device)
    result = sr.superres_rasters(lr, ref, model, hr, device, tile, sr.DEFAULT_OVERLAP, bar)
    label = str(getattr(model, "arch_name", "")).upper() or "Model"  # the registry name: RGTGAN, RRSGAN
    notes = [device_note, *result.notes] if device_note else list(result.notes)
    fields = {"bicubic": result.bicubic, "sr": result.sr, "hr": result.hr, "metrics": result.metrics}
    return SimpleNamespace(**fields, notes=notes, device=device, label=label)


if st.button("Super-resolve ×4", type="primary", key=f"{KEY}_run"):
    bar = progress_bar("Super-resolving…")
    result = run_guarded(_super_resolve, str(model_path), model_hash, device_req, lr_r, ref_r, hr_r, int(tile), bar)
    if result is not None:
        st.session_state[f"{KEY}_result"] = (run_id, result)
        arrays = {"bicubic": result.bicubic, "sr": result.sr, **({"hr": result.hr} if result.hr is not None else {})}
        meta = {"run_id": run_id, "metrics": result.metrics, "notes": result.notes}
        keep_result(KEY, {**meta, "device": result.device, "label": result.label}, arrays)

if f"{KEY}_result" not in st.session_state:  # a reload: this browser's last result, if made from the same inputs
    kept = kept_result(KEY)
    if kept is not None and kept[0].get("run_id") == run_id:
        meta, arrays = kept
        restored = SimpleNamespace(  # the attributes of the engine's result that this page reads
            bicubic=arrays["bicubic"],
            sr=arrays["sr"],
            hr=arrays.get("hr"),
            metrics=meta["metrics"],
            notes=meta["notes"],
            device=meta.get("device", "?"),
            label=meta.get("label", "Model"),
        )
        st.session_state[f"{KEY}_result"] = (run_id, restored)
        st.caption(KEPT_CAPTION)

stored = st.session_state.get(f"{KEY}_result")
if not stored or stored[0] != run_id:
    st.stop()
result = stored[1]

# ------------------------------------------------------------------------------------------- results
show_notes(result.notes)
st.caption(f"Model: {model_desc}. Device: {result.device}.")
to_u8 = lambda x: np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)  # noqa: E731
bic_u8, sr_u8 = to_u8(result.bicubic), to_u8(result.sr)
label = result.label
panels = [("Bicubic ×4", bic_u8), (f"{label} ×4", sr_u8)]
if result.hr is not None:
    panels.append(("True HR", to_u8(result.hr)))
out_geo = sr.output_geo(lr_r.geo)
show_images([sio.view.display_panel(img, name, out_geo) for name, img in panels], f"{KEY}_cmp")

if result.metrics:
    b, m = result.metrics["bicubic"], result.metrics["model"]
    st.subheader("Against the true HR image (border of 4 pixels cropped)")
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("PSNR bicubic", f"{b['psnr']:.2f} dB")
    c2.metric(f"PSNR {label}", f"{m['psnr']:.2f} dB", delta=f"{m['psnr'] - b['psnr']:+.2f} dB")
    c3.metric("SSIM bicubic", f"{b['ssim']:.4f}")
    c4.metric(f"SSIM {label}", f"{m['ssim']:.4f}", delta=f"{m['ssim'] - b['ssim']:+.4f}")

bands = 1 if lr_r.bands == 1 else 3
geo = out_geo
out = sr.to_output(result.sr, bands)
base = stem(lr_in[0][0])
comparison = sio.comparison_image(panels)
st.caption(
    f"Downloads: the {label} ×4 result of {lr_in[0][0]} as PNG and as GeoTIFF (georeference scaled ×4 when the "
    "LR image had one), and the comparison of every panel above as one PNG."
)
download_buttons(
    [
        ("Super-resolved PNG", sio.encode_png(out), f"{base}_x4.png", "image/png"),
        ("Super-resolved GeoTIFF", sio.encode_geotiff(out, geo), f"{base}_x4.tif", "image/tiff"),
        ("Comparison PNG", sio.encode_png(comparison), f"{base}_x4_comparison.png", "image/png"),
    ],
    key=KEY,
)
