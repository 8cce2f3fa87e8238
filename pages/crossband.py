"""Cross-band generation: the content of one radar band with the Gram statistics of another (Gatys style transfer)."""

import os
from pathlib import Path

import streamlit as st

from core import crossband as cb
from core import io as sio
from core import roots
from core.compute import DEVICES, thread_plan
from core.crossband.report import loss_frame
from core.errors import UserError
from core.files import digest_file, save_upload
from pages.components import (
    ROOT,
    SAMPLES,
    download_buttons,
    image_grid,
    pick_inputs,
    progress_bar,
    read_input,
    run_guarded,
    server_path_input,
)
from pages.crossband_parts import show_result

KEY = "crossband"
GRAM_SAMPLES = SAMPLES / "crossband"

st.title("Cross-band generation")
st.write(
    "Gatys-style optimisation (as in transband-SARgeneration): starting from the content image, the picture is "
    "changed step by step until its features keep the **content** of one band and carry the **texture "
    "statistics** (Gram matrices) of another band, taken from one image, the mean over several images, or a "
    "Gram file (ours, or transband's `latest_gram_trainTotal.pth`). SAR is used as displayed: dB with a "
    "2–98 % stretch."
)


# --------------------------------------------------------------------------------------- feature extractor


@st.cache_data(show_spinner=False, max_entries=16)
def _file_hash(path: str, mtime: float, size: int) -> str:
    return digest_file(path)


@st.cache_resource(show_spinner="Loading VGG weights…", max_entries=2)
def _vgg(sha256: str, path: str) -> cb.Extractor:
    return cb.load_vgg(path, sha256=sha256)


@st.cache_resource(show_spinner=False, max_entries=4)
def _random(seed: int) -> cb.Extractor:
    return cb.random_extractor(seed)


st.subheader("1. Feature extractor")
ext_choice = st.radio(
    "Features",
    ["Random multi-scale features (built in)", "VGG weights file (torchvision .pth)"],
    horizontal=True,
    key=f"{KEY}_features",
    help="VGG19 with ImageNet weights is what transband-SARgeneration uses; no weights can be downloaded here, "
    "so give a torchvision file such as vgg19-dcbb9e9d.pth. Without one, seeded random convolutional "
    "filters at five scales describe the texture instead (cheaper, and known to carry texture statistics).",
)
seed = int(
    st.number_input(
        "Seed",
        min_value=0,
        max_value=2**31 - 1,
        value=0,
        key=f"{KEY}_seed",
        help="Picks the random features (fallback) and the start of noise-initialised runs.",
    )
)
extractor = None
if ext_choice.startswith("VGG"):
    default_path = os.environ.get("SAR_STUDIO_VGG_WEIGHTS", str(ROOT / "checkpoints" / "vgg19-dcbb9e9d.pth"))
    c1, c2 = st.columns(2)
    # The operator's default file (SAR_STUDIO_VGG_WEIGHTS or checkpoints/) is used as is; a typed path only when the
    # operator allowed server paths, and then confined to them (core.roots).
    vgg_path = Path(default_path).expanduser()
    if roots.server_paths():
        typed = c1.text_input("VGG weights file on the server", value=default_path, key=f"{KEY}_vgg_path")
        if typed.strip() != default_path:
            try:
                vgg_path = roots.resolve_allowed(typed, "file")
            except UserError as exc:
                c1.error(str(exc))
                st.stop()
    vgg_upload = c2.file_uploader(
        "or upload one (.pth, up to the server's upload limit)", type=["pth", "pt"], key=f"{KEY}_vgg_upload"
    )
    path = save_upload(vgg_upload.getvalue(), vgg_upload.name, KEY) if vgg_upload else vgg_path
    if not path.is_file():
        st.error(
            f"{path.name}: VGG weights file not found; give a torchvision vgg19 or vgg16 .pth file, or use the "
            f"built-in random features."
        )
    else:
        stat = path.stat()
        extractor = run_guarded(_vgg, _file_hash(str(path), stat.st_mtime, stat.st_size), str(path))
else:
    extractor = _random(seed)
if extractor is None:
    st.stop()
st.info(f"Feature extractor in use: **{extractor.label}**.")
names = cb.layer_names(extractor)


