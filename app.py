"""SAR Studio: entry point. Page config and navigation only; each tool lives in pages/."""

from pathlib import Path

import streamlit as st

st.set_page_config(page_title="SAR Studio", page_icon=":material/satellite_alt:", layout="wide")

_HERE = Path(__file__).parent
# Material icons ship with Streamlit's own font, so they render without an emoji font on the machine.
_PAGES = [
    ("pages/home.py", "Home", ":material/home:"),
    ("pages/translate.py", "SAR to optical", ":material/palette:"),
    ("pages/superres.py", "Super-resolution", ":material/zoom_in:"),
    ("pages/crossband.py", "Cross-band generation", ":material/settings_input_antenna:"),
    ("pages/speckle.py", "Speckle filtering", ":material/grain:"),
    ("pages/train.py", "Training", ":material/model_training:"),
]
pages = [
    st.Page(path, title=title, icon=icon, default=(path == "pages/home.py"))
    for path, title, icon in _PAGES
    if (_HERE / path).exists()
]
st.navigation(pages).run()
