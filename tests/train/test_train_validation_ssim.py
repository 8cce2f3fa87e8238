"""The trainer's validation SSIM is the one SSIM of `evaluate` and the model cards: scikit-image's
structural_similarity (7x7 uniform window), not the 11x11 Gaussian of the C-HR-GAN loss term."""

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from core.train.runs import RunFolder
from core.train.trainer import TrainConfig, Trainer


def test_validation_ssim_is_scikit_images(tmp_path):
    cfg = TrainConfig.from_dict(
        dict(
            task="pix2pix",
            data="synthetic",
            synthetic_count=6,
            size=32,
            synthetic_size=32,
            width=4,
            n_down=5,
            ndf=4,
            batch_size=2,
            epochs=1,
            val_max=2,
            seed=3,
            threads=1,
        )
    ).check()
    run = RunFolder(tmp_path / "run")
    run.path.mkdir()
    trainer = Trainer(cfg, run)
    for _ in range(2):  # a little training, so generated and real images differ in structure, not only in level
        trainer.train_step(
            *[torch.stack(t).to(trainer.device) for t in zip(*(trainer.val_set.get(0) for _ in range(2)))]
        )
    got = trainer.validate(0)["ssim"]

    trainer.G.eval()
    ref = []
    with torch.no_grad():
        for i in range(len(trainer.val_set)):
            sar, opt = trainer.val_set.get(i)
            fake = trainer.G(sar[None].to(trainer.device)).float().cpu()[0]
            a = ((opt + 1) / 2).permute(1, 2, 0).double().numpy()
            b = ((fake.clamp(-1, 1) + 1) / 2).permute(1, 2, 0).double().numpy()
            ref.append(structural_similarity(a, b, data_range=1.0, channel_axis=2))
    assert len(ref) >= 1
    assert got == pytest.approx(float(np.mean(ref)), abs=1e-6)
