"""Small training configurations and a base model for fine-tuning, shared by the training tests."""

import torch

from core.checkpoints import save_model
from core.train.config import TrainConfig
from core.train.networks import normalization_for
from models.registry import build


def tiny(**kw):
    cfg = dict(
        task="pix2pix",
        data="synthetic",
        synthetic_count=6,
        size=32,
        synthetic_size=32,
        width=4,
        n_down=5,
        ndf=4,
        batch_size=2,
        epochs=3,
        log_every=1,
        checkpoint_every=2,
        val_max=2,
        seed=3,
        threads=1,
    )
    cfg.update(kw)
    return cfg


def _base(tmp_path):
    torch.manual_seed(0)
    g = build("sar2optical_unet", dict(width=4, n_down=5))
    # give BatchNorm non-trivial running statistics, as a trained model has
    g.train()
    with torch.no_grad():
        for _ in range(3):
            g(torch.randn(4, 3, 32, 32))
    path = tmp_path / "base.safetensors"
    save_model(path, g.eval(), normalization=normalization_for(3), objective="pix2pix")
    return path


def _cfg(base, task, **kw):
    return TrainConfig(
        task=task,
        base_model=str(base),
        data="synthetic:B",
        synthetic_count=5,
        size=32,
        synthetic_size=32,
        epochs=1,
        batch_size=2,
        ndf=4,
        lora_rank=2,
        lora_alpha=4.0,
        lora_dropout=0.0,
        val_max=2,
        log_every=1,
        threads=1,
        **kw,
    )
