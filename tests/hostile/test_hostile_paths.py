"""Server paths typed in the browser (issue 11 §1): off by default, confined to SAR_STUDIO_DATA_ROOTS when on, and
every refusal the same sentence whether the path exists, is unreadable, is missing or escapes by a link or `..`."""

import os

import numpy as np
import pytest
from PIL import Image

from core import roots
from core.errors import UserError
from tests.support.apptest import app_test
from tests.support.repo import ROOT


@pytest.fixture
def tree(tmp_path, monkeypatch):
    """allowed/ (the one root) with an image, a link out and a private folder beside it."""
    allowed, private = tmp_path / "allowed", tmp_path / "private"
    allowed.mkdir()
    private.mkdir()
    img = np.full((8, 8), 7, np.uint8)
    Image.fromarray(img).save(allowed / "inside.png")
    Image.fromarray(img).save(private / "secret.png")
    (allowed / "escape.png").symlink_to(private / "secret.png")
    (allowed / "escape_dir").symlink_to(private)
    monkeypatch.setenv("SAR_STUDIO_DATA_ROOTS", str(allowed))
    return allowed, private


def _message(path, want="file"):
    with pytest.raises(UserError) as info:
        roots.resolve_allowed(path, want)
    return str(info.value)


def test_off_by_default(monkeypatch, tmp_path):
    monkeypatch.delenv("SAR_STUDIO_DATA_ROOTS", raising=False)
    assert roots.allowed_roots() == [] and not roots.server_paths()
    monkeypatch.setenv("SAR_STUDIO_DATA_ROOTS", "")
    assert not roots.server_paths()
    (tmp_path / "a.png").write_bytes(b"x")
    assert "server paths are off" in _message(tmp_path / "a.png")


def test_roots_are_colon_separated_and_resolved(monkeypatch, tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "models").mkdir()
    monkeypatch.setenv("SAR_STUDIO_DATA_ROOTS", f"{tmp_path}/data/../data:{tmp_path}/models:")
    assert roots.allowed_roots() == [(tmp_path / "data").resolve(), (tmp_path / "models").resolve()]


def test_inside_is_resolved_and_outside_refused(tree):
    allowed, private = tree
    assert roots.resolve_allowed(allowed / "inside.png", "file") == (allowed / "inside.png").resolve()
    assert roots.resolve_allowed(allowed, "dir") == allowed.resolve()
    assert roots.resolve_allowed(f"{allowed}/sub/../inside.png", "file") == (allowed / "inside.png").resolve()
    expected = (
        f"{private / 'secret.png'} is not a readable file under the allowed data folders ({allowed.resolve()}); "
        "give a path under one of them."
    )
    assert _message(private / "secret.png") == expected


def test_every_refusal_reads_the_same(tree, monkeypatch):
    allowed, private = tree
    unreadable = allowed / "locked.png"
    unreadable.write_bytes(b"x")
    unreadable.chmod(0)
    real_access = os.access
    # root reads a chmod-0 file anyway: make the check see it as other users would
    monkeypatch.setattr(os, "access", lambda p, mode: False if str(p) == str(unreadable) else real_access(p, mode))

    def shape(msg, typed):
        return msg.replace(str(typed), "<PATH>")

    cases = [
        private / "secret.png",  # exists, outside
        private / "missing.png",  # missing, outside
        allowed / "escape.png",  # a link inside that leads outside
        allowed / "escape_dir" / "secret.png",  # through a linked folder
        f"{allowed}/../private/secret.png",  # `..` out of the root
        allowed / "missing.png",  # missing, inside
        unreadable,  # exists, inside, unreadable
        "/etc/passwd",
    ]
    shapes = {shape(_message(c), c) for c in cases}
    assert len(shapes) == 1, shapes
    assert "secret" not in _message(allowed / "escape.png")  # the link target is never echoed
    assert _message(allowed / "inside.png", "dir") == _message(allowed / "nothere", "dir").replace(
        "nothere", "inside.png"
    )


def test_folder_listing_shows_only_images_under_the_roots(tree):
    allowed, _ = tree
    (allowed / "notes.txt").write_text("x")
    assert [p.name for p in roots.list_allowed_images(allowed)] == ["inside.png"]  # escape.png leads outside
    with pytest.raises(UserError, match="not a readable folder"):
        roots.list_allowed_images(allowed / "escape_dir")


