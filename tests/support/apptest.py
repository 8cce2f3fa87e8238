"""Page tests under `streamlit.testing.v1.AppTest`: the page file to run, and widget steps several pages' tests
repeat."""

from tests.support.repo import ROOT


def app_test(page: str, timeout: float = 120):
    """AppTest for one page file under pages/ (run directly, not through app.py's navigation)."""
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(str(ROOT / "pages" / page), default_timeout=timeout)


def _with_model_path(at, path):
    at.radio(key="translate_model_source").set_value("Path on the server").run()
    at.text_input(key="translate_model_path").set_value(str(path)).run()
    return at
