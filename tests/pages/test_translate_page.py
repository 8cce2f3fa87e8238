"""The translation page under AppTest: empty checkpoints/ said plainly, model by path or from the training page,
pixels equal to the engine's, PSNR/SSIM against an optical image, errors as one line."""

import numpy as np
import pytest
import torch

from core import checkpoints as ck
from core import io as sio
from core import translate as tr
from core.translate import generators as gn
from models.registry import build
from tests.support.apptest import _with_model_path, app_test
from tests.support.repo import ROOT

SAMPLE = ROOT / "samples" / "sar" / "labrador_s1_vv.tif"
pytestmark = pytest.mark.usefixtures("data_roots")  # the model and adapter paths below are typed server paths


def test_empty_checkpoints_folder_is_said_plainly(empty_checkpoints):
    at = app_test("translate.py").run()
    assert not at.exception
    assert at.radio(key="translate_model_source").value == "Upload"
    at.radio(key="translate_model_source").set_value("Bundled (checkpoints/)").run()
    assert any("checkpoints/ is empty" in w.value for w in at.warning)
    assert any("Choose a model above" in i.value for i in at.info)


def test_translate_sample_with_a_server_path_model_matches_the_engine(empty_checkpoints, tiny_model):
    at = _with_model_path(app_test("translate.py").run(), tiny_model)
    at.multiselect(key="translate_sample").set_value(["sar/labrador_s1_vv.tif"]).run()
    assert not at.exception and not at.error
    assert any("SAR2Optical U-Net" in c.value for c in at.caption)
    at.button(key="translate_run").click().run()
    assert not at.exception and not at.error
    infos = " ".join(i.value for i in at.info)
    # a foreign checkpoint on calibrated sigma0: SEN1-2's fixed range, said (issue 20)
    assert "SEN1-2's fixed range" in infos and "Backend: PyTorch eager on CPU" in infos
    result = at.session_state["translate_results"]["results"][0]
    raster = sio.read_raster(SAMPLE)
    expected = tr.translate_raster(raster, tr.open_translator(tiny_model, tr.TranslateOptions(device="cpu")))
    assert result.output.shape == (256, 256, 3)
    assert np.array_equal(result.output, expected.output)
    assert len(at.get("download_button")) >= 3
    # rerun: the result stays while nothing changes
    at.run()
    assert at.session_state["translate_results"]["results"][0].name == "sar/labrador_s1_vv.tif"


def test_model_sent_by_the_training_page_is_preselected_and_optical_metrics(empty_checkpoints, tiny_model, rng):
    at = app_test("translate.py")
    at.session_state["translate_model_path"] = str(tiny_model)
    at.run()
    assert at.radio(key="translate_model_source").value == "Path on the server"
    assert at.text_input(key="translate_model_path").value == str(tiny_model)
    optical = (rng.random((256, 256, 3)) * 255).astype(np.uint8)
    at.file_uploader(key="translate_optical").set_value(("optical.png", sio.encode_png(optical), "image/png")).run()
    at.button(key="translate_run").click().run()
    assert not at.exception and not at.error
    res = at.session_state["translate_results"]["results"][0]
    q = tr.quality_against(res, optical)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["PSNR (dB)"] == f"{q['psnr']:.2f}" and metrics["SSIM"] == f"{q['ssim']:.4f}"


def test_bad_model_and_adapter_show_one_line_errors(empty_checkpoints, tiny_model, tmp_path):
    bad = tmp_path / "latest_net_G.pth"
    torch.save({"backbone.weight": torch.zeros(2, 2)}, bad)
    at = _with_model_path(app_test("translate.py").run(), bad)
    assert not at.exception
    assert len(at.error) == 1 and "unrecognised generator" in at.error[0].value
    at.text_input(key="translate_model_path").set_value(str(tiny_model)).run()
    wrong = tmp_path / "wrong_lora.pth"
    torch.save(
        {
            "lora_modules": [
                {"lora_A": {"weight": torch.zeros(4, 7, 1, 1)}, "lora_B": {"weight": torch.zeros(4, 4, 1, 1)}}
            ]
            * 8
        },
        wrong,
    )
    at.radio(key="translate_adapter_mode").set_value("Path on the server").run()
    at.text_input(key="translate_adapter_path").set_value(str(wrong)).run()
    at.button(key="translate_run").click().run()
    assert not at.exception
    assert len(at.error) == 1 and "does not fit the model" in at.error[0].value
    assert "\n" not in at.error[0].value