def test_pages_have_no_server_path_fields_by_default(monkeypatch, tmp_path):
    monkeypatch.delenv("SAR_STUDIO_DATA_ROOTS", raising=False)
    monkeypatch.setenv("SAR_STUDIO_RUNS", str(tmp_path / "runs"))
    at = app_test("translate.py").run()
    assert "Path on the server" not in at.radio(key="translate_model_source").options
    assert "Server folder" not in at.radio(key="translate_mode").options
    assert not [t for t in at.text_input if "server" in t.label.lower()]
    at = app_test("train.py").run()
    assert "Folder on the server" not in at.radio(key="train_data_mode").options
    at.selectbox(key="train_task").set_value("lora").run()
    assert not [t for t in at.text_input if "server" in t.label.lower()]
    at = app_test("crossband.py").run()
    assert "Server folder" not in at.radio(key="crossband_style_mode").options
    at.radio(key="crossband_features").set_value("VGG weights file (torchvision .pth)").run()
    assert not [t for t in at.text_input if "server" in t.label.lower()]


def test_translate_server_folder_is_confined(tree, tmp_path, monkeypatch):
    allowed, private = tree
    monkeypatch.setenv("SAR_STUDIO_RUNS", str(tmp_path / "runs"))
    at = app_test("translate.py").run()
    at.radio(key="translate_mode").set_value("Server folder").run()
    at.text_input(key="translate_folder").set_value(str(private)).run()
    assert not at.exception
    assert [e.value for e in at.error] == [roots.refusal(str(private), "dir")]
    at.text_input(key="translate_folder").set_value(str(allowed)).run()
    assert not at.error
    assert any("1 images in" in c.value for c in at.caption)  # inside.png only, not the link out
    at.radio(key="translate_model_source").set_value("Path on the server").run()
    at.text_input(key="translate_model_path").set_value(str(private / "secret.png")).run()
    assert [e.value for e in at.error] == [roots.refusal(str(private / "secret.png"), "file")]


def test_a_run_generator_sent_by_training_needs_no_server_paths(monkeypatch, tmp_path):
    monkeypatch.delenv("SAR_STUDIO_DATA_ROOTS", raising=False)
    monkeypatch.setenv("SAR_STUDIO_RUNS", str(tmp_path / "runs"))
    gen = ROOT / "checkpoints" / "pix2pix_unet_demo.safetensors"
    run = tmp_path / "runs" / "r1"
    run.mkdir(parents=True)
    from core.train.runs import RunFolder

    RunFolder(run).write_config({"task": "pix2pix"})
    target = RunFolder(run).generator_path
    target.write_bytes(gen.read_bytes())
    at = app_test("translate.py")
    at.session_state["translate_model_path"] = str(target)
    at.run()
    assert at.radio(key="translate_model_source").value == "From the Training page"
    at = app_test("translate.py")
    at.session_state["translate_model_path"] = str(tmp_path / "elsewhere.safetensors")  # not a run's generator
    at.run()
    assert "From the Training page" not in at.radio(key="translate_model_source").options


def test_streamlit_config_hides_tracebacks_and_listens_on_loopback():
    import tomllib

    cfg = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert cfg["client"]["showErrorDetails"] == "none"
    assert cfg["browser"]["gatherUsageStats"] is False
    assert cfg["server"]["address"] == "127.0.0.1"
    assert cfg["server"]["maxUploadSize"] == 1024


def test_training_folder_with_a_link_out_of_the_roots_is_refused(tree, tmp_path, monkeypatch):
    allowed, private = tree
    monkeypatch.setenv("SAR_STUDIO_RUNS", str(tmp_path / "runs"))
    ds = allowed / "ds"
    for sub in ("sar", "optical"):
        (ds / sub).mkdir(parents=True)
        Image.fromarray(np.full((32, 32), 9, np.uint8)).save(ds / sub / "a.png")
    (ds / "optical" / "b.png").symlink_to(private / "secret.png")
    Image.fromarray(np.full((32, 32), 9, np.uint8)).save(ds / "sar" / "b.png")
    at = app_test("train.py").run()
    at.radio(key="train_data_mode").set_value("Folder on the server").run()
    at.text_input(key="train_folder").set_value(str(ds)).run()
    assert not at.exception
    assert [e.value for e in at.error] == [roots.refusal(str(ds / "optical" / "b.png"), "file")]
    assert at.button(key="train_start").disabled
    (ds / "optical" / "b.png").unlink()
    (ds / "sar" / "b.png").unlink()
    at.text_input(key="train_folder").set_value(str(ds) + "/").run()
    assert not at.error and any("1 image pairs found" in c.value for c in at.caption)
