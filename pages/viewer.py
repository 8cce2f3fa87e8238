"""The image viewer every page uses: values under the cursor, colour bar, linked zoom, swipe, histogram, map.

Drawing only; the data (decimation, dB, stretch, colour maps, histograms, footprints) comes from core.io.view.
Plotly and deck.gl are bundled in Streamlit's frontend, so the viewer works with no network; on a map the basemap is
fetched by the user's browser when it is online, and the result overlay shows either way.
"""

from __future__ import annotations

import base64
import html
from dataclasses import replace

import numpy as np
import streamlit as st

from core import io as sio
from core.files import digest_bytes
from core.io import view as cview
from core.io.view import ViewPanel

COLORMAP_NAMES = list(cview.COLORMAPS)


def _data_url(img: np.ndarray) -> str:
    return "data:image/png;base64," + base64.b64encode(sio.encode_png(sio.to_rgb(img))).decode()


def slider_html(
    before: np.ndarray, after: np.ndarray, labels: tuple[str, str] = ("Input", "Output"), height: int = 512
) -> str:
    """A self-contained before/after slider (no external scripts): drag to reveal `after` over `before`.

    It fills the width it is given (up to `height` pixels tall), however small the images are."""
    h, w = before.shape[:2]
    if after.shape[:2] != (h, w):
        from PIL import Image

        after = np.asarray(Image.fromarray(sio.to_rgb(after)).resize((w, h), Image.Resampling.BICUBIC))
    labels = (html.escape(str(labels[0])), html.escape(str(labels[1])))  # file names are user input
    uid = digest_bytes(before.tobytes()[:4096] + after.tobytes()[:4096], 8)
    return f"""
<div id="c{uid}" style="position:relative;width:min(100%, {height * w / max(h, 1):.0f}px);aspect-ratio:{w}/{h};user-select:none;">
  <img src="{_data_url(before)}" style="position:absolute;inset:0;width:100%;height:100%;image-rendering:pixelated;">
  <div id="o{uid}" style="position:absolute;inset:0;width:100%;height:100%;clip-path:inset(0 0 0 50%);">
    <img src="{_data_url(after)}" style="position:absolute;inset:0;width:100%;height:100%;image-rendering:pixelated;">
  </div>
  <div id="l{uid}" style="position:absolute;top:0;bottom:0;left:50%;width:2px;background:#ff4b4b;"></div>
  <span style="position:absolute;left:6px;top:4px;background:#0008;color:#fff;padding:1px 6px;font:12px sans-serif;">{labels[0]}</span>
  <span style="position:absolute;right:6px;top:4px;background:#0008;color:#fff;padding:1px 6px;font:12px sans-serif;">{labels[1]}</span>
  <input type="range" min="0" max="100" value="50" aria-label="before/after position"
    style="position:absolute;bottom:4px;left:5%;width:90%;"
    oninput="document.getElementById('o{uid}').style.clipPath='inset(0 0 0 '+this.value+'%)';document.getElementById('l{uid}').style.left=this.value+'%';">
</div>"""


def colormap_control(key: str, where=None) -> str:
    """A named colour map picker (kept per page in session state)."""
    where = where or st
    return where.selectbox("Colour map", COLORMAP_NAMES, key=f"{key}_cmap", help="Applies to single-band dB/DN views.")


def _hovertemplate(p: ViewPanel) -> str:
    head = "x %{x}, y %{y}<br>"
    if p.z is not None:
        if p.unit == "dB" and p.linear is not None:
            return head + f"{p.value_name} %{{customdata:.4g}} (%{{z:.2f}} dB)<extra>{p.label}</extra>"
        fmt = ".0f" if p.unit == "DN" else ".2f"
        return head + f"{p.value_name} %{{z:{fmt}}} {p.unit if p.unit != p.value_name else ''}<extra>{p.label}</extra>"
    extra = ""
    if p.linear is not None and p.linear.ndim == 3:
        extra = "<br>" + " · ".join(f"[{i}] %{{customdata[{i}]:.4g}}" for i in range(p.linear.shape[2]))
        extra = f"<br>{p.value_name}" + extra[4:]
    return head + "RGB %{z[0]}, %{z[1]}, %{z[2]}" + extra + f"<extra>{p.label}</extra>"


