"""The app shell: navigation, home page facts, compute fallback notes, shared widgets, CLI entry."""

import subprocess
import sys

import numpy as np
import pytest

from core.compute import compute_summary, resolve_device
from core.errors import UserError
from tests.support.repo import ROOT


def test_app_runs_and_reruns_with_navigation():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    assert not at.exception and at.title[0].value == "SAR Studio"
    at.run()  # st.navigation with a folder named pages/: the second run must render the page again
    assert not at.exception and at.title[0].value == "SAR Studio"
    labels = [m.label for m in at.metric]
    assert labels == ["PyTorch device", "PyTorch", "ONNX Runtime"]
    import torch

    assert at.metric[1].value == torch.__version__


def test_home_states_cpu_fallback_when_no_gpu():
    import torch
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "pages" / "home.py"), default_timeout=120).run()
    infos = " ".join(i.value for i in at.info)
    if torch.cuda.is_available():
        assert at.metric[0].value.startswith("CUDA")
    else:
        assert at.metric[0].value == "CPU" and "fall back to the CPU" in infos


def test_resolve_device_falls_back_with_a_note(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == ("cpu", None)
    dev, note = resolve_device("cuda")
    assert dev == "cpu" and "CUDA was requested" in note
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == ("cuda", None) and resolve_device("cpu") == ("cpu", None)
    with pytest.raises(UserError, match="unknown device 'tpu'"):
        resolve_device("tpu")


def test_compute_summary_lists_onnx_providers():
    info = compute_summary()
    assert "CPUExecutionProvider" in info["onnx_providers"] and info["cpu_threads"] >= 1


def test_slider_html_is_self_contained():
    from pages.viewer import slider_html

    a = np.zeros((10, 20), np.uint8)
    b = np.full((5, 10, 3), 200, np.uint8)  # other size: resized to the input's
    html = slider_html(a, b, ("SAR", "Optical"))
    assert html.count("data:image/png;base64,") == 2 and "http" not in html
    assert "SAR" in html and "Optical" in html and "aspect-ratio:20/10" in html


def test_cli_without_command_prints_help_and_exits_2():
    res = subprocess.run([sys.executable, "-m", "core"], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 2 and "usage: python -m core" in res.stdout
    res = subprocess.run([sys.executable, "-m", "core", "no-such-command"], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 2 and "invalid choice" in res.stderr and "Traceback" not in res.stderr


def test_slider_escapes_file_names():
    from pages.viewer import slider_html

    a = np.zeros((4, 4), np.uint8)
    html = slider_html(a, a, ("<script>alert(1)</script>.png", "out"))
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_the_browser_tests_server_log_check_sees_warnings_and_rich_tracebacks():
    from tests.e2e.browser import server_log_problems

    clean = "  You can now view your Streamlit app in your browser.\n  URL: http://127.0.0.1:8501\n"
    warned = "2026-12-02 17:00:00.000 WARNING streamlit.elements.lib.policies: The widget with key ..."
    rich = "\x1b[31m──\x1b[0m \x1b[1;31mTraceback \x1b[0m\x1b[1;2;31m(most recent call last)\x1b[0m\n\x1b[1;91mImportError: \x1b[0mx"
    assert server_log_problems(clean) == []
    assert len(server_log_problems(clean + warned)) == 1
    assert len(server_log_problems(rich)) == 2


def test_closed_sessions_are_not_kept_for_minutes():
    """A closed tab's session_state (every page's last results) leaves the server within seconds, not Streamlit's
    default 120 s: with the default, bench/load.py's server RSS grew 10-16 % after round 1 (bench/RESULTS.md)."""
    import tomllib

    from streamlit import config

    cfg = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    ttl = cfg["server"]["disconnectedSessionTTL"]
    assert 5 <= ttl <= 30
    config.get_option("server.disconnectedSessionTTL")  # the option's name is Streamlit's (raises otherwise)
