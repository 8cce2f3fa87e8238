"""models.registry: each network's task and label, and every list of networks derived from them."""

import pytest
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


def test_every_shipped_network_has_a_known_task_and_a_label():
    registry.names("translate")  # fills the registry
    assert len(registry.REGISTRY) >= 14
    for name, cls in registry.REGISTRY.items():
        assert cls.arch_task in registry.TASKS, name
        assert cls.arch_label and cls.arch_article in ("a", "an"), name


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
