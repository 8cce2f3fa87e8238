"""`superres` over a test set as RGTGAN's val.sh runs it: a folder of LR images with the references and HR of the
same names, per-image CSV and a summary; and `.jpg` output."""

import csv
import json

import numpy as np
import pytest
import torch

from core import io as sio
from core.checkpoints import save_model
from core.cli import main
from core.superres import psnr, ssim
from models.rgtgan import RGTGANGenerator
from tests.support.superres import COMPACT, write_srd


@pytest.fixture
def model(tmp_path):
    torch.manual_seed(0)
    g = RGTGANGenerator(**COMPACT).eval()
    path = tmp_path / "sr.safetensors"
    save_model(path, g)
    return path


def test_superres_folder_writes_images_csv_and_summary(tmp_path, model, capsys):
    data = write_srd(tmp_path / "val_1st", ref_name="google_Ref", n=2)
    out = tmp_path / "results"
    args = ["superres", str(data / "LR"), str(out), "--ref", str(data / "google_Ref"), "--hr", str(data / "HR")]
    code = main([*args, "--model", str(model), "--device", "cpu"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert sorted(p.name for p in out.glob("*.png")) == ["img_000.png", "img_001.png"]
    rows = list(csv.DictReader(open(out / "per_image.csv")))
    assert [r["name"] for r in rows] == ["img_000", "img_001"]
    # independent: each written SR image against its HR (border 4 cropped), and the bicubic baseline
    for r in rows:
        sr = sio.read_raster(out / f"{r['name']}.png").data.astype(np.float32) / 255
        hr = sio.read_raster(data / "HR" / f"{r['name']}.png").data.astype(np.float32) / 255
        assert float(r["psnr_model"]) == pytest.approx(psnr(sr, hr), abs=0.05)  # 8-bit rounding of the written file
        assert float(r["ssim_model"]) == pytest.approx(ssim(sr, hr), abs=2e-3)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["count"] == 2
    assert summary["psnr_model_mean"] == pytest.approx(np.mean([float(r["psnr_model"]) for r in rows]), abs=1e-4)
    assert "average PSNR bicubic" in captured.out


def test_superres_folder_missing_reference_is_one_line(tmp_path, model, capsys):
    data = write_srd(tmp_path / "ds", n=2)
    (data / "Ref" / "img_001.png").unlink()
    code = main(["superres", str(data / "LR"), str(tmp_path / "o"), "--ref", str(data / "Ref"), "--model", str(model)])
    err = capsys.readouterr().err
    assert code == 2 and "img_001 has no reference of the same name" in err


def test_superres_writes_jpg(tmp_path, model, capsys):
    data = write_srd(tmp_path / "ds", n=1)
    out = tmp_path / "sr.jpg"
    code = main(
        ["superres", str(data / "LR" / "img_000.png"), str(out), "--ref", str(data / "Ref" / "img_000.png")]
        + ["--model", str(model), "--device", "cpu"]
    )
    assert code == 0, capsys.readouterr().err
    assert out.read_bytes()[:2] == b"\xff\xd8"  # JPEG
    assert sio.read_raster(out).data.shape == (64, 64, 3)
