"""Cross-band generation: the content of one radar band with the Gram statistics of another (Gatys style transfer)."""

import os
from pathlib import Path

import streamlit as st

from core import crossband as cb
from core import io as sio
from core import roots
from core.compute import DEVICES
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
    show_notes,
    stem,
)
from pages.viewer import show_images

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
def _grams_of(blobs_key: str, _images: list, extractor_key: str, layers: tuple) -> dict:
    gs = cb.accumulate_grams(_extractor_for_cache(), _images, layers, source=f"{len(_images)} image(s)")
    return {"grams": gs.grams, "extractor": gs.extractor, "count": gs.count, "source": gs.source}


def _extractor_for_cache():
    return extractor


style = None
style_preview = None
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
        key_blobs = cb.images_key(style_imgs)
        ext_key = repr(extractor.identity())
        bar = st.empty()
        with bar:
            st.caption("Computing the style's Gram statistics…")
        got = run_guarded(_grams_of, key_blobs, style_imgs, ext_key, tuple(extractor.style_layers))
        bar.empty()
        if got is not None:
            style = cb.GramSet(**got)
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


@st.cache_resource(show_spinner=False)
def _default_threads() -> int:
    import torch

    return torch.get_num_threads()


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
            value=min(_default_threads(), max(1, os.cpu_count() or 1)),
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


def loss_frame(history: list, style_weight: float, content_weight: float):
    """Weighted losses per step on a log10 scale, as a table for st.line_chart."""
    import pandas as pd

    return pd.DataFrame(cb.loss_log_rows(history, style_weight, content_weight)).set_index("step")


def _transfer_figure(result, state) -> None:
    """What moved: Gram distance to the style at the start and at the end, and the value histograms of the content,
    the style and the result (with mean, spread and the result's correlation with the content)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    h = result.history
    after = run_guarded(
        cb.final_losses,
        result.image,
        result.content,
        state["style"],
        extractor,
        result.options.style_layers,
        result.options.content_layers,
    )
    before = h[0]["style"]
    stats = cb.value_histograms({"content": result.content, "style": state["style_preview"], "result": result.image})
    fig = make_subplots(
        rows=1, cols=2, column_widths=[0.3, 0.7], subplot_titles=["Gram distance to the style", "Display values"]
    )
    if after is not None:
        fig.add_trace(
            go.Bar(x=["content (start)", "result"], y=[before, after["style"]], marker_color=["#888", "#ff4b4b"],
                   showlegend=False, hovertemplate="%{x}: %{y:.3g}<extra></extra>"),
            row=1, col=1,
        )  # fmt: skip
        fig.update_yaxes(type="log", row=1, col=1)
    colours = {"content": "#888", "style": "#1f77b4", "result": "#ff4b4b"}
    for name, s in stats.items():
        fig.add_trace(
            go.Scatter(x=s["centres"], y=s["fraction"], mode="lines", line_shape="hvh", name=name,
                       line=dict(color=colours[name])),
            row=1, col=2,
        )  # fmt: skip
    fig.update_layout(height=300, margin=dict(l=10, r=10, t=40, b=10))
    st.plotly_chart(fig, key=f"{KEY}_transfer", config={"displaylogo": False})
    parts = [f"{n}: mean {s['mean']:.1f}, std {s['std']:.1f}" for n, s in stats.items()]
    corr = stats["result"]["corr_with_content"]
    moved = (
        f"Gram distance {before:.3g} → {after['style']:.3g} ({before / max(after['style'], 1e-30):.0f}× closer)"
        if after
        else ""
    )
    st.caption(
        f"{moved}. "
        + "; ".join(parts)
        + (f". Correlation of the result with the content: {corr:.3f}" if corr else "")
        + " (1 = unchanged). See the README on what to expect."
    )


signature = cb.inputs_signature(content, style) if content is not None and style is not None else None
ready = content is not None and style is not None and bool(style_layers) and bool(content_layers)
if content is not None and style is not None and not (style_layers and content_layers):
    st.warning("Choose at least one style layer and one content layer.")

if st.button("Generate", type="primary", key=f"{KEY}_run", disabled=not ready):
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
    result = state["result"]
    if state["signature"] != signature:
        st.caption("The inputs changed since this result was made; press Generate to update it.")
    h = result.history
    show_notes(result.notes)
    st.success(
        f"{len(h)} {result.options.optimizer} steps in {result.seconds:.1f} s on {result.device} with "
        f"{result.extractor_label}. Style loss {h[0]['style']:.3g} → {h[-1]['style']:.3g} "
        f"({h[0]['style'] / max(h[-1]['style'], 1e-30):.1f}× lower); content loss {h[-1]['content']:.3g}."
    )
    geo = state["geo"]
    views = [
        sio.view.display_panel(result.content, "Content", geo),
        sio.view.display_panel(result.image, "Generated", geo),
    ]
    if state["style_preview"] is not None:
        views.append(sio.view.display_panel(state["style_preview"], "Style (target band)"))
    show_images(views, f"{KEY}_cmp")
    _transfer_figure(result, state)
    st.line_chart(loss_frame(h, result.options.style_weight, result.options.content_weight), height=220)
    base = f"{stem(state['name'])}_crossband"
    st.caption(
        "Downloads: the generated image (display values 0–255) as PNG and as GeoTIFF with the content's "
        "georeference; content, result and style side by side; the style's Gram statistics."
    )
    download_buttons(
        [
            ("PNG", sio.encode_png(result.image), f"{base}.png", "image/png"),
            (
                "GeoTIFF" + (" (with georeference)" if geo is not None and geo.is_georeferenced else ""),
                cb.encode_result_geotiff(result.image, geo),
                f"{base}.tif",
                "image/tiff",
            ),
            (
                "Comparison PNG",
                cb.comparison_png(result.content, result.image, state["style_preview"]),
                f"{base}_comparison.png",
                "image/png",
            ),
            ("Gram file", cb.encode_gram(state["style"]), f"{base}_style_gram.safetensors", "application/octet-stream"),
        ],
        key=f"{KEY}_out",
    )


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
    strongest = style is not None and layer in style.grams
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
        try:
            if what == "Single channels":
                idx = (
                    cb.strongest_channels(style.grams[layer], count)
                    if pick_mode != "Chosen indices"
                    else cb.parse_channels(text)
                )
                fn, arg = cb.channel_images, idx
            else:
                pairs = (
                    cb.strongest_pairs(style.grams[layer], count)
                    if pick_mode != "Chosen indices"
                    else cb.parse_pairs(text)
                )
                fn, arg = cb.gram_element_images, pairs
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
