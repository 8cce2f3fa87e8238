"""Cross-band generation speed: steps per second at 256x256 on CPU, and steps to reach a style loss, Adam vs L-BFGS.

Baselines run in the same process:
- steps/s: our grey path (a grey image enters the networks as one channel, the first filters summed over RGB)
  against the plain path (the grey image copied to three channels), for the random-feature fallback and VGG19
  (random-initialised VGG19: speed does not depend on the weight values; no ImageNet weights ship here).
- convergence: Adam (lr at the extractor default) against L-BFGS (strong-Wolfe line search), both from the
  content image, on the bundled Sentinel-1 VV (content) / VH (style) pair; the target is the initial style loss
  divided by --target-factor. Steps, loss evaluations and seconds until the target is first reached.

Usage: .venv/bin/python bench/crossband.py [--size 256] [--steps 4] [--vgg-steps 2] [--target-factor 30]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from bench.common import best_time, write_section  # noqa: E402
from core import crossband as cb  # noqa: E402


def steps_per_second(images, style, extractor, steps, repeat):
    """Best steps/s of each image's run, the runs interleaved so that load changes hit both alike."""
    opts = cb.CrossbandOptions(steps=steps, device="cpu")
    best = [0.0] * len(images)
    for img in images:  # warm-up
        cb.generate_crossband(img, style, extractor, cb.CrossbandOptions(steps=1, device="cpu"))
    for _ in range(repeat):
        for i, img in enumerate(images):
            best[i] = max(best[i], steps / cb.generate_crossband(img, style, extractor, opts).seconds)
    return best


def reach(content, style, extractor, optimizer, target, max_steps):
    t0 = time.perf_counter()
    res = cb.generate_crossband(
        content, style, extractor, cb.CrossbandOptions(steps=max_steps, optimizer=optimizer, device="cpu")
    )
    total = time.perf_counter() - t0
    for h in res.history:
        if h["style"] <= target:
            # seconds to that step, pro rata of evaluations (each costs one forward + backward)
            return h["step"], h["evaluations"], total * h["evaluations"] / res.history[-1]["evaluations"]
    return None, res.history[-1]["evaluations"], total


def gram_backward_ratio(size: int) -> tuple[float, float]:
    """Seconds of one Gram forward + backward on (1, 64, size, size) features: ours vs autograd's plain product."""
    import torch

    f = torch.randn(1, 64, size, size, requires_grad=True)
    w = torch.randn(1, 64, 64)

    def ours():
        f.grad = None
        (cb.gram_matrix(f) * w).sum().backward()

    def plain():
        f.grad = None
        flat = f.reshape(1, 64, -1)
        ((flat @ flat.transpose(1, 2) / flat[0].numel()) * w).sum().backward()

    return best_time(ours, repeat=5), best_time(plain, repeat=5)


