"""Training options from a file: our JSON (TrainConfig field names) or YAML, either with our field names or in
SAR2Optical's `config.yaml` layout (sections dataset / model / training), mapped to TrainConfig:

  dataset.root_dir -> data, dataset.seed -> seed, dataset.split_ratio [train, val, test] -> val_fraction /
  test_fraction; model.lambda_L1 -> lambda_l1, model.c_hid -> ndf; training.num_epochs -> epochs,
  batch_size, lr, beta1, beta2, device, save_freq -> save_every_epochs; with training.resume true,
  gen_checkpoint -> base_model (task finetune) and disc_checkpoint -> discriminator.
Keys that have no meaning here (workers, folders, logging, inference / export sections) are ignored and named in
one note; a JSON file keeps refusing unknown options (TrainConfig.from_dict).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from core.errors import UserError
from core.train.config import TrainConfig

SAR2OPTICAL_KEYS = {
    ("dataset", "root_dir"): "data",
    ("dataset", "seed"): "seed",
    ("model", "lambda_L1"): "lambda_l1",
    ("model", "c_hid"): "ndf",
    ("training", "num_epochs"): "epochs",
    ("training", "batch_size"): "batch_size",
    ("training", "lr"): "lr",
    ("training", "beta1"): "beta1",
    ("training", "beta2"): "beta2",
    ("training", "device"): "device",
    ("training", "save_freq"): "save_every_epochs",
}
SECTIONS = ("dataset", "model", "training", "logging", "inference", "export")


def read_config_file(path: str) -> tuple[dict, list[str]]:
    """(TrainConfig options, notes) from a .json, .yaml or .yml file."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"config file {path} not found; check the path.")
    if p.suffix.lower() in (".yaml", ".yml"):
        import yaml  # only YAML config files need it

        try:
            data = yaml.safe_load(p.read_text())
        except yaml.YAMLError as exc:
            raise UserError(f"{p.name} is not valid YAML ({str(exc).splitlines()[0][:60]}); fix the file.") from None
        if not isinstance(data, dict):
            raise UserError(f"{p.name} holds no options (expected a mapping of option: value); fix the file.")
        return options_from_yaml(data, p.name)
    try:
        data = json.loads(p.read_text())
    except ValueError as exc:
        raise UserError(f"{path} is not valid JSON ({str(exc)[:60]}); fix the file.") from None
    if not isinstance(data, dict):
        raise UserError(f"{p.name} holds no options (expected a JSON object); fix the file.")
    return data, []


def options_from_yaml(data: dict, name: str = "config.yaml") -> tuple[dict, list[str]]:
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    out: dict = {}
    ignored: list[str] = []
    for key, value in data.items():
        if key in SECTIONS and isinstance(value, dict):
            for sub, v in value.items():
                _sar2optical(key, sub, v, out, ignored)
        elif key in fields:
            out[key] = value
        else:
            ignored.append(str(key))
    training: dict = data["training"] if isinstance(data.get("training"), dict) else {}
    if training.get("resume"):
        if training.get("gen_checkpoint"):
            out["task"], out["base_model"] = "finetune", training["gen_checkpoint"]
        if training.get("disc_checkpoint"):
            out["discriminator"] = training["disc_checkpoint"]
    model: dict = data["model"] if isinstance(data.get("model"), dict) else {}
    if model.get("netD", "patch") != "patch":
        raise UserError(f"{name}: netD {model.get('netD')!r} is not available here; use netD: patch.")
    notes = [f"{name}: ignored (no meaning here): {', '.join(ignored)}"] if ignored else []
    return out, notes


def _sar2optical(section: str, key: str, value, out: dict, ignored: list[str]) -> None:
    target = SAR2OPTICAL_KEYS.get((section, key))
    if target:
        out[target] = value
    elif (section, key) == ("dataset", "split_ratio"):
        try:
            _, val, test = (float(v) for v in value)
        except (TypeError, ValueError):
            raise UserError(f"dataset.split_ratio must be three numbers [train, val, test] (got {value!r}).") from None
        out["val_fraction"], out["test_fraction"] = val, test
    elif (section, key) not in (
        ("training", "resume"),
        ("training", "gen_checkpoint"),
        ("training", "disc_checkpoint"),
        ("model", "netD"),
    ):
        ignored.append(f"{section}.{key}")