def linked_figure(panels: list[ViewPanel], colormap: str | None = None, height: int = 480, columns: int = 3):
    """One plotly figure, one subplot per panel (`columns` a row), all axes matched: zoom or pan one and the
    others follow."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    n = len(panels)
    cols = max(1, min(columns, n))
    rows = -(-n // cols)
    scaled = [p for p in panels if p.z is not None]
    shared = len({(p.unit, p.limits) for p in scaled}) == 1  # one colour bar for all, at the right
    fig = make_subplots(
        rows=rows,
        cols=cols,
        subplot_titles=[p.label for p in panels],
        horizontal_spacing=0.03 if shared else 0.08,
        vertical_spacing=0.08,
    )
    for i, p in enumerate(panels, start=1):
        r, c = divmod(i - 1, cols)
        if p.z is not None:
            xdom = fig.layout[f"xaxis{i if i > 1 else ''}"].domain
            ydom = fig.layout[f"yaxis{i if i > 1 else ''}"].domain
            trace = go.Heatmap(
                z=p.z,
                x=p.xs,
                y=p.ys,
                customdata=p.linear,
                colorscale=cview.colorscale(colormap or p.colormap),
                zmin=p.limits[0],
                zmax=p.limits[1],
                showscale=not shared or p is scaled[-1],
                colorbar=dict(
                    title=dict(text=p.unit, side="right"),
                    x=1.01 if shared else xdom[1] + 0.005,
                    y=0.5 if shared else (ydom[0] + ydom[1]) / 2,
                    len=0.8 if shared else 0.8 * (ydom[1] - ydom[0]),
                    thickness=12,
                ),
                hovertemplate=_hovertemplate(p),
            )
        else:
            trace = go.Image(
                z=p.rgb, x0=0, y0=0, dx=p.step, dy=p.step, customdata=p.linear, hovertemplate=_hovertemplate(p)
            )
        fig.add_trace(trace, row=r + 1, col=c + 1)
    for i in range(1, n + 1):
        sx = "" if i == 1 else str(i)
        fig.update_layout(
            {
                f"xaxis{sx}": dict(matches="x" if i > 1 else None, showgrid=False, constrain="domain"),
                f"yaxis{sx}": dict(
                    matches="y" if i > 1 else None,
                    autorange="reversed" if i == 1 else None,
                    scaleanchor="x" if i == 1 else None,
                    showgrid=False,
                    constrain="domain",
                ),
            }
        )
    h0, w0 = panels[0].shape
    per_panel = float(np.clip(900 / cols * h0 / max(w0, 1), 220, height))  # about a 900 px wide main column
    fig.update_layout(
        height=int(per_panel * rows + 60),
        margin=dict(l=10, r=40, t=40, b=10),
        dragmode="zoom",
        hovermode="closest",
        uirevision="keep",  # a rerun (or a polling fragment) keeps the user's zoom
    )
    return fig


def histogram_figure(panels: list[ViewPanel], height: int = 260):
    """Histograms of the displayed values with the stretch limits marked (dashed lines)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    marked: set[tuple[str, float]] = set()
    shared = len({p.limits for p in panels}) == 1
    for p in panels:
        centres = 0.5 * (p.hist_edges[:-1] + p.hist_edges[1:])
        fig.add_trace(go.Scatter(x=centres, y=p.hist_counts, mode="lines", line_shape="hvh", name=p.label))
        for v, side in zip(p.limits, ("low", "high")):
            if (side, v) in marked:  # a shared stretch is marked once
                continue
            marked.add((side, v))
            who = "" if shared else f"{p.label}: "
            fig.add_vline(x=v, line_dash="dash", line_width=1, annotation_text=f"{who}stretch {side} {v:.2f}")
    unit = panels[0].unit if panels else ""
    fig.update_layout(
        height=height, margin=dict(l=10, r=10, t=30, b=10), xaxis_title=unit, yaxis_title="pixels (shown)"
    )
    return fig


def _png_url(img: np.ndarray) -> str:
    return "data:image/png;base64," + base64.b64encode(sio.encode_png(sio.to_rgb(img))).decode()


