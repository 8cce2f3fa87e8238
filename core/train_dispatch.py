"""`train(cfg)`: one training run of any task, in this process: what `python -m core train` and the page's
background job (through the CLI) run.

It owns the run's lifecycle (the run folder, its config.json, a stale stop request, the failed state and message,
the distributed process group) and hands the steps to the task's trainer: the GAN trainers of core.train
(pix2pix, pix2pixHD, C-HR-GAN, LoRA, fine-tuning) or RGTGAN's of core.superres (`--task rgtgan`). It sits above
both, because core.superres builds on core.train (its config, curves and synthetic scenes).
"""

from __future__ import annotations

import os
import time

from core.errors import UserError
from core.superres.run import train_rgtgan
from core.train import ddp
from core.train.config import TrainConfig
from core.train.runs import RunFolder
from core.train.trainer import Trainer


def train(cfg: TrainConfig | dict, run=None, resume: bool = True, progress=None) -> dict:
    """Train (or resume) one run in this process. `run`: a RunFolder or path; a new one when None."""
    if isinstance(cfg, dict):
        cfg = TrainConfig.from_dict(cfg)
    cfg.check()
    rank, world, _ = ddp.env()
    if run is None:
        if world > 1:
            raise UserError("a distributed run needs --run-dir so that every process uses the same folder.")
        run = RunFolder.create(f"{time.strftime('%Y%m%d-%H%M%S')}-{cfg.task}")
    elif not isinstance(run, RunFolder):
        run = RunFolder(run)
        run.path.mkdir(parents=True, exist_ok=True)
    if rank == 0:
        # a stop request from before this process was started is spent; one made since (the page's Stop while the
        # process was starting) still counts
        started = float(os.environ.get("SAR_STUDIO_JOB_STARTED", time.time()))
        if run.stop_requested() and run.stop_path.stat().st_mtime < started:
            run.clear_stop()
        run.write_config(cfg.to_dict())
        if not resume:
            run.discard_train_state()
    try:
        if cfg.task == "rgtgan":  # its own trainer: reference-based x4 super-resolution
            return train_rgtgan(cfg, run, progress)
        return Trainer(cfg, run, progress).fit()
    except UserError as exc:
        if rank == 0:
            run.update_state(status="failed", message=str(exc))
        raise
    except BaseException as exc:
        if rank == 0:
            run.update_state(status="failed", message=f"{type(exc).__name__}: {str(exc)[:200]}")
        raise
    finally:
        if world > 1:
            ddp.cleanup()
