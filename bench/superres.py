"""Super-resolution speed: seconds per 64x64 -> 256x256 patch on CPU, ours against a straightforward forward.

Ours: the default forward (dead branches skipped, one grid_sample per DCNv3, transposed convolutions run as
convolutions, the three encoder passes batched). Baseline: the same network and weights run the way the
original code runs (every computed branch incl. the discarded ones, PyTorch ConvTranspose2d, DCNv3 with one
grid_sample per kernel point). Both are timed side by side in this process; peak memory (max RSS) of one
forward is measured in a fresh child process per variant. Full-size RGTGAN (19.9 M parameters, random
weights: speed does not depend on the values) and the bundled compact demo model.

    .venv/bin/python bench/superres.py [--size 64] [--threads 2] [--repeat 2]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _build(which: str):
    import torch

    from models.rgtgan import RGTGANGenerator

    if which == "full":  # an RGTGAN-format {iter}_G.pth with random weights, loaded strictly like a user's file
        import tempfile

        from core.superres import load_superres_model

        g = torch.Generator().manual_seed(0)
        state = {
            k: (v if "get_g_nopadding" in k else torch.randn(v.shape, generator=g) * 0.02)
            for k, v in RGTGANGenerator().state_dict().items()
        }
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "random_G.pth"
            torch.save(state, path)
            return load_superres_model(path)[0]
    from core.checkpoints import load_model

    return load_model(ROOT / "checkpoints" / "rgtgan_demo.safetensors")[0]


def _inputs(size: int):
    import torch
    import torch.nn.functional as F

    g = torch.Generator().manual_seed(1)
    lr = torch.rand(1, 3, size, size, generator=g)
    up = F.interpolate(lr, scale_factor=4, mode="bicubic", align_corners=False)
    ref = torch.rand(1, 3, 4 * size, 4 * size, generator=g)
    return lr, up, ref, ref.clone()


def _runner(model, variant: str, x):
    import torch

    def run():
        with torch.inference_mode():
            if variant == "ours":
                model.use_fast_paths(True)
                return model(*x)
            model.use_fast_paths(False)
            return model(*x, full=model.with_unused, naive_dcn=True, separate_encoders=True)

    return run


def _rss_mb() -> float:
    import os

    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def child(which: str, variant: str, size: int, threads: int) -> None:
    """One forward in a fresh process; prints the peak resident memory above the pre-forward level (MB),
    sampled every 2 ms by a thread (max RSS of the process would include the model loading)."""
    import gc
    import threading

    import torch

    torch.set_num_threads(threads)
    model = _build(which)
    x = _inputs(size)
    gc.collect()
    before = _rss_mb()
    peak = [before]
    done = threading.Event()

    def watch():
        while not done.is_set():
            peak[0] = max(peak[0], _rss_mb())
            time.sleep(0.002)

    t = threading.Thread(target=watch, daemon=True)
    t.start()
    _runner(model, variant, x)()
    done.set()
    t.join()
    peak[0] = max(peak[0], _rss_mb())
    print(json.dumps({"peak_mb": peak[0] - before, "rss_mb": peak[0]}))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=64, help="LR size for the compact demo model")
    ap.add_argument(
        "--full-size",
        type=int,
        default=16,
        help="LR size for the full-size RGTGAN (875 GFLOP at 64: minutes per baseline call on 2 cores)",
    )
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--child", nargs=2, metavar=("MODEL", "VARIANT"))
    args = ap.parse_args()
    if args.child:
        child(*args.child, args.size, args.threads)
        return 0
    import torch

    from bench.common import write_section

    torch.set_num_threads(args.threads)
    rows = []
    for which in ("full", "demo"):
        size = args.full_size if which == "full" else args.size
        x = _inputs(size)
        if which == "demo" and not (ROOT / "checkpoints" / "rgtgan_demo.safetensors").exists():
            continue
        model = _build(which)
        params = sum(p.numel() for p in model.parameters())
        times, outs = {"baseline": [], "ours": []}, {}
        for _ in range(args.repeat):  # alternate the two, side by side, so load changes hit both
            for variant in ("baseline", "ours"):
                t = time.perf_counter()
                outs[variant] = _runner(model, variant, x)()
                times[variant].append(time.perf_counter() - t)
        diff = float((outs["ours"] - outs["baseline"]).abs().max())
        t_base, t_ours = min(times["baseline"]), min(times["ours"])
        mem = {}
        for variant in ("baseline", "ours"):
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    which,
                    variant,
                    "--size",
                    str(size),
                    "--threads",
                    str(args.threads),
                ],
                capture_output=True,
                text=True,
                cwd=ROOT,
            )
            mem[variant] = json.loads(out.stdout.strip().splitlines()[-1])["peak_mb"] if out.returncode == 0 else None
        rows.append((which, size, params, t_base, t_ours, mem, diff))
        print(
            f"{which}: baseline {t_base:.2f} s, ours {t_ours:.2f} s ({t_base / t_ours:.2f}x), "
            f"peak MB {mem}, max |diff| {diff:.1e}",
            flush=True,
        )
    lines = [
        f"Seconds per patch (batch 1, CPU, {args.threads} threads, best of {args.repeat}, the two variants "
        f"alternating); peak memory = resident memory above the pre-forward level during one forward, in a "
        f"fresh process.",
        "",
        "| model | patch | parameters | baseline s | ours s | speed-up | baseline peak MB | ours peak MB | "
        "max abs diff |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    label = {"full": "RGTGAN full size (random-weight `_G.pth`, strict load)", "demo": "rgtgan_demo (compact)"}
    for which, size, params, tb, to, mem, diff in rows:
        fmt = lambda v: "n/a" if v is None else f"{v:.0f}"  # noqa: E731
        lines.append(
            f"| {label[which]} | {size}² → {4 * size}² | {params / 1e6:.2f} M | {tb:.2f} | {to:.2f} | "
            f"{tb / to:.2f}x | "
            f"{fmt(mem['baseline'])} | {fmt(mem['ours'])} | {diff:.1e} |"
        )
    lines += [
        "",
        "Baseline: every branch the original computes (incl. DenseRes outputs and the content tail it "
        "discards), PyTorch ConvTranspose2d, DCNv3 with one grid_sample per kernel point, encoders run per "
        "image. Ours: dead branches skipped, one grid_sample per DCNv3, stride-1 transposed convolutions as "
        "convolutions, the three encoder passes batched. Same outputs (max abs diff column).",
    ]
    write_section("superres", "\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
