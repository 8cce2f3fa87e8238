"""`train --task rgtgan`: RGTGAN on the user's HR / LR / Ref folders (core.superres.data), written to a run
folder like every other training run (config.json, log.csv, loss curves, generator.safetensors).

TrainConfig -> SRTrainConfig: data -> the folder, size -> the HR crop (RGTGAN's GT_size; the LR crop is size / 4),
lr (RGTGAN: 1e-4), Adam (beta1, beta2: RGTGAN's 0.9, 0.99), batch_size, steps = max_steps or epochs x
(triples / batch). Losses as RGTGAN's configuration: L1 x lambda_l1 (default 1), VGG19 conv5_4 feature loss x
lambda_vgg (0.1) when --vgg-weights is given, GAN (BCE) x lambda_gan (1e-3), gradient L1 x lambda_gradient (1) and
GAN on gradient maps x lambda_gradient_gan (1e-3), the GAN terms from gan_start_step (RGTGAN's l1_init). LR:
--lr-policy step is MultiStepLR with --lr-milestones in STEPS (RGTGAN's lr_steps, default theirs) x --lr-gamma;
constant; cosine to --lr-min. The generator is RGTGAN's (nf = width, 16 blocks, 8 groups; the dead branches that
never reach the output are left out: with_unused false) unless --generator overrides it; ndf -> discriminator nf.
Validation: PSNR / SSIM (and bicubic's) on val_data (RGTGAN's datasets.val), or else on val_fraction of the
triples held out, every val_every steps and at the end, into val.csv.
"""

from __future__ import annotations

import time

import numpy as np

from core.checkpoints import save_model
from core.compute import resolve_device
from core.errors import UserError
from core.superres.data import load_examples
from core.superres.train import SCALE, SRTrainConfig, train_superres
from core.train.config import TrainConfig
from core.train.curves import write_loss_curves

RGTGAN_WEIGHTS = dict(feature=0.1, gan=1e-3, gradient=1.0)


def sr_config(cfg: TrainConfig, n_examples: int) -> SRTrainConfig:
    if cfg.size % SCALE or cfg.size < 4 * SCALE:
        raise UserError(f"--size {cfg.size} is the HR crop for RGTGAN and must be a multiple of 4 (at least 16).")
    steps = cfg.max_steps or cfg.epochs * max(1, n_examples // cfg.batch_size)
    width = int(cfg.fill_task_defaults().width or 64)
    if width < 16 or width % 16:
        raise UserError(f"--width {width}: RGTGAN's width (ngf) must be a multiple of 16, e.g. 16 or 64 (RGTGAN's).")
    model: dict = dict(
        ngf=width,
        n_blocks=16,
        groups=8,
        gtem_nf=width,
        gtem_blocks=16,
        align_tail_blocks=16,
        dense_rounds=3,
        dense_steps=3,
        with_unused=False,
    )  # RGTGANGenerator's defaults: RGTGAN's RGTNet
    model.update(cfg.generator or {})
    model["ndf"] = int(cfg.ndf or width)
    return SRTrainConfig(
        model=model,
        steps=steps,
        batch_size=cfg.batch_size,
        lr_size=cfg.size // SCALE,
        lr=cfg.adam()[0],
        lr_final=cfg.lr_min,
        lr_milestones=list(cfg.lr_milestones) if cfg.lr_policy == "step" else [],
        lr_gamma=cfg.lr_gamma,
        constant_lr=cfg.lr_policy in ("constant", "linear"),
        pixel_weight=cfg.lambda_l1 if cfg.lambda_l1 is not None else 1.0,
        feature_weight=float(cfg.lambda_vgg or 0.0) if cfg.vgg_weights else 0.0,
        gan_weight=float(cfg.lambda_gan if cfg.lambda_gan is not None else RGTGAN_WEIGHTS["gan"]),
        gradient_weight=float(cfg.lambda_gradient),
        gradient_gan_weight=float(cfg.lambda_gradient_gan),
        l1_init=int(cfg.gan_start_step),
        betas=cfg.adam()[1],
        augment=bool(cfg.augment),
        val_every=int(cfg.val_every),
        vgg_path=cfg.vgg_weights,
        seed=cfg.seed,
        log_every=max(1, cfg.log_every),
        time_budget_s=cfg.max_seconds or None,
        device=_device(cfg.device),
    )


def _device(choice: str) -> str:

    return resolve_device(choice)[0]


def train_rgtgan(cfg: TrainConfig, run, progress=None) -> dict:
    """Train RGTGAN on cfg.data (HR/, LR/, Ref/) into the run folder; returns the result dict."""
    if cfg.lr_policy == "linear":
        raise UserError("--task rgtgan uses MultiStepLR (--lr-policy step), constant or cosine, not linear.")
    if cfg.threads:
        import torch  # heavy: training needs it anyway

        torch.set_num_threads(int(cfg.threads))
    if str(cfg.data).split(":")[0] == "synthetic":
        raise UserError(
            "--task rgtgan trains on your own HR/, LR/ and Ref/ folders: give --data FOLDER (or --config RGTGAN.yml); "
            "the synthetic scenes are for the translation tasks."
        )
    examples = load_examples(cfg.data, cfg.size // SCALE)
    if cfg.val_data:
        val_pool, val_desc = load_examples(cfg.val_data), f"{cfg.val_data}"
    elif len(examples) >= 2:
        n_val = max(1, int(round(len(examples) * cfg.val_fraction)))
        order = np.random.default_rng(cfg.seed).permutation(len(examples))
        val_pool = [examples[i] for i in order[:n_val]]
        examples = [examples[i] for i in sorted(order[n_val:])]
        val_desc = f"{n_val} triples of {cfg.data} held out (val_fraction {cfg.val_fraction})"
    else:
        val_pool, val_desc = [], "none (one triple; give --val-data)"
    sr = sr_config(cfg, len(examples))
    run.update_state(status="running", step=0, total_steps=sr.steps, task="rgtgan", message="", validation=val_desc)
    t0 = time.time()

    def on_log(row: dict) -> None:
        run.append_row("log.csv", row)
        run.update_state(step=row["step"])

    def on_val(row: dict) -> None:
        run.append_row("val.csv", row)

    gen, history = train_superres(sr, progress=progress, pool=examples, on_log=on_log, val_pool=val_pool, on_val=on_val)
    path = run.file("generator.safetensors")
    save_model(path, gen.cpu(), task="rgtgan", trained_with="core.train", steps=history["steps_done"], data=cfg.data)
    curves = [str(p) for p in write_loss_curves(run.path)]
    result = {
        "status": "finished",
        "step": history["steps_done"],
        "total_steps": sr.steps,
        "generator": str(path),
        "loss_curves": curves,
        "data": f"{cfg.data}: {len(examples)} HR / LR / Ref triples",
        "seconds": round(time.time() - t0, 1),
        "losses": {
            "pixel": sr.pixel_weight,
            "feature": sr.feature_weight,
            "gan": sr.gan_weight,
            "gradient": sr.gradient_weight,
            "gradient_gan": sr.gradient_gan_weight,
        },
        "adam_betas": list(sr.betas),
        "lr_milestones_steps": list(sr.lr_milestones),
        "val": history.get("val", {}),
        "validation": val_desc,
    }
    run.update_state(
        status="finished", step=history["steps_done"], outputs=result, message=f"finished {history['steps_done']} steps"
    )
    return result
