"""Training throughput on CPU: images per second for one full GAN step (G forward, D and G updates) at 256x256,
batch 8, eager float32 against channels-last, bfloat16 autocast and both, in the same process.

    .venv/bin/python bench/train.py [--steps 2] [--threads 0] [--models pix2pix,chrgan]

Models are the demo sizes (pix2pix: SAR2Optical U-Net width 16, 8 levels + PatchGAN ndf 32; C-HR-GAN: pix2pixHD
GlobalGenerator ngf 16, 3 downsamplings, 6 SE-ResNet blocks + 2-scale discriminator ndf 32). Each variant runs
one warm-up step and then the best of --steps steps on the same batch.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import best_time, write_section  # noqa: E402

VARIANTS = [("eager float32", {}), ("channels-last", {"channels_last": True}), ("bfloat16 autocast", {"bf16": True}),
            ("channels-last + bfloat16", {"channels_last": True, "bf16": True})]
MODELS = {
    "pix2pix": dict(task="pix2pix", width=16, n_down=8, ndf=32),
    "chrgan": dict(task="chrgan", width=16, n_downsample=3, n_blocks=6, ndf=32, num_d=2),
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0, help="PyTorch threads (0: default)")
    ap.add_argument("--models", default="pix2pix,chrgan")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--size", type=int, default=256)
    args = ap.parse_args(argv)
    import torch

    from core.train.runs import RunFolder
    from core.train.trainer import Trainer, TrainConfig

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    sar = torch.rand(args.batch, 3, args.size, args.size) * 2 - 1
    opt = torch.rand(args.batch, 3, args.size, args.size) * 2 - 1
    lines = [f"| model | variant | s / step | images / s | ratio to eager |", "|---|---|---|---|---|"]
    tmp = Path(tempfile.mkdtemp())
    for name in args.models.split(","):
        base = None
        for label, extra in VARIANTS:
            cfg = TrainConfig(**MODELS[name], **extra, data="synthetic", synthetic_count=2, synthetic_size=args.size,
                              size=args.size, batch_size=args.batch, device="cpu")
            tr = Trainer(cfg, RunFolder(tmp / f"{name}-{len(lines)}"))
            x, y = sar, opt
            if cfg.channels_last:
                x, y = x.contiguous(memory_format=torch.channels_last), y.contiguous(memory_format=torch.channels_last)
            t = best_time(lambda: tr.train_step(x, y), repeat=args.steps, warmup=1)
            base = base or t
            ips = args.batch / t
            lines.append(f"| {name} | {label} | {t:.2f} | {ips:.2f} | {base / t:.2f}x |")
            print(lines[-1], flush=True)
    body = (f"One GAN training step at {args.size}x{args.size}, batch {args.batch}, CPU, best of {args.steps} after "
            f"one warm-up; ratios against eager float32 of the same model in the same run. The machine is shared, so "
            f"single numbers are noisy; bfloat16 helps only on CPUs with native bf16 (AVX512-BF16 / AMX).\n\n"
            + "\n".join(lines))
    write_section("train", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
