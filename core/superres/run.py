"""`train --task rgtgan`: RGTGAN on the user's HR / LR / Ref folders (core.superres.data), written to a run
folder like every other training run (config.json, log.csv, loss curves, generator.safetensors).

TrainConfig -> SRTrainConfig: data -> the folder, size -> the HR crop (RGTGAN's GT_size; the LR crop is size / 4),
lr (RGTGAN: 1e-4), Adam (0.9, 0.99), batch_size, steps = max_steps or epochs x (triples / batch). Losses as RGTGAN's
configuration: L1 x lambda_l1 (default 1), VGG19 conv5_4 feature loss x 0.1 when --vgg-weights is given, GAN (BCE)
x 1e-3 and gradient L1 x 1 (gradient_pixel_weight). LR: --lr-policy step is MultiStepLR with --lr-milestones in
steps (RGTGAN's lr_steps) x --lr-gamma; constant; cosine to --lr-min. width -> ngf.
"""

from __future__ import annotations

import time

from core.checkpoints import save_model
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
    width = cfg.width
    if width < 16 or width % 16:
        raise UserError(f"--width {width}: RGTGAN's width (ngf) must be a multiple of 16, e.g. 16 or 64 (RGTGAN's).")
    model = dict(SRTrainConfig().model, ngf=width, gtem_nf=width)
    model.update(cfg.generator or {})
    return SRTrainConfig(
        model=model,
        steps=steps,
        batch_size=cfg.batch_size,
        lr_size=cfg.size // SCALE,
        lr=cfg.lr,
        lr_final=cfg.lr_min,
        lr_milestones=list(cfg.lr_milestones) if cfg.lr_policy == "step" else [],
        lr_gamma=cfg.lr_gamma,
        constant_lr=cfg.lr_policy in ("constant", "linear"),
        pixel_weight=cfg.lambda_l1 if cfg.lambda_l1 is not None else 1.0,
        feature_weight=RGTGAN_WEIGHTS["feature"] if cfg.vgg_weights else 0.0,
        gan_weight=RGTGAN_WEIGHTS["gan"],
        gradient_weight=RGTGAN_WEIGHTS["gradient"],
        vgg_path=cfg.vgg_weights,
        seed=cfg.seed,
        log_every=max(1, cfg.log_every),
        time_budget_s=cfg.max_seconds or None,
        device=_device(cfg.device),
    )


def _device(choice: str) -> str:
    from core.compute import resolve_device

    return resolve_device(choice)[0]


def train_rgtgan(cfg: TrainConfig, run, progress=None) -> dict:
    """Train RGTGAN on cfg.data (HR/, LR/, Ref/) into the run folder; returns the result dict."""
    if cfg.lr_policy == "linear":
        raise UserError("--task rgtgan uses MultiStepLR (--lr-policy step), constant or cosine, not linear.")
    if cfg.threads:
        import torch  # heavy: training needs it anyway

        torch.set_num_threads(int(cfg.threads))
    examples = load_examples(cfg.data, cfg.size // SCALE)
    sr = sr_config(cfg, len(examples))
    run.update_state(status="running", step=0, total_steps=sr.steps, task="rgtgan", message="")
    t0 = time.time()

    def on_log(row: dict) -> None:
        run.append_row("log.csv", row)
        run.update_state(step=row["step"])

    gen, history = train_superres(sr, progress=progress, pool=examples, on_log=on_log)
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
        },
    }
    run.update_state(
        status="finished", step=history["steps_done"], outputs=result, message=f"finished {history['steps_done']} steps"
    )
    return result