# ------------------------------------------------------------------------------------------- content

st.subheader("2. Content image")
content_inputs = pick_inputs(
    f"{KEY}_content", "Content image", category="crossband", default_sample="labrador_vv_content.png"
)
content_raster = read_input(*content_inputs[0], key=f"{KEY}_content") if content_inputs else None


def band_choice(raster: sio.Raster, key: str, default: int = 0) -> int | None:
    if raster.bands == 1 or (raster.kind == "display" and raster.bands == 3):
        return None
    labels = [raster.band_names[i] if i < len(raster.band_names) else f"band {i + 1}" for i in range(raster.bands)]
    return st.selectbox(
        f"Band of {raster.name}",
        range(raster.bands),
        index=min(default, raster.bands - 1),
        format_func=lambda i: f"{i + 1}: {labels[i]}",
        key=key,
    )


content = None
if content_raster is not None:
    band = band_choice(content_raster, f"{KEY}_content_band")
    content = run_guarded(cb.band_display, content_raster, band)


# --------------------------------------------------------------------------------------------- style

st.subheader("3. Style (target band)")
style_mode = st.radio(
    "Style source",
    ["Images (one, several, or a server folder)", "Gram file"],
    horizontal=True,
    key=f"{KEY}_style_source",
)


@st.cache_data(show_spinner=False, max_entries=8)
def _grams_of(blobs_key: str, extractor_key: str, layers: tuple, _images: list) -> dict:
    gs = cb.accumulate_grams(_extractor_for_cache(), _images, layers, source=f"{len(_images)} image(s)")
    return {"grams": gs.grams, "extractor": gs.extractor, "count": gs.count, "source": gs.source}


def _extractor_for_cache():
    return extractor


style = None
style_preview = None
style_pending = None  # for style images: computes their statistics when a run or a download needs them
if style_mode.startswith("Images"):
    style_inputs = pick_inputs(
        f"{KEY}_style",
        "Style image(s)",
        category="crossband",
        multiple=True,
        allow_folder=True,
        default_sample="labrador_vh_style.png",
    )
    style_imgs = []
    for i, (name, blob) in enumerate(style_inputs):
        r = read_input(name, blob, key=f"{KEY}_style_{i}", kind_control=(len(style_inputs) == 1))
        if r is None:
            continue
        b = (
            band_choice(r, f"{KEY}_style_band", default=1 if r.bands == 2 else 0)
            if i == 0
            else st.session_state.get(f"{KEY}_style_band")
        )
        img = run_guarded(cb.band_display, r, b)
        if img is not None:
            style_imgs.append((name, img))
    if style_imgs:
        style_preview = style_imgs[0][1]
        if len(style_imgs) > 1:
            st.caption(f"Style statistics: the mean Gram over {len(style_imgs)} images.")
        style_key = (cb.images_key(style_imgs), repr(extractor.identity()))

        def style_pending() -> cb.GramSet | None:
            """The style images' Gram statistics: computed (the network runs) when first asked, cached after."""
            with st.spinner("Computing the style's Gram statistics…"):
                got = run_guarded(_grams_of, *style_key[:2], tuple(extractor.style_layers), _images=style_imgs)
            if got is None:
                return None
            st.session_state[f"{KEY}_style_done"] = style_key
            return cb.GramSet(**got)

        if st.session_state.get(f"{KEY}_style_done") == style_key:
            style = style_pending()  # computed before for these images and features: from the cache
else:
    samples = cb.list_gram_files(GRAM_SAMPLES)
    src = st.radio(
        "Gram file source",
        (["Sample"] if samples else []) + ["Upload"] + (["Server path"] if roots.server_paths() else []),
        horizontal=True,
        key=f"{KEY}_gram_src",
    )
    gram_path = None
    if src == "Sample":
        pick = st.selectbox("Bundled Gram file", [p.name for p in samples], key=f"{KEY}_gram_sample")
        gram_path = GRAM_SAMPLES / pick
    elif src == "Upload":
        up = st.file_uploader(
            "Gram file (.safetensors from SAR Studio, or transband's .pth list of tensors)",
            type=["safetensors", "pth", "pt"],
            key=f"{KEY}_gram_upload",
        )
        gram_path = save_upload(up.getvalue(), up.name, KEY) if up else None
    else:
        gram_path = server_path_input("Gram file on the server", f"{KEY}_gram_path", "file")
    if gram_path is not None:
        style = run_guarded(cb.load_gram, gram_path, extractor)
        if style is not None:
            st.caption(f"Gram file: {style.source}; layers {', '.join(style.grams)}; {style.count} image(s).")

