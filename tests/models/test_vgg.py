"""VGG16/VGG19 feature stacks: torchvision's key names and shapes, strict loading, forward pass."""

import pytest
import torch
import torch.nn.functional as F

from core.checkpoints import load_state_strict
from models.vgg import VGG16, VGG19, split_torchvision_state
from tests.support.vgg_state import TV_CLASSIFIER, TV_VGG16_CONVS, TV_VGG19_CONVS, torchvision_state


def reference_forward(sd, convs, x, stop_after_conv):
    """Plain functional VGG: conv + relu, max pool where torchvision's index skips one."""
    prev = None
    for n, (idx, _, _) in enumerate(convs):
        if prev is not None and idx - prev == 3:
            x = F.max_pool2d(x, 2)
        x = F.relu(F.conv2d(x, sd[f"features.{idx}.weight"], sd[f"features.{idx}.bias"], padding=1))
        prev = idx
        if n == stop_after_conv:
            return x
    return x


@pytest.mark.parametrize("cls,convs", [(VGG19, TV_VGG19_CONVS), (VGG16, TV_VGG16_CONVS)])
def test_keys_and_shapes_match_torchvision(cls, convs):
    own = {k: tuple(v.shape) for k, v in cls().state_dict().items()}
    expected = {}
    for idx, cout, cin in convs:
        expected[f"features.{idx}.weight"] = (cout, cin, 3, 3)
        expected[f"features.{idx}.bias"] = (cout,)
    assert own == expected


@pytest.mark.parametrize("cls,convs,depth", [(VGG19, TV_VGG19_CONVS, 19), (VGG16, TV_VGG16_CONVS, 16)])
def test_torchvision_file_layout_loads_and_classifier_is_dropped_explicitly(cls, convs, depth):
    sd = torchvision_state(convs)
    feats, dropped, detected = split_torchvision_state({"module." + k: v for k, v in sd.items()})
    assert detected == depth
    assert sorted(dropped) == sorted(TV_CLASSIFIER)
    net = cls()
    load_state_strict(net, feats, cls.arch_name, "vgg.pth")
    assert torch.equal(net.features[0].weight, sd["features.0.weight"])


def test_unknown_key_is_reported_not_silently_ignored():
    sd = torchvision_state(TV_VGG19_CONVS)
    sd["classifier.6.weight"] = torch.zeros(10, 4096)  # a fine-tuned head with 10 classes: not torchvision's
    sd["extra.weight"] = torch.zeros(3)
    feats, dropped, _ = split_torchvision_state(sd)
    assert "classifier.6.weight" not in dropped
    from core.errors import UserError

    with pytest.raises(UserError, match="2 unexpected keys"):
        load_state_strict(VGG19(), feats, "vgg19", "vgg.pth")


def test_batchnorm_vgg_is_not_detected_as_plain_vgg():
    sd = torchvision_state(TV_VGG19_CONVS, with_classifier=False)
    sd["features.1.running_mean"] = torch.zeros(64)
    sd = {k.replace("features.2.", "features.3."): v for k, v in sd.items()}  # bn layout shifts indices
    _, _, detected = split_torchvision_state(sd)
    assert detected is None


def test_vgg19_named_layers_equal_a_functional_forward():
    sd = torchvision_state(TV_VGG19_CONVS, with_classifier=False, seed=3)
    net = VGG19()
    net.load_state_dict(sd)
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(1)) * 2 - 1
    layers = {"relu1_2": 1, "relu2_2": 3, "relu3_4": 7, "relu4_4": 11, "relu5_4": 15}
    got = net(x, list(layers))
    for layer, conv_n in layers.items():
        ref = reference_forward(sd, TV_VGG19_CONVS, x, conv_n)
        assert got[layer].shape == ref.shape
        assert torch.allclose(got[layer], ref, atol=1e-5, rtol=1e-4), layer


def test_forward_returns_every_asked_layer_and_stops_early():
    net = VGG16()
    out = net(torch.zeros(1, 3, 32, 32), ["relu1_2", "relu3_3"])
    assert set(out) == {"relu1_2", "relu3_3"}
    assert out["relu3_3"].shape == (1, 256, 8, 8)
    with pytest.raises(KeyError):
        net(torch.zeros(1, 3, 32, 32), ["relu3_4"])  # VGG16 has three convs in block 3
