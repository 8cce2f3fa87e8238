"""The cross-band page under AppTest: bundled samples end to end, Gram file source, VGG errors, visualisation."""

import numpy as np
import torch

from core import crossband as cb
from core import io as sio
from tests.support.apptest import app_test
from tests.support.repo import ROOT

K = "crossband"


def test_bundled_samples_generate_and_say_which_features_ran():
    at = app_test("crossband.py")
    at.run()
    assert not at.exception
    assert any("random multi-scale features (fallback" in i.value for i in at.info)
    at.number_input(key=f"{K}_steps_random_features").set_value(3)
    at.button(key=f"{K}_run").click()
    at.run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert any("3 adam steps" in s.value for s in at.success)
    result = at.session_state[f"{K}_result"]["result"]
    content = sio.read_raster(ROOT / "samples" / "crossband" / "labrador_vv_content.png").data
    assert np.array_equal(result.content, content)
    assert result.image.shape == content.shape and not np.array_equal(result.image, content)
    assert len(result.history) == 3 and result.history[-1]["style"] < result.history[0]["style"]


def test_gram_file_sample_as_style_source():
    at = app_test("crossband.py")
    at.run()
    at.radio(key=f"{K}_style_source").set_value("Gram file")
    at.run()
    assert not at.exception
    assert any("4 image(s)" in c.value for c in at.caption)
    at.number_input(key=f"{K}_steps_random_features").set_value(2)
    at.button(key=f"{K}_run").click()
    at.run()
    assert not at.exception and not at.error
    state = at.session_state[f"{K}_result"]
    assert state["style"].count == 4 and len(state["result"].history) == 2


def test_missing_vgg_weights_is_one_error_line(monkeypatch):
    monkeypatch.setenv("SAR_STUDIO_VGG_WEIGHTS", "/nonexistent/vgg19.pth")  # the operator's default file is missing
    monkeypatch.delenv("SAR_STUDIO_DATA_ROOTS", raising=False)
    at = app_test("crossband.py")
    at.run()
    at.radio(key=f"{K}_features").set_value("VGG weights file (torchvision .pth)")
    at.run()
    assert not at.exception
    assert [e.value for e in at.error] == [
        "vgg19.pth: VGG weights file not found; give a torchvision vgg19 or "
        "vgg16 .pth file, or use the built-in random features."
    ]


def test_channel_visualisation_grid():
    at = app_test("crossband.py")
    at.run()
    at.selectbox(key=f"{K}_vis_layer").set_value("rand2")
    at.radio(key=f"{K}_vis_pick").set_value("Chosen indices")
    at.run()
    at.text_input(key=f"{K}_vis_idx").set_value("3,7")
    at.number_input(key=f"{K}_vis_size").set_value(48)
    at.number_input(key=f"{K}_vis_steps").set_value(3)
    at.button(key=f"{K}_vis_run").click()
    at.run()
    assert not at.exception and not at.error
    panels = at.session_state[f"{K}_vis"]
    assert [p[0] for p in panels] == ["rand2 ch 3", "rand2 ch 7"]
    # the same call outside the page gives the same images (seeded)
    ref = cb.channel_images(cb.random_extractor(0), "rand2", [3, 7], size=48, steps=3, seed=0)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(panels, ref))


def test_vgg_weights_file_is_named_and_its_layers_offered(tmp_path, data_roots):
    from tests.support.vgg_state import TV_VGG16_CONVS, torchvision_state

    path = tmp_path / "vgg16-test.pth"
    torch.save(torchvision_state(TV_VGG16_CONVS, with_classifier=False), path)
    at = app_test("crossband.py")
    at.run()
    at.radio(key=f"{K}_features").set_value("VGG weights file (torchvision .pth)")
    at.run()
    at.text_input(key=f"{K}_vgg_path").set_value(str(path))
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("VGG16 with weights from vgg16-test.pth" in i.value for i in at.info)
    assert at.multiselect(key=f"{K}_style_layers_vgg16_5").value == [
        "relu1_2",
        "relu2_2",
        "relu3_3",
        "relu4_3",
        "relu5_3",
    ]
    assert at.multiselect(key=f"{K}_content_layers_vgg16").value == ["relu4_3"]
    assert at.number_input(key=f"{K}_steps_vgg16").value == 1000


def test_server_folder_gives_the_mean_gram_of_its_images(data_roots):
    at = app_test("crossband.py")
    at.run()
    at.radio(key=f"{K}_style_mode").set_value("Server folder")
    at.run()
    at.text_input(key=f"{K}_style_folder").set_value(str(ROOT / "samples" / "crossband" / "vh_tiles"))
    at.run()
    assert not at.exception and not at.error
    assert any("mean Gram over 4 images" in c.value for c in at.caption)
    at.number_input(key=f"{K}_steps_random_features").set_value(2)
    at.button(key=f"{K}_run").click()
    at.run()
    state = at.session_state[f"{K}_result"]
    ref = cb.load_gram(ROOT / "samples" / "crossband" / "vh_tiles_gram_random.safetensors", cb.random_extractor(0))
    assert state["style"].count == 4
    for layer, g in ref.grams.items():  # the page's folder mean equals the bundled file made by `gram`
        assert np.allclose(state["style"].grams[layer].numpy(), g.numpy(), rtol=1e-5, atol=1e-9)


def test_style_statistics_are_computed_when_asked_and_equal_cores():
    """The first render computes no Gram (no network runs); the strongest channels of the style, asked for by
    Visualise, are those of core's Gram of the same sample, and the Gram download is offered from then on."""
    at = app_test("crossband.py")
    at.run()
    assert not at.exception and not at.error
    assert f"{K}_style_done" not in at.session_state
    assert not [b for b in at.get("download_button") if "Gram statistics" in str(b.proto.label)]
    assert at.button(key=f"{K}_gram_compute")  # offered instead
    at.selectbox(key=f"{K}_vis_layer").set_value("rand3")
    at.radio(key=f"{K}_vis_pick").set_value("Strongest in the style")
    at.slider(key=f"{K}_vis_count").set_value(2)
    at.number_input(key=f"{K}_vis_size").set_value(48)
    at.number_input(key=f"{K}_vis_steps").set_value(1)
    at.button(key=f"{K}_vis_run").click()
    at.run()
    assert not at.exception and not at.error
    raster = sio.read_raster(ROOT / "samples" / "crossband" / "labrador_vh_style.png")
    style = cb.accumulate_grams(cb.random_extractor(0), [("s", cb.band_display(raster, None))], ["rand3"])
    want = cb.strongest_channels(style.grams["rand3"], 2)
    assert [p[0] for p in at.session_state[f"{K}_vis"]] == [f"rand3 ch {c}" for c in want]
    at.run()
    assert [b for b in at.get("download_button") if "Gram statistics" in str(b.proto.label)]
