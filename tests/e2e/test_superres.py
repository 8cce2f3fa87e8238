"""Browser: super-resolve the bundled sample, see PSNR/SSIM against HR, download the x4 PNG."""

from core import io as sio
from tests.e2e.browser import open_page, wait_idle
from tests.support.repo import ROOT

DEMO = ROOT / "checkpoints" / "rgtgan_demo.safetensors"


def test_sample_super_resolve_and_download(page, app_url, tmp_path):
    assert DEMO.exists(), "checkpoints/rgtgan_demo.safetensors ships with the repo (scripts/ make it)"
    open_page(page, app_url, "superres")
    page.get_by_role("button", name="Super-resolve ×4").click()
    wait_idle(page)
    page.get_by_text("Against the true HR image").wait_for()
    page.get_by_text("PSNR RGTGAN").wait_for()  # the metrics render after the heading (a loaded machine shows the gap)
    body = page.inner_text("body")
    assert "PSNR bicubic" in body and "PSNR RGTGAN" in body and "Error" not in body
    with page.expect_download() as dl:
        page.get_by_role("button", name="Super-resolved PNG").click()
    png = tmp_path / "sr.png"
    dl.value.save_as(png)
    out = sio.read_raster(png)
    assert out.data.shape == (256, 256, 3)  # 64x64 sample x4
