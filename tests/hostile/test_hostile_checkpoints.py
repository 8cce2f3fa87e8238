"""Hostile or damaged model files end in one line (`error: ...`, exit 2), never a traceback, and nothing is
allocated for a network the file's metadata only claims (issue 11, points 3 and 6)."""

import json
import math
import os

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from core import checkpoints as ck
from core import io as sio
from core.cli import main
from core.errors import UserError
from core.translate.generators import load_generator, translation_normalization
from models.registry import build

TINY = {"in_channels": 1, "width": 4, "n_down": 5}


def _cli(argv, capsys):
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    return code, err


def _one_line_error(code, err, *words):
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert code == 2, err
    assert len(lines) == 1 and "Traceback" not in err, err
    for w in words:
        assert w.lower() in lines[0].lower(), (w, lines[0])
    return lines[0]


@pytest.fixture()
def gen_file(tmp_path):
    torch.manual_seed(0)
    m = build("sar2optical_unet", TINY)
    return ck.save_model(tmp_path / "gen.safetensors", m, normalization=translation_normalization(1))


@pytest.fixture()
def sar_png(tmp_path):
    img = (np.random.default_rng(1).random((32, 32)) * 255).astype(np.uint8)
    return sio.write_png(tmp_path / "in.png", img)


def _rewrite(src, dst, tensors=None, **meta):
    """Copy a safetensors file, replacing some tensors and/or metadata entries (raw JSON strings)."""
    state = load_file(str(src))
    raw = {k: json.dumps(v) for k, v in ck.read_metadata(src).items()}
    raw.update(meta)
    save_file({**state, **(tensors or {})}, str(dst), metadata=raw)
    return dst


@pytest.mark.parametrize(
    "config, words",
    [
        ("[4, 5]", ["config is a JSON list"]),
        (json.dumps({**TINY, "evil": 1}), ["'evil'", "does not take"]),
        (json.dumps({**TINY, "width": "4"}), ["width", "an integer"]),
        (json.dumps({**TINY, "use_upsampling": 1}), ["use_upsampling", "true or false"]),
    ],
)
def test_malformed_config_is_one_line(gen_file, sar_png, tmp_path, capsys, config, words):
    bad = _rewrite(gen_file, tmp_path / "bad.safetensors", config=config)
    code, err = _cli(["translate", sar_png, tmp_path / "out.png", "--model", bad], capsys)
    _one_line_error(code, err, "bad.safetensors", *words)
    assert not (tmp_path / "out.png").exists()
    with pytest.raises(UserError):
        ck.load_model(bad)


def test_huge_width_is_refused_from_the_estimate_before_allocating(gen_file, sar_png, tmp_path, capsys, monkeypatch):
    bad = _rewrite(gen_file, tmp_path / "huge.safetensors", config=json.dumps({**TINY, "width": 2**20}))
    built = []
    import models.sar2optical_unet as unet

    init = unet.SAR2OpticalUNet.__init__

    def spy(self, *a, **kw):
        built.append(torch.empty(0).device.type)  # the default device while the network is built
        init(self, *a, **kw)

    monkeypatch.setattr(unet.SAR2OpticalUNet, "__init__", spy)
    code, err = _cli(["translate", sar_png, tmp_path / "out.png", "--model", bad], capsys)
    line = _one_line_error(code, err, "huge.safetensors", "GB", "not loaded")
    # the config was only ever built on the meta device (shapes, no memory); 2^20 channels would need terabytes
    assert built == ["meta"], built
    size_gb = float(line.split("network of ")[1].split(" GB")[0])
    # independent closed form: the first 4x4 conv alone holds (2^20 * 1 * 16) weights, the next (2^21 * 2^20 * 16)
    assert size_gb * 1e9 > 2**21 * 2**20 * 16 * 4


def test_rgtgan_file_is_named_for_translate_evaluate_and_finetuning(tmp_path, sar_png, capsys):
    small = dict(ngf=8, n_blocks=1, groups=2, gtem_nf=8, gtem_blocks=1, align_tail_blocks=1, dense_rounds=1)
    rgt = ck.save_model(tmp_path / "rgt.safetensors", build("rgtgan", small))
    code, err = _cli(["translate", sar_png, tmp_path / "o.png", "--model", rgt], capsys)
    _one_line_error(code, err, "rgt.safetensors holds an RGTGAN super-resolution network", "SAR-to-optical generator")
    code, err = _cli(["evaluate", "--model", rgt, "--data", "synthetic", "--out", tmp_path / "ev"], capsys)
    _one_line_error(code, err, "RGTGAN super-resolution network", "SAR-to-optical generator")
    assert not (tmp_path / "ev").exists()
    argv = ["train", "--task", "finetune", "--base-model", rgt, "--data", "synthetic", "--run-dir", tmp_path / "run"]
    code, err = _cli(argv + ["--size", "32", "--synthetic-size", "32", "--epochs", "1"], capsys)
    _one_line_error(code, err, "RGTGAN super-resolution network", "fine-tuning")


