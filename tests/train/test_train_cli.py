"""`python -m core train` / `evaluate`: bad input is one line and exit 2; evaluate's numbers are recomputed here."""

import csv
import json

import numpy as np
import torch

from core.checkpoints import save_model
from core.cli import main
from core.train.datasets import write_synthetic_folder
from core.train.networks import normalization_for
from models.registry import build


def test_train_refuses_bad_folders_in_one_line(tmp_path, capsys):
    assert main(["train", "--data", str(tmp_path / "missing"), "--run-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: dataset folder") and "\n" not in err
    write_synthetic_folder(tmp_path / "ds", range(3), size=32)
    (tmp_path / "ds" / "optical" / "synthetic_A_000001.png").unlink()
    assert main(["train", "--data", str(tmp_path / "ds"), "--run-dir", str(tmp_path / "r2")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "error: 1 of 3 SAR images in sar/ have no optical partner in optical/, first: "
        "sar/synthetic_A_000001.png (expected optical/synthetic_A_000001.png); add the partners or "
        "remove the unpaired images."
    )
    assert json.loads((tmp_path / "r2" / "state.json").read_text())["status"] == "failed"
    assert main(["train", "--task", "lora", "--run-dir", str(tmp_path / "r3")]) == 2
    assert "needs a base model" in capsys.readouterr().err


def test_evaluate_writes_per_image_psnr_ssim_that_match_an_independent_computation(tmp_path, capsys):
    from PIL import Image
    from skimage.metrics import structural_similarity

    torch.manual_seed(1)
    g = build("sar2optical_unet", dict(width=4, n_down=5)).eval()
    save_model(tmp_path / "g.safetensors", g, normalization=normalization_for(3))
    write_synthetic_folder(tmp_path / "ds", range(3), size=32)
    assert (
        main(
            [
                "evaluate",
                "--model",
                str(tmp_path / "g.safetensors"),
                "--data",
                str(tmp_path / "ds"),
                "--split",
                "all",
                "--out",
                str(tmp_path / "ev"),
            ]
        )
        == 0
    )
    rows = list(csv.DictReader(open(tmp_path / "ev" / "per_image.csv")))
    summary = json.loads((tmp_path / "ev" / "summary.json").read_text())
    assert len(rows) == 3 and summary["count"] == 3
    for r in rows:
        sar = np.asarray(Image.open(tmp_path / "ds" / "sar" / f"{r['name']}.png")).astype(np.float32)
        opt = np.asarray(Image.open(tmp_path / "ds" / "optical" / f"{r['name']}.png"))
        x = torch.from_numpy(np.repeat(sar[None, None] / 255 * 2 - 1, 3, axis=1))
        with torch.no_grad():
            y = g(x)[0].numpy().transpose(1, 2, 0)
        out = np.clip(np.rint((y + 1) / 2 * 255), 0, 255).astype(np.uint8)
        mse = np.mean((out.astype(np.float64) - opt) ** 2)
        assert float(r["psnr"]) == pytest_approx(10 * np.log10(255**2 / mse))
        assert float(r["ssim"]) == pytest_approx(structural_similarity(opt, out, data_range=255, channel_axis=2), 1e-4)
    assert summary["psnr_mean"] == pytest_approx(np.mean([float(r["psnr"]) for r in rows]))


def pytest_approx(v, tol=1e-3):
    import pytest

    return pytest.approx(v, abs=tol)
