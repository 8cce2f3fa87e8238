"""Load test (issue 11 §8): N concurrent browser sessions running the speckle and translation pages, R rounds.

Starts its own `streamlit run app.py` on 127.0.0.1 (a free port, server paths off), drives Debian's chromium
(/usr/bin/chromium, never a downloaded browser) with playwright's async API, one browser context per session. Each
round, every session opens the speckle page and runs the filters on the bundled sample, then opens the translation
page and translates the bundled sample with the bundled demo model. Reported: completions, errors, p50/p95 latency
of a job (button click to its result on screen) and the server's RSS after each round. Target: 4 sessions x 10
rounds, no error, RSS growth under 5 % after the first round.

Bounded: at most 8 sessions and 20 rounds, a deadline for the whole run (--max-seconds), loopback only.

    python bench/load.py [--sessions 4] [--rounds 10] [--max-seconds 540] [--no-write]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import write_section  # noqa: E402

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"]
MAX_SESSIONS, MAX_ROUNDS = 8, 20
JOB_TIMEOUT_MS = 180_000
IDLE_JS = (
    "() => { const a = document.querySelector('[data-testid=\"stApp\"]');"
    " return a && a.getAttribute('data-test-script-state') === 'notRunning'; }"
)
# (page URL path, button, text that appears when the job is done)
JOBS = [("speckle", "Run filters", "Metrics"), ("translate", "Translate", "Notes on this translation")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(log_dir: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = dict(os.environ, SAR_STUDIO_RUNS=str(log_dir / "runs"), PYTHONUNBUFFERED="1")
    env.pop("SAR_STUDIO_DATA_ROOTS", None)  # the default, exposed configuration
    log = open(log_dir / "server.log", "w")  # noqa: SIM115 - open for the server's lifetime
    cmd = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port", str(port)]
    cmd += ["--server.address", "127.0.0.1", "--server.headless", "true", "--server.fileWatcherType", "none"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(url + "/_stcore/health", timeout=2).read() == b"ok":
                return proc, url
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit("streamlit did not start; see " + str(log_dir / "server.log"))


def rss_mb(pid: int) -> float:
    """Resident memory of the server process (and any children), in MB."""
    total = 0
    pids = [pid]
    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(k) for k in kids]
    except OSError:
        pass
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


async def _wait_idle(page) -> None:
    await page.wait_for_timeout(300)
    await page.wait_for_function(IDLE_JS, timeout=JOB_TIMEOUT_MS)


async def run_job(page, url: str, path: str, button: str, done_text: str) -> float:
    """Open one page, click its button, wait for the result; returns the seconds from click to result."""
    await page.goto(f"{url}/{path}")
    await page.wait_for_selector('[data-testid="stApp"]')
    await _wait_idle(page)
    t0 = time.perf_counter()
    await page.get_by_role("button", name=button, exact=True).click()
    await page.get_by_text(done_text).first.wait_for(timeout=JOB_TIMEOUT_MS)
    await _wait_idle(page)
    seconds = time.perf_counter() - t0
    if await page.locator('[data-testid="stException"], [data-testid="stAlertContentError"]').count():
        text = (await page.inner_text("body"))[-300:]
        raise RuntimeError(f"{path}: error on the page: {text!r}")
    return seconds


async def session(browser, url: str, rnd: int, sid: int, out: dict) -> None:
    ctx = await browser.new_context(viewport={"width": 1300, "height": 900})
    page = await ctx.new_page()
    page.set_default_timeout(JOB_TIMEOUT_MS)
    try:
        for path, button, done in JOBS:
            try:
                out["latency"].append(await run_job(page, url, path, button, done))
                out["done"] += 1
            except Exception as exc:  # a failed job is counted, the session goes on
                out["errors"].append(f"round {rnd} session {sid} {path}: {type(exc).__name__}: {str(exc)[:200]}")
    finally:
        await ctx.close()


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


async def main_async(args, proc: subprocess.Popen, url: str) -> dict:
    from playwright.async_api import async_playwright

    rounds = []
    start = time.perf_counter()
    load_start = os.getloadavg()[0]
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        for rnd in range(1, args.rounds + 1):
            if time.perf_counter() - start > args.max_seconds:
                print(f"deadline of {args.max_seconds} s reached before round {rnd}", flush=True)
                break
            out: dict = {"latency": [], "done": 0, "errors": []}
            t0 = time.perf_counter()
            await asyncio.gather(*(session(browser, url, rnd, s, out) for s in range(args.sessions)))
            await asyncio.sleep(1.0)  # let the server drop the closed sessions
            out.update(round=rnd, wall=time.perf_counter() - t0, rss=rss_mb(proc.pid))
            rounds.append(out)
            print(
                f"round {rnd}: {out['done']} done, {len(out['errors'])} errors, wall {out['wall']:.1f} s, "
                f"p50 {_pct(out['latency'], 0.5):.2f} s, RSS {out['rss']:.0f} MB",
                flush=True,
            )
            for e in out["errors"]:
                print("  " + e, flush=True)
        await browser.close()
    return {"rounds": rounds, "seconds": time.perf_counter() - start, "load": (load_start, os.getloadavg()[0])}


def report(args, result: dict) -> str:
    rounds = result["rounds"]
    lat = [x for r in rounds for x in r["latency"]]
    done = sum(r["done"] for r in rounds)
    errors = [e for r in rounds for e in r["errors"]]
    expected = args.sessions * args.rounds * len(JOBS)
    first = rounds[0]["rss"] if rounds else float("nan")
    last = rounds[-1]["rss"] if rounds else float("nan")
    peak = max((r["rss"] for r in rounds), default=float("nan"))
    growth = (last - first) / first * 100 if rounds else float("nan")
    second = rounds[1]["rss"] if len(rounds) > 1 else float("nan")
    growth2 = (last - second) / second * 100 if len(rounds) > 1 else float("nan")
    lines = [
        f"{args.sessions} concurrent browser sessions (chromium, one context each) x {len(rounds)} rounds against one "
        f"`streamlit run app.py` on 127.0.0.1 (server paths off). A round: each session opens the speckle page and "
        f"runs the filters on the bundled sample, then the translation page and translates the bundled sample with "
        f"the bundled demo model; latency is a job's click-to-result time. Whole run {result['seconds']:.0f} s.",
        "",
        "| round | jobs done | errors | round wall (s) | p50 (s) | p95 (s) | server RSS (MB) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rounds:
        lines.append(
            f"| {r['round']} | {r['done']} | {len(r['errors'])} | {r['wall']:.1f} | {_pct(r['latency'], 0.5):.2f} | "
            f"{_pct(r['latency'], 0.95):.2f} | {r['rss']:.0f} |"
        )
    ok = done == expected and not errors and len(rounds) == args.rounds and growth < 5
    if len(rounds) < args.rounds:
        lines.append(f"\nThe deadline (--max-seconds {args.max_seconds:.0f}) ended the run after {len(rounds)} rounds.")
    lines += [
        "",
        f"Completions {done} of {expected}, errors {len(errors)}; latency over all jobs p50 {_pct(lat, 0.5):.2f} s, "
        f"p95 {_pct(lat, 0.95):.2f} s; server RSS {first:.0f} MB after round 1, {last:.0f} MB after the last "
        f"(peak {peak:.0f} MB): growth {growth:+.1f} % after the first round, {growth2:+.1f} % from round 2 "
        f"to the last. Load average during the run: {result['load'][0]:.1f} at the start, {result['load'][1]:.1f} "
        f"at the end, on {os.cpu_count()} cores (other work shares this machine).",
        "",
        f"Target (4 sessions x 10 rounds, no error, RSS growth under 5 % after round 1): {'met' if ok else 'NOT met'}.",
    ]
    lines += [f"- {e}" for e in errors[:10]]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--max-seconds", type=float, default=540, help="stop starting rounds after this long")
    ap.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS.md alone")
    args = ap.parse_args()
    if not 1 <= args.sessions <= MAX_SESSIONS or not 1 <= args.rounds <= MAX_ROUNDS:
        raise SystemExit(f"error: --sessions 1..{MAX_SESSIONS} and --rounds 1..{MAX_ROUNDS}")
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"error: chromium not found at {CHROMIUM}; apt-get install chromium")
    with tempfile.TemporaryDirectory(prefix="sar_studio_load_") as tmp:
        proc, url = start_server(Path(tmp))
        try:
            result = asyncio.run(main_async(args, proc, url))
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
    body = report(args, result)
    print(body)
    if not args.no_write:
        write_section("load", body)


if __name__ == "__main__":
    main()