@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_non_finite_weights_are_refused_at_load(gen_file, sar_png, tmp_path, capsys, value):
    state = load_file(str(gen_file))
    key = sorted(k for k in state if k.endswith("weight"))[3]
    w = state[key].clone()
    w.view(-1)[5] = value
    bad = _rewrite(gen_file, tmp_path / "nan.safetensors", tensors={key: w})
    code, err = _cli(["translate", sar_png, tmp_path / "out.png", "--model", bad], capsys)
    _one_line_error(code, err, "nan.safetensors", "non-finite", key)
    assert not (tmp_path / "out.png").exists()
    # the same in a foreign .pth (detected from its keys)
    torch.save({k: (w if k == key else v) for k, v in state.items()}, tmp_path / "nan.pth")
    with pytest.raises(UserError, match="non-finite"):
        load_generator(tmp_path / "nan.pth")


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_code_carrying_pickles_are_refused_for_safety(tmp_path, sar_png, capsys):
    marker = tmp_path / "ran"
    torch.save({"w": torch.zeros(2), "x": _Payload(marker)}, tmp_path / "evil.pth")  # torch's zip format
    import pickle

    (tmp_path / "plain.pth").write_bytes(pickle.dumps(_Payload(marker), protocol=4))  # a bare pickle stream
    for name in ("evil.pth", "plain.pth"):
        code, err = _cli(["translate", sar_png, tmp_path / "o.png", "--model", tmp_path / name], capsys)
        line = _one_line_error(code, err, name, "refused for safety")
        assert "download" not in line
    assert not marker.exists()
    # noise is still "not readable", not "unsafe"
    (tmp_path / "noise.pth").write_bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    with pytest.raises(UserError, match="not a readable PyTorch checkpoint"):
        ck.torch_load_weights(tmp_path / "noise.pth")


@pytest.fixture()
def adapter(tmp_path):
    from core.lora import add_lora, save_adapter

    m = add_lora(build("sar2optical_unet", TINY), rank=2, alpha=4, dropout=0.0)
    return save_adapter(m, tmp_path / "adapter")


def test_damaged_adapters_are_refused(gen_file, sar_png, adapter, tmp_path, capsys):
    cfg_path = adapter / "adapter_config.json"
    good = cfg_path.read_text()
    base = ["translate", sar_png, tmp_path / "o.png", "--model", gen_file, "--lora", adapter]

    cfg_path.write_text(good[: len(good) // 2])  # cut in half: corrupt, not missing
    code, err = _cli(base, capsys)
    line = _one_line_error(code, err, "adapter_config.json is corrupt")
    assert "without" not in line and "missing" not in line

    cfg_path.write_text("[1, 2]")
    _one_line_error(*_cli(base, capsys), "adapter_config.json is corrupt")

    cfg = json.loads(good)
    cfg["lora_alpha"] = float("nan")
    cfg_path.write_text(json.dumps(cfg))  # json writes NaN, which json (and peft) read back
    _one_line_error(*_cli(base, capsys), "lora_alpha nan", "finite")

    cfg_path.write_text(good)
    weights = adapter / "adapter_model.safetensors"
    state = load_file(str(weights))
    k = sorted(state)[0]
    state[k] = torch.full_like(state[k], math.inf)
    save_file(state, str(weights), metadata={"format": "pt"})
    _one_line_error(*_cli(base, capsys), "non-finite adapter weights")
    assert not (tmp_path / "o.png").exists()


def test_sar2optical_adapter_with_nan_alpha_is_refused(gen_file, tmp_path):
    from core.lora import apply_adapter

    model, _ = ck.load_model(gen_file)
    pairs = []
    for i in range(1, 6):
        conv = getattr(model.encoder, f"enc{i}").conv_block[0]
        pairs.append(
            {
                "lora_A.weight": torch.zeros(2, conv.in_channels, 1, 1),
                "lora_B.weight": torch.zeros(conv.out_channels, 2, 1, 1),
            }
        )
    torch.save({"lora_modules": pairs, "config": {"rank": 2, "alpha": math.nan}}, tmp_path / "a.pth")
    with pytest.raises(UserError, match="non-finite alpha"):
        apply_adapter(model, tmp_path / "a.pth")
    torch.save({"lora_modules": pairs, "config": {"rank": 2, "alpha": 4.0}}, tmp_path / "ok.pth")
    apply_adapter(model, tmp_path / "ok.pth")  # the same file with a finite alpha applies
