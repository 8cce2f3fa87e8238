"""Home: what each tool does (each name links to its page), and the compute in use."""

import streamlit as st

from core.compute import compute_summary
from pages.navigation import ensure_navigation, tool_pages

ensure_navigation()  # a fresh server may run this page on its own first: see pages/navigation.py

# What each tool does, by page URL (titles and icons come from pages.navigation.PAGES, the one list of pages).
_WHAT = {
    "translate": "Translates SAR into an optical-like RGB image with a pix2pix, pix2pixHD / C-HR-GAN or ONNX "
    "generator, any image size, optional LoRA adapter.",
    "superres": "×4 reference-based super-resolution (RGTGAN): a low-resolution image plus a sharper "
    "reference of the same place.",
    "crossband": "Gatys-style transfer: the content of one radar band with the texture statistics (Gram "
    "matrices) of another.",
    "speckle": "Lee, refined Lee, Frost, Kuan, Gamma-MAP, boxcar, median, Gaussian, bilateral and MERLIN deep "
    "despeckling on linear intensity, with ENL / mean ratio / EPI.",
    "train": "Trains pix2pix, pix2pixHD / C-HR-GAN and LoRA adapters on your folders, in the background, resumable.",
}

st.title("SAR Studio")
st.write(
    "Tools for synthetic aperture radar imagery: translate SAR to optical-like images, despeckle, "
    "super-resolve, generate one radar band from another, and train or fine-tune the models on your own data. "
    "Every page takes an upload or a bundled sample and shows input and output side by side."
)
st.markdown(
    ":material/flag: **Start here:** open Speckle filtering, keep its bundled sample and press Run filters; the "
    "other tools work the same way (a sample or an upload, one button, input and output side by side)."
)

for page in tool_pages()[1:]:
    name, what = st.columns([1, 3], vertical_alignment="center")
    name.page_link(page)
    what.write(_WHAT[page.url_path])

st.subheader("Compute in use")


@st.cache_resource(show_spinner=False)
def _summary():
    return compute_summary()


info = _summary()
c1, c2, c3 = st.columns(3)
c1.metric("PyTorch device", "CUDA: " + info["gpu"] if info["cuda_available"] else "CPU")
c2.metric("PyTorch", info["torch"])
c3.metric("ONNX Runtime", info["onnxruntime"] or "not installed")
st.caption(
    f"CPU threads for PyTorch: {info['cpu_threads']} of {info['cpu_count']} cores. "
    f"ONNX Runtime providers available: {', '.join(info['onnx_providers']) or 'none'}."
)
if not info["cuda_available"]:
    st.info(
        "No CUDA GPU is visible to PyTorch: every page runs on the CPU. Pages that offer a CUDA device "
        "fall back to the CPU and say so."
    )
