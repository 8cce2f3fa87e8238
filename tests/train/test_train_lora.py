"""LoRA and full fine-tuning: what is trained, what stays frozen, and that the saved adapter reproduces it."""

import torch

from core.checkpoints import load_model
from core.train.runs import RunFolder
from core.train.trainer import Trainer
from models.registry import build
from tests.train.configs import _base, _cfg


def test_lora_trains_only_the_adapter_and_the_saved_adapter_reproduces_it(tmp_path):
    from core.lora import apply_adapter

    base_path = _base(tmp_path)
    base, _ = load_model(base_path)
    trainer = Trainer(_cfg(base_path, "lora"), RunFolder(tmp_path / "run"))
    assert trainer.objective == "pix2pix"  # taken from the base checkpoint
    trainable = [n for n, p in trainer.G.named_parameters() if p.requires_grad]
    assert trainable and all(".lora_A." in n or ".lora_B." in n for n in trainable)
    convs = [
        n for n, m in trainer.G.named_modules() if isinstance(m, (torch.nn.ConvTranspose2d,)) and "base_layer" in n
    ]
    assert convs, "LoRA must also wrap the ConvTranspose2d layers"
    result = trainer.fit()
    assert result["status"] == "finished" and result["step"] == 2
    # base weights and BatchNorm running statistics are untouched
    trained = {k.replace(".base_layer", ""): v for k, v in trainer.G.state_dict().items() if "lora_" not in k}
    for k, v in base.state_dict().items():
        torch.testing.assert_close(trained[k], v, rtol=0, atol=0, msg=k)
    assert any(float(p.detach().abs().sum()) > 0 for n, p in trainer.G.named_parameters() if ".lora_B." in n)
    # the adapter folder applied to the base gives the trained model's output
    adapted, note = apply_adapter(base, tmp_path / "run" / "adapter")
    assert "rank 2" in note
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    trainer.G.eval()
    with torch.no_grad():
        torch.testing.assert_close(adapted(x), trainer.G(x), rtol=1e-4, atol=1e-5)
        merged, meta = load_model(tmp_path / "run" / "generator.safetensors")
        torch.testing.assert_close(merged(x), trainer.G(x), rtol=1e-4, atol=1e-5)
    assert meta["task"] == "lora" and meta["normalization"]["input"] == "x/255*2-1"
    # the only epoch is also the best one: its adapter is kept as best_adapter/ and equals the final one
    best, _ = apply_adapter(base, tmp_path / "run" / "best_adapter")
    with torch.no_grad():
        torch.testing.assert_close(best(x), adapted(x), rtol=0, atol=0)


def test_full_finetune_moves_the_base_weights(tmp_path):
    base_path = _base(tmp_path)
    base, _ = load_model(base_path)
    trainer = Trainer(_cfg(base_path, "finetune"), RunFolder(tmp_path / "ft"))
    assert all(p.requires_grad for p in trainer.G.parameters())
    trainer.fit()
    tuned, meta = load_model(tmp_path / "ft" / "generator.safetensors")
    w0 = base.state_dict()["encoder.enc1.conv_block.0.weight"]
    w1 = tuned.state_dict()["encoder.enc1.conv_block.0.weight"]
    assert float((w1 - w0).abs().max()) > 1e-5
    assert meta["task"] == "finetune" and meta["steps"] == 2


def test_finetune_starts_from_a_foreign_sar2optical_pth(tmp_path):
    # a SAR2Optical-style state_dict saved by DataParallel (module. prefix), read through the translation loader
    torch.manual_seed(2)
    g = build("sar2optical_unet", dict(width=4, n_down=5))
    torch.save({"module." + k: v for k, v in g.state_dict().items()}, tmp_path / "pix2pix_gen_1.pth")
    trainer = Trainer(_cfg(tmp_path / "pix2pix_gen_1.pth", "finetune"), RunFolder(tmp_path / "f"))
    assert trainer.objective == "pix2pix"
    torch.testing.assert_close(trainer.G.state_dict()["head.0.weight"], g.state_dict()["head.0.weight"])
    assert trainer.fit()["status"] == "finished"
