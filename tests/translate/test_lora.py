"""LoRA: peft adapters on Conv2d and ConvTranspose2d, SAR2Optical's hand-written layouts, strength, merge, refusal."""

import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from core.errors import UserError
from core.lora import add_lora, apply_adapter, merge_adapter, save_adapter
from models.registry import build


def _tiny_global():
    torch.manual_seed(0)
    m = build("pix2pixhd_global", {"ngf": 4, "n_downsample": 2, "n_blocks": 1, "norm": "batch"})
    with torch.no_grad():
        for k, t in m.state_dict().items():
            if k.endswith("running_var"):
                t.uniform_(0.5, 1.5)
            elif k.endswith("running_mean"):
                t.normal_(0, 0.1)
    return m.eval()


def _randomise_lora(model, seed=1):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if ".lora_B." in n:
                p.copy_(torch.randn(p.shape, generator=g) * 0.2)


def test_add_lora_freezes_base_and_batchnorm_and_starts_at_identity():
    m = _tiny_global()
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        y0 = m(x)
    stats = {k: v.clone() for k, v in m.state_dict().items() if "running" in k}
    add_lora(m, rank=2, alpha=4, dropout=0.0)
    m.train()
    bns = [b for b in m.modules() if isinstance(b, nn.BatchNorm2d)]
    assert bns and not any(b.training for b in bns)
    trainable = [n for n, p in m.named_parameters() if p.requires_grad]
    assert trainable and all(".lora_A." in n or ".lora_B." in n for n in trainable)
    # both kinds of layer carry an adapter: 1 first conv + 2 down + 2 res convs + 2 transpose + 1 final
    assert sum(".lora_A." in n for n in trainable) == 8
    assert any("model.11.lora_A" in n for n in trainable)  # the first ConvTranspose2d, at 4 + 3d + nb
    out = m(x)  # train-mode forward: B = 0, so the output equals the base model's
    assert torch.allclose(out, y0, atol=1e-6)
    out.mean().backward()
    after = {k: v for k, v in m.state_dict().items() if "running" in k and "base_layer" not in k}
    for k, v in stats.items():
        assert torch.equal(after[k], v)  # running statistics untouched by a training-mode pass


def test_conv_transpose_lora_matches_closed_form():
    torch.manual_seed(3)
    net = nn.Sequential(nn.ConvTranspose2d(5, 6, 3, stride=2, padding=1, output_padding=1))
    x = torch.randn(2, 5, 7, 9)
    w0, b0 = net[0].weight.detach().clone(), net[0].bias.detach().clone()
    add_lora(net, rank=3, alpha=6, dropout=0.0, target_modules=["0"])
    _randomise_lora(net)
    layer = net[0]
    a = layer.lora_A["default"].weight.detach()  # (in, r, 3, 3)
    b = layer.lora_B["default"].weight.detach()  # (r, out, 1, 1)
    assert a.shape == (5, 3, 3, 3) and b.shape == (3, 6, 1, 1)
    net.eval()
    with torch.no_grad():
        y = net(x)
        # closed form: the transpose conv with weight W0 + (alpha / r) * sum_r A[i, r] B[r, o]
        delta = torch.zeros_like(w0)
        for i in range(5):
            for o in range(6):
                for r in range(3):
                    delta[i, o] += a[i, r] * b[r, o, 0, 0]
        ref = F.conv_transpose2d(x, w0 + 2.0 * delta, b0, stride=2, padding=1, output_padding=1)
        assert y.shape == (2, 6, 14, 18)
        assert torch.allclose(y, ref, atol=1e-5)
        merge_adapter(net)
        assert isinstance(net[0], nn.ConvTranspose2d)
        assert torch.allclose(net(x), ref, atol=1e-5)


def test_peft_folder_round_trip_strength_and_merge(tmp_path):
    base = _tiny_global()
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    trained = add_lora(_tiny_global(), rank=2, alpha=4)
    _randomise_lora(trained)
    trained.eval()
    with torch.no_grad():
        y_adapter, y_base = trained(x), base(x)
    folder = save_adapter(trained, tmp_path / "adapter")
    cfg = json.loads((folder / "adapter_config.json").read_text())
    assert cfg["r"] == 2 and cfg["lora_alpha"] == 4 and cfg["peft_type"] == "LORA"
    from safetensors.torch import load_file

    keys = list(load_file(str(folder / "adapter_model.safetensors")))
    assert all(k.startswith("base_model.model.") and k.endswith(("lora_A.weight", "lora_B.weight")) for k in keys)

    adapted, note = apply_adapter(base, folder)
    assert "rank 2" in note and "8 layers" in note
    with torch.no_grad():
        assert torch.allclose(adapted(x), y_adapter, atol=1e-6)
        assert torch.allclose(base(x), y_base)  # the base model is left as it was
        zero, _ = apply_adapter(base, folder, strength=0.0)
        assert torch.allclose(zero(x), y_base, atol=1e-6)
        merged = merge_adapter(adapted)
        assert not any("lora" in k for k in merged.state_dict())
        assert set(merged.state_dict()) == set(base.state_dict())
        assert torch.allclose(merged(x), y_adapter, atol=1e-5)


