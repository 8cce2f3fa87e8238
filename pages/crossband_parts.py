"""Parts of the cross-band page (pages/crossband.py) with their widgets: a finished run's result, what it moved,
and its downloads."""

import streamlit as st

from core import crossband as cb
from core import io as sio
from core.crossband.report import loss_frame, transfer_caption, transfer_figure
from pages.components import download_buttons, run_guarded, show_notes, stem
from pages.viewer import show_images

KEY = "crossband"


def show_result(state: dict, signature: tuple | None, extractor: cb.Extractor) -> None:
    """The last run's images, figures and downloads; `signature`: the inputs now (a note when they changed)."""
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
    transfer_section(result, state, extractor)
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


def transfer_section(result, state: dict, extractor: cb.Extractor) -> None:
    """What moved: Gram distance to the style at the start and at the end, and the value histograms of the content,
    the style and the result (with mean, spread and the result's correlation with the content)."""
    opts = result.options
    after = run_guarded(
        cb.final_losses, result.image, result.content, state["style"], extractor, opts.style_layers, opts.content_layers
    )
    before, after_style = result.history[0]["style"], (after["style"] if after is not None else None)
    stats = cb.value_histograms({"content": result.content, "style": state["style_preview"], "result": result.image})
    fig = transfer_figure(before, after_style, stats)
    st.plotly_chart(fig, key=f"{KEY}_transfer", config={"displaylogo": False})
    st.caption(transfer_caption(before, after_style, stats))
