"""core.checkpoints: our safetensors format rebuilds a network from metadata; safe loading of .pth."""

import json
import pickle

import pytest
import torch
from torch import nn

from core import checkpoints as ck
from core.errors import UserError
from models.registry import REGISTRY, register


@pytest.fixture(scope="module")
def tiny_arch():
    name = "test_tiny_conv"
    if name not in REGISTRY:

        @register(name, task="feature", label="tiny test network")
        class TinyConv(nn.Module):
            def __init__(self, channels: int = 4, kernel: int = 3):
                super().__init__()
                self.conv = nn.Conv2d(1, channels, kernel, padding=kernel // 2)

    return REGISTRY[name]


def test_config_is_recorded_with_defaults(tiny_arch):
    m = tiny_arch(channels=6)
    assert m.config == {"channels": 6, "kernel": 3} and m.arch_name == "test_tiny_conv"


def test_save_and_rebuild_from_metadata(tmp_path, tiny_arch):
    m = tiny_arch(channels=5, kernel=5)
    path = ck.save_model(tmp_path / "m.safetensors", m, normalization={"input": "x/255*2-1"}, step=7)
    meta = ck.read_metadata(path)
    assert meta["arch"] == "test_tiny_conv" and meta["config"] == {"channels": 5, "kernel": 5}
    assert meta["normalization"] == {"input": "x/255*2-1"} and meta["step"] == 7
    m2, meta2 = ck.load_model(path)
    assert m2.conv.weight.shape == (5, 1, 5, 5) and not m2.training
    assert torch.equal(m2.conv.weight, m.conv.weight)


def test_strict_load_names_architecture_and_keys(tiny_arch):
    m = tiny_arch(channels=4)
    bad = {"conv.weight": torch.zeros(4, 1, 3, 3), "extra.bias": torch.zeros(1)}
    with pytest.raises(UserError) as e:
        ck.load_state_strict(m, bad, "test_tiny_conv", "x.pth")
    msg = str(e.value)
    assert "does not fit architecture test_tiny_conv" in msg and "conv.bias" in msg and "extra.bias" in msg


def test_not_our_format_and_not_safetensors(tmp_path):
    from safetensors.torch import save_file

    save_file({"a": torch.zeros(1)}, str(tmp_path / "plain.safetensors"))
    with pytest.raises(UserError, match="no SAR Studio metadata"):
        ck.load_model(tmp_path / "plain.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 20)
    with pytest.raises(UserError, match="not a readable safetensors"):
        ck.load_model(tmp_path / "junk.safetensors")


class _Evil:
    def __reduce__(self):
        return (exec, ("open('/tmp/sar_studio_pwned','w').write('x')",))


def test_pth_with_code_is_refused_and_not_executed(tmp_path):
    import os

    p = tmp_path / "evil.pth"
    torch.save({"w": torch.zeros(1), "payload": _Evil()}, p)
    if os.path.exists("/tmp/sar_studio_pwned"):
        os.remove("/tmp/sar_studio_pwned")
    with pytest.raises(UserError, match="refused for safety"):
        ck.torch_load_weights(p)
    assert not os.path.exists("/tmp/sar_studio_pwned")


def test_pth_truncated_and_plain(tmp_path):
    p = tmp_path / "ok.pth"
    torch.save({"w": torch.arange(3)}, p)
    assert torch.equal(ck.torch_load_weights(p)["w"], torch.arange(3))
    (tmp_path / "cut.pth").write_bytes(p.read_bytes()[:40])
    with pytest.raises(UserError, match="not a readable PyTorch checkpoint"):
        ck.torch_load_weights(tmp_path / "cut.pth")


def test_save_tensors_roundtrip(tmp_path):
    p = ck.save_tensors(tmp_path / "g.safetensors", {"gram.0": torch.eye(3)}, kind="gram", layers=["relu1_2"])
    t, meta = ck.load_tensors(p)
    assert torch.equal(t["gram.0"], torch.eye(3)) and meta == {"kind": "gram", "layers": ["relu1_2"]}
    assert json.loads(json.dumps(meta)) == meta and pickle  # metadata is plain JSON


def test_random_bytes_are_unreadable_not_unsafe(tmp_path):
    import numpy as np

    p = tmp_path / "noise.pth"
    p.write_bytes(np.random.default_rng(0).integers(0, 256, 2000, dtype=np.uint8).tobytes())
    with pytest.raises(UserError) as e:
        ck.torch_load_weights(p)
    assert "not a readable PyTorch checkpoint" in str(e.value) and "safety" not in str(e.value)


def test_refusal_names_the_offending_global(tmp_path):
    p = tmp_path / "evil2.pth"
    torch.save({"payload": _Evil()}, p)
    with pytest.raises(UserError, match=r"refused for safety \(it references exec\)"):
        ck.torch_load_weights(p)
