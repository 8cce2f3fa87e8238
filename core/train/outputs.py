"""What a training run writes besides its checkpoint: validation scores and sample grids, the best-validation
generator (LoRA: adapter), and the trained generator / adapter at the end.

Each function takes the running `Trainer` (core.train.trainer) and reads its networks, run folder and step.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from core.checkpoints import save_model
from core.io import comparison_image, write_png
from core.lora import merge_adapter, save_adapter
from core.metrics import ssim
from core.train.datasets import tensor_to_uint8
from core.train.losses import psnr
from core.train.networks import normalization_for, set_train_mode

if TYPE_CHECKING:
    from core.train.trainer import Trainer


def validate(self: Trainer, epoch: int) -> dict:
    """PSNR / SSIM of the generator on the validation set, and a grid of the first four samples."""
    self.G.eval()
    ps, ss, panels, fakes, opts = [], [], [], [], []
    with torch.no_grad():
        for i in range(len(self.val_set)):
            sar, opt = self.val_set.get(i)
            fake = self.G(sar[None].to(self.device)).float().cpu()[0]
            f01, o01 = (fake.clamp(-1, 1) + 1) / 2, (opt + 1) / 2
            ps.append(float(psnr(f01[None], o01[None])[0]))
            # the one SSIM of evaluate and the cards (scikit-image, 7x7 window), channels last
            ss.append(ssim(o01.permute(1, 2, 0).numpy(), f01.permute(1, 2, 0).numpy(), data_range=1.0))
            fakes.append(f01.numpy())
            opts.append(o01.numpy())
            if i < 4:
                panels += [
                    (f"SAR {i}", tensor_to_uint8(sar)),
                    ("generated", tensor_to_uint8(fake)),
                    ("optical", tensor_to_uint8(opt)),
                ]
    set_train_mode(self.G, self.freeze_bn)
    metrics = {
        "epoch": epoch,
        "step": self.step,
        "psnr": float(np.mean(ps)) if ps else float("nan"),
        "ssim": float(np.mean(ss)) if ss else float("nan"),
        **collapse_check(fakes, opts),
    }
    if metrics["collapsed"]:
        self.run.update_state(collapsed=True, collapse_message=COLLAPSE_MESSAGE.format(**metrics))
    elif self.run.state().get("collapsed"):  # a resumed run that recovered
        self.run.update_state(collapsed=False, collapse_message="")
    if panels:
        grid = comparison_image(panels, columns=3)
        write_png(self.run.file(f"samples/epoch_{epoch:03d}.png"), grid)
        write_png(self.run.file("samples/latest.png"), grid)
    return metrics


FLAT_STD = 1.5 / 255  # spatial std of a generated image (in [0, 1]) below which it is flat: one grey or one colour
COLLAPSE_MESSAGE = (
    "The generator has collapsed: its validation images are flat (spatial std {output_std:.4f} against "
    "{target_std:.4f} in the optical images; PSNR {psnr:.2f} dB, a constant mean-colour image scores "
    "{baseline_psnr:.2f} dB). Do not use it; train again (other learning rate, more data or epochs)."
)


def collapse_check(fakes: list[np.ndarray], targets: list[np.ndarray]) -> dict:
    """Is the generator collapsed? Each (C, H, W) in [0, 1]. output_std / target_std: mean spatial std per channel;
    baseline_psnr: PSNR of the constant mean colour of the targets (the best a colour-only generator does);
    collapsed (0/1): outputs flat (mean std below FLAT_STD, or below 5 % of the targets'). A flat output can
    at best reach baseline_psnr, which the message gives beside the run's PSNR."""
    if not fakes:
        return {"output_std": float("nan"), "target_std": float("nan"), "baseline_psnr": float("nan"), "collapsed": 0}
    f, t = np.stack(fakes).astype(np.float64), np.stack(targets).astype(np.float64)
    out_std = float(f.std(axis=(2, 3)).mean())
    tgt_std = float(t.std(axis=(2, 3)).mean())
    mean_colour = t.mean(axis=(0, 2, 3), keepdims=True)
    base_mse = ((t - mean_colour) ** 2).mean(axis=(1, 2, 3))
    base_psnr = float(np.mean(10 * np.log10(1 / np.maximum(base_mse, 1e-12))))
    flat = out_std < max(FLAT_STD, 0.05 * tgt_std)
    return {"output_std": out_std, "target_std": tgt_std, "baseline_psnr": base_psnr, "collapsed": int(flat)}


def keep_if_best(self: Trainer, metrics: dict) -> None:
    """Write best_generator.safetensors (LoRA: best_adapter/) when this validation PSNR beats every earlier one."""
    if not self.cfg.keep_best or not np.isfinite(metrics.get("psnr", np.nan)):
        return
    best = max((r["psnr"] for r in self.run.read_rows("val.csv")[:-1]), default=-np.inf)
    if metrics["psnr"] > best and self.cfg.task == "lora":
        save_adapter(
            self.G, self.run.file("best_adapter"), step=self.step, val=metrics, selected="best validation PSNR"
        )
    elif metrics["psnr"] > best:
        save_model(
            self.run.file("best_generator.safetensors"),
            self.G,
            normalization=normalization_for(self.sar_channels),
            task=self.cfg.task,
            objective=self.objective,
            steps=self.step,
            data=self.data_desc,
            trained_with="core.train",
            val=metrics,
            selected="best validation PSNR",
        )


def save_outputs(self: Trainer, metrics: dict | None = None) -> dict:
    """Write the trained generator (and the LoRA adapter) in the run folder; returns their paths."""
    out = {}
    extra = dict(
        task=self.cfg.task,
        objective=self.objective,
        steps=self.step,
        data=self.data_desc,
        trained_with="core.train",
        val=metrics or {},
    )
    if self.cfg.task == "lora":
        save_adapter(self.G, self.run.adapter_path)
        out["adapter"] = str(self.run.adapter_path)
        merged = merge_adapter(copy.deepcopy(self.G))
        if hasattr(merged, "arch_name"):
            save_model(
                self.run.generator_path,
                merged,
                normalization=normalization_for(self.sar_channels),
                **extra,
                base_model=Path(str(self.cfg.base_model)).name,
            )
            out["generator"] = str(self.run.generator_path)
    else:
        save_model(self.run.generator_path, self.G, normalization=normalization_for(self.sar_channels), **extra)
        out["generator"] = str(self.run.generator_path)
    return out