def crop(img, size):
    return np.ascontiguousarray(img[:size, :size])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--steps", type=int, default=4, help="timed steps per configuration (random features)")
    ap.add_argument("--vgg-steps", type=int, default=2, help="timed steps per configuration (VGG19)")
    ap.add_argument("--target-factor", type=float, default=30.0)
    ap.add_argument("--adam-max", type=int, default=40)
    ap.add_argument("--lbfgs-max", type=int, default=12)
    args = ap.parse_args()

    samples = ROOT / "samples" / "crossband"
    content = crop(cb.read_display(samples / "labrador_vv_content.png")[0], args.size)
    style_img = crop(cb.read_display(samples / "labrador_vh_style.png")[0], args.size)
    rgb = np.repeat(content[..., None], 3, axis=2)

    rows = []
    rand = cb.random_extractor(0)
    from models.vgg import TRANSBAND_CONTENT_LAYERS, TRANSBAND_STYLE_LAYERS, VGG19

    vgg = cb.Extractor(
        net=VGG19().eval(),
        arch="vgg19",
        label="VGG19 (random init, speed only)",
        style_layers=TRANSBAND_STYLE_LAYERS,
        content_layers=TRANSBAND_CONTENT_LAYERS,
        defaults=dict(cb.VGG_DEFAULTS),
    )
    for p in vgg.net.parameters():
        p.requires_grad_(False)
    for ex, n in ((rand, args.steps), (vgg, args.vgg_steps)):
        style = cb.style_from_image(style_img, ex)
        grey, plain = steps_per_second([content, rgb], style, ex, n, 3 if ex is rand else 2)
        rows.append((ex.arch, grey, plain))
        print(f"{ex.arch}: grey {grey:.2f} steps/s, 3-channel {plain:.2f} steps/s", flush=True)

    import torch

    default_threads = torch.get_num_threads()
    style = cb.style_from_image(style_img, rand)
    thread_rates = {}
    for _ in range(2):  # interleaved, best of two
        for n in (default_threads, 1):
            torch.set_num_threads(n)
            rate = steps_per_second([content], style, rand, args.steps, 1)[0]
            thread_rates[n] = max(thread_rates.get(n, 0.0), rate)
    torch.set_num_threads(default_threads)
    print(f"threads: {thread_rates}", flush=True)

    g_ours, g_plain = gram_backward_ratio(args.size)
    print(f"gram fwd+bwd: ours {g_ours * 1e3:.1f} ms, plain {g_plain * 1e3:.1f} ms", flush=True)

    style = cb.style_from_image(style_img, rand)
    start = cb.final_losses(content, content, style, rand, style.layers, rand.content_layers)["style"]
    target = start / args.target_factor
    conv = {}
    for opt, mx in (("adam", args.adam_max), ("lbfgs", args.lbfgs_max)):
        conv[opt] = reach(content, style, rand, opt, target, mx)
        print(opt, conv[opt], flush=True)

    d = rand.defaults
    lines = [
        f"Image {args.size}x{args.size} (bundled Sentinel-1 VV content, VH style), CPU, batch 1.",
        "",
        "| features | steps/s, grey path (ours) | steps/s, 3-channel copy (baseline) | ratio | "
        "seconds for default steps |",
        "|---|---|---|---|---|",
    ]
    for arch, grey, plain in rows:
        default_steps = d["steps"] if arch == "random_features" else cb.VGG_DEFAULTS["steps"]
        lines.append(
            f"| {arch} | {grey:.2f} | {plain:.2f} | {grey / plain:.2f}x | "
            f"{default_steps} steps: {default_steps / grey:.0f} s |"
        )
    if default_threads != 1:
        lines += [
            "",
            f"Random features, grey path: {thread_rates[default_threads]:.2f} steps/s with PyTorch's "
            f"{default_threads} threads (baseline), {thread_rates[1]:.2f} steps/s with 1 thread "
            f"({thread_rates[1] / thread_rates[default_threads]:.2f}x). On a machine whose cores are busy "
            f"with other work, `--threads 1` can be the faster choice.",
        ]
    lines += [
        "",
        f"Gram forward + backward on (1, 64, {args.size}, {args.size}) features: custom backward (ours) "
        f"{g_ours * 1e3:.1f} ms, autograd of the plain product (baseline) {g_plain * 1e3:.1f} ms, "
        f"{g_plain / g_ours:.2f}x faster.",
    ]
    lines += [
        "",
        f"Steps to bring the style loss to 1/{args.target_factor:g} of its start ({start:.3g} -> "
        f"{target:.3g}), random features, style weight {d['style_weight']:g}:",
        "",
        "| optimizer | steps | loss evaluations | seconds |",
        "|---|---|---|---|",
    ]
    for opt, (steps, evals, secs) in conv.items():
        name = f"Adam (lr {d['lr']})" if opt == "adam" else "L-BFGS (strong Wolfe)"
        lines.append(f"| {name} | {steps if steps else f'not reached in {evals}'} | {evals} | {secs:.1f} |")
    a, b = conv["adam"], conv["lbfgs"]
    if a[0] and b[0]:
        lines += [
            "",
            f"L-BFGS / Adam: {b[0] / a[0]:.2f}x the steps, {b[1] / a[1]:.2f}x the loss evaluations, "
            f"{b[2] / a[2]:.2f}x the time.",
        ]
    lines += [
        "",
        "The machine is shared: absolute seconds vary with its load; the ratios were measured side by "
        "side in one process.",
    ]
    write_section("crossband", "\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
