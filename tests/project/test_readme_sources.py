"""README's "Coming from another project": every command in the right-hand ("ours") column runs, as written, on
tiny generated data laid out as each project's users have it (their config files with their documented keys,
their folder layouts, checkpoints in their key layouts with small widths). Only sizes and step counts are added,
so the table cannot drift from what the command line accepts."""

import json
import re
import shlex

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from core.cli import main
from models.inception_fid import InceptionFID
from models.registry import build
from models.vgg import vgg_for_depth
from tests.support.repo import ROOT
from tests.support.source_projects import CHRGAN_SH, RGTGAN_YML, SAR2OPTICAL, make_sen12, write_srd

SMALL_RGTGAN = json.dumps(dict(n_blocks=1, groups=4, gtem_blocks=1, align_tail_blocks=0, dense_rounds=1, dense_steps=1))
TINY_TRAIN = ["--size", "32", "--batch-size", "2", "--max-steps", "1", "--epochs", "1", "--threads", "1"]
# what each row gets added (keyed by a piece of its command): small networks, one or two steps, no repo outputs
EXTRA = {
    "--config config.yaml": ["--width", "4", "--n-down", "3", "--ndf", "8", *TINY_TRAIN],
    "core preprocess": [],
    "core translate": ["--device", "cpu", "--backend", "torch"],
    "--task finetune": ["--ndf", "4", "--size", "256", "--batch-size", "2", "--max-steps", "1", "--threads", "1"],
    "--weights pt_inception": ["--device", "cpu"],
    "--torchvision-inception": ["--device", "cpu"],
    "options/RGTGAN.yml": ["--width", "16", "--ndf", "16", "--generator", SMALL_RGTGAN, "--size", "16"]
    + ["--batch-size", "2", "--max-steps", "2", "--val-every", "1", "--device", "cpu", "--threads", "1"],
    "core superres": ["--device", "cpu"],
    "scripts/train.sh": ["--width", "4", "--n-downsample", "2", "--n-blocks", "1", "--ndf", "4", *TINY_TRAIN],
    "core evaluate": ["--out", "eval_out", "--device", "cpu"],
    "core gram": ["--device", "cpu", "--threads", "1"],
    "core crossband": ["--steps", "1", "--device", "cpu", "--threads", "1", "--quiet"],
}


def readme_rows() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("<!-- section:sources -->") : text.index("<!-- /section:sources -->")]
    cmds = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[2].startswith("`.venv/bin/python -m core "):
            cmds.append(cells[2].strip("`"))
    return cmds


