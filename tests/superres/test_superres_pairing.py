"""Super-resolution inputs that belong together change together, and an HR or reference image that cannot belong
to the LR image is refused with one line before the network runs (issue 13, item 1)."""

import numpy as np
import pytest

from core import io as sio
from core import superres as sr
from core.errors import UserError
from core.superres.inputs import MIN_HR_PSNR, pair_problem, resize_bicubic
from tests.support.apptest import app_test
from tests.support.repo import ROOT

DEMO = ROOT / "checkpoints" / "rgtgan_demo.safetensors"
SAMPLES = ROOT / "samples" / "superres"


def _metric(at, label):
    return next(m.value for m in at.metric if m.label == label)


def test_switching_the_lr_sample_switches_reference_and_hr_and_scores_against_the_right_hr():
    at = app_test("superres.py").run()
    assert at.selectbox(key="superres_lr_sample").value == "synthetic_town.png"
    at.selectbox(key="superres_lr_sample").set_value("synthetic_fields.png").run()
    assert not at.exception and not at.error
    assert at.selectbox(key="superres_ref_sample").value == "synthetic_fields.png"
    assert at.selectbox(key="superres_hr_sample").value == "synthetic_fields.png"
    at.button(key="superres_run").click().run()
    assert not at.exception and not at.error
    model, _ = sr.load_superres_model(DEMO)
    read = lambda part: sio.read_raster(SAMPLES / part / "synthetic_fields.png")  # noqa: E731
    res = sr.superres_rasters(read("lr"), read("ref"), model, read("hr"))
    assert _metric(at, "PSNR bicubic") == f"{res.metrics['bicubic']['psnr']:.2f} dB"
    # a reference or HR chosen by hand for the same LR stays as chosen
    at.selectbox(key="superres_ref_sample").set_value("synthetic_town.png").run()
    assert at.selectbox(key="superres_ref_sample").value == "synthetic_town.png"


def test_an_hr_image_of_another_scene_is_one_error_line():
    at = app_test("superres.py").run()
    at.selectbox(key="superres_lr_sample").set_value("synthetic_fields.png").run()
    at.selectbox(key="superres_hr_sample").set_value("synthetic_town.png").run()  # the user picks the wrong HR
    at.button(key="superres_run").click().run()
    assert not at.exception and not at.metric
    assert len(at.error) == 1 and "another scene" in at.error[0].value


def test_pair_problem_against_an_independent_psnr(rng):
    blocks = rng.random((16, 12, 3)).astype(np.float32)
    hr = np.repeat(np.repeat(blocks, 4, 0), 4, 1)  # a scene with structure at the LR scale
    lr = np.clip(resize_bicubic(hr, 16, 12), 0, 1)
    assert pair_problem(lr, hr, hr) is None
    other = 1 - hr  # another scene: the negative
    shrunk = np.clip(resize_bicubic(other, 16, 12), 0, 1).astype(np.float64)
    psnr = 10 * np.log10(1 / np.mean((shrunk - lr) ** 2))
    assert psnr < MIN_HR_PSNR
    assert f"PSNR {psnr:.1f} dB" in pair_problem(lr, other, None)
    assert "4× the LR image is 48×64" in pair_problem(lr, hr[:60], None)
    assert "cannot cover" in pair_problem(lr, None, hr[:, :10])  # aspect 1:6 against 3:4
    assert "cannot cover" in pair_problem(lr, None, hr[:8, :6])  # smaller than the LR
    assert pair_problem(lr, None, hr[:, :40]) is None  # a little narrower: resized


def test_core_refuses_the_wrong_hr_before_running_the_model():
    class Boom:
        def __call__(self, *a):
            raise AssertionError("the network ran")

    lr = sio.read_raster(SAMPLES / "lr" / "synthetic_town.png")
    wrong = sio.read_raster(SAMPLES / "hr" / "synthetic_fields.png")
    with pytest.raises(UserError, match="another scene"):
        sr.superres_rasters(lr, lr, Boom(), wrong)
