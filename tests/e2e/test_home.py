from tests.e2e.conftest import open_page


def test_home_lists_tools_and_compute(page, app_url):
    open_page(page, app_url, "")
    page.get_by_text("Compute in use").wait_for()
    body = page.inner_text("body")
    assert "PyTorch device" in body
    assert "CPU" in body and "No CUDA GPU is visible" in body  # no GPU on CI: the fallback is stated
