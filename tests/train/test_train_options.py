"""Training options users bring from pix2pix / SAR2Optical / pix2pixHD: LR schedules, BCE or LSGAN, a YAML config,
the seeds' discriminator files, a generator every N epochs, loss-curve PNGs, LoRA on the encoder only."""

import math

import numpy as np
import pytest
import torch

from core.errors import UserError
from core.train.config import TrainConfig
from core.train.networks import discriminator_state, load_discriminator
from core.train.runs import RunFolder
from core.train.schedules import lr_at
from core.train.trainer import Trainer
from core.train_dispatch import train
from models.multiscale_discriminator import MultiscaleDiscriminator
from models.patchgan import PatchGAN
from tests.train.configs import _base, _cfg, tiny

# ------------------------------------------------------------------------------------------ LR schedules


def test_linear_policy_is_pix2pix_closed_form():
    cfg = TrainConfig(lr=2e-4, epochs=10, lr_policy="linear", lr_decay_epochs=4)
    for epoch in range(10):
        # pix2pix: lr * (1 - max(0, epoch + epoch_count - n_epochs) / (n_epochs_decay + 1)), epoch_count 1, n_epochs 6
        want = 2e-4 * (1 - max(0, epoch + 1 - 6) / 5)
        assert lr_at(cfg, epoch) == pytest.approx(want)
    assert lr_at(cfg, 5) == pytest.approx(2e-4) and lr_at(cfg, 9) == pytest.approx(2e-4 / 5)


def test_step_and_cosine_policies_match_torch_schedulers():
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=1e-3)
    ms = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[3, 7], gamma=0.1)
    cfg = TrainConfig(lr=1e-3, epochs=10, lr_policy="step", lr_milestones=[3, 7], lr_gamma=0.1)
    for epoch in range(10):
        assert lr_at(cfg, epoch) == pytest.approx(opt.param_groups[0]["lr"], rel=1e-9)
        opt.step()
        ms.step()
    opt = torch.optim.SGD([p], lr=1e-3)
    cos = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10, eta_min=1e-5)
    cfg = TrainConfig(lr=1e-3, epochs=10, lr_policy="cosine", lr_min=1e-5)
    for epoch in range(10):
        assert lr_at(cfg, epoch) == pytest.approx(opt.param_groups[0]["lr"], rel=1e-9)
        assert lr_at(cfg, epoch) == pytest.approx(1e-5 + (1e-3 - 1e-5) * (1 + math.cos(math.pi * epoch / 10)) / 2)
        opt.step()
        cos.step()


def test_a_run_logs_the_scheduled_lr_and_sets_it_on_both_optimizers(tmp_path):
    run = RunFolder(tmp_path / "run")
    train(tiny(epochs=3, lr_policy="step", lr_milestones=[1, 2], lr_gamma=0.5, lr=1e-3), run)
    rows = (run.path / "log.csv").read_text().splitlines()
    header = rows[0].split(",")
    lrs = [float(r.split(",")[header.index("lr")]) for r in rows[1:]]
    epochs = [float(r.split(",")[header.index("epoch")]) for r in rows[1:]]
    for e, lr in zip(epochs, lrs):
        assert lr == pytest.approx(1e-3 * 0.5 ** (math.ceil(e) - 1))
    with pytest.raises(UserError, match="needs --lr-milestones"):
        TrainConfig(lr_policy="step").check()
    with pytest.raises(UserError, match="unknown LR policy"):
        TrainConfig(lr_policy="poly").check()


# ------------------------------------------------------------------------------------------ GAN loss


def test_gan_mode_overrides_the_objective(tmp_path, monkeypatch):
    seen = []
    import core.train.trainer as tr

    real = tr.gan_loss
    monkeypatch.setattr(tr, "gan_loss", lambda pred, target, mode="bce": seen.append(mode) or real(pred, target, mode))
    t = Trainer(TrainConfig(**tiny(gan_mode="lsgan", epochs=1)), RunFolder(tmp_path / "r"))
    sar, opt = t.train_set.batch([0, 1], 0)
    sar, opt = sar.to(t.device), opt.to(t.device)
    t.train_step(sar, opt)
    assert t.objective == "pix2pix" and set(seen) == {"lsgan"}
    seen.clear()
    t = Trainer(TrainConfig(**tiny(epochs=1)), RunFolder(tmp_path / "r2"))
    t.train_step(sar, opt)
    assert set(seen) == {"bce"}
    with pytest.raises(UserError, match="unknown GAN loss"):
        TrainConfig(gan_mode="wgan").check()


