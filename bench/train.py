"""Training throughput on CPU: images per second for one full GAN step (G forward, D and G updates) at 256x256,
batch 8, eager float32 against channels-last and bfloat16 autocast, in the same process.

    .venv/bin/python bench/train.py [--steps 1] [--threads 0] [--models pix2pix,chrgan]

Models are the demo sizes (pix2pix: SAR2Optical U-Net width 16, 8 levels + PatchGAN ndf 32; C-HR-GAN: pix2pixHD
GlobalGenerator ngf 16, 3 downsamplings, 6 SE-ResNet blocks + 2-scale discriminator ndf 32). Each variant runs
one warm-up step, then the best of --steps steps on the same batch. bfloat16 is first probed at batch 2 against
eager at batch 2: on CPUs without native bfloat16 (no AVX512-BF16 / AMX) it is many times slower, and then the
batch-8 bfloat16 runs are skipped and the batch-2 ratio is reported instead (so the bench stays short).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import best_time, write_section  # noqa: E402

MODELS = {
    "pix2pix": dict(task="pix2pix", width=16, n_down=8, ndf=32),
    "chrgan": dict(task="chrgan", width=16, n_downsample=3, n_blocks=6, ndf=32, num_d=2),
}
BF16_SKIP_RATIO = 3.0  # skip batch-8 bfloat16 when the batch-2 probe is this many times slower than eager


def cpu_flags() -> str:
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return "unknown"
    have = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in flags]
    return ", ".join(have) or "none of avx2/avx512"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0, help="PyTorch threads (0: default)")
    ap.add_argument("--models", default="pix2pix,chrgan")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--size", type=int, default=256)
    args = ap.parse_args(argv)
    import torch

    from core.train.config import TrainConfig
    from core.train.runs import RunFolder
    from core.train.trainer import Trainer

    if args.threads:
        torch.set_num_threads(args.threads)
    tmp = Path(tempfile.mkdtemp())
    torch.manual_seed(0)
    data = {
        b: (torch.rand(b, 3, args.size, args.size) * 2 - 1, torch.rand(b, 3, args.size, args.size) * 2 - 1)
        for b in {2, args.batch}
    }
    counter = [0]

    def step_time(name: str, batch: int, repeat: int, **extra) -> float:
        counter[0] += 1
        cfg = TrainConfig(
            **MODELS[name],
            **extra,
            data="synthetic",
            synthetic_count=2,
            synthetic_size=args.size,
            size=args.size,
            batch_size=batch,
            device="cpu",
        )
        tr = Trainer(cfg, RunFolder(tmp / f"run{counter[0]}"))
        x, y = data[batch]
        if cfg.channels_last:
            x, y = x.contiguous(memory_format=torch.channels_last), y.contiguous(memory_format=torch.channels_last)
        return best_time(lambda: tr.train_step(x, y), repeat=repeat, warmup=1)

    lines = ["| model | variant | s / step | images / s | ratio to eager |", "|---|---|---|---|---|"]
    for name in args.models.split(","):
        base = step_time(name, args.batch, args.steps)
        lines.append(f"| {name} | eager float32 | {base:.2f} | {args.batch / base:.2f} | 1.00x |")
        t = step_time(name, args.batch, args.steps, channels_last=True)
        lines.append(f"| {name} | channels-last | {t:.2f} | {args.batch / t:.2f} | {base / t:.2f}x |")
        probe_eager = step_time(name, 2, 1)
        probe_bf16 = step_time(name, 2, 1, bf16=True)
        if probe_bf16 > BF16_SKIP_RATIO * probe_eager:
            lines.append(
                f"| {name} | bfloat16 autocast | batch 2: {probe_bf16:.2f} | — | {probe_eager / probe_bf16:.2f}x "
                f"(batch 2 against eager batch 2 {probe_eager:.2f} s; batch {args.batch} skipped) |"
            )
        else:
            for label, extra in (
                ("bfloat16 autocast", {"bf16": True}),
                ("channels-last + bfloat16", {"bf16": True, "channels_last": True}),
            ):
                t = step_time(name, args.batch, args.steps, **extra)
                lines.append(f"| {name} | {label} | {t:.2f} | {args.batch / t:.2f} | {base / t:.2f}x |")
        for ln in lines[-3:]:
            print(ln, flush=True)
    body = (
        f"One GAN training step (G forward, D update, G update) at {args.size}x{args.size}, batch {args.batch}, "
        f"CPU (flags: {cpu_flags()}), best of {args.steps} after one warm-up; ratios against eager float32 of "
        f"the same model in the same run. The machine is shared, so single numbers are noisy.\n\n" + "\n".join(lines)
    )
    write_section("train", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
