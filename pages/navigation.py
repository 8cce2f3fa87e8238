"""The app's six pages and its navigation, declared in one place for app.py and for the pages themselves.

Why the pages take part: with a folder named pages/ beside app.py, a fresh Streamlit 1.67 server runs in its old
multipage mode (every pages/*.py listed in the sidebar, each run on its own, app.py skipped) until the first
`st.navigation` call in the process. A first request for /speckle therefore runs pages/speckle.py alone. Every
page calls `ensure_navigation()` first (tool pages through `pages.components`): if app.py has not declared the
navigation yet in this process, the page declares it and reruns, and from then on app.py runs every page.
The rerun is measured to be needed: without it the first widget choice on a fresh server is lost (the widgets of
that one run are registered under app.py instead of the page).
Measured with Streamlit 1.67 (a toy app, fresh server, headless Chromium): declaring `st.navigation` once in app.py
with the page list there does not remove this. Opened first on /two, with pages/two.py present, app.py did not run
and the sidebar showed the folder's files ("app", "two"); with the page's url_path not a file stem of pages/
(/second), app.py ran and the sidebar was right but a "page not found" dialog was shown first. Streamlit decides
this from the mere existence of a pages/ folder beside the main script (PagesManager.uses_pages_directory), and
no public option turns it off, so the ritual stays while the folder is named pages/.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parent.parent  # the app folder; PAGES paths are relative to it

# (file, title, icon, url). Material icons ship with Streamlit's own font, so they render without an emoji font.
PAGES = [
    ("pages/home.py", "Home", ":material/home:", "home"),
    ("pages/translate.py", "SAR to optical", ":material/palette:", "translate"),
    ("pages/superres.py", "Super-resolution", ":material/zoom_in:", "superres"),
    ("pages/crossband.py", "Cross-band generation", ":material/settings_input_antenna:", "crossband"),
    ("pages/speckle.py", "Speckle filtering", ":material/grain:", "speckle"),
    ("pages/train.py", "Training", ":material/model_training:", "train"),
]
HOME = PAGES[0][0]

_declared = False  # Streamlit's old mode ends for the whole process at the first st.navigation, so this is too


def tool_pages() -> list[st.Page]:
    """The six pages as st.Page objects (Home is the default, served at /)."""
    return [
        # The default page is served at "/" but still reserves a pathname: "index", so that /home stays free
        # for the hidden twin below.
        st.Page(ROOT / file, title=title, icon=icon, url_path="index" if file == HOME else url, default=(file == HOME))
        for file, title, icon, url in PAGES
    ]


def declare_navigation() -> st.Page:
    """Page config and the sidebar navigation; returns the page to run. app.py calls this on every run."""
    global _declared
    _declared = True
    st.set_page_config(page_title="SAR Studio", page_icon=":material/satellite_alt:", layout="wide")
    home_file, home_title, home_icon, home_url = PAGES[0]
    # /home opens Home too (not "page not found"); hidden, so the sidebar lists each page once.
    home_alias = st.Page(ROOT / home_file, title=home_title, icon=home_icon, url_path=home_url, visibility="hidden")
    return st.navigation([*tool_pages(), home_alias], position="sidebar")


def ensure_navigation() -> None:
    """Run first by every page: declare the app's navigation and rerun if this process has not done so yet."""
    if not _declared:
        declare_navigation()
        st.rerun()
