"""Learning-rate schedules of a training run, as a factor of the base LR for each (0-based) epoch.

- "constant": 1.
- "linear" (pix2pix's `lr_policy linear`): 1 for the first `epochs - decay` epochs, then
  1 - (epoch + 1 - (epochs - decay)) / (decay + 1), so the last epoch runs at 1 / (decay + 1) of the base LR.
- "step" (MultiStepLR): gamma ** (number of milestones <= epoch).
- "cosine" (CosineAnnealingLR with T_max = epochs): lr_min + (lr - lr_min) * (1 + cos(pi * epoch / epochs)) / 2.
The trainer sets the LR of both optimizers at the start of each epoch, so a resumed run continues on the curve.
"""

from __future__ import annotations

import bisect
import math

from core.train.config import TrainConfig


def lr_at(cfg: TrainConfig, epoch: int) -> float:
    """The learning rate of 0-based epoch `epoch` under the run's policy."""
    base, policy, epochs = cfg.adam()[0], cfg.lr_policy, max(1, int(cfg.epochs))
    if policy == "linear":
        decay = cfg.lr_decay_epochs if cfg.lr_decay_epochs is not None else epochs // 2
        keep = epochs - int(decay)
        return base * (1.0 - max(0, epoch + 1 - keep) / float(decay + 1))
    if policy == "step":
        drops = bisect.bisect_right(sorted(int(m) for m in cfg.lr_milestones), epoch)
        return base * float(cfg.lr_gamma) ** drops
    if policy == "cosine":
        low = float(cfg.lr_min)
        return low + (base - low) * (1 + math.cos(math.pi * min(epoch, epochs) / epochs)) / 2
    return base


def set_lr(optimizers, lr: float) -> None:
    for opt in optimizers:
        for group in opt.param_groups:
            group["lr"] = lr