def test_safetensors_checkpoint_in_checkpoints_folder_is_listed(empty_checkpoints):
    m = build("sar2optical_unet", {"width": 4}).eval()
    ck.save_model(empty_checkpoints / "demo.safetensors", m, normalization=gn.translation_normalization(3))
    at = app_test("translate.py").run()
    assert not at.exception
    assert at.radio(key="translate_model_source").value == "Bundled (checkpoints/)"
    assert at.selectbox(key="translate_bundled").value == "demo.safetensors"
    assert any("SAR Studio checkpoint" in c.value for c in at.caption)


def test_export_onnx_button_offers_a_checked_file(empty_checkpoints, tiny_model):
    at = _with_model_path(app_test("translate.py").run(), tiny_model)
    at.button(key="translate_run").click().run()
    at.button(key="translate_export").click().run()
    assert not at.exception and not at.error
    assert any("Exported: opset 17" in s.value and "max |ONNX − PyTorch|" in s.value for s in at.success)
    exported = at.session_state["translate_export_file"]
    from core.onnx.inspect_file import inspect_onnx

    info = inspect_onnx(exported["path"])
    assert info.fixed_hw is None and info.metadata["arch"] == "sar2optical_unet"
    assert exported["report"]["max_abs_diff"] < 2e-3


def test_batch_of_samples_gives_a_zip_with_every_result(empty_checkpoints, tiny_model):
    at = _with_model_path(app_test("translate.py").run(), tiny_model)
    at.multiselect(key="translate_sample").set_value(["sar/labrador_s1_vv.tif", "sar/shanghai_s1_vvvh.tif"]).run()
    at.button(key="translate_run").click().run()
    assert not at.exception and not at.error
    results = at.session_state["translate_results"]["results"]
    assert [r.name for r in results] == ["sar/labrador_s1_vv.tif", "sar/shanghai_s1_vvvh.tif"]
    assert any("VV band used" in i.value for i in at.info)  # the dual-pol sample is fed as VV by default
    zips = [b for b in at.get("download_button") if "zip" in str(b.proto.label)]
    assert len(zips) == 1 and "All 2 results" in zips[0].proto.label
    at.selectbox(key="translate_result").set_value("sar/shanghai_s1_vvvh.tif").run()
    assert any("shanghai_s1_vvvh.tif: 256×256 px" in c.value for c in at.caption)


def test_only_translation_generators_are_listed(empty_checkpoints):
    ck.save_model(empty_checkpoints / "b_discriminator.safetensors", build("patchgan", {}), normalization={})
    ck.save_model(
        empty_checkpoints / "a_demo.safetensors",
        build("sar2optical_unet", {"width": 4}),
        normalization=gn.translation_normalization(3),
    )
    at = app_test("translate.py").run()
    assert not at.exception
    assert at.selectbox(key="translate_bundled").options == ["a_demo.safetensors"]


PAIRS = ROOT / "samples" / "pairs"


def test_bundled_pair_sample_is_scored_against_its_optical_partner(empty_checkpoints, tiny_model):
    at = _with_model_path(app_test("translate.py").run(), tiny_model)
    options = at.multiselect(key="translate_sample").options
    assert options[0] == "pairs/sar/synthetic_A_100000.png" and "sar/labrador_s1_vv.tif" in options
    assert at.multiselect(key="translate_sample").value == ["pairs/sar/synthetic_A_100000.png"]
    assert any("real Sentinel-1" in c.value for c in at.caption)
    at.multiselect(key="translate_sample").set_value(["pairs/sar/synthetic_B_100004.png"]).run()
    assert any(
        "samples/pairs/optical/synthetic_B_100004.png" in c.value and "unless you upload" in c.value for c in at.caption
    )
    at.button(key="translate_run").click().run()
    assert not at.exception and not at.error
    res = at.session_state["translate_results"]["results"][0]
    expected = tr.translate_raster(
        sio.read_raster(PAIRS / "sar" / "synthetic_B_100004.png"),
        tr.open_translator(tiny_model, tr.TranslateOptions(device="cpu")),
    )
    assert np.array_equal(res.output, expected.output)
    from core import metrics

    optical = sio.read_raster(PAIRS / "optical" / "synthetic_B_100004.png").data
    assert optical.shape == (256, 256, 3) and optical.dtype == np.uint8
    shown = {m.label: m.value for m in at.metric}
    assert shown["PSNR (dB)"] == f"{metrics.psnr(optical, expected.output, data_range=255):.2f}"
    assert shown["SSIM"] == f"{metrics.ssim(optical, expected.output, data_range=255):.4f}"
    assert any("bundled optical partner, samples/pairs/optical/synthetic_B_100004.png" in c.value for c in at.caption)


