"""RGTGAN's option file (`codes/example/RGTGAN/options/RGTGAN.yml`) as a `--task rgtgan` run.

Keys: model RGTGAN_model -> task rgtgan; scale 4 and Ref_color RGB (the only ones); datasets.train.dataroot_GT ->
data (the folder that holds HR/, LR/ and Ref/: `X/HR` or, for RGTGAN's `X_lmdb/HR.lmdb`, the image folder `X`
the LMDB was made from; read from the config's folder when relative), batch_size, GT_size -> size,
use_flip / use_rot -> augment; datasets.val.dataroot_GT -> val_data; network_G.nf -> width, n_blocks ->
generator n_blocks; network_D.nf -> ndf; train.lr_G -> lr, beta1_G / beta2_G -> beta1 / beta2 (the D values
must match), lr_scheme MultiStepLR -> lr_policy step, niter -> max_steps, lr_steps -> lr_milestones (steps),
lr_gamma, pixel_weight -> lambda_l1, feature_weight -> lambda_vgg (needs --vgg-weights), gan_weight ->
lambda_gan, gradient_pixel_weight -> lambda_gradient, gradient_gan_weight -> lambda_gradient_gan, l1_init ->
gan_start_step, manual_seed -> seed, val_freq -> val_every; logger.print_freq -> log_every.
"""

from __future__ import annotations

import re
from pathlib import Path

from core.train.config_keys import KeyMap

TRAIN_DIRECT = {
    "lr_G": "lr",
    "beta1_G": "beta1",
    "beta2_G": "beta2",
    "niter": "max_steps",
    "lr_gamma": "lr_gamma",
    "pixel_weight": "lambda_l1",
    "feature_weight": "lambda_vgg",
    "gan_weight": "lambda_gan",
    "gradient_pixel_weight": "lambda_gradient",
    "gradient_gan_weight": "lambda_gradient_gan",
    "l1_init": "gan_start_step",
    "manual_seed": "seed",
    "val_freq": "val_every",
}
# keys whose only value we train with: (allowed values, why)
FIXED = {
    "scale": ((4,), "RGTGAN is x4 only"),
    "Ref_color": (("RGB",), "the reference is read as RGB"),
    "train.pixel_criterion": (("l1",), "the pixel loss is L1"),
    "train.feature_criterion": (("l1",), "the feature loss is L1"),
    "train.gan_type": (("gan",), "the GAN loss is BCE (gan)"),
    "train.weight_decay_G": ((0, 0.0), "Adam without weight decay"),
    "train.weight_decay_G_grad": ((0, 0.0), "Adam without weight decay"),
    "train.weight_decay_D": ((0, 0.0), "Adam without weight decay"),
    "train.warmup_iter": ((-1, 0, None), "no warm-up"),
    "train.D_update_ratio": ((1,), "D is updated every step"),
    "train.D_init_iters": ((0, None), "no D-only steps"),
    "train.lr_scheme": (("MultiStepLR",), "MultiStepLR"),
    "network_G.which_model_G": (("RGTNet_arch",), "RGTGAN's generator"),
    "network_D.which_model_D": (("discriminator_vgg_128",), "the VGG-style discriminator"),
    "network_D.in_nc": ((3,), "RGB"),
    "path.resume_state": ((None, ""), "continue a run of ours with --run-dir and --resume"),
    "path.pretrain_model_G": ((None, ""), "--task rgtgan starts from fresh weights"),
}
NO_EFFECT = {
    "name": "the run folder is --run-dir",
    "use_tb_logger": "losses go to log.csv",
    "gpu_ids": "one device (--device)",
    "path.strict_load": "our files load strictly",
    "path.root": "the run folder is --run-dir",
    "logger.save_checkpoint_freq": "the generator is written when the run ends",
    "train.beta1_G_grad": "one Adam for the whole generator (beta1_G)",
    "datasets.train.name": "",
    "datasets.train.mode": "",
    "datasets.train.data_type": "images are read from the HR/, LR/, Ref/ folders",
    "datasets.train.use_shuffle": "triples are drawn at random every step",
    "datasets.train.n_workers": "images are read in the training process",
    "datasets.val.name": "",
    "datasets.val.mode": "",
    "datasets.val.data_type": "",
}
INT_KEYS = ("niter", "l1_init", "manual_seed", "val_freq")
DERIVED = ("dataroot_LQ", "dataroot_LQ_UX4", "dataroot_Ref", "dataroot_Ref_DUX4")


