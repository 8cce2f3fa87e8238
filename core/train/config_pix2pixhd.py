"""pix2pixHD / C-HR-GAN options as a training run: their `opt.txt` (`------------ Options -------------` then
`key: value` lines, written into checkpoints/<name>/) or a shell line `python train.py --flag value ...`
(C-HR-GAN's scripts/train.sh). Both projects share these flags, so the file cannot say which one it is:
`--task pix2pixhd` or `--task chrgan` chooses (the defaults of the flags not given are that project's).

Mapped: dataroot -> data (read from the file's folder when relative), batchSize, fineSize -> size (crop),
ngf -> width, n_downsample_global, n_blocks_global, ndf, num_D, n_layers_D, lr, beta1, lambda_feat (also the
VGG weight, as in both projects), niter + niter_decay -> epochs with lr_policy linear over the last niter_decay,
no_ganFeat_loss -> gan_feat false, no_lsgan -> gan_mode bce, no_flip -> augment false, print_freq -> log_every,
save_epoch_freq -> save_every_epochs, gpu_ids -> device; norm instance, netG global, label_nc 0, no_instance,
output_nc 3, pool_size 0 are the only values we train with. The VGG loss (on unless no_vgg_loss) needs
--vgg-weights (a torchvision VGG19 file: nothing is downloaded).
"""

from __future__ import annotations

import shlex
from pathlib import Path

from core.errors import UserError
from core.train.config_keys import KeyMap

DIRECT = {
    "batchSize": "batch_size",
    "ngf": "width",
    "n_downsample_global": "n_downsample",
    "n_blocks_global": "n_blocks",
    "ndf": "ndf",
    "num_D": "num_d",
    "n_layers_D": "n_layers_d",
    "lr": "lr",
    "beta1": "beta1",
    "print_freq": "log_every",
    "save_epoch_freq": "save_every_epochs",
}
FIXED = {  # flag: (allowed values, why)
    "norm": (("instance",), "instance norm, both projects' default"),
    "netG": (("global",), "the GlobalGenerator (no LocalEnhancer training)"),
    "label_nc": ((0,), "the input is an image, not a label map"),
    "output_nc": ((3,), "RGB output"),
    "input_nc": ((1, 3), "1 or 3 SAR channels"),
    "no_instance": ((True,), "no instance maps: give --no_instance"),
    "instance_feat": ((False,), "no instance features"),
    "label_feat": ((False,), "no label features"),
    "load_features": ((False,), "no feature encoder"),
    "use_dropout": ((False,), "the GlobalGenerator has no dropout"),
    "fp16": ((False,), "use --bf16"),
    "data_type": ((32,), "float32"),
    "serial_batches": ((False,), "batches are drawn at random"),
    "max_dataset_size": ((float("inf"), "inf"), "every pair is used"),
    "continue_train": ((False,), "continue a run of ours with --run-dir and --resume"),
    "load_pretrain": (("",), "start from a generator with --task finetune --base-model"),
    "pool_size": ((0,), "no image pool"),
    "phase": (("train",), "the training split"),
    "model": (("pix2pixHD",), "pix2pixHD's model"),
    "isTrain": ((True,), "a training option file"),
    "n_local_enhancers": ((1,), "the default"),
}
NO_EFFECT = {
    "name": "the run folder is --run-dir",
    "checkpoints_dir": "the run folder is --run-dir",
    "verbose": "",
    "local_rank": "use torchrun for several processes",
    "nThreads": "images are read in the training process",
    "display_winsize": "",
    "tf_log": "losses go to log.csv",
    "display_freq": "",
    "save_latest_freq": "",
    "no_html": "",
    "debug": "",
    "which_epoch": "",
    "n_blocks_local": "netG global",
    "niter_fix_global": "netG global",
    "feat_num": "no feature encoder",
    "n_downsample_E": "no feature encoder",
    "nef": "no feature encoder",
    "n_clusters": "no feature encoder",
    "loadSize": "images are not rescaled (resize_or_crop none or crop)",
}
BOOLEAN_FLAGS = {
    "use_dropout",
    "verbose",
    "fp16",
    "serial_batches",
    "no_flip",
    "tf_log",
    "no_instance",
    "instance_feat",
    "label_feat",
    "load_features",
    "no_html",
    "debug",
    "continue_train",
    "no_ganFeat_loss",
    "no_vgg_loss",
    "no_lsgan",
}


