"""A background training run killed with SIGKILL mid-way and resumed ends with the same weights, bit for bit,
as the same run trained without interruption (the resume claim is about weights, not only the log)."""

import os
import signal

import torch
from safetensors.torch import load_file

from core.checkpoints import read_metadata
from core.train import jobs
from core.train_dispatch import train
from tests.train.configs import tiny


def test_sigkilled_and_resumed_run_has_the_uninterrupted_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("SAR_STUDIO_RUNS", str(tmp_path))
    cfg = tiny(epochs=12, checkpoint_every=3)  # 2 steps per epoch: 24 steps, checkpoints every 3
    straight = train(cfg, tmp_path / "straight", resume=False)
    assert straight["status"] == "finished" and straight["step"] == 24

    run = jobs.start_job(cfg, name="killed")
    st = jobs.wait(run, condition=lambda s: s.get("step", 0) >= 7 and s["alive"], timeout=120)
    assert st["status"] == "running"
    os.killpg(st["pid"], signal.SIGKILL)
    st = jobs.wait(run, until=("interrupted",), timeout=30)
    killed_at = st["step"]
    ckpt_step = int(read_metadata(run.train_state_path)["step"])
    assert 0 < ckpt_step < 24
    assert not run.generator_path.exists()  # killed before the end: no final generator yet
    jobs.resume_job(run)
    st = jobs.wait(run, condition=lambda s: s["status"] in ("finished", "failed") and not s["alive"], timeout=180)
    assert st["status"] == "finished" and st["step"] == 24, (st, killed_at)

    a = load_file(str(tmp_path / "straight" / "generator.safetensors"))
    b = load_file(str(run.generator_path))
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)
    logged = [int(r["step"]) for r in run.read_rows("log.csv")]
    assert logged == list(range(1, 25))
