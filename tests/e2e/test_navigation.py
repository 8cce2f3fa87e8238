"""The sidebar on a fresh server, whatever URL is opened first.

With a folder named pages/ beside app.py, a fresh Streamlit server runs the requested page file on its own until
the app's navigation is declared (pages/navigation.py); each test starts its own server so that the URL is its first.
"""

import pytest

from pages.navigation import PAGES
from tests.e2e.browser import start_app, stop_app, wait_idle

TITLES = [title for _file, title, _icon, _url in PAGES]
URLS = ["", *(url for _file, _title, _icon, url in PAGES)]


def test_the_six_tools_and_their_urls():
    assert TITLES == [
        "Home",
        "SAR to optical",
        "Super-resolution",
        "Cross-band generation",
        "Speckle filtering",
        "Training",
    ]
    assert URLS == ["", "home", "translate", "superres", "crossband", "speckle", "train"]


@pytest.mark.parametrize("url_path", URLS)
def test_fresh_server_sidebar_lists_exactly_the_six_tools(browser, tmp_path, url_path):
    proc, url = start_app(tmp_path)
    try:
        pg = browser.new_page()
        pg.set_default_timeout(120_000)
        pg.goto(f"{url}/{url_path}")
        pg.wait_for_selector('[data-testid="stApp"]')
        wait_idle(pg)
        links = pg.locator('[data-testid="stSidebarNav"] [data-testid="stSidebarNavLink"]')
        # Each link reads "<icon ligature>\n<title>"; the title is its last line.
        shown = [text.strip().splitlines()[-1] for text in links.all_inner_texts()]
        assert shown == TITLES
        assert pg.locator('[role="dialog"]').count() == 0, pg.locator('[role="dialog"]').inner_text()
        if url_path:  # the page asked for is the page shown, under its own URL
            here = pg.url.split("?")[0]  # a page may add its cookie-less ?session= token (core.recent)
            assert here == f"{url}/{url_path}" or (url_path == "home" and here.rstrip("/") == url)
        pg.close()
    finally:
        stop_app(proc)
