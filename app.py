"""SAR Studio: entry point. Page config and navigation only; each tool lives in pages/."""
from pathlib import Path

import streamlit as st

st.set_page_config(page_title="SAR Studio", page_icon="🛰️", layout="wide")

_HERE = Path(__file__).parent
_PAGES = [
    ("pages/home.py", "Home", "🏠"),
    ("pages/translate.py", "SAR to optical", "🎨"),
    ("pages/superres.py", "Super-resolution", "🔍"),
    ("pages/crossband.py", "Cross-band generation", "📡"),
    ("pages/speckle.py", "Speckle filtering", "✨"),
    ("pages/train.py", "Training", "🏋️"),
]
pages = [st.Page(path, title=title, icon=icon, default=(path == "pages/home.py"))
         for path, title, icon in _PAGES if (_HERE / path).exists()]
st.navigation(pages).run()
