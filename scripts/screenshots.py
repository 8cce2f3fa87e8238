"""Screenshots of every page at 1400×1000 into docs/screenshots/, each after its main flow ran on the bundled
samples (the page's run button pressed with its defaults), scrolled to the result viewer.

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots] [--chromium /usr/bin/chromium]

Starts `streamlit run app.py` on a free local port, drives Debian's chromium with playwright (no download: the
browser at --chromium), and stops the server at the end. Nothing is fetched from the network.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
# (url path, file name, run button or None, what to scroll to after the run)
PAGES = [
    ("", "home.png", None, None),
    ("translate", "translate.png", "Translate", ".js-plotly-plot"),
    ("superres", "superres.png", "Super-resolve ×4", ".js-plotly-plot"),
    ("crossband", "crossband.png", "Generate", ".js-plotly-plot"),
    ("speckle", "speckle.png", "Run filters", ".js-plotly-plot"),
    ("train", "train.png", None, None),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(log: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = dict(os.environ, STREAMLIT_BROWSER_GATHER_USAGE_STATS="false", PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port", str(port)]
    cmd += ["--server.address", "127.0.0.1", "--server.headless", "true", "--server.fileWatcherType", "none"]
    with open(log, "w") as fh:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(url + "/_stcore/health", timeout=2).read() == b"ok":
                return proc, url
        except OSError:
            time.sleep(0.5)
    proc.kill()
    proc.wait()
    raise SystemExit("error: streamlit did not start; see " + str(log))


def _wait_idle(page, timeout_s: float = 300) -> None:
    page.wait_for_timeout(400)
    page.wait_for_function(
        "() => { const a = document.querySelector('[data-testid=\"stApp\"]');"
        " return a && a.getAttribute('data-test-script-state') === 'notRunning'; }",
        timeout=timeout_s * 1000,
    )
    page.wait_for_timeout(800)


def shrink_png(path: Path) -> None:
    """256-colour palette PNG (the pages are mostly flat colour and grey images): a third of the size or less."""
    from PIL import Image

    with Image.open(path) as im:
        small = im.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    small.save(path, optimize=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    args = ap.parse_args(argv)
    if not Path(args.chromium).exists():
        print(f"error: no chromium at {args.chromium}; install it (apt-get install chromium) or give --chromium")
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    log = Path(tempfile.mkdtemp(prefix="sar_studio_shots_")) / "server.log"
    proc, url = _start(log)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.chromium, args=ARGS, headless=True)
            ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
            page = ctx.new_page()
            page.set_default_timeout(300_000)
            for path, name, button, target in PAGES:
                page.goto(f"{url}/{path}")
                page.wait_for_selector('[data-testid="stApp"]')
                _wait_idle(page)
                if button:
                    page.get_by_role("button", name=button, exact=True).click()
                    _wait_idle(page)
                if target and page.locator(target).count():
                    page.locator(target).first.scroll_into_view_if_needed()
                    page.mouse.wheel(0, -120)  # the viewer's title and colour map picker in view too
                    page.wait_for_timeout(600)
                page.screenshot(path=str(out / name))
                shrink_png(out / name)
                print(f"{out / name}: {(out / name).stat().st_size // 1024} KB")
            browser.close()
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
