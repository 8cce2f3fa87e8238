"""The super-resolution page under AppTest: bundled sample, metrics equal to core's, rerun keeps results,
uploads, bad model and bad HR shown as one error line."""

import numpy as np
import pytest
import torch

from core import io as sio
from core import superres as sr
from tests.support.apptest import app_test
from tests.support.repo import ROOT

DEMO = ROOT / "checkpoints" / "rgtgan_demo.safetensors"
SAMPLES = ROOT / "samples" / "superres"


def _metric(at, label):
    for m in at.metric:
        if m.label == label:
            return m.value
    raise AssertionError(f"no metric {label!r}: {[m.label for m in at.metric]}")


def test_sample_super_resolves_and_metrics_match_core():
    at = app_test("superres.py").run()
    assert not at.exception and not at.error
    name = at.selectbox(key="superres_lr_sample").value
    assert at.selectbox(key="superres_ref_sample").value == name == at.selectbox(key="superres_hr_sample").value
    at.button(key="superres_run").click().run()
    assert not at.exception and not at.error
    model, _ = sr.load_superres_model(DEMO)
    read = lambda part: sio.read_raster(SAMPLES / part / name)  # noqa: E731
    res = sr.superres_rasters(read("lr"), read("ref"), model, read("hr"))
    assert _metric(at, "PSNR bicubic") == f"{res.metrics['bicubic']['psnr']:.2f} dB"
    assert _metric(at, "PSNR RGTGAN") == f"{res.metrics['model']['psnr']:.2f} dB"
    assert _metric(at, "SSIM RGTGAN") == f"{res.metrics['model']['ssim']:.4f}"
    assert res.metrics["model"]["psnr"] > res.metrics["bicubic"]["psnr"]
    manual = 10 * np.log10(1 / np.mean((res.sr[4:-4, 4:-4].astype(np.float64) - res.hr[4:-4, 4:-4]) ** 2))
    assert res.metrics["model"]["psnr"] == pytest.approx(manual, abs=1e-6)
    # a rerun (any widget) keeps the result on screen
    at.checkbox(key="superres_use_hr").check().run()
    assert _metric(at, "PSNR bicubic") == f"{res.metrics['bicubic']['psnr']:.2f} dB"


def test_uploads_without_hr_and_a_bad_hr(rng):
    lr = (rng.random((20, 24, 3)) * 255).astype(np.uint8)
    at = app_test("superres.py").run()
    at.radio(key="superres_lr_mode").set_value("Upload").run()
    at.file_uploader(key="superres_lr_upload").set_value(("small.png", sio.encode_png(lr), "image/png")).run()
    at.checkbox(key="superres_use_hr").uncheck().run()
    at.button(key="superres_run").click().run()
    assert not at.exception and not at.error
    assert not at.metric  # no HR, no metrics
    assert any("resized to 4× the LR size (96×80)" in i.value for i in at.info)
    at.checkbox(key="superres_use_hr").check().run()
    at.radio(key="superres_hr_mode").set_value("Upload").run()
    at.file_uploader(key="superres_hr_upload").set_value(("hr.png", sio.encode_png(lr), "image/png")).run()
    at.button(key="superres_run").click().run()
    assert not at.exception
    assert len(at.error) == 1 and "4× the LR image is 96×80" in at.error[0].value


def test_a_model_that_is_not_rgtgan_is_one_error_line(tmp_path):
    at = app_test("superres.py").run()
    at.radio(key="superres_model_src").set_value("Upload a model").run()
    p = tmp_path / "x.pth"
    torch.save({"model.0.weight": torch.zeros(3)}, p)
    at.file_uploader(key="superres_model_upload").set_value(
        ("x_G.pth", p.read_bytes(), "application/octet-stream")
    ).run()
    assert not at.exception and not at.error  # a foreign file is read (torch) when the model runs, not before
    at.button(key="superres_run").click().run()
    assert not at.exception
    assert len(at.error) == 1 and "is not an RGTGAN generator" in at.error[0].value