def is_rgtgan(data: dict) -> bool:
    return str(data.get("model", "")).startswith("RGTGAN") or "network_G" in data and "datasets" in data


def _milestones(value) -> list[int]:
    """lr_steps as ints; RGTGAN.yml's own list has a full-width comma (`200000，250000`), read as one string."""
    out: list[int] = []
    for v in value if isinstance(value, list) else [value]:
        out += [int(float(x)) for x in re.split(r"[,，\s]+", str(v)) if x]
    return out


def _flat(data: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in data.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and key in (
            "datasets",
            "datasets.train",
            "datasets.val",
            "network_G",
            "network_D",
            "path",
            "train",
            "logger",
        ):
            out.update(_flat(v, key + "."))
        else:
            out[key] = v
    return out


def read_rgtgan(data: dict, name: str, folder: Path) -> tuple[dict, list[str], dict[str, str]]:
    m = KeyMap(name, folder)
    m.out["task"] = "rgtgan"
    flat = _flat(data)
    flips = [flat.get("datasets.train.use_flip"), flat.get("datasets.train.use_rot")]
    for key, value in flat.items():
        short = key.rsplit(".", 1)[-1]
        if key == "model":
            m.expect(key, value, ("RGTGAN_model",), "this file is for RGTGAN")
        elif key.startswith("train.") and short in TRAIN_DIRECT:
            if short == "lr_G" and flat.get("train.lr_D", value) != value:
                m.refuse("train.lr_D", "one learning rate for G and D here: make lr_D equal lr_G")
            if short in ("beta1_G", "beta2_G") and flat.get(f"train.{short[:5]}_D", value) != value:
                m.refuse(f"train.{short[:5]}_D", f"one Adam setting for G and D: make it equal {short}")
            value = float(value) if short.startswith(("lr", "beta")) or "weight" in short else value
            m.set(key, TRAIN_DIRECT[short], int(value) if short in INT_KEYS else value)
        elif key in ("train.lr_D", "train.beta1_D", "train.beta2_D"):
            pass  # checked with the G value above
        elif key == "train.lr_steps":
            m.set(key, "lr_milestones", _milestones(value), "lr_milestones (steps)")
            m.out["lr_policy"] = "step"
        elif key in FIXED:
            allowed, why = FIXED[key]
            m.expect(key, value, allowed, why)
        elif key in NO_EFFECT:
            m.no_effect(key, NO_EFFECT[key])
        elif key in ("datasets.train.dataroot_GT", "datasets.val.dataroot_GT"):
            why = " (LMDB is not read: the image folder it was made from, with HR/, LR/, Ref/)"
            lmdb = str(value).endswith(".lmdb")
            m.path(key, "data" if ".train." in key else "val_data", _data_root(value), value, why if lmdb else "")
        elif key.startswith(("datasets.train.dataroot_", "datasets.val.dataroot_")) and short in DERIVED:
            m.no_effect(key, "LR, Ref and the x4 inputs are read from the same folder as dataroot_GT")
        elif key == "datasets.train.batch_size":
            m.set(key, "batch_size", value)
        elif key == "datasets.train.GT_size":
            m.set(key, "size", value)
        elif key in ("datasets.train.use_flip", "datasets.train.use_rot"):
            if flips[0] != flips[1]:
                m.refuse(key, "flips and rotations are switched on or off together here (augment)")
            elif key.endswith("use_flip"):
                m.set("datasets.train.use_flip/use_rot", "augment", bool(value))
        elif key == "network_G.nf":
            m.set(key, "width", value)
        elif key == "network_G.n_blocks":
            m.set(key, "generator", {"n_blocks": int(value)}, f"generator n_blocks {int(value)}")
        elif key == "network_D.nf":
            m.set(key, "ndf", value)
        elif key == "logger.print_freq":
            m.set(key, "log_every", int(value))
        else:
            m.refuse(key, "not an RGTGAN key we know")
    return m.finish()


def _data_root(value) -> str:
    """The folder holding HR/, LR/, Ref/ for RGTGAN's dataroot_GT (`.../HR`, or `.../X_lmdb/HR.lmdb` -> `.../X`)."""
    p = Path(str(value))
    parent = p.parent
    if p.suffix == ".lmdb" and parent.name.endswith("_lmdb"):
        return str(parent.with_name(parent.name[: -len("_lmdb")]))
    return str(parent)
