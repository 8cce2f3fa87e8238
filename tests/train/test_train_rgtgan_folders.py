"""`train --task rgtgan` on the user's own HR / LR / Ref folders (KaggleSRD and RRSSRD layouts), with RGTGAN's
losses and MultiStepLR, into a run folder."""

import csv
import json

import numpy as np
import pytest
import torch

from core import io as sio
from core.checkpoints import load_model, read_metadata
from core.cli import main
from core.errors import UserError
from core.superres.data import find_triples, load_examples
from core.superres.train import SRTrainConfig, gradient_map, lr_at_step
from tests.support.superres import write_srd

SMALL = json.dumps(dict(n_blocks=1, groups=4, gtem_blocks=1, align_tail_blocks=0, dense_rounds=1, dense_steps=1))


def test_triples_pair_by_name_in_both_layouts(tmp_path):
    kaggle = write_srd(tmp_path / "train_KaggleSRD")
    rrssrd = write_srd(tmp_path / "val_1st", ref_name="google_Ref", n=2)
    assert [t[0] for t in find_triples(kaggle)] == ["img_000", "img_001", "img_002"]
    assert all(t[2].parent.name == "google_Ref" for t in find_triples(rrssrd))
    ex = load_examples(kaggle)[1]
    assert ex.lr.shape == (16, 16, 3) and ex.hr.shape == (64, 64, 3) and ex.ref.shape == (64, 64, 3)
    np.testing.assert_allclose(ex.hr * 255, sio.read_raster(kaggle / "HR" / "img_001.png").data, atol=1e-3)
    (kaggle / "HR" / "img_002.png").unlink()
    with pytest.raises(UserError, match="LR/img_002.png has no partner in HR/"):
        find_triples(kaggle)
    with pytest.raises(UserError, match="has no HR/, LR/, Ref/ folder"):
        find_triples(tmp_path / "train_KaggleSRD" / "HR")


def test_multistep_lr_and_gradient_map_closed_forms():
    cfg = SRTrainConfig(lr=1e-4, lr_milestones=[3, 5], lr_gamma=0.5)
    assert [lr_at_step(cfg, s, 0) for s in range(1, 8)] == pytest.approx([1e-4] * 3 + [5e-5] * 2 + [2.5e-5] * 2)
    x = torch.zeros(1, 1, 5, 5)
    x[0, 0, :, 3:] = 1.0  # vertical edge between columns 2 and 3
    g = gradient_map(x)[0, 0]
    # central horizontal difference x[c+1] - x[c-1]: 1 at columns 2 and 3, 0 elsewhere inside
    assert float(g[2, 2]) == pytest.approx(1.0, abs=1e-3) and float(g[2, 3]) == pytest.approx(1.0, abs=1e-3)
    assert float(g[2, 0]) == pytest.approx(1e-3, abs=1e-4)


def test_train_task_rgtgan_on_folders_writes_a_run(tmp_path, capsys):
    data = write_srd(tmp_path / "train_KaggleSRD")
    run = tmp_path / "run"
    args = ["train", "--task", "rgtgan", "--data", str(data), "--run-dir", str(run), "--size", "32"]
    args += ["--batch-size", "2", "--max-steps", "4", "--width", "16", "--log-every", "1", "--lr", "1e-4"]
    args += ["--lr-policy", "step", "--lr-milestones", "[2]", "--lr-gamma", "0.5", "--generator", SMALL]
    args += ["--threads", "1", "--device", "cpu"]
    assert main(args) == 0, capsys.readouterr().err
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "finished" and out["step"] == 4
    assert out["losses"] == {"pixel": 1.0, "feature": 0.0, "gan": 1e-3, "gradient": 1.0, "gradient_gan": 1e-3}
    rows = list(csv.DictReader(open(run / "log.csv")))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4]
    assert [float(r["lr"]) for r in rows] == pytest.approx([1e-4, 1e-4, 5e-5, 5e-5])
    for key in ("loss_G_L1", "loss_G_gradient", "loss_G_GAN", "loss_D"):
        assert all(np.isfinite(float(r[key])) for r in rows)
    g, meta = load_model(run / "generator.safetensors")
    assert meta["arch"] == "rgtgan" and read_metadata(run / "generator.safetensors")["task"] == "rgtgan"
    assert (run / "loss_G.png").is_file() and (run / "loss_D.png").is_file()
    assert json.loads((run / "config.json").read_text())["task"] == "rgtgan"


def test_rgtgan_perceptual_loss_needs_the_vgg_file(tmp_path):
    from core.train.config import TrainConfig

    with pytest.raises(UserError, match="VGG weights file"):
        TrainConfig(task="rgtgan", data=str(tmp_path), vgg_weights=str(tmp_path / "vgg19.pth")).check()
