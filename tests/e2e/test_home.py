import torch

from tests.e2e.browser import open_page


def test_home_lists_tools_and_compute(page, app_url):
    open_page(page, app_url, "")
    page.get_by_text("Compute in use").wait_for()
    page.get_by_text("PyTorch device").wait_for()  # the metrics render after the heading
    body = page.inner_text("body")
    assert "PyTorch device" in body
    if torch.cuda.is_available():  # the page states whichever compute this machine has
        assert "CUDA: " + torch.cuda.get_device_name(0) in body and "No CUDA GPU is visible" not in body
    else:
        assert "CPU" in body and "No CUDA GPU is visible" in body
    nav = page.inner_text('[data-testid="stSidebarNav"]')
    for title in ("Home", "SAR to optical", "Super-resolution", "Cross-band generation", "Speckle filtering"):
        assert title in nav
    # st.navigation owns the pages: the shared widgets module in pages/ is not offered as a page
    assert "components" not in nav.lower()
    # each tool name on the page links to its page; the hint says where to start
    for title, url in (("SAR to optical", "translate"), ("Speckle filtering", "speckle"), ("Training", "train")):
        href = page.locator('[data-testid="stMain"] [data-testid="stPageLink-NavLink"]', has_text=title).get_attribute(
            "href"
        )
        assert href.rstrip("/").split("/")[-1] == url
    assert "Start here:" in body
