"""The catalogue every page uses: the checkpoints folder honours SAR_STUDIO_CHECKPOINTS, only translation
generators are offered for translation, adapters and samples are listed from their folders."""

import json

import pytest
import torch

from core import catalog
from core.checkpoints import save_model
from models.registry import build


@pytest.fixture
def ckpt(tmp_path, monkeypatch):
    folder = tmp_path / "models"
    folder.mkdir()
    monkeypatch.setenv("SAR_STUDIO_CHECKPOINTS", str(folder))
    monkeypatch.setenv("SAR_STUDIO_RUNS", str(tmp_path / "runs"))
    return folder


def test_checkpoints_folder_follows_the_environment(ckpt, monkeypatch):
    assert catalog.checkpoints_dir() == ckpt
    monkeypatch.delenv("SAR_STUDIO_CHECKPOINTS")
    assert catalog.checkpoints_dir() == catalog.ROOT / "checkpoints"


def test_only_translation_generators_are_offered_for_translation(ckpt):
    torch.manual_seed(0)
    save_model(ckpt / "b_unet.safetensors", build("sar2optical_unet", {"width": 4, "n_down": 3}))
    save_model(
        ckpt / "c_rgtgan.safetensors",
        build(
            "rgtgan",
            {
                "ngf": 8,
                "n_blocks": 1,
                "groups": 2,
                "gtem_nf": 8,
                "gtem_blocks": 1,
                "align_tail_blocks": 1,
                "dense_rounds": 1,
                "dense_steps": 1,
            },
        ),
    )
    (ckpt / "a_foreign.pth").write_bytes(b"not checked until loaded")
    (ckpt / "d_broken.safetensors").write_bytes(b"not a safetensors file")
    (ckpt / "e_notes.txt").write_text("not a model")
    (ckpt / "b_unet.md").write_text("# card")
    adapter = ckpt / "f_adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"r": 4}))
    (ckpt / "g_plain_folder").mkdir()

    assert [p.name for p in catalog.translation_models()] == ["a_foreign.pth", "b_unet.safetensors"]
    assert [p.name for p in catalog.base_generators()] == ["b_unet.safetensors"]
    assert [p.name for p in catalog.adapters()] == ["f_adapter"]
    assert catalog.model_card(ckpt / "b_unet.safetensors") == "# card"
    assert catalog.model_card(ckpt / "a_foreign.pth") is None
    assert catalog.superres_demo() is None
    (ckpt / catalog.SUPERRES_DEMO).write_bytes(b"x")
    assert catalog.superres_demo() == ckpt / catalog.SUPERRES_DEMO


def test_missing_checkpoints_folder_lists_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("SAR_STUDIO_CHECKPOINTS", str(tmp_path / "absent"))
    monkeypatch.setenv("SAR_STUDIO_RUNS", str(tmp_path / "runs"))
    assert catalog.translation_models() == [] and catalog.adapters() == [] and catalog.base_generators() == []


def test_samples_by_category_and_pair_partners(tmp_path, monkeypatch):
    monkeypatch.setattr(catalog, "samples_dir", lambda: tmp_path)
    (tmp_path / "pairs" / "sar").mkdir(parents=True)
    (tmp_path / "pairs" / "optical").mkdir(parents=True)
    for name in ("b.png", "a.TIF", "notes.md", ".hidden.png"):
        (tmp_path / "pairs" / "sar" / name).write_bytes(b"x")
    (tmp_path / "pairs" / "sar" / "sub.png").mkdir()  # a folder named like an image is not one
    (tmp_path / "pairs" / "optical" / "b.png").write_bytes(b"x")

    assert [p.name for p in catalog.sample_paths("pairs/sar")] == ["a.TIF", "b.png"]
    assert catalog.sample_paths("nothing_here") == []
    assert catalog.optical_partner("pairs/sar/b.png") == tmp_path / "pairs" / "optical" / "b.png"
    assert catalog.optical_partner("pairs/sar/a.TIF") is None  # no partner file
    assert catalog.optical_partner("sar/b.png") is None  # not a pair sample


def test_bundled_sample_categories_exist():
    """The categories the pages ask for are shipped."""
    for category in ("sar", "pairs/sar", "superres/lr", "superres/ref", "superres/hr"):
        assert catalog.sample_paths(category), category


def test_a_model_described_from_its_metadata_is_the_model_loaded_and_built(ckpt):
    """What the translation page shows before Run (describe_generator: metadata and the networks' declarations,
    no network built) against load_generator, which builds the network and loads its weights: description, task,
    label, input multiple, default tile, channels. Every translation network at sizes other than its defaults, and
    the bundled models."""
    from core.translate.generators import describe_generator, load_generator
    from models.registry import label, names, task_of

    configs = {
        "sar2optical_unet": {"width": 4, "n_down": 6, "in_channels": 1},
        "junyan_unet": {"ngf": 4, "num_downs": 5},
        "pix2pixhd_global": {"ngf": 4, "n_downsample": 2, "n_blocks": 1, "in_channels": 2},
        "pix2pixhd_local": {"ngf": 4, "n_downsample_global": 1, "n_blocks_global": 1, "n_local_enhancers": 2},
    }
    assert set(configs) == set(names("translate"))  # a new translation network gets a row here
    paths = [save_model(ckpt / f"{arch}.safetensors", build(arch, cfg)) for arch, cfg in configs.items()]
    paths += [p for p in (catalog.ROOT / "checkpoints").glob("*.safetensors") if catalog.is_translation_model(p)]
    assert len(paths) >= 6
    for path in paths:
        described, loaded = describe_generator(path), load_generator(path)
        assert described == loaded.info(), path.name
        assert task_of(described.arch) == loaded.model.arch_task == "translate", path.name
        assert label(described.arch) == loaded.model.arch_label == loaded.label, path.name
    # the multiple is what the network needs: 2 ** n_down for the U-Net above (by hand)
    assert describe_generator(ckpt / "sar2optical_unet.safetensors").multiple == 64
    assert describe_generator(ckpt / "pix2pixhd_local.safetensors").multiple == 8
