"""models.registry: each network's task and label, and every list of networks derived from them."""

import pytest
import torch
from torch import nn

from core.checkpoints import describe_arch
from core.translate import generators
from models import registry


@pytest.fixture(scope="module")
def dummy_translate():
    """A network registered in the test only, as a new file in models/ would register it."""
    name = "test_dummy_translate"
    if name not in registry.REGISTRY:

        @registry.register(name, task="translate", label="dummy test generator")
        class DummyGenerator(nn.Module):
            def __init__(self, width: int = 2):
                super().__init__()
                self.conv = nn.Conv2d(3, width, 1)

    yield name
    registry.REGISTRY.pop(name)
    registry._extra.pop(name)  # registered outside models/: the registry keeps its declaration beside the files'


def test_every_shipped_network_has_a_known_task_and_a_label():
    shipped = {n: d for n, d in registry.declarations().items() if d.module}
    assert len(shipped) >= 14
    for name, decl in shipped.items():
        cls = registry.network_class(name)  # imports the declaring module: its @register line files the class
        assert cls.__module__ == decl.module, name
        assert (cls.arch_task, cls.arch_label, cls.arch_article) == (decl.task, decl.label, decl.article), name
        assert cls.arch_task in registry.TASKS, name
        assert cls.arch_label and cls.arch_article in ("a", "an"), name


def test_the_declaration_read_from_the_text_is_what_the_built_network_records():
    """full_config and size_multiple, read from models/*.py without torch, against networks actually built
    (on the meta device: shapes only), at their defaults and, for the translation generators, at other sizes."""
    for name, decl in registry.declarations().items():
        if not decl.module:
            continue
        with torch.device("meta"):
            net = registry.build(name)
        assert registry.full_config(name) == net.config, name
        assert registry.size_multiple(name) == net.size_multiple, name
    others = {
        "sar2optical_unet": {"n_down": 5, "width": 8},
        "junyan_unet": {"num_downs": 6, "ngf": 8},
        "pix2pixhd_global": {"n_downsample": 2, "ngf": 8, "n_blocks": 1},
        "pix2pixhd_local": {"n_downsample_global": 2, "n_local_enhancers": 2, "ngf": 8, "n_blocks_global": 1},
    }
    for name, config in others.items():
        m = registry.size_multiple(name, config)
        with torch.device("meta"):
            net = registry.build(name, config).eval()
            assert registry.full_config(name, config) == net.config, name
            assert m == net.size_multiple, name
            c = net.config["in_channels"]
            # the independent reference: the network itself keeps a multiple of m and not a side half a step off
            assert net(torch.zeros(1, c, 2 * m, 3 * m)).shape[2:] == (2 * m, 3 * m), name
            try:
                kept = net(torch.zeros(1, c, 2 * m + m // 2, 3 * m)).shape[2:] == (2 * m + m // 2, 3 * m)
            except RuntimeError:
                kept = False
            assert not kept, name
    assert registry.size_multiple("sar2optical_unet", {"n_down": 5}) == 32  # 2 ** n_down, by hand
    assert registry.size_multiple("pix2pixhd_local", {"n_downsample_global": 2, "n_local_enhancers": 2}) == 16
    assert registry.size_multiple("rgtgan") == 1


def test_a_decorator_argument_that_is_not_a_literal_is_refused_naming_the_file(tmp_path, monkeypatch):
    (tmp_path / "bad_net.py").write_text(
        'from models.registry import register\nLABEL = "x"\n\n\n@register("bad", task="feature", label=LABEL)\n'
        "class Bad:\n    pass\n"
    )
    monkeypatch.setattr(registry, "MODELS", tmp_path)
    registry._declared_in_files.cache_clear()
    try:
        with pytest.raises(ValueError, match=r"models/bad_net.py:5: @register takes plain literal arguments"):
            registry.declarations()
    finally:
        monkeypatch.undo()
        registry._declared_in_files.cache_clear()


def test_lists_by_task_are_the_networks_of_that_task():
    assert set(registry.names("translate")) == {
        "sar2optical_unet",
        "junyan_unet",
        "pix2pixhd_global",
        "pix2pixhd_local",
    }
    assert set(registry.names("superres")) == {"rgtgan", "rrsgan"}
    assert registry.names("despeckle") == ("merlin",)
    assert set(registry.names("discriminator")) == {"patchgan", "multiscale_discriminator", "rgtgan_discriminator"}
    assert set(generators.generator_archs()) == set(registry.names("translate"))


def test_a_new_translate_network_appears_in_every_derived_list(dummy_translate):
    assert dummy_translate in registry.names("translate")
    assert dummy_translate in generators.generator_archs()
    assert dummy_translate in generators.GENERATOR_ARCHS  # the old constant name, derived on use
    assert generators.ARCH_LABELS[dummy_translate] == "dummy test generator"
    assert generators.arch_label(dummy_translate) == "dummy test generator"
    assert describe_arch(dummy_translate) == "a dummy test generator"
    assert dummy_translate not in registry.names("superres")
    assert registry.build(dummy_translate, {"width": 3}).config == {"width": 3}


def test_labels_and_descriptions_in_messages():
    assert generators.arch_label("sar2optical_unet") == "SAR2Optical U-Net"
    assert describe_arch("rgtgan") == "an RGTGAN super-resolution network"
    assert describe_arch("merlin") == "a MERLIN despeckling network"
    assert describe_arch("no_such_net") == "a no_such_net network"


def test_unknown_names_and_tasks_are_refused_in_one_line():
    with pytest.raises(registry.UnknownArchitecture, match="unknown architecture 'nope'; known: .*rgtgan"):
        registry.build("nope")
    with pytest.raises(ValueError, match="not one of"):
        registry.register("x", task="colour")
    with pytest.raises(ValueError, match="not one of"):
        registry.names("colour")
