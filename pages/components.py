"""Widgets every page shares: upload-or-sample, input kind, compare view (side by side + slider), downloads.

Pages stay thin: read widgets, call core, show results with these helpers.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import streamlit as st

from core import catalog, recent, roots
from core import io as sio
from core.errors import UserError
from core.files import IMAGE_SUFFIXES
from core.io import view as cview
from pages.navigation import ensure_navigation
from pages.viewer import show_images

# A fresh server runs a tool page on its own until the app's navigation is declared (see pages/navigation.py). Every
# tool page imports this module before anything else, and that first import is the one that matters.
ensure_navigation()

ROOT = catalog.ROOT  # still imported by pages/crossband.py; new code uses core.catalog
SAMPLES = catalog.samples_dir()
IMAGE_TYPES = [s.lstrip(".") for s in IMAGE_SUFFIXES]  # st.file_uploader's spelling of core.files.IMAGE_SUFFIXES


# --------------------------------------------------------------------------------------------- inputs


def pick_inputs(
    key: str,
    label: str = "SAR image",
    category: str | tuple[str, ...] | list[str] = "sar",
    multiple: bool = False,
    allow_folder: bool = False,
    default_sample: str | None = None,
) -> list[tuple[str, bytes]]:
    """Upload, bundled sample or (optionally) a folder on the server. Returns [(name, bytes)].

    The server folder is offered only when the operator set SAR_STUDIO_DATA_ROOTS, and confined to those roots
    (core.roots): the folder and every image listed resolve under one of them.

    `category` is one samples/ subfolder (options are file names) or a list of them, offered in that order
    (options are then "<category>/<file name>", e.g. "pairs/sar/synthetic_A_100000.png", so names stay unique).
    """
    if isinstance(category, str):
        samples = [(p.name, p) for p in catalog.sample_paths(category)]
    else:
        samples = [(f"{c}/{p.name}", p) for c in category for p in catalog.sample_paths(c)]
    modes = (
        (["Sample"] if samples else [])
        + ["Upload"]
        + (["Server folder"] if allow_folder and roots.server_paths() else [])
    )
    mode = st.radio(f"{label} source", modes, horizontal=True, key=f"{key}_mode")
    if mode == "Sample":
        names = [n for n, _ in samples]
        paths = dict(samples)
        index = names.index(default_sample) if default_sample in names else 0
        # a value the page put in session state (e.g. super-resolution's reference following the LR sample) wins;
        # giving the widget a default as well makes Streamlit log a warning, so the default goes only when unset
        preset = f"{key}_sample" in st.session_state
        if multiple:
            default = {} if preset else {"default": [names[index]]}
            chosen = st.multiselect(f"{label}: bundled samples", names, key=f"{key}_sample", **default)
        else:
            first = {} if preset else {"index": index}
            chosen = [st.selectbox(f"{label}: bundled sample", names, key=f"{key}_sample", **first)]
        return [(n, paths[n].read_bytes()) for n in chosen if n]
    if mode == "Upload":
        files = st.file_uploader(
            f"{label}: PNG, JPEG or (Geo)TIFF", type=IMAGE_TYPES, key=f"{key}_upload", accept_multiple_files=multiple
        )
        if not files:
            return []
        files = files if multiple else [files]
        return [(f.name, f.getvalue()) for f in files]
    folder = st.text_input(f"{label}: folder on the server", key=f"{key}_folder")
    if not folder:
        return []
    try:
        found = roots.list_allowed_images(folder)
    except UserError as exc:
        st.error(str(exc))
        return []
    if not found:
        st.error(f"{folder} holds no PNG, JPEG or TIFF images; pick another folder.")
        return []
    st.caption(f"{len(found)} images in {folder}")
    return [(p.name, p.read_bytes()) for p in found]


@st.cache_data(show_spinner=False, max_entries=16)
def _read_cached(name: str, blob: bytes, kind: str | None) -> sio.Raster:
    return sio.read_raster(blob, name=name, kind=kind)


def server_path_input(label: str, key: str, want: roots.Want = "file", where=None, **kwargs) -> Path | None:
    """A text field for a path on the server, shown only when the operator allowed server paths; returns the
    resolved path under an allowed root, or None (nothing typed, or refused with one st.error line)."""
    where = where or st
    if not roots.server_paths():
        return None
    text = where.text_input(label, key=key, **kwargs)
    if not text or not text.strip():
        return None
    try:
        return roots.resolve_allowed(text, want)
    except UserError as exc:
        where.error(str(exc))
        return None


def read_input(name: str, blob: bytes, key: str, kind_control: bool = True) -> sio.Raster | None:
    """Read an input with the error shown in the page (None on bad input), plus the input-kind control."""
    try:
        raster = _read_cached(name, blob, None)
    except UserError as exc:
        st.error(str(exc))
        return None
    sample = catalog.sample_description(blob)
    if not kind_control:
        return raster
    return input_kind_control(raster, key, sample)


def input_kind_control(raster: sio.Raster, key: str, sample: dict[str, str] | None = None) -> sio.Raster:
    """Show what was detected and let the user override it; the choice stays visible."""
    options = ["auto"] + list(sio.KINDS)
    detected = raster.detected_kind or raster.kind
    labels = dict(sio.KIND_LABELS, **({"intensity": sample["kind_label"]} if sample else {}))
    choice = st.selectbox(
        f"Input kind for {raster.name}",
        options,
        key=f"{key}_kind",
        format_func=lambda k: f"auto (detected: {labels[detected]})" if k == "auto" else labels[k],
        help="What the pixel values mean. Detected from dtype and value range; override when it is wrong.",
    )
    raster = raster.with_kind(choice)
    geo = "georeferenced" if raster.geo is not None and raster.geo.is_georeferenced else "no georeference"
    # a bundled sample says what its values really are (e.g. uncalibrated DN², not sigma0) and what it lacks
    st.caption(
        f"{raster.name}: {raster.width}×{raster.height}, {raster.bands} band(s), {raster.data.dtype}, "
        f"read as {labels[raster.kind]}, {geo}."
    )
    if sample and sample.get("lacks"):
        st.caption(f":material/info: Bundled sample: {sample['lacks']}")
    return raster


# -------------------------------------------------------------------------------------------- outputs


def compare_view(
    before: np.ndarray,
    after: np.ndarray,
    labels: tuple[str, str] = ("Input", "Output"),
    key: str = "cmp",
    panels: list | None = None,
    caption: str | None = None,
) -> None:
    """Two images in the shared viewer (pages/viewer.py): side by side with linked zoom, swipe, histogram, map.

    `panels` (core.io.view.ViewPanel) carry the values in the file's units; without them the uint8 images are
    shown as they are (DN / RGB)."""

    if panels is None:
        panels = [cview.display_panel(before, labels[0]), cview.display_panel(after, labels[1])]
    show_images(panels, key, caption=caption)


def image_grid(panels: list[tuple[str, np.ndarray]], columns: int = 3) -> None:
    """Several labelled images in a grid (e.g. one per filter)."""
    for start in range(0, len(panels), columns):
        cols = st.columns(columns)
        for col, (label, img) in zip(cols, panels[start : start + columns]):
            col.image(img, caption=label, width="stretch")


def download_buttons(items: Iterable[tuple[str, bytes, str, str]], key: str) -> None:
    """items: (button label, data, file name, mime type), laid out in a row."""
    items = list(items)
    cols = st.columns(max(1, len(items)))
    for i, (col, (label, data, fname, mime)) in enumerate(zip(cols, items)):
        col.download_button(label, data=data, file_name=fname, mime=mime, key=f"{key}_dl{i}")


def progress_bar(text: str = "Working…") -> Callable[[float, str], None]:
    """A progress bar and a callback (fraction 0..1, message) for core functions."""
    bar = st.progress(0.0, text=text)

    def update(fraction: float, message: str = "") -> None:
        bar.progress(min(1.0, max(0.0, float(fraction))), text=f"{text} {message}".strip())

    return update


def run_guarded(fn: Callable, *args, **kwargs):
    """Call core; a UserError becomes one st.error line and None is returned."""
    try:
        return fn(*args, **kwargs)
    except UserError as exc:
        st.error(str(exc))
        return None
    except MemoryError:
        st.error("Out of memory; use a smaller tile or batch, or a smaller image.")
        return None


def session_token() -> str:
    """This browser's token for its pages' last results (core.recent), kept in the URL as ?session=… so that a
    reload (a new Streamlit session) finds them; made once per session when the URL has none."""
    token = st.session_state.get("recent_token")
    if token is None:
        given = st.query_params.get("session")
        token = given if recent.valid_token(given) else recent.new_token()
        st.session_state["recent_token"] = token
    if st.query_params.get("session") != token:
        st.query_params["session"] = token
    return token


def keep_result(page: str, meta: dict, arrays: dict[str, np.ndarray]) -> None:
    """Keep a page's last result for a reload of this browser (core.recent; meta must be JSON, arrays plain)."""

    recent.save(session_token(), page, json.loads(json.dumps(meta, default=str)), arrays)


def kept_result(page: str) -> tuple[dict, dict[str, np.ndarray]] | None:
    """The page's last result kept for this browser's link, or None."""
    return recent.load(session_token(), page)


KEPT_CAPTION = ":material/history: The last result of this page in this browser, kept across the reload."


def show_notes(notes: Iterable[str | None]) -> None:
    for n in notes:
        if n:
            st.info(n)


def stem(name: str) -> str:
    return Path(name).stem
