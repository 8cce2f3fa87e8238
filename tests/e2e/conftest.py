"""Browser tests: the real app served by `streamlit run`, driven by Debian's chromium through playwright.

Never `playwright install` (it downloads a browser): we launch /usr/bin/chromium with executable_path.
Without chromium the tests skip locally and fail under CI (CI=true), where .ci/run installs it.
"""

import pytest

from tests.e2e.browser import ARGS, CHROMIUM, server_log_problems, start_app, stop_app


@pytest.fixture(scope="session")
def app_url(tmp_path_factory):
    # Server paths on and confined to pytest's temporary folders, where the tests write the files they type in
    # (a default server has no server-path fields: tests/e2e/test_confinement.py).
    log_dir = tmp_path_factory.mktemp("streamlit")
    proc, url = start_app(log_dir, {"SAR_STUDIO_DATA_ROOTS": str(tmp_path_factory.getbasetemp())})
    yield url
    stop_app(proc)
    # The server's log stays clean through every browser test: a Streamlit warning (a widget given a default and
    # a session-state value, a deprecated argument...) or a traceback fails the run here.
    bad = server_log_problems((log_dir / "server.log").read_text(errors="replace"))
    assert not bad, "the Streamlit server logged warnings or errors during the browser tests:\n" + "\n".join(bad[:20])


@pytest.fixture(scope="session")
def browser(app_url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser, tmp_path):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    pg = ctx.new_page()
    pg.set_default_timeout(120_000)
    yield pg
    try:
        pg.screenshot(path=str(tmp_path / "last.png"), full_page=True)
    finally:
        ctx.close()
