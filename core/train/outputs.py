"""Validation of a generator during training: PSNR / SSIM on the validation set, the collapse check, the
sample grids written to the run folder. Plain functions of a generator and a run folder; core.train.trainer's
Trainer calls them (Trainer.validate) and writes its own checkpoints and outputs.
"""

from __future__ import annotations

import numpy as np
import torch  # noqa: TID253 - torch module of the trainer, imported only when training runs

from core.io import comparison_image, write_png
from core.metrics import ssim
from core.train.datasets import tensor_to_uint8
from core.train.losses import psnr
from core.train.networks import set_train_mode
from core.train.runs import RunFolder


def validate(
    G: torch.nn.Module, val_set, run: RunFolder, *, epoch: int, step: int, device, freeze_bn: bool = False
) -> dict:
    """PSNR / SSIM of `G` on `val_set` (its `get(i)` gives (sar, optical) in [-1, 1]), the collapse check recorded
    in the run's state, and a grid of the first four samples in the run's samples/ folder. `G` is left in
    training mode (BatchNorm frozen when `freeze_bn`)."""
    G.eval()
    ps, ss, panels, fakes, opts = [], [], [], [], []
    with torch.no_grad():
        for i in range(len(val_set)):
            sar, opt = val_set.get(i)
            fake = G(sar[None].to(device)).float().cpu()[0]
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
    set_train_mode(G, freeze_bn)
    metrics = {
        "epoch": epoch,
        "step": step,
        "psnr": float(np.mean(ps)) if ps else float("nan"),
        "ssim": float(np.mean(ss)) if ss else float("nan"),
        **collapse_check(fakes, opts),
    }
    if metrics["collapsed"]:
        run.update_state(collapsed=True, collapse_message=COLLAPSE_MESSAGE.format(**metrics))
    elif run.state().get("collapsed"):  # a resumed run that recovered
        run.update_state(collapsed=False, collapse_message="")
    if panels:
        grid = comparison_image(panels, columns=3)
        write_png(run.file(f"samples/epoch_{epoch:03d}.png"), grid)
        write_png(run.file("samples/latest.png"), grid)
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