def test_peft_adapter_for_another_model_is_refused(tmp_path):
    trained = add_lora(_tiny_global(), rank=2, alpha=4)
    folder = save_adapter(trained, tmp_path / "adapter")
    wider = build("pix2pixhd_global", {"ngf": 8, "n_downsample": 2, "n_blocks": 1, "norm": "batch"}).eval()
    with pytest.raises(UserError, match="does not fit the model: .*shape mismatches"):
        apply_adapter(wider, folder)
    unet = build("sar2optical_unet", {"width": 4, "n_down": 5}).eval()
    with pytest.raises(UserError, match="does not fit sar2optical_unet: the model has no module model"):
        apply_adapter(unet, folder)


# ------------------------------------------------------------------------ SAR2Optical hand-written adapters


def _sar2optical_adapter(model, rank=4, seed=5):
    g = torch.Generator().manual_seed(seed)
    mods = []
    for i in range(1, 9):
        conv = getattr(model.encoder, f"enc{i}").conv_block[0]
        mods.append(
            {
                "lora_A": {"weight": torch.randn(rank, conv.in_channels, 1, 1, generator=g) * 0.3},
                "lora_B": {"weight": torch.randn(conv.out_channels, rank, 1, 1, generator=g) * 0.3},
            }
        )
    return mods


def _reference_with_encoder_lora(model, x, mods, scaling):
    """Hand-written forward of the SAR2Optical U-Net (eval) with the encoder adapters added after each conv."""
    sd = model.state_dict()
    skips = []
    for i in range(1, 9):
        p = f"encoder.enc{i}.conv_block."
        inp = x
        x = F.conv2d(x, sd[p + "0.weight"], sd.get(p + "0.bias"), stride=2, padding=1)
        a, b = mods[i - 1]["lora_A"]["weight"], mods[i - 1]["lora_B"]["weight"]
        low = F.conv2d(F.conv2d(inp, a), b) * scaling
        x = x + F.interpolate(low, size=x.shape[-2:], mode="bilinear", align_corners=False)
        if i > 1:
            x = F.batch_norm(
                x,
                sd[p + "1.running_mean"],
                sd[p + "1.running_var"],
                sd[p + "1.weight"],
                sd[p + "1.bias"],
                False,
                0.0,
                1e-5,
            )
        x = F.leaky_relu(x, 0.2)
        skips.append(x)
    for j in range(1, 9):
        p = f"decoder.dec{j}.conv_block."
        x = F.conv_transpose2d(x, sd[p + "0.weight"], stride=2, padding=1)
        x = F.relu(
            F.batch_norm(
                x,
                sd[p + "1.running_mean"],
                sd[p + "1.running_var"],
                sd[p + "1.weight"],
                sd[p + "1.bias"],
                False,
                0.0,
                1e-5,
            )
        )
        if j < 8:
            x = torch.cat([skips[8 - 1 - j], x], 1)
    return torch.tanh(F.conv2d(x, sd["head.0.weight"], sd["head.0.bias"], padding=1))


@pytest.mark.parametrize("layout", ["lora_modules", "encoder_enc"])
def test_sar2optical_adapter_layouts_reproduce_their_forward(tmp_path, layout):
    torch.manual_seed(7)
    model = build("sar2optical_unet", {"width": 4}).eval()
    mods = _sar2optical_adapter(model)
    if layout == "lora_modules":
        obj = {"lora_modules": mods, "config": {"rank": 4, "alpha": 8}}
    else:
        obj = {}
        for i, m in enumerate(mods, start=1):
            obj[f"encoder_enc{i}.lora_A.weight"] = m["lora_A"]["weight"]
            obj[f"encoder_enc{i}.lora_B.weight"] = m["lora_B"]["weight"]
    path = tmp_path / "sar2optical_lora.pth"
    torch.save(obj, path)
    x = torch.rand(1, 3, 256, 256) * 2 - 1
    adapted, note = apply_adapter(model, path, strength=0.5)
    alpha = 8 if layout == "lora_modules" else 32  # the flat layout stores no alpha: SAR2Optical's 32
    assert f"alpha {alpha}" in note and "8 encoder convolutions" in note
    with torch.no_grad():
        ref = _reference_with_encoder_lora(model, x, mods, alpha / 4 * 0.5)
        out = adapted(x)
        assert torch.allclose(out, ref, atol=1e-5)
        assert (out - model(x)).abs().max() > 1e-3  # the adapter really changes the output
        assert merge_adapter(adapted) is adapted  # stays as a module (cannot be folded), still works
        assert torch.allclose(adapted(x), ref, atol=1e-5)


def test_sar2optical_adapter_that_does_not_fit_is_refused(tmp_path):
    model = build("sar2optical_unet", {"width": 4}).eval()
    wrong = _sar2optical_adapter(build("sar2optical_unet", {"width": 8}))
    path = tmp_path / "wrong.pth"
    torch.save({"lora_modules": wrong, "config": {"rank": 4, "alpha": 32}}, path)
    with pytest.raises(
        UserError, match=r"wrong.pth does not fit the model: encoder 1 adapter .* takes 3 -> 4 channels"
    ):
        apply_adapter(model, path)
    other = build("pix2pixhd_global", {"ngf": 4, "n_downsample": 2, "n_blocks": 1})
    torch.save({"lora_modules": _sar2optical_adapter(model)}, path)
    with pytest.raises(UserError, match="SAR2Optical encoder adapter but the model is pix2pixhd_global"):
        apply_adapter(other, path)
    torch.save({"something": torch.zeros(3)}, path)
    with pytest.raises(UserError, match="not a LoRA adapter SAR Studio knows"):
        apply_adapter(model, path)
