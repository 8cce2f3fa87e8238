"""FID: the hand-written Inception-v3 has torchvision's layout; the Fréchet distance matches its closed form;
evaluate adds FID with a user-supplied weights file and refuses the wrong Inception."""

import json

import numpy as np
import pytest
import torch

from core.errors import UserError
from core.metrics import fid, frechet_distance, frechet_distance_of_features
from models.inception_fid import InceptionFID


def test_inception_has_torchvision_layout():
    tv = InceptionFID(num_classes=1000, aux_logits=True)
    assert sum(p.numel() for p in tv.parameters()) == 27_161_264  # torchvision inception_v3's published count
    net = InceptionFID()
    sd = net.state_dict()
    assert sd["fc.weight"].shape == (1008, 2048) and "AuxLogits.fc.weight" not in sd
    assert sd["Mixed_7c.branch3x3dbl_3b.conv.weight"].shape == (384, 384, 3, 1)
    assert sd["Conv2d_1a_3x3.conv.weight"].shape == (32, 3, 3, 3) and "Conv2d_1a_3x3.bn.running_var" in sd


def test_frechet_distance_closed_form_for_diagonal_gaussians(rng):
    mu1, mu2 = rng.normal(size=5), rng.normal(size=5)
    a, b = rng.uniform(0.5, 2, 5), rng.uniform(0.5, 2, 5)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-9)
    q, _ = np.linalg.qr(rng.normal(size=(5, 5)))  # rotating both covariances keeps the distance
    assert frechet_distance(q @ mu1, q @ np.diag(a) @ q.T, q @ mu2, q @ np.diag(b) @ q.T) == pytest.approx(
        expected, rel=1e-6
    )


def test_low_rank_route_equals_the_matrix_square_root(rng):
    a = rng.normal(size=(6, 40))
    b = rng.normal(0.3, 1.5, size=(9, 40))
    ref = frechet_distance(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False), eps=0)
    assert frechet_distance_of_features(a, b) == pytest.approx(ref, rel=1e-6)
    big_a, big_b = rng.normal(size=(60, 5)), rng.normal(1, 2, size=(70, 5))  # more samples than dimensions
    assert frechet_distance_of_features(big_a, big_b) == pytest.approx(
        frechet_distance(big_a.mean(0), np.cov(big_a, rowvar=False), big_b.mean(0), np.cov(big_b, rowvar=False))
    )


def test_evaluate_adds_fid_with_a_weights_file(tmp_path, rng, monkeypatch):
    import core.metrics

    monkeypatch.setattr(core.metrics, "FID_INPUT_SIZE", 75)  # the plumbing, at the smallest Inception input
    from core.checkpoints import save_model
    from core.train.datasets import write_synthetic_folder
    from core.train.evaluate import evaluate
    from core.train.networks import normalization_for
    from models.registry import build

    torch.manual_seed(0)
    torch.save(InceptionFID().state_dict(), tmp_path / "pt_inception.pth")
    g = build("sar2optical_unet", dict(width=4, n_down=5)).eval()
    save_model(tmp_path / "g.safetensors", g, normalization=normalization_for(3))
    write_synthetic_folder(tmp_path / "ds", range(3), size=32)
    s = evaluate(
        str(tmp_path / "g.safetensors"),
        str(tmp_path / "ds"),
        split="all",
        fid_weights=str(tmp_path / "pt_inception.pth"),
        out=str(tmp_path / "ev"),
    )
    assert np.isfinite(s["fid"]) and s["fid"] > 0
    assert json.loads((tmp_path / "ev" / "summary.json").read_text())["fid"] == pytest.approx(s["fid"])
    imgs = [rng.integers(0, 256, (32, 32, 3), dtype=np.uint8) for _ in range(2)]
    assert abs(fid(imgs, imgs, str(tmp_path / "pt_inception.pth"))) < 1e-3  # a set against itself
    tv = InceptionFID(num_classes=1000, aux_logits=True).state_dict()
    torch.save(tv, tmp_path / "inception_v3_google.pth")
    with pytest.raises(UserError, match="not the FID Inception"):
        fid(imgs, imgs, str(tmp_path / "inception_v3_google.pth"))