def _png(path, arr):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    import core.metrics

    rng = np.random.default_rng(0)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(core.metrics, "FID_INPUT_SIZE", 75)  # FID plumbing at the smallest Inception input
    monkeypatch.setattr(core.metrics, "SAR2OPTICAL_RESIZE", 86)
    monkeypatch.setattr(core.metrics, "SAR2OPTICAL_CROP", 75)
    torch.manual_seed(0)
    # SAR2Optical: config.yaml with root_dir ./data/v2, SAR images, their generator file layout, SEN1-2 folder
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(SAR2OPTICAL))
    make_sen12(tmp_path / "data" / "v2")
    make_sen12(tmp_path / "SEN12", n=2, size=256)
    for k in range(3):
        _png(tmp_path / "sar" / f"{k}.png", (rng.gamma(1.0, 1.0, (48, 48)) ** 0.5 * 60).clip(0, 255).astype(np.uint8))
    torch.save(build("sar2optical_unet", dict(width=4, n_down=8)).state_dict(), tmp_path / "pix2pix_gen_180.pth")
    for name, shift in (("real", 0), ("generated", 50)):
        for k in range(3):
            _png(tmp_path / name / f"{k}.png", rng.integers(shift, 200 + shift, (40, 40, 3)).astype(np.uint8))
    torch.save(InceptionFID(input_size=75).state_dict(), tmp_path / "pt_inception-2015-12-05-6726825d.pth")
    tv = InceptionFID(num_classes=1000, aux_logits=True, torchvision_pools=True).state_dict()
    torch.save(tv, tmp_path / "inception_v3_google-0cc3c7bd.pth")
    # RGTGAN: options/RGTGAN.yml as published, its folders at ../dataset/... (read from options/)
    (tmp_path / "options").mkdir()
    (tmp_path / "options" / "RGTGAN.yml").write_text(RGTGAN_YML, encoding="utf-8")
    write_srd(tmp_path / "dataset" / "train" / "train_KaggleSRD")
    write_srd(tmp_path / "dataset" / "val" / "KaggleSRD_test" / "val_1", n=1)
    # C-HR-GAN: scripts/train.sh (dataroot ./datasets/Uragen, from the repository folder), a trained generator
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "train.sh").write_text(CHRGAN_SH)
    for split, n in (("train", 4), ("test", 2)):
        for k in range(n):
            _png(
                tmp_path / "datasets" / "Uragen" / f"{split}_A" / f"S{k}.png",
                rng.integers(0, 256, (32, 32, 3), np.uint8),
            )
            _png(
                tmp_path / "datasets" / "Uragen" / f"{split}_B" / f"O{k}.png",
                rng.integers(0, 256, (32, 32, 3), np.uint8),
            )
    g = build("pix2pixhd_global", dict(ngf=4, n_downsample=2, n_blocks=1, se_blocks=True))
    (tmp_path / "checkpoints" / "Uragen_SAR-to-optical").mkdir(parents=True)
    torch.save(g.state_dict(), tmp_path / "checkpoints" / "Uragen_SAR-to-optical" / "latest_net_G.pth")
    torch.save(vgg_for_depth(19).state_dict(), tmp_path / "vgg19-dcbb9e9d.pth")
    # transband: datasets/x2ka/{train,test}/{A,B}, names with categories
    x2ka = tmp_path / "datasets" / "x2ka"
    for name in ("building_1", "water_2"):
        _png(x2ka / "test" / "A" / f"{name}.png", rng.integers(0, 256, (48, 48), np.uint8))
    for name in ("building_a", "water_b"):
        _png(x2ka / "test" / "B" / f"{name}.png", rng.integers(0, 256, (48, 48), np.uint8))
        _png(x2ka / "train" / "B" / f"{name}.png", rng.integers(0, 256, (48, 48), np.uint8))
    return tmp_path


def test_every_command_of_ours_in_the_readme_runs(workspace, capsys):
    cmds = readme_rows()
    assert len(cmds) >= 14
    for cmd in cmds:
        argv = shlex.split(cmd)[3:]  # after `.venv/bin/python -m core`
        keys = [k for k in EXTRA if k in cmd]
        assert len(keys) == 1, f"no (or several) tiny-data overrides for: {cmd}"
        code = main(argv + EXTRA[keys[0]])
        captured = capsys.readouterr()
        assert code == 0, f"{cmd}\n{captured.err[-2000:]}"
    # what the rows produced, as their users would look for it
    assert sorted(p.name for p in (workspace / "prepared").iterdir()) == ["0.png", "1.png", "2.png"]
    assert json.loads((workspace / "runs" / "s2o" / "config.json").read_text())["arch"] == "sar2optical_unet"
    assert json.loads((workspace / "runs" / "rgtgan" / "config.json").read_text())["beta2"] == 0.99
    assert (workspace / "runs" / "rgtgan" / "val.csv").is_file() and (workspace / "sr" / "summary.json").is_file()
    chrgan = json.loads((workspace / "runs" / "chrgan" / "config.json").read_text())
    assert (chrgan["task"], chrgan["lr"], chrgan["num_d"], chrgan["lambda_vgg"]) == ("chrgan", 1e-4, 2, 10.0)
    assert (workspace / "eval_out" / "summary.json").is_file()
    assert sorted(p.name for p in (workspace / "results_cat").iterdir()) == ["building_1.png", "water_2.png"]
    assert re.search(r"latest_gram_trainTotal", " ".join(cmds))
