"""`evaluate` on the source projects' own test folders: C-HR-GAN's test_A / test_B with the snow variants, a folder
that is only a test set, an RGTGAN file refused in one line, and FID with its real-vs-real floor."""

import json

import numpy as np
import pytest
import torch

from core import io as sio
from core.checkpoints import save_model
from core.cli import main
from core.errors import UserError
from core.train.evaluate import evaluate, image_metrics
from core.train.layouts import find_pairs, ignored_variants
from core.train.networks import normalization_for
from models.registry import build


@pytest.fixture
def generator(tmp_path):
    torch.manual_seed(0)
    g = build("pix2pixhd_global", dict(ngf=4, n_downsample=2, n_blocks=1)).eval()
    path = tmp_path / "latest_net_G.safetensors"
    save_model(path, g, normalization=normalization_for(3))
    return path


@pytest.fixture
def uragen(tmp_path, rng):
    """C-HR-GAN's test layout: test_A/S1..S6, test_B/O1..O6 plus O4_snow..O6_snow."""
    root = tmp_path / "Uragen"
    for i in range(1, 7):
        sio.write_png(root / "test_A" / f"S{i}.png", rng.integers(0, 256, (32, 32), dtype=np.uint8))
        sio.write_png(root / "test_B" / f"O{i}.png", rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    for i in range(4, 7):
        sio.write_png(root / "test_B" / f"O{i}_snow.png", np.full((32, 32, 3), 250, np.uint8))
    return root


def test_chrgan_test_layout_pairs_by_name_and_reports_the_snow_variants(uragen):
    pairs, layout = find_pairs(uragen)
    assert layout == "pix2pixhd"
    assert [(p.sar.stem, p.optical.stem) for p in pairs] == [(f"S{i}", f"O{i}") for i in range(1, 7)]
    assert ignored_variants(uragen) == [f"test_B/O{i}_snow.png" for i in range(4, 7)]


def test_evaluate_split_test_on_a_folder_that_is_only_a_test_set(uragen, generator, tmp_path, capsys):
    out = tmp_path / "ev"
    code = main(["evaluate", "--model", str(generator), "--data", str(uragen), "--split", "test", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    s = json.loads((out / "summary.json").read_text())
    assert s["count"] == 6 and "O4_snow" in s["data"] and "not scored" in s["data"]
    rows = (out / "per_image.csv").read_text().splitlines()[1:]
    assert [r.split(",")[0] for r in rows] == [f"S{i}" for i in range(1, 7)]
    # each row is scored against its own partner (S3 with O3), independently recomputed
    from core.train.datasets import PairSource
    from core.train.evaluate import generate, load_for_inference

    net, _ = load_for_inference(str(generator))
    pair = find_pairs(uragen)[0][2]
    sar, opt = PairSource(pair).load()
    from core.train.datasets import to_channels

    p, _ = image_metrics(generate(net, to_channels(sar, 3)), opt)
    assert float(rows[2].split(",")[1]) == pytest.approx(p, abs=1e-3)


def test_unpaired_name_in_test_b_is_refused(uragen, generator, tmp_path):
    sio.write_png(uragen / "test_B" / "X9.png", np.zeros((32, 32, 3), np.uint8))
    with pytest.raises(UserError, match="X9.png has no partner by name"):
        evaluate(str(generator), str(uragen), out=str(tmp_path / "ev"))


def test_rgtgan_checkpoint_given_to_evaluate_is_refused_in_one_line(uragen, tmp_path, capsys):
    from models.rgtgan import RGTGANGenerator
    from tests.support.superres import COMPACT

    g = RGTGANGenerator(**COMPACT)
    path = tmp_path / "200000_G.pth"
    torch.save(g.state_dict(), path)
    code = main(["evaluate", "--model", str(path), "--data", str(uragen)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "RGTGAN super-resolution network" in err and "superres" in err
    save_model(tmp_path / "sr.safetensors", g)
    with pytest.raises(UserError, match="super-resolution network"):
        evaluate(str(tmp_path / "sr.safetensors"), str(uragen))


def test_fid_has_the_real_vs_real_floor_beside_it(uragen, generator, tmp_path, monkeypatch):
    import core.metrics
    from core.metrics import frechet_distance_of_features, inception_features, load_fid_inception
    from models.inception_fid import InceptionFID

    monkeypatch.setattr(core.metrics, "FID_INPUT_SIZE", 75)
    torch.manual_seed(0)
    weights = tmp_path / "pt_inception.pth"
    torch.save(InceptionFID().state_dict(), weights)
    s = evaluate(str(generator), str(uragen), fid_weights=str(weights), out=str(tmp_path / "ev"), seed=5)
    assert np.isfinite(s["fid"]) and "fid_real_floor" in s and "two random halves of 6" in s["fid_definition"]
    # independent: the optical images, split with the same seeded permutation, through the same features
    opts = [sio.read_raster(uragen / "test_B" / f"O{i}.png").data for i in range(1, 7)]
    feats = inception_features(opts, load_fid_inception(str(weights)))
    order = np.random.default_rng([5, 7919]).permutation(6)
    want = frechet_distance_of_features(feats[order[:3]], feats[order[3:]])
    assert s["fid_real_floor"] == pytest.approx(want, rel=1e-6)
    assert json.loads((tmp_path / "ev" / "summary.json").read_text())["fid_real_floor"] == pytest.approx(want)
