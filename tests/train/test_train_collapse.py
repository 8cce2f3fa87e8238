"""A generator that collapsed to flat grey is detected at validation, recorded in the run's status, and the
training page says so and does not send it to translation without a confirmation (issue 13, item 4)."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from core.train import outputs
from core.train.runs import RunFolder
from core.train.trainer import Trainer
from tests.support.apptest import app_test


class Constant(nn.Module):
    """A generator forced to one grey (or colour) whatever the input."""

    def __init__(self, value=0.0):
        super().__init__()
        self.value = nn.Parameter(torch.tensor(float(value)))

    def forward(self, x):
        return torch.zeros(x.shape[0], 3, *x.shape[2:]) + self.value


class Identity(nn.Module):
    def forward(self, x):
        return x[:, :3]


def _pairs(rng, n=3, size=16):
    pairs = []
    for _ in range(n):
        opt = torch.from_numpy(rng.random((3, size, size)).astype(np.float32) * 2 - 1)
        pairs.append((opt.clone(), opt))  # SAR == optical: an identity generator is perfect
    return pairs


class _Val:
    def __init__(self, pairs):
        self.pairs = pairs

    def __len__(self):
        return len(self.pairs)

    def get(self, i):
        return self.pairs[i]


def _trainer(G, run, rng):
    return SimpleNamespace(G=G, val_set=_Val(_pairs(rng)), device="cpu", run=run, freeze_bn=False, step=4)


def test_a_constant_generator_is_collapsed_and_recorded(tmp_path, rng):
    run = RunFolder(tmp_path / "run")
    run.path.mkdir()
    m = Trainer.validate(_trainer(Constant(0.0), run, rng), 1)
    assert m["collapsed"] == 1 and m["output_std"] == 0.0
    state = run.state()
    assert state["collapsed"] is True and "collapsed" in state["collapse_message"]
    # the mean-colour baseline, computed independently: PSNR of the mean colour of all targets, per image
    t = np.stack([(o.numpy() + 1) / 2 for _, o in _pairs(rng)])
    assert np.isfinite(m["baseline_psnr"]) and m["target_std"] == pytest.approx(
        float(np.mean([img.std(axis=(1, 2)).mean() for img in t])), rel=0.2
    )
    # the same run validated with a working generator is no longer marked
    m2 = Trainer.validate(_trainer(Identity(), run, rng), 2)
    assert m2["collapsed"] == 0 and run.state()["collapsed"] is False


def test_collapse_check_against_a_loop(rng):
    targets = [rng.random((3, 8, 8)) for _ in range(2)]
    flat = [np.full((3, 8, 8), 0.5) for _ in range(2)]
    r = outputs.collapse_check(flat, targets)
    assert r["collapsed"] == 1
    mean_colour = np.mean([t.mean(axis=(1, 2)) for t in targets], axis=0)
    want = np.mean([10 * np.log10(1 / np.mean((t - mean_colour[:, None, None]) ** 2)) for t in targets])
    assert r["baseline_psnr"] == pytest.approx(want, rel=1e-9)
    assert outputs.collapse_check(targets, targets)["collapsed"] == 0


def test_the_page_says_collapsed_and_guards_send_to_translation(tmp_path, monkeypatch, rng):
    from core.train_dispatch import train

    monkeypatch.setenv("SAR_STUDIO_RUNS", str(tmp_path / "runs"))
    (tmp_path / "ck").mkdir()
    monkeypatch.setenv("SAR_STUDIO_CHECKPOINTS", str(tmp_path / "ck"))
    run = RunFolder(tmp_path / "runs" / "flat")
    run.path.mkdir(parents=True)
    cfg = dict(task="pix2pix", data="synthetic", synthetic_count=5, size=32, synthetic_size=32, width=4, n_down=3)
    train(dict(cfg, ndf=4, batch_size=2, epochs=1, threads=1), run, resume=False)
    Trainer.validate(_trainer(Constant(0.0), run, rng), 1)  # its generator turned out flat
    at = app_test("train.py").run()
    at.selectbox(key="train_select").set_value(str(run.path)).run()
    assert not at.exception
    assert any("Finished — generator collapsed" in m.value for m in at.markdown)
    assert any("The generator has collapsed" in e.value for e in at.error)
    assert at.button(key="train_send").disabled
    at.checkbox(key="train_send_anyway").check().run()
    at.button(key="train_send").click().run()
    assert at.session_state["translate_model_path"] == str(run.generator_path)
