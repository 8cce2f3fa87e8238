"""Two-process DistributedDataParallel training on CPU (gloo) through torchrun: both ranks end identical."""

import json
import os
import subprocess
import sys

from tests.support.repo import ROOT


def test_torchrun_two_cpu_processes_agree(tmp_path):
    run = tmp_path / "ddp"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nnodes",
        "1",
        "--nproc_per_node",
        "2",
        "-m",
        "core",
        "train",
        "--run-dir",
        str(run),
        "--task",
        "pix2pix",
        "--data",
        "synthetic",
        "--synthetic-count",
        "10",
        "--size",
        "32",
        "--synthetic-size",
        "32",
        "--width",
        "4",
        "--n-down",
        "5",
        "--ndf",
        "4",
        "--batch-size",
        "2",
        "--epochs",
        "1",
        "--threads",
        "1",
        "--device",
        "cpu",
        "--val-max",
        "1",
        "--log-every",
        "1",
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    state = json.loads((run / "state.json").read_text())
    assert state["status"] == "finished" and state["world_size"] == 2
    # 9 training scenes, global batch 2 x 2 = 4 -> 2 steps; each rank took its half of every global batch
    assert state["step"] == 2 and state["steps_per_epoch"] == 2
    sums = state["outputs"]["rank_checksums"]
    assert len(sums) == 2 and sums[0] == sums[1]
    # the saved generator is rank 0's and has the checksum both ranks reported
    from core.checkpoints import load_model
    from core.train.ddp import parameter_checksum

    g, meta = load_model(run / "generator.safetensors")
    assert parameter_checksum(g) == sums[0]
    assert meta["steps"] == 2
