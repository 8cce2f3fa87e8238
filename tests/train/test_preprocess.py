"""`python -m core preprocess` with the options of SAR2Optical's extended `preprocess_qxslab.py`, its output read
by `train`; `train --prefilter NAME[:window]` and `translate --prefilter NAME --prefilter-window N`."""

import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from core.checkpoints import save_model
from core.cli import main
from core.errors import UserError
from core.speckle.prepare import PrepareOptions, despeckle_display, parse_prefilter, prepare_image
from core.train.config import TrainConfig
from core.train.datasets import make_data
from core.train.networks import normalization_for
from models.registry import build


def _png(path, arr):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


def make_qxslab(root, n=4, size=32, seed=0):
    rng = np.random.default_rng(seed)
    for k in range(n):
        sar = (rng.gamma(1.0, 1.0, (size, size)) ** 0.5 * 60).clip(0, 255).astype(np.uint8)
        _png(root / "sar_256_oc_0.2" / f"{k}.png", sar)
        _png(root / "opt_256_oc_0.2" / f"{k}.png", rng.integers(0, 256, (size, size, 3), dtype=np.uint8))
    return root


def test_stretch_and_gamma_match_a_hand_computation():
    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, (20, 24), dtype=np.uint8)
    out = prepare_image(img, PrepareOptions(filter="none", p_low=5, p_high=90, gamma=0.8))
    x = img.astype(np.float64)
    lo, hi = np.percentile(x, 5), np.percentile(x, 90)
    expect = np.rint(np.clip((x - lo) / (hi - lo), 0, 1) ** 0.8 * 255)
    assert np.abs(out.astype(int) - expect.astype(int)).max() <= 1 and (out != expect).mean() < 0.01
    # no normalisation: values kept (16-bit scaled to 8); grayscale: one grey band written as RGB
    assert np.array_equal(prepare_image(img, PrepareOptions(filter="none", normalize=False)), img)
    rgb = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    g = prepare_image(rgb, PrepareOptions(filter="none", normalize=False, grayscale=True))
    assert g.shape == (8, 8, 3) and np.array_equal(g[..., 0], g[..., 2])
    assert np.array_equal(g[..., 0], np.rint(rgb.astype(np.float32).mean(axis=2)).astype(np.uint8))
    # the filter step is the translation pre-filter: amplitude -> intensity, filter, square root
    f = prepare_image(img, PrepareOptions(filter="boxcar", window=3, normalize=False))
    amp2 = img.astype(np.float64) ** 2
    box = np.array([[amp2[max(0, i - 1) : i + 2, max(0, j - 1) : j + 2].mean() for j in range(24)] for i in range(20)])
    assert np.abs(f.astype(int) - np.rint(np.sqrt(box)).astype(int)).max() <= 1  # window mean inside the image


def test_cli_takes_their_options_and_keeps_file_names(tmp_path, capsys):
    make_qxslab(tmp_path / "q")
    src, dst = tmp_path / "q" / "sar_256_oc_0.2", tmp_path / "prep" / "sar_256_oc_0.2"
    args = ["preprocess", "-i", str(src), "-o", str(dst), "--filter", "lee", "--window-size", "5", "--gamma", "0.9"]
    args += ["--percentile-low", "1", "--percentile-high", "99", "--grayscale"]
    assert main(args) == 0, capsys.readouterr().err
    assert sorted(p.name for p in dst.iterdir()) == ["0.png", "1.png", "2.png", "3.png"]
    assert np.asarray(Image.open(dst / "0.png")).shape == (32, 32, 3)
    args = ["preprocess", "--input", str(src / "1.png"), "--output", str(tmp_path / "one.png"), "--no-normalize"]
    assert main(args) == 0 and (tmp_path / "one.png").is_file()
    for bad, msg in ((["--window-size", "4"], "odd number"), (["--filter", "nope"], "unknown filter")):
        assert main(["preprocess", "-i", str(src), "-o", str(tmp_path / "x"), *bad]) == 2
        assert msg in capsys.readouterr().err
    assert main(["preprocess", "-i", str(src), "-o", str(src)]) == 2  # never over the originals


def test_preprocessed_folder_trains(tmp_path, capsys):
    make_qxslab(tmp_path / "q")
    prep = tmp_path / "prep"
    assert main(["preprocess", "-i", str(tmp_path / "q" / "sar_256_oc_0.2"), "-o", str(prep / "sar_256_oc_0.2")]) == 0
    shutil.copytree(tmp_path / "q" / "opt_256_oc_0.2", prep / "opt_256_oc_0.2")
    args = ["train", "--task", "pix2pix", "--data", str(prep), "--run-dir", str(tmp_path / "run"), "--width", "4"]
    args += ["--ndf", "4", "--n-down", "3", "--size", "32", "--batch-size", "2", "--max-steps", "1", "--threads", "1"]
    assert main(args) == 0, capsys.readouterr().err
    state = json.loads((tmp_path / "run" / "state.json").read_text())
    assert "(qxslab)" in state["data"] and state["status"] == "finished"


def test_train_prefilter_filters_the_sar_as_translate_does(tmp_path, capsys):
    make_qxslab(tmp_path / "q")
    cfg = TrainConfig(data=str(tmp_path / "q"), size=32, prefilter="lee:3", val_fraction=0.25, test_fraction=0.0)
    train, _, _ = make_data(cfg.check(), 3, 1)
    src = train.sources[0]
    sar, _ = src.load()
    raw = np.asarray(Image.open(src.pair.sar))
    assert np.array_equal(sar, despeckle_display(raw, "lee", {"window": 3})) and not np.array_equal(sar, raw)
    assert parse_prefilter("frost") == ("frost", {})
    for bad in ("lee:4", "lee:x", "nope"):
        with pytest.raises(UserError):
            parse_prefilter(bad)
    args = ["train", "--task", "pix2pix", "--data", str(tmp_path / "q"), "--prefilter", "lee:4"]
    assert main(args) == 2 and "odd number" in capsys.readouterr().err


def test_translate_prefilter_window_is_used(tmp_path, capsys):
    torch.manual_seed(0)
    g = build("sar2optical_unet", dict(width=4, n_down=4)).eval()
    save_model(tmp_path / "g.safetensors", g, normalization=normalization_for(3))
    rng = np.random.default_rng(1)
    sar = (rng.gamma(1.0, 1.0, (32, 32)) ** 0.5 * 60).clip(0, 255).astype(np.uint8)
    _png(tmp_path / "in.png", sar)
    _png(tmp_path / "pre.png", despeckle_display(sar, "lee", {"window": 3}))

    def translate(src, dst, *extra):
        args = ["translate", str(tmp_path / src), str(tmp_path / dst), "--model", str(tmp_path / "g.safetensors")]
        return main([*args, "--device", "cpu", "--backend", "torch", *extra])

    assert translate("in.png", "w3.png", "--prefilter", "lee", "--prefilter-window", "3") == 0, capsys.readouterr()
    assert translate("in.png", "w7.png", "--prefilter", "lee", "--prefilter-window", "7") == 0
    assert translate("pre.png", "ref.png") == 0
    w3, w7, ref = (np.asarray(Image.open(tmp_path / f"{n}.png")) for n in ("w3", "w7", "ref"))
    assert np.array_equal(w3, ref) and not np.array_equal(w3, w7)
    assert translate("in.png", "x.png", "--prefilter-window", "3") == 2
    assert "needs --prefilter" in capsys.readouterr().err
