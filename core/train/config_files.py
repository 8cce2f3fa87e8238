"""Training options from a file, and the run it describes:

- our JSON or YAML (TrainConfig field names; unknown names refused by TrainConfig.from_dict);
- SAR2Optical's `config.yaml` (core.train.config_sar2optical) -> task pix2pix with their 54.5M U-Net;
- RGTGAN's `RGTGAN.yml` (core.train.config_rgtgan) -> task rgtgan;
- pix2pixHD / C-HR-GAN `opt.txt` or `python train.py --flags` lines (core.train.config_pix2pixhd) -> task
  pix2pixhd or chrgan (given with --task: both projects share the flags).
Every foreign key is mapped (said in a note), named as having no effect on the trained network, or refused in one
line that lists the keys we do not use. Relative paths are read from the config file's folder; `check_paths`
names the key a missing path came from. A file that says neither its task nor (with --task) its data is refused:
`train --config` never falls back to a default run.
"""

from __future__ import annotations

import json
from pathlib import Path

from core.errors import UserError
from core.train.config_pix2pixhd import is_pix2pixhd_options, read_pix2pixhd
from core.train.config_rgtgan import is_rgtgan, read_rgtgan
from core.train.config_sar2optical import is_sar2optical, read_sar2optical

PATH_OPTIONS = ("data", "val_data", "split_file", "base_model", "discriminator", "vgg_weights")


def read_config_file(path: str, task: str | None = None) -> tuple[dict, list[str], dict[str, str]]:
    """(TrainConfig options, notes, {option: where its path came from}) from a config file.

    `task`: the --task given with it (needed for pix2pixHD-style options; must agree with a file that names one).
    """
    p = Path(path)
    if not p.is_file():
        raise UserError(f"config file {path} not found; check the path.")
    folder = p.resolve().parent
    text = p.read_text(errors="replace")
    if p.suffix.lower() not in (".json", ".yaml", ".yml") and is_pix2pixhd_options(text):
        out, notes, origins = read_pix2pixhd(text, p.name, folder, task)
    elif p.suffix.lower() in (".yaml", ".yml"):
        out, notes, origins = _from_yaml(text, p.name, folder)
    elif p.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise UserError(f"{path} is not valid JSON ({str(exc)[:60]}); fix the file.") from None
        if not isinstance(data, dict):
            raise UserError(f"{p.name} holds no options (expected a JSON object); fix the file.")
        out, notes, origins = _ours(data, p.name, folder)
    else:
        raise UserError(
            f"{p.name} is not a config we read: use .json / .yaml (ours, SAR2Optical's config.yaml, RGTGAN.yml) "
            f"or pix2pixHD's opt.txt / a `python train.py --flags` line."
        )
    named = out.get("task")
    if task and named and named != task and not (named == "pix2pix" and task == "finetune"):
        raise UserError(f"{p.name} describes a {named} run, not --task {task}; drop --task or use another config.")
    if not named and not task:
        raise UserError(f'{p.name} does not say which task to train; add "task" to it or give --task.')
    return out, notes, origins


def _from_yaml(text: str, name: str, folder: Path) -> tuple[dict, list[str], dict[str, str]]:
    import yaml  # noqa: PLC0415 - start-up: yaml (28 modules, 17 ms) only for YAML config files, not `train --help`

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UserError(f"{name} is not valid YAML ({str(exc).splitlines()[0][:60]}); fix the file.") from None
    if not isinstance(data, dict):
        raise UserError(f"{name} holds no options (expected a mapping of option: value); fix the file.")
    if is_rgtgan(data):
        return read_rgtgan(data, name, folder)
    if is_sar2optical(data):
        return read_sar2optical(data, name, folder)
    return _ours(data, name, folder)


def _ours(data: dict, name: str, folder: Path) -> tuple[dict, list[str], dict[str, str]]:
    """Our own option names; relative paths read from the file's folder."""
    out, origins = dict(data), {}
    for option in PATH_OPTIONS:
        value = out.get(option)
        if isinstance(value, str) and value and not value.startswith("synthetic"):
            p = Path(value).expanduser()
            if not p.is_absolute():
                out[option] = str((folder / p).resolve())
            origins[option] = f"{option} {value!r} in {name}"
    return out, [], origins


def check_paths(cfg: dict, origins: dict[str, str], given: dict) -> None:
    """UserError naming the config key when a path taken from the config file does not exist."""
    for option, origin in origins.items():
        if option in given or not cfg.get(option):
            continue
        if not Path(cfg[option]).exists():
            raise UserError(
                f"{origin} points to {cfg[option]}, which does not exist (relative paths in a config file are "
                f"read from the file's folder); fix the config or give --{option.replace('_', '-')}."
            )
