"""`python -m core train ...` and `python -m core evaluate ...` (also under torchrun for DDP).

  python -m core train --task pix2pix --data DIR [--epochs 10 --batch-size 4 --size 256 --width 64 ...]
  python -m core train --config config.yaml          # SAR2Optical's; also RGTGAN.yml, pix2pixHD opt.txt + --task
  python -m core train --run-dir runs/NAME --resume          # continue a stopped or killed run
  torchrun --nproc_per_node 2 -m core train --run-dir runs/NAME --task pix2pix --data DIR
  python -m core evaluate --model checkpoints/M.safetensors --data DIR [--split test] [--out DIR]
Every TrainConfig field is an option (`--lambda-l1`, `--lora-rank`, ...); `--config FILE` reads them from a file.
Options left out take the task's value from its source project (core.train.config TASK_DEFAULTS); the run's
config.json records the values used. --lr-milestones are epochs, but steps for --task rgtgan.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import typing

from core.compute import DEVICES
from core.errors import UserError
from core.train.config import TrainConfig
from core.train.config_files import check_paths, read_config_file


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _option_type(hint) -> type:
    """The argparse type of a TrainConfig field: its annotation, with `X | None` read as X."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if args else hint


def add_cli(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train or fine-tune a SAR-to-optical generator (pix2pix, pix2pixHD, "
        "C-HR-GAN, LoRA); resumable; runs under torchrun for several processes",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    hints = typing.get_type_hints(TrainConfig)
    for f in dataclasses.fields(TrainConfig):
        kind = _option_type(hints[f.name])
        default = f.default if f.default is not dataclasses.MISSING else None
        about = f.metadata.get("help", "")
        if default is None:  # taken from the task: the rule is the help
            shown = f"default: {about}" if about else "default: none"
        else:
            shown = f"{about}; default {default!r}" if about else f"default {default!r}"
        if kind is bool:
            p.add_argument(
                _flag(f.name), dest=f.name, action=argparse.BooleanOptionalAction, default=None, help=f"({shown})"
            )
        elif kind in (dict, list):
            p.add_argument(_flag(f.name), dest=f.name, type=json.loads, default=None, help=about)
        else:
            p.add_argument(_flag(f.name), dest=f.name, type=kind, default=None, help=f"({shown})")
    p.add_argument(
        "--config",
        help="training options from a file (command-line options override it): ours (.json / .yaml), SAR2Optical's "
        "config.yaml, RGTGAN.yml, or pix2pixHD / C-HR-GAN opt.txt or `python train.py --flags` line (with --task "
        "pix2pixhd or chrgan); every key is mapped (said in a note) or refused",
    )
    p.add_argument("--run-dir", help="run folder (created if missing; default: a new folder under the runs root)")
    p.add_argument(
        "--resume", action="store_true", help="continue the run in --run-dir from its checkpoint, with its saved config"
    )
    p.set_defaults(func=cmd_train)

    e = sub.add_parser(
        "evaluate",
        help="PSNR / SSIM (and FID with an Inception weights file) of a generator on a "
        "paired dataset; CSV per image and a summary",
    )
    e.add_argument("--model", required=True, help="generator checkpoint (.safetensors of ours, or a foreign .pth)")
    e.add_argument("--data", required=True, help="dataset folder (any layout that training reads) or synthetic[:A|B]")
    e.add_argument("--layout", default="auto")
    e.add_argument(
        "--split",
        default="test",
        choices=["train", "val", "test", "all"],
        help="which split to score (default test; the same seeded split as training)",
    )
    e.add_argument("--seed", type=int, default=0, help="split seed (must match the training run's)")
    e.add_argument("--val-fraction", type=float, default=0.1)
    e.add_argument("--test-fraction", type=float, default=0.1)
    e.add_argument("--synthetic-count", type=int, default=32, help="held-out synthetic scenes (data synthetic)")
    e.add_argument("--size", type=int, default=256, help="synthetic scene size")
    e.add_argument("--adapter", help="LoRA adapter folder applied to the model first")
    e.add_argument(
        "--fid-weights",
        help="pytorch-fid Inception weights (pt_inception-2015-12-05-6726825d.pth) on "
        "the server: adds FID over the scored images (needs hundreds to be stable)",
    )
    e.add_argument(
        "--out",
        help="folder for per_image.csv and summary.json (default: outputs/evaluate/<model's folder>__<model name>/)",
    )
    e.add_argument("--device", default="auto", choices=DEVICES)
    e.set_defaults(func=cmd_evaluate)


def cmd_train(args) -> int:
    from core.train import ddp  # noqa: PLC0415 - heavy: torch, only the train command itself needs the trainer
    from core.train.runs import RunFolder  # noqa: PLC0415 - heavy: as above
    from core.train_dispatch import train  # noqa: PLC0415 - heavy: as above

    given = {
        f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig) if getattr(args, f.name) is not None
    }
    run = RunFolder(args.run_dir) if args.run_dir else None
    if args.resume:
        if run is None:
            raise UserError("--resume needs --run-dir, the run folder to continue.")
        cfg = run.read_config()
        cfg.update(given)
    else:
        cfg = {}
        if args.config:
            cfg, notes, origins = read_config_file(args.config, given.get("task"))
            for n in notes:
                print(f"note: {n}", file=sys.stderr)
            cfg.update(given)
            if not cfg.get("data"):
                raise UserError(f"{args.config} names no training data; add it to the file or give --data.")
            check_paths(cfg, origins, given)
            if cfg.pop("_needs_vgg", False) and not cfg.get("vgg_weights"):
                raise UserError(
                    f"{args.config} trains with the VGG loss (no --no_vgg_loss): give --vgg-weights with a "
                    f"torchvision VGG19 file (nothing is downloaded), or add --no_vgg_loss to the options."
                )
        cfg.update(given)
    config = TrainConfig.from_dict(cfg)
    result = train(config, run, resume=args.resume, progress=_print_progress)
    if ddp.env()[0] == 0:
        print(json.dumps(result, indent=2, default=str))
    return 0


def _print_progress(fraction: float, message: str) -> None:
    if message.endswith("0") or fraction >= 1:
        print(f"[{fraction * 100:5.1f}%] {message}", file=sys.stderr, flush=True)


def cmd_evaluate(args) -> int:
    from core.train.evaluate import evaluate  # noqa: PLC0415 - heavy (torch): only the evaluate command needs it

    summary = evaluate(
        args.model,
        args.data,
        layout=args.layout,
        split=args.split,
        seed=args.seed,
        val_fraction=args.val_fraction,
        test_fraction=args.test_fraction,
        synthetic_count=args.synthetic_count,
        size=args.size,
        adapter=args.adapter,
        fid_weights=args.fid_weights,
        out=args.out,
        device=args.device,
    )
    print(json.dumps(summary, indent=2))
    return 0
