"""Run folders: atomic checkpoints with optimizer state; a stopped or killed run resumes at the same step
with the same numbers as an uninterrupted run; background jobs survive, stop and resume."""

import os
import signal

import numpy as np
import pytest
import torch

from core.checkpoints import read_metadata
from core.train import jobs
from core.train.config import TrainConfig
from core.train.runs import RunFolder, load_train_state, save_train_state
from core.train_dispatch import train
from tests.train.configs import tiny


def _weights(path):
    from safetensors.torch import load_file

    return load_file(str(path))


def test_train_state_round_trip_keeps_adam_moments(tmp_path):
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3), torch.nn.BatchNorm2d(3))
    opt = torch.optim.Adam(m.parameters(), lr=1e-3, betas=(0.5, 0.999))
    for _ in range(3):
        opt.zero_grad()
        m(torch.randn(2, 2, 8, 8)).pow(2).mean().backward()
        opt.step()
    save_train_state(tmp_path / "s.safetensors", {"G": m}, {"optG": opt}, step=3)
    m2 = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3), torch.nn.BatchNorm2d(3))
    opt2 = torch.optim.Adam(m2.parameters(), lr=1.0)
    meta = load_train_state(tmp_path / "s.safetensors", {"G": m2}, {"optG": opt2})
    assert meta["step"] == 3
    for a, b in zip(m.state_dict().values(), m2.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    s1, s2 = opt.state_dict(), opt2.state_dict()
    assert s2["param_groups"][0]["lr"] == 1e-3 and s2["param_groups"][0]["betas"] == [0.5, 0.999]
    for k in s1["state"]:
        for name in ("exp_avg", "exp_avg_sq", "step"):
            torch.testing.assert_close(s1["state"][k][name], s2["state"][k][name], rtol=0, atol=0)
    assert not list(tmp_path.glob("*.part"))  # atomic: no temporary file left behind


def test_stopped_run_resumes_at_the_same_step_with_identical_weights(tmp_path):
    straight = train(tiny(), tmp_path / "straight", resume=False)
    assert straight["status"] == "finished" and straight["step"] == 6  # 5 train scenes // 2 = 2 steps x 3 epochs

    run = RunFolder(tmp_path / "interrupted")
    run.path.mkdir()

    def stop_at_3(fraction, message):
        if message.startswith("step 3/"):
            run.request_stop()

    first = train(tiny(), run, resume=False, progress=stop_at_3)
    assert first["status"] == "stopped" and first["step"] == 3
    assert run.state()["status"] == "stopped"
    assert not run.generator_path.exists()
    second = train(tiny(), run, resume=True)
    assert second["status"] == "finished" and second["step"] == 6
    a, b = _weights(tmp_path / "straight" / "generator.safetensors"), _weights(run.generator_path)
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)
    steps = [int(r["step"]) for r in run.read_rows("log.csv")]
    assert steps == [1, 2, 3, 4, 5, 6]
    straight_log = RunFolder(tmp_path / "straight").read_rows("log.csv")
    np.testing.assert_allclose(
        [r["loss_G_L1"] for r in run.read_rows("log.csv")], [r["loss_G_L1"] for r in straight_log], rtol=1e-6
    )
    val = run.read_rows("val.csv")
    assert [int(r["epoch"]) for r in val] == [0, 1, 2] and all(5 < r["psnr"] < 40 for r in val)
    assert len(run.samples()) == 3
    best = read_metadata(run.file("best_generator.safetensors"))
    assert best["val"]["psnr"] == pytest.approx(max(r["psnr"] for r in val), abs=1e-4)


def test_background_job_survives_sigkill_and_resumes(tmp_path, monkeypatch):
    monkeypatch.setenv("SAR_STUDIO_RUNS", str(tmp_path))
    cfg = tiny(epochs=40, checkpoint_every=2)
    run = jobs.start_job(cfg, name="bg")
    assert run.path.parent == tmp_path
    st = jobs.wait(run, condition=lambda s: s.get("step", 0) >= 4 and s["alive"], timeout=90)
    assert st["status"] == "running"
    os.killpg(st["pid"], signal.SIGKILL)
    st = jobs.wait(run, until=("interrupted",), timeout=30)
    assert "resume" in st["message"]
    ckpt_step = int(read_metadata(run.train_state_path)["step"])
    assert ckpt_step >= 2 and ckpt_step % 2 == 0
    jobs.resume_job(run)
    st = jobs.wait(run, condition=lambda s: s.get("resumed") and s.get("step", 0) > ckpt_step, timeout=90)
    logged = [int(r["step"]) for r in run.read_rows("log.csv")]
    assert logged == list(range(1, len(logged) + 1))  # no gap, no repeat across the kill
    jobs.stop_job(run)
    st = jobs.wait(run, condition=lambda s: s["status"] in ("stopped", "finished") and not s["alive"], timeout=60)
    assert st["status"] == "stopped"
    assert int(read_metadata(run.train_state_path)["step"]) == st["step"]


def test_bad_options_are_one_sentence():
    from core.errors import UserError

    with pytest.raises(UserError, match="unknown task"):
        TrainConfig(task="cyclegan").check()
    with pytest.raises(UserError, match="needs a base model"):
        TrainConfig(task="lora").check()
    with pytest.raises(UserError, match="unknown training option"):
        TrainConfig.from_dict({"epochz": 3})


def test_batch_of_one_at_a_1x1_bottleneck_is_a_sentence(tmp_path):
    from core.errors import UserError

    with pytest.raises(UserError, match="batch size of at least 2"):
        train(tiny(batch_size=1, n_down=5, epochs=1), tmp_path / "b1", resume=False)
    assert RunFolder(tmp_path / "b1").state()["status"] == "failed"


def test_a_finished_job_process_is_reaped_not_left_a_zombie(tmp_path):
    """The server keeps no zombie after a training process ends (Stop, finish or crash): start_detached reaps it."""
    import sys
    import time
    from pathlib import Path

    from core.train.jobs import start_detached

    with open(tmp_path / "out.log", "ab") as log:
        proc = start_detached([sys.executable, "-c", "print('done')"], log, dict(os.environ))
    stat = Path(f"/proc/{proc.pid}/stat")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.returncode is None:
        time.sleep(0.05)
    assert proc.returncode == 0  # waited on by the reaper thread
    time.sleep(0.1)
    assert not stat.exists() or stat.read_text().split(")")[-1].split()[0] != "Z"
    assert (tmp_path / "out.log").read_text().strip() == "done"