def map_deck(panel: ViewPanel, opacity: float = 0.85):
    """A pydeck map with the panel drawn on its footprint (the basemap loads only when the browser is online)."""
    import pydeck as pdk

    corners = panel.corners_lonlat or []
    lons, lats = [c[0] for c in corners], [c[1] for c in corners]
    extent = max(max(lons) - min(lons), max(lats) - min(lats), 1e-6)
    zoom = float(np.clip(np.log2(360.0 / extent) - 0.5, 1, 18))
    layer = pdk.Layer(
        "BitmapLayer",
        data=None,
        image=pdk.types.String(_png_url(panel.colour_image())),
        bounds=corners,
        opacity=opacity,
        id="result",
    )
    view = pdk.ViewState(longitude=float(np.mean(lons)), latitude=float(np.mean(lats)), zoom=zoom)
    return pdk.Deck(layers=[layer], initial_view_state=view, map_provider="carto", map_style="light", tooltip=False)


def show_images(
    panels: list[ViewPanel], key: str, height: int = 480, caption: str | None = None, columns: int = 3
) -> None:
    """Panels side by side with linked zoom (one figure), a swipe compare for two, a histogram and, when
    georeferenced, a map. The stretch and units are stated under the views."""
    if not panels:
        return
    single = any(p.z is not None for p in panels)
    cmap = colormap_control(key) if single else None
    names = ["Side by side", "Swipe", "Histogram"] if len(panels) >= 2 else ["View", "Histogram"]
    geo = [p for p in panels if p.corners_lonlat]
    if geo:
        names.append("Map")
    tabs = dict(zip(names, st.tabs(names)))
    with tabs[names[0]]:
        st.plotly_chart(
            linked_figure(panels, cmap, height if len(panels) > 1 else int(height * 1.3), columns),
            key=f"{key}_fig",
            config={"displaylogo": False, "scrollZoom": True},
        )
    if "Swipe" in tabs:
        with tabs["Swipe"]:
            other = 1
            if len(panels) > 2:
                other = st.selectbox(
                    f"Swipe {panels[0].label} against",
                    range(1, len(panels)),
                    format_func=lambda i: panels[i].label,
                    key=f"{key}_swipe_pick",
                )
            a, b = (p if cmap is None or p.z is None else _with_cmap(p, cmap) for p in (panels[0], panels[other]))
            h, w = a.shape
            tall = int(min(900, 940 * h / max(w, 1)))  # the main column is about 940 px wide at 1400 px
            st.iframe(
                slider_html(a.colour_image(), b.colour_image(), (a.label, b.label), height=tall), height=tall + 16
            )
    with tabs["Histogram"]:
        st.plotly_chart(histogram_figure(panels), key=f"{key}_hist", config={"displaylogo": False})
    if geo:
        with tabs["Map"]:
            choice = st.selectbox("Overlay", [p.label for p in geo], key=f"{key}_map_pick") if len(geo) > 1 else None
            panel = next((p for p in geo if p.label == choice), geo[0])
            shown = _with_cmap(panel, cmap) if cmap and panel.z is not None else panel
            st.pydeck_chart(map_deck(shown), key=f"{key}_map", height=480)
            st.caption(
                f"{panel.label} drawn on its footprint (corners in WGS 84). The basemap (© CARTO, © OpenStreetMap "
                "contributors) is loaded by your browser when it is online; the overlay shows without it."
            )
    st.caption(caption or stretch_caption(panels))


def _with_cmap(p: ViewPanel, cmap: str) -> ViewPanel:

    return replace(p, colormap=cmap)


def stretch_caption(panels: list[ViewPanel]) -> str:
    parts = []
    for p in panels:
        if p.z is not None:
            parts.append(f"{p.label}: {p.unit} from {p.limits[0]:.2f} to {p.limits[1]:.2f}")
        else:
            parts.append(f"{p.label}: RGB as stored")
    step = max(p.step for p in panels)
    dec = f" Shown one pixel in {step} along each axis (values are real pixels, at full-size x, y)." if step > 1 else ""
    return "Stretch: " + "; ".join(parts) + ". Drag to zoom, double-click to reset; the views are linked." + dec
