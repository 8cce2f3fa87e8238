"""SAR2Optical's `config.yaml` (sections dataset / model / training / logging) as a pix2pix training run.

Their network is fixed: the 8-down U-Net of width 64 (54.5M parameters; `use_upsampling` and `mode` choose the
decoder), the PatchGAN of width c_hid with n_layers, BCE + lambda_L1 * L1, Adam(lr, beta1, beta2). Keys:
  dataset.root_dir -> data (read from the config's folder when relative), split_mode random -> the seeded split
  of split_ratio [train, val, test] -> val_fraction / test_fraction, split_mode split -> split_file, seed,
  shuffle (true: every epoch is shuffled here);
  model.c_in / c_out 3, netD patch, is_CGAN true (the only values we train), lambda_L1 -> lambda_l1,
  use_upsampling / mode -> generator {"use_upsampling", "upsample_mode"}, c_hid -> ndf, n_layers -> n_layers_d;
  training.num_epochs -> epochs, batch_size, lr, beta1, beta2, save_freq -> save_every_epochs, device;
  use_validation / eval_freq (we validate every epoch), resume + gen_checkpoint / disc_checkpoint -> task
  finetune from that generator and discriminator, folders / workers / comet logging (no effect here).
"""

from __future__ import annotations

from pathlib import Path

from core.train.config_keys import KeyMap

DIRECT = {
    ("dataset", "seed"): "seed",
    ("model", "lambda_L1"): "lambda_l1",
    ("model", "c_hid"): "ndf",
    ("model", "n_layers"): "n_layers_d",
    ("training", "num_epochs"): "epochs",
    ("training", "batch_size"): "batch_size",
    ("training", "lr"): "lr",
    ("training", "beta1"): "beta1",
    ("training", "beta2"): "beta2",
    ("training", "save_freq"): "save_every_epochs",
}
NO_EFFECT = {
    ("training", "use_validation"): "we validate every epoch (val.csv)",
    ("training", "eval_freq"): "we validate every epoch (val.csv)",
    ("training", "resume_epoch"): "the fine-tuned run counts its own epochs",
    ("training", "checkpoint_dir"): "files go to the run folder (--run-dir)",
    ("training", "results_dir"): "files go to the run folder (--run-dir)",
    ("training", "num_workers"): "images are read in the training process",
}
SECTIONS = ("dataset", "model", "training", "logging")


def is_sar2optical(data: dict) -> bool:
    return isinstance(data.get("dataset"), dict) and isinstance(data.get("training"), dict)


def read_sar2optical(data: dict, name: str, folder: Path) -> tuple[dict, list[str], dict[str, str]]:
    m = KeyMap(name, folder)
    m.set("(network)", "arch", "sar2optical_unet", "arch sar2optical_unet")
    m.out.update(task="pix2pix", width=64, n_down=8)
    generator: dict = {}
    for top, section in data.items():
        if top not in SECTIONS or not isinstance(section, dict):
            m.refuse(str(top), "not a SAR2Optical config section")
            continue
        for key, value in section.items():
            full = f"{top}.{key}"
            if (top, key) in DIRECT:
                m.set(full, DIRECT[(top, key)], value)
            elif (top, key) in NO_EFFECT:
                m.no_effect(full, NO_EFFECT[(top, key)])
            elif top == "logging":
                comet = value if isinstance(value, dict) else {}
                if key == "comet" and not comet.get("enabled"):
                    m.no_effect(full, "disabled")
                else:
                    m.refuse(full, "no Comet / online logging here; losses go to log.csv")
            else:
                _special(m, top, key, value, generator, section)
    if generator:
        m.set("model.use_upsampling/mode", "generator", generator, f"generator {generator}")
    training = data.get("training")
    if isinstance(training, dict) and training.get("resume"):
        m.out["task"] = "finetune"
    return m.finish()


def _special(m: KeyMap, top: str, key: str, value, generator: dict, section: dict) -> None:
    full = f"{top}.{key}"
    if (top, key) == ("dataset", "root_dir"):
        m.path(full, "data", value)
    elif (top, key) == ("dataset", "split_mode"):
        m.expect(full, value, ("random", "split"), "use random or split")
        if value == "split" and not section.get("split_file"):
            m.refuse(full, "split needs dataset.split_file")
    elif (top, key) == ("dataset", "split_file"):
        if value and section.get("split_mode") == "split":
            m.path(full, "split_file", value)
        elif value:
            m.no_effect(full, "split_mode random does not read it, as in SAR2Optical")
    elif (top, key) == ("dataset", "split_ratio"):
        try:
            _, val, test = (float(v) for v in value)
        except (TypeError, ValueError):
            m.refuse(full, "three numbers [train, val, test]")
            return
        m.set(full, "val_fraction", val, f"val_fraction {val} / test_fraction {test}")
        m.out["test_fraction"] = test
    elif (top, key) == ("dataset", "shuffle"):
        m.expect(full, value, (True,), "every epoch is shuffled here")
    elif (top, key) in (("model", "c_in"), ("model", "c_out")):
        m.expect(full, value, (3,), "SAR2Optical's generator takes and gives 3 channels")
    elif (top, key) == ("model", "netD"):
        m.expect(full, value, ("patch",), "only the PatchGAN discriminator is available")
    elif (top, key) == ("model", "is_CGAN"):
        m.expect(full, value, (True,), "the discriminator always sees the SAR condition here")
    elif (top, key) == ("model", "use_upsampling"):
        generator["use_upsampling"] = bool(value)
    elif (top, key) == ("model", "mode"):
        if m.expect(full, value, ("nearest", "bilinear", "bicubic"), "use nearest, bilinear or bicubic"):
            generator["upsample_mode"] = value
    elif (top, key) == ("training", "device"):
        m.set(full, "device", "cuda" if str(value).startswith("cuda") else str(value))
    elif (top, key) == ("training", "resume"):
        if value:
            m.no_effect(full, "task finetune from gen_checkpoint")
    elif (top, key) in (("training", "gen_checkpoint"), ("training", "disc_checkpoint")):
        if section.get("resume"):
            m.path(full, "base_model" if key == "gen_checkpoint" else "discriminator", value)
        else:
            m.no_effect(full, "resume is false")
    else:
        m.refuse(full, "not a SAR2Optical key we know")