def test_real_sentinel1_sample_has_no_partner_metrics(empty_checkpoints, tiny_model):
    at = _with_model_path(app_test("translate.py").run(), tiny_model)
    at.multiselect(key="translate_sample").set_value(["sar/shanghai_s1_vv.tif"]).run()
    assert not any("samples/pairs/optical/" in c.value for c in at.caption)
    at.button(key="translate_run").click().run()
    assert not at.exception and not at.error and len(at.metric) == 0


def test_bundled_lora_adapter_changes_the_output_like_the_engine():
    base = ROOT / "checkpoints" / "pix2pix_unet_demo.safetensors"
    adapter = ROOT / "checkpoints" / "pix2pix_unet_demo_sensorB_lora"
    at = app_test("translate.py").run()
    at.selectbox(key="translate_bundled").set_value(base.name).run()
    assert at.radio(key="translate_adapter_mode").value == "None"
    assert "Bundled" in at.radio(key="translate_adapter_mode").options
    at.multiselect(key="translate_sample").set_value(["pairs/sar/synthetic_B_100005.png"]).run()
    at.button(key="translate_run").click().run()
    assert not at.exception and not at.error
    plain = at.session_state["translate_results"]["results"][0].output
    at.radio(key="translate_adapter_mode").set_value("Bundled").run()
    assert at.selectbox(key="translate_adapter_bundled").options == [adapter.name]
    assert any(e.label == "Adapter card" for e in at.expander)
    assert at.slider(key="translate_strength").value == 1.0
    at.button(key="translate_run").click().run()
    assert not at.exception and not at.error
    adapted = at.session_state["translate_results"]["results"][0].output
    raster = sio.read_raster(PAIRS / "sar" / "synthetic_B_100005.png")
    expected = tr.translate_raster(
        raster, tr.open_translator(base, tr.TranslateOptions(device="cpu", adapter=str(adapter), adapter_strength=1.0))
    )
    assert np.array_equal(adapted, expected.output)
    assert np.abs(adapted.astype(int) - plain.astype(int)).mean() > 1.0


def test_backend_auto_shows_its_choice_and_figures_after_a_run(empty_checkpoints, tiny_model, tmp_path, monkeypatch):
    """--backend auto on the page: after a run, the caption is the sentence the CLI prints with --verbose (the
    measurement itself is replaced by fixed figures here: timing it is the backends tests' job, and slow)."""
    from core.translate import backends

    monkeypatch.setenv("SAR_STUDIO_CACHE", str(tmp_path / "cache"))
    rounds = {"torch": {"1": [0.020, 0.021], "4": [0.010, 0.011]}, "onnx": {"1": [0.050, 0.052], "4": [0.040, 0.041]}}
    fixed = {"timings": {k: {b: min(v) for b, v in per.items()} for k, per in rounds.items()}, "rounds": rounds}
    monkeypatch.setattr(backends, "measure", lambda *a, **k: {**fixed, "n_rounds": 2})
    at = _with_model_path(app_test("translate.py").run(), tiny_model)
    at.multiselect(key="translate_sample").set_value(["sar/labrador_s1_vv.tif"]).run()
    at.selectbox(key="translate_backend").set_value("auto").run()
    at.button(key="translate_run").click().run()
    assert not at.exception and not at.error
    shown = [c.value for c in at.caption if c.value.startswith("Backend auto")]
    assert len(shown) == 1
    assert shown[0].startswith("Backend auto chose PyTorch eager at batch 4: best of 2 interleaved rounds")
    assert "PyTorch eager batch 1 20.0, batch 4 10.0; ONNX Runtime batch 1 50.0, batch 4 40.0" in shown[0]
    assert shown[0] == backends.last_detail()["why"].replace("--backend auto", "Backend auto", 1)