# SAR2Optical's config.yaml and the other projects' config files: tests/train/test_source_configs.py


# ------------------------------------------------------------------------------------------ discriminators


def _sar2optical_disc_state(d: PatchGAN) -> dict:
    """Our PatchGAN's weights in SAR2Optical's key layout (DownsamplingBlocks in model.model)."""
    ours = d.state_dict()
    theirs = {}
    blocks = {0: [0], 1: [2, 3], 2: [5, 6], 3: [8, 9]}
    for b, idxs in blocks.items():
        for part, idx in enumerate(idxs):
            for k, v in ours.items():
                if k.startswith(f"model.{idx}."):
                    theirs[f"model.model.{b}.conv_block.{part}.{k.split('.', 2)[2]}"] = v
    for k, v in ours.items():
        if k.startswith("model.11."):
            theirs[f"model.model.4.{k.split('.', 2)[2]}"] = v
    return theirs


def test_sar2optical_discriminator_file_loads_strictly_and_gives_the_same_logits(tmp_path):
    torch.manual_seed(1)
    d = PatchGAN(in_channels=6, ndf=8).eval()
    with torch.no_grad():
        for m in d.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
    path = tmp_path / "pix2pix_disc_180.pth"
    torch.save({"module." + k: v for k, v in _sar2optical_disc_state(d).items()}, path)
    state, layout = discriminator_state(str(path))
    assert layout == "sar2optical"
    net, note = load_discriminator(str(path), "pix2pix", 3)
    assert "sar2optical layout, ndf 8" in note
    x = torch.randn(1, 6, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(net.eval()(x), d(x))
    bad = dict(_sar2optical_disc_state(d))
    bad["model.model.4.extra"] = torch.zeros(1)
    torch.save(bad, path)
    with pytest.raises(UserError, match="model.11.extra|unexpected"):
        load_discriminator(str(path), "pix2pix", 3)


def test_pix2pixhd_discriminator_file_resumes_a_chrgan_run(tmp_path):
    torch.manual_seed(2)
    d = MultiscaleDiscriminator(in_channels=6, ndf=4, n_layers=3, num_D=2)
    path = tmp_path / "latest_net_D.pth"
    torch.save(d.state_dict(), path)
    cfg = TrainConfig(**tiny(task="chrgan", width=4, n_downsample=2, n_blocks=1, epochs=1, discriminator=str(path)))
    t = Trainer(cfg, RunFolder(tmp_path / "run"))
    assert t.D.num_D == 2 and any("pix2pixhd layout" in n for n in t.notes)
    for k, v in d.state_dict().items():
        torch.testing.assert_close(t.D.state_dict()[k].cpu(), v)
    with pytest.raises(UserError, match="use it with --task pix2pixhd or chrgan"):
        load_discriminator(str(path), "pix2pix", 3)


# ------------------------------------------------------------------------------------------ outputs of a run


def test_generator_every_n_epochs_and_loss_curves_in_the_run_folder(tmp_path):
    from PIL import Image

    run = RunFolder(tmp_path / "run")
    result = train(tiny(epochs=4, save_every_epochs=2), run)
    assert sorted(p.name for p in run.path.glob("epoch_*.safetensors")) == [
        "epoch_2.safetensors",
        "epoch_4.safetensors",
    ]
    from core.checkpoints import read_metadata

    assert read_metadata(run.path / "epoch_2.safetensors")["epoch"] == 2
    for name in ("loss_G.png", "loss_D.png"):
        img = np.asarray(Image.open(run.path / name).convert("RGB"))
        assert img.shape == (360, 640, 3)
        assert (img != 255).any(axis=2).mean() > 0.01  # axes and curves drawn, not a blank image
    assert set(map(lambda p: p.split("/")[-1], result["loss_curves"])) == {"loss_G.png", "loss_D.png"}


def test_lora_on_the_encoder_only(tmp_path):
    base = _base(tmp_path)
    t = Trainer(_cfg(base, "lora", lora_target="encoder"), RunFolder(tmp_path / "run"))
    trainable = [n for n, p in t.G.named_parameters() if p.requires_grad]
    assert trainable and all(n.startswith("encoder.") for n in trainable)
    assert len({n.split(".lora_")[0] for n in trainable}) == 5  # the five encoder convs at n_down 5
    full = Trainer(_cfg(base, "lora"), RunFolder(tmp_path / "run2"))
    assert any(n.startswith("decoder.") for n, p in full.G.named_parameters() if p.requires_grad)