def is_pix2pixhd_options(text: str) -> bool:
    head = text.lstrip()
    return head.startswith("------------ Options") or ("train.py" in text and "--" in text)


def parse_options(text: str) -> dict:
    """Flags of an opt.txt or of a `python train.py --flag ...` line, with their values typed."""
    if text.lstrip().startswith("------------ Options"):
        out = {}
        for line in text.splitlines():
            key, sep, value = line.partition(":")
            if sep and not line.startswith("---"):
                out[key.strip()] = _typed(value.strip())
        return out
    words = shlex.split(text[text.index("train.py") + len("train.py") :], comments=True)
    out, i = {}, 0
    while i < len(words):
        w = words[i]
        if not w.startswith("--"):
            i += 1
            continue
        key = w[2:]
        if key in BOOLEAN_FLAGS or i + 1 >= len(words) or words[i + 1].startswith("--"):
            out[key], i = True, i + 1
        else:
            out[key], i = _typed(words[i + 1]), i + 2
    return out


def _typed(value: str):
    if value in ("True", "False"):
        return value == "True"
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return value


def read_pix2pixhd(text: str, name: str, folder: Path, task: str | None) -> tuple[dict, list[str], dict[str, str]]:

    if task not in ("pix2pixhd", "chrgan"):
        raise UserError(
            f"{name} holds pix2pixHD-style options, which pix2pixHD and C-HR-GAN share; add --task pix2pixhd "
            f"or --task chrgan."
        )
    flags = parse_options(text)
    m = KeyMap(name, folder)
    m.out.update(task=task, arch="pix2pixhd_global")
    if not flags.get("no_ganFeat_loss"):
        m.out["gan_feat"] = True
    for key, value in flags.items():
        if key in DIRECT:
            m.set(key, DIRECT[key], value)
        elif key in FIXED:
            m.expect(key, value, FIXED[key][0], FIXED[key][1])
        elif key in NO_EFFECT:
            m.no_effect(key, NO_EFFECT[key])
        elif key == "dataroot":
            m.path(key, "data", value)
        elif key == "gpu_ids":
            ids = str(value).strip("[] ")
            m.set(key, "device", "cpu" if ids in ("-1", "") else "cuda")
        elif key == "lambda_feat":
            m.set(key, "lambda_feat", float(value), "lambda_feat and lambda_vgg")
            m.out["lambda_vgg"] = float(value)
        elif key in ("niter", "niter_decay"):
            pass  # below, with their defaults (100 + 100) when absent
        elif key == "no_ganFeat_loss":
            if value:
                m.set(key, "gan_feat", False)
        elif key == "no_vgg_loss":
            if value:
                m.no_effect(key, "no VGG loss")
        elif key == "no_lsgan":
            m.set(key, "gan_mode", "bce" if value else "lsgan")
        elif key == "no_flip":
            m.set(key, "augment", not value)
        elif key == "resize_or_crop":
            if value == "none":
                m.no_effect(key, "none: whole images; training crops here are --size (give the image side)")
            elif value == "crop":
                m.no_effect(key, "crop: crops of fineSize")
            else:
                m.refuse(key, "images are not rescaled here: use none or crop")
        elif key == "fineSize":
            if flags.get("resize_or_crop") == "crop":
                m.set(key, "size", value)
            else:
                m.no_effect(key, "resize_or_crop is not crop")
        else:
            m.refuse(key, "not a pix2pixHD / C-HR-GAN option we know")
    niter, decay = int(flags.get("niter", 100)), int(flags.get("niter_decay", 100))
    m.set("niter + niter_decay", "epochs", niter + decay, f"epochs {niter + decay}, lr_policy linear over {decay}")
    m.out.update(lr_policy="linear", lr_decay_epochs=decay)
    if not flags.get("no_vgg_loss"):
        m.out["_needs_vgg"] = True
    return m.finish()
