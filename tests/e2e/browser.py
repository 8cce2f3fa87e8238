"""What the browser tests drive: the app started with `streamlit run` on a free port, Debian's chromium and its
flags, waiting for a script run to finish, opening a page by its URL path, and the server-log check. The fixtures
built on these are in conftest.py; scripts/docker_smoke.sh uses the same chromium flags."""

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.support.repo import ROOT

CHROMIUM = os.environ.get("CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(log_dir: Path, extra_env: dict[str, str | None] | None = None):
    """Start `streamlit run app.py` on a free port; returns (process, url). `extra_env`: variables to set
    (None removes one)."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"chromium not found at {CHROMIUM}; .ci/run should have installed it")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    port = _free_port()
    log = log_dir / "server.log"
    env = dict(
        os.environ,
        STREAMLIT_BROWSER_GATHER_USAGE_STATS="false",
        PYTHONUNBUFFERED="1",
        SAR_STUDIO_RUNS=str(log_dir / "runs"),
    )
    for k, v in (extra_env or {}).items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    with open(log, "w") as fh:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                str(ROOT / "app.py"),
                "--server.port",
                str(port),
                "--server.address",
                "127.0.0.1",
                "--server.headless",
                "true",
                "--server.fileWatcherType",
                "none",
            ],
            cwd=ROOT,
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=env,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(url + "/_stcore/health", timeout=2).read() == b"ok":
                return proc, url
        except OSError:
            time.sleep(0.5)
    proc.kill()
    pytest.fail("streamlit did not start:\n" + log.read_text()[-2000:])


def stop_app(proc) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def server_log_problems(text: str) -> list[str]:
    """Lines of a server log that report a warning, an error or a traceback (colour codes removed first: Streamlit
    prints tracebacks with rich, one escape sequence between every word)."""
    plain = re.sub(r"\x1b\[[0-9;]*m", "", text)
    marks = ("WARNING", "Warning:", "ERROR", "Error:", "Traceback")
    return [line.strip() for line in plain.splitlines() if any(m in line for m in marks)]


def wait_idle(page, timeout: float = 180) -> None:
    """Wait until Streamlit has finished the current script run (stApp's data-test-script-state)."""
    page.wait_for_timeout(400)
    page.wait_for_function(
        "() => { const a = document.querySelector('[data-testid=\"stApp\"]');"
        " return a && a.getAttribute('data-test-script-state') === 'notRunning'; }",
        timeout=timeout * 1000,
    )
    page.wait_for_timeout(300)


def open_page(page, app_url: str, url_path: str) -> None:
    """Open one tool page by its URL path (the file name under pages/ without .py, e.g. 'speckle')."""
    page.goto(f"{app_url}/{url_path}")
    page.wait_for_selector('[data-testid="stApp"]')
    wait_idle(page)


def choose(page, select, option: str, tries: int = 5) -> None:
    """Pick `option` in a Streamlit selectbox (`select`, a locator of its stSelectbox): open the list and click the
    option, opening it again when a click landed while the page was still laying out (an expander opening, a rerun
    replacing the widget) and no list appeared."""
    wanted = page.get_by_role("option", name=option)
    for _ in range(tries):
        wait_idle(page)
        select.click()
        for _ in range(25):  # up to 5 s for the list to open
            if wanted.count() and wanted.first.is_visible():
                wanted.first.click()
                return
            page.wait_for_timeout(200)
        page.keyboard.press("Escape")
    raise AssertionError(f"the selectbox never offered {option!r}")