if style is None and style_pending is not None:
    st.caption("The style's Gram statistics are computed when you press Generate or ask for them here.")
    if st.button("Compute the Gram statistics", key=f"{KEY}_gram_compute"):
        style = style_pending()
if style is not None:
    download_buttons(
        [
            (
                "Download these Gram statistics (.safetensors)",
                cb.encode_gram(style),
                "style_gram.safetensors",
                "application/octet-stream",
            )
        ],
        key=f"{KEY}_gram",
    )


# ---------------------------------------------------------------------------------------- parameters


st.subheader("4. Parameters")
d = extractor.defaults
arch = extractor.arch  # widget keys carry the features: their defaults and layer names differ
with st.expander("Optimisation", expanded=True):
    c1, c2, c3, c4 = st.columns(4)
    steps = int(
        c1.number_input("Steps", min_value=1, max_value=20000, value=int(d["steps"]), key=f"{KEY}_steps_{arch}")
    )
    optimizer = c2.selectbox(
        "Optimizer",
        cb.OPTIMIZERS,
        key=f"{KEY}_opt",
        format_func=lambda o: {"adam": "Adam", "lbfgs": "L-BFGS (line search)"}[o],
    )
    lr = c3.number_input(
        "Adam learning rate",
        min_value=1e-5,
        max_value=1.0,
        value=float(d["lr"]),
        format="%.4f",
        key=f"{KEY}_lr_{arch}",
        disabled=optimizer == "lbfgs",
    )
    device = c4.selectbox("Device", DEVICES, key=f"{KEY}_device")
    c5, c6, c7, c8, c9 = st.columns(5)
    style_weight = c5.number_input(
        "Style weight", min_value=0.0, value=float(d["style_weight"]), format="%.0e", key=f"{KEY}_sw_{arch}"
    )
    content_weight = c6.number_input(
        "Content weight", min_value=0.0, value=float(d["content_weight"]), format="%.2f", key=f"{KEY}_cw_{arch}"
    )
    init = c7.selectbox("Start from", ["content", "noise"], key=f"{KEY}_init")
    preview_every = int(
        c8.number_input(
            "Preview every (steps)",
            min_value=1,
            max_value=1000,
            value=max(1, min(25, steps // 4)),
            key=f"{KEY}_preview",
        )
    )
    threads = int(
        c9.number_input(
            "CPU threads",
            min_value=1,
            max_value=max(1, os.cpu_count() or 1),
            value=min(thread_plan().torch, max(1, os.cpu_count() or 1)),
            key=f"{KEY}_threads",
            help="PyTorch threads for this run. On a machine whose cores are busy with other "
            "work, 1 thread can be several times faster (bench/RESULTS.md).",
        )
    )
    avail = list(style.grams) if style is not None else list(extractor.style_layers)
    style_layers = st.multiselect("Style layers", avail, default=avail, key=f"{KEY}_style_layers_{arch}_{len(avail)}")
    content_layers = st.multiselect(
        "Content layers", names, default=list(extractor.content_layers), key=f"{KEY}_content_layers_{arch}"
    )
    st.caption(
        f"Defaults for these features: {d['steps']} steps, lr {d['lr']}, style weight {d['style_weight']:g}, "
        f"content weight {d['content_weight']:g}. Loss = style weight · Σ MSE(Gram) + content weight · "
        f"Σ MSE(features)."
    )


# ------------------------------------------------------------------------------------------------ run


has_style = style is not None or style_pending is not None
ready = content is not None and has_style and bool(style_layers) and bool(content_layers)
if content is not None and has_style and not (style_layers and content_layers):
    st.warning("Choose at least one style layer and one content layer.")

generate = st.button("Generate", type="primary", key=f"{KEY}_run", disabled=not ready)
if generate and style is None and style_pending is not None:
    style = style_pending()
signature = cb.inputs_signature(content, style) if content is not None and style is not None else None
if generate and style is not None:
    opts = cb.CrossbandOptions(
        steps=steps,
        optimizer=optimizer,
        lr=lr,
        style_weight=style_weight,
        content_weight=content_weight,
        style_layers=tuple(style_layers),
        content_layers=tuple(content_layers),
        seed=seed,
        init=init,
        device=device,
        preview_every=preview_every,
        threads=threads,
    )
    progress = progress_bar("Optimising…")
    col_prev, col_chart = st.columns(2)
    preview_slot = col_prev.empty()
    chart_slot = col_chart.empty()

    def on_preview(step, img, history):
        preview_slot.image(img, caption=f"step {step}", width="stretch")
        chart_slot.line_chart(loss_frame(history, style_weight, content_weight), height=260)

    result = run_guarded(
        cb.generate_crossband,
        content,
        style,
        extractor,
        opts,
        progress=progress,
        on_preview=on_preview,
        name=content_raster.name,
    )
    preview_slot.empty()  # the result below shows the final image and the loss chart once
    chart_slot.empty()
    if result is not None:
        st.session_state[f"{KEY}_result"] = {
            "signature": signature,
            "result": result,
            "style": style,
            "style_preview": style_preview,
            "name": content_raster.name,
            "geo": content_raster.geo,
        }

state = st.session_state.get(f"{KEY}_result")
if state is not None:
    show_result(state, signature, extractor)


# ------------------------------------------------------------------------------------------ visualisation

st.subheader("5. What the layers respond to")
with st.expander("Feature visualisation", expanded=False):
    st.write(
        "Images optimised from noise to excite one channel of a layer (its mean activation), or one Gram "
        "element G[i, j] (channels i and j firing together). Each image is kept at zero mean and a fixed "
        "contrast, so what it shows is the pattern, not a brightness level."
    )
    v1, v2, v3, v4 = st.columns(4)
    layer = v1.selectbox("Layer", names, key=f"{KEY}_vis_layer")
    what = v2.selectbox("Show", ["Single channels", "Single Gram elements"], key=f"{KEY}_vis_what")
    vsize = int(v3.number_input("Size (px)", min_value=48, max_value=256, value=96, step=16, key=f"{KEY}_vis_size"))
    vsteps = int(v4.number_input("Visualisation steps", min_value=1, max_value=1000, value=60, key=f"{KEY}_vis_steps"))
    channels = extractor.channels(layer)
    strongest = (style is not None and layer in style.grams) or (
        style_pending is not None and layer in extractor.style_layers
    )
    pick_mode = st.radio(
        "Which",
        (["Strongest in the style"] if strongest else []) + ["Chosen indices"],
        horizontal=True,
        key=f"{KEY}_vis_pick",
    )
    if pick_mode == "Chosen indices":
        text = st.text_input(
            f"Channels (0–{channels - 1}), comma separated"
            if what == "Single channels"
            else f"Gram elements i-j (0–{channels - 1}), comma separated",
            value="0,1,2,3" if what == "Single channels" else "0-1,0-2,1-2,2-3",
            key=f"{KEY}_vis_idx",
        )
    count = int(st.slider("How many", 1, 16, 8, key=f"{KEY}_vis_count")) if pick_mode != "Chosen indices" else None
    if st.button("Visualise", key=f"{KEY}_vis_run"):
        if pick_mode != "Chosen indices" and style is None and style_pending is not None:
            style = style_pending()
        try:
            gram = style.grams.get(layer) if style is not None else None
            fn, arg = cb.visual_targets(what == "Single channels", gram, count, text if count is None else "")
        except UserError as exc:
            st.error(str(exc))
        else:
            panels = run_guarded(
                fn, extractor, layer, arg, size=vsize, steps=vsteps, seed=seed, progress=progress_bar("Visualising…")
            )
            if panels:
                st.session_state[f"{KEY}_vis"] = panels
    panels = st.session_state.get(f"{KEY}_vis")
    if panels:
        image_grid(panels, columns=4)
        download_buttons(
            [("Grid PNG", cb.grid_png(panels), f"crossband_{panels[0][0].split()[0]}_grid.png", "image/png")],
            key=f"{KEY}_vis_dl",
        )
