"""Train the demo models shipped in checkpoints/, on the synthetic SAR/optical generator, and write their cards.

  .venv/bin/python scripts/train_demo_models.py                  # all three, in order (pix2pix first)
  .venv/bin/python scripts/train_demo_models.py --only chrgan --minutes 12

- pix2pix_unet_demo:     compact SAR2Optical-style U-Net (width 16, 5 levels) trained with pix2pix's objective.
- chrgan_demo:           compact pix2pixHD GlobalGenerator with C-HR-GAN SE-ResNet blocks, LSGAN over a
                         multi-scale discriminator + feature matching x10 + 5 x 2(1 - SSIM) + L1 x20 (the L1 term
                         stands in for the VGG perceptual loss, whose ImageNet weights cannot be shipped here).
- pix2pix_unet_demo_sensorB_lora/: LoRA adapter (rank 16, alpha 32, dropout 0.1) adapting pix2pix_unet_demo
                         to synthetic sensor B (single-look speckle, 2.5x gain, blur).
Each is scored on 32 held-out synthetic scenes (seeds 100000-100031, never drawn for training or validation)
against two simple baselines fitted on the training scenes: the mean optical colour, and a grey-level colour
lookup (5x5 mean-filtered SAR display level -> mean optical colour of that level). The numbers printed at the
end are the ones in the model cards.
Run with `nice -n 10`; it sets one PyTorch thread by default (--threads).
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CKPT = ROOT / "checkpoints"
N_TEST = 32
TRAIN_SCENES = 300
BASELINE_SCENES = 120  # training scenes the baselines are fitted on


def demo_configs(minutes: float, threads: int) -> dict:
    common = dict(
        data="synthetic",
        synthetic_count=TRAIN_SCENES,
        size=64,
        batch_size=8,
        epochs=1000,
        max_seconds=minutes * 60,
        val_max=16,
        val_size=256,
        log_every=10,
        checkpoint_every=200,
        seed=0,
        threads=threads,
    )
    return {
        "pix2pix_unet_demo": dict(common, task="pix2pix", width=16, n_down=5, ndf=32),
        "chrgan_demo": dict(
            common,
            task="chrgan",
            width=16,
            n_downsample=3,
            n_blocks=6,
            ndf=32,
            num_d=2,
            lambda_l1=20.0,
            lambda_ssim=5.0,
        ),
        "pix2pix_unet_demo_sensorB_lora": dict(
            common,
            task="lora",
            data="synthetic:B",
            base_model=str(CKPT / "pix2pix_unet_demo.safetensors"),
            lora_rank=16,
            lora_alpha=32.0,
            lora_dropout=0.1,
            synthetic_count=200,
            max_seconds=minutes * 60 * 0.6,
        ),
    }


# ------------------------------------------------------------------------------------------ baselines


def _box5(grey: np.ndarray) -> np.ndarray:
    from scipy import ndimage

    return np.rint(ndimage.uniform_filter(grey.astype(np.float32), 5, mode="reflect")).astype(np.uint8)


def fit_baselines(sources) -> dict:
    """Mean optical colour, and grey-level lookup: mean optical colour per (5x5 mean) SAR display level."""
    sums = np.zeros((256, 3)), np.zeros(256)
    total = np.zeros(3)
    n = 0
    for src in sources:
        sar, opt = src.load()
        g = _box5(sar if sar.ndim == 2 else sar[..., 0]).ravel()
        o = opt.reshape(-1, 3).astype(np.float64)
        np.add.at(sums[0], g, o)
        np.add.at(sums[1], g, 1)
        total += o.sum(0)
        n += len(o)
    mean = total / n
    lut = np.where(sums[1][:, None] > 0, sums[0] / np.maximum(sums[1][:, None], 1), mean)
    return {"mean colour": np.rint(mean).astype(np.uint8), "grey-level lookup": np.rint(lut).astype(np.uint8)}


def apply_baseline(name: str, fitted: dict, sar: np.ndarray) -> np.ndarray:
    h, w = sar.shape[:2]
    if name == "mean colour":
        return np.broadcast_to(fitted[name], (h, w, 3)).copy()
    g = _box5(sar if sar.ndim == 2 else sar[..., 0])
    return fitted[name][g]


def score(predict, sources) -> tuple[float, float]:
    from core.train.evaluate import image_metrics

    ps, ss = [], []
    for src in sources:
        sar, opt = src.load()
        p, s = image_metrics(predict(sar), opt)
        ps.append(p)
        ss.append(s)
    return float(np.mean(ps)), float(np.mean(ss))


def score_model(model_path: Path, sources, adapter: Path | None = None) -> tuple[float, float]:
    from core.train.datasets import to_channels
    from core.train.evaluate import generate, load_for_inference

    net, _ = load_for_inference(str(model_path), str(adapter) if adapter else None)
    return score(lambda sar: generate(net, to_channels(sar, 3)), sources)


# ------------------------------------------------------------------------------------------- training


def train_one(name: str, cfg: dict, runs: Path) -> dict:
    from core.train.runs import RunFolder
    from core.train_dispatch import train

    run_dir = runs / name
    if run_dir.exists():
        shutil.rmtree(run_dir)
    t = time.time()
    last = [0.0]

    def report(fraction: float, message: str) -> None:
        if time.time() - last[0] > 60:
            last[0] = time.time()
            print(f"{name}: {message} after {(time.time() - t) / 60:.1f} min", flush=True)

    result = train(cfg, RunFolder(run_dir), resume=False, progress=report)
    result["wall_seconds"] = time.time() - t
    result["run_dir"] = str(run_dir)
    state = RunFolder(run_dir).state()
    result["data"] = state.get("data", "")
    result["objective"] = state.get("objective", "")
    return result


def card(name: str, cfg: dict, result: dict, table: list, files: list[Path], extra: str = "") -> str:
    from core.checkpoints import read_metadata

    meta = read_metadata(CKPT / f"{name}.safetensors") if (CKPT / f"{name}.safetensors").exists() else {}
    size_mb = sum(f.stat().st_size for f in files) / 1e6
    rows = "\n".join(f"| {label} | {p:.2f} | {s:.4f} |" for label, p, s in table)
    cmd = f".venv/bin/python scripts/train_demo_models.py --only {name.replace('pix2pix_unet_demo_sensorB_lora', 'lora').replace('pix2pix_unet_demo', 'pix2pix').replace('chrgan_demo', 'chrgan')}"
    arch = meta.get("arch", "")
    return f"""# {name}

{extra}

## What it is
- Files: {", ".join(f.relative_to(ROOT).as_posix() for f in files)} ({size_mb:.1f} MB).
- Architecture: `{arch}` {json.dumps(meta.get("config", {})) if meta else ""}.
- Task / objective: `{cfg["task"]}` / `{result.get("objective", meta.get("objective", ""))}`.
- Normalisation (in the file's metadata): SAR as an 8-bit display image (float SAR rendered by `core.io.render`:
  dB, 2-98 % stretch), grey copied to R = G = B, x/255*2-1; output tanh, shown as (y+1)/2*255.
- Input scaling: `stretch` (per-image 2-98 % dB stretch; `input_scaling` in the metadata, written by
  core.train since issue 20; older files without the key are read as `stretch`). Not SEN1-2's fixed range.

## Data
Synthetic scenes from `core/train/synthetic.py` (land cover classes with their own optical colour and radar
backscatter, roads, rivers, urban blocks with double bounce and shadow), SAR rendered to 8-bit display like any
float SAR input. Training: {result.get("data", "")}; random {cfg["size"]} px crops with flips and 90-degree rotations;
validation on 16 of the validation scenes at their full 256 px after every epoch.
Held-out test: {N_TEST} scenes of 256 px, seeds 100000-{100000 + N_TEST - 1}, never used in training or validation.

## Training
{result["step"]} steps of batch {cfg["batch_size"]} ({result["step"] * cfg["batch_size"]} image crops), Adam lr {cfg.get("lr", 2e-4)},
beta1 0.5, in {result["wall_seconds"] / 60:.1f} minutes wall time (data generation included) on {platform.machine()} CPU with {cfg.get("threads", 1)} PyTorch thread(s)
(a shared 2-core machine, under `nice`). Shipped: {result.get("selected", "the final weights")}.
Reproduce: `{cmd}`.

## Held-out results ({N_TEST} synthetic scenes, 256 x 256, scikit-image PSNR / SSIM, data range 255, RGB)
| method | PSNR (dB) | SSIM |
|---|---|---|
{rows}

Baselines are fitted on the first {BASELINE_SCENES} training scenes: "mean colour" paints every pixel with the mean optical colour;
"grey-level lookup" maps each (5x5 mean-filtered) SAR display level to the mean optical colour seen at that level.

## What to expect
- On the bundled synthetic samples (samples/pairs/): a recognisable optical-like map: water, fields, forest,
  roads and urban blocks in their colours, smoother than the truth.
- On real Sentinel-1 SAR (e.g. the single-look tiles in samples/sar/): it has never seen real data. It paints a
  land-cover-like map in the synthetic palette (greens of grass and forest, brownish fields, reddish-grey blotches
  where the radar is bright), but it does not find real lakes, roads or built-up areas reliably (seen on the
  bundled Labrador and Shanghai tiles), and the result is not a real optical image. Fine-tune it on your own pairs
  (Training page, LoRA or full fine-tuning) before drawing conclusions.
"""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--only",
        action="append",
        choices=["pix2pix", "chrgan", "lora"],
        help="train only these (repeatable); default all three",
    )
    ap.add_argument("--minutes", type=float, default=20.0, help="training time budget per model (LoRA: 60 %%)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", default=str(ROOT / "runs" / "demo"), help="where the run folders go")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)

    from core.io import atomic_output
    from core.train.datasets import synthetic_sources

    which = args.only or ["pix2pix", "chrgan", "lora"]
    names = {"pix2pix": "pix2pix_unet_demo", "chrgan": "chrgan_demo", "lora": "pix2pix_unet_demo_sensorB_lora"}
    configs = demo_configs(args.minutes, args.threads)
    runs = Path(args.runs)
    CKPT.mkdir(exist_ok=True)
    summary = {}
    for key in which:
        name = names[key]
        cfg = configs[name]
        sensor = "B" if key == "lora" else "A"
        result = train_one(name, cfg, runs)
        run_dir = Path(result["run_dir"])
        test = synthetic_sources(range(100000, 100000 + N_TEST), sensor, 256)
        train_scenes = synthetic_sources(range(BASELINE_SCENES), sensor, 256)  # the first training scenes
        fitted = fit_baselines(train_scenes)
        table = []
        if key == "lora":
            dest = CKPT / name
            if dest.exists():
                shutil.rmtree(dest)
            best = run_dir / "best_adapter"
            shutil.copytree(best if best.exists() else run_dir / "adapter", dest)
            result["selected"] = (
                "the adapter after the epoch with the best validation PSNR (validation scenes, "
                "not the held-out test scenes)"
                if best.exists()
                else "the final adapter"
            )
            base = CKPT / "pix2pix_unet_demo.safetensors"
            p, s = score_model(base, test, adapter=dest)
            table.append(("base pix2pix_unet_demo + this adapter", p, s))
            p0, s0 = score_model(base, test)
            table.append(("base pix2pix_unet_demo alone (trained on sensor A)", p0, s0))
            files = sorted(f for f in dest.rglob("*") if f.is_file())
            extra = (
                "LoRA adapter for `checkpoints/pix2pix_unet_demo.safetensors` that adapts it to synthetic "
                "sensor B (single-look speckle instead of 4 looks, 2.5x radiometric gain, 0.7 px blur). "
                "Load the base model on the translation page and pick this folder as the adapter."
            )
        else:
            dest = CKPT / f"{name}.safetensors"
            best = run_dir / "best_generator.safetensors"
            chosen = best if best.exists() else run_dir / "generator.safetensors"
            result["selected"] = (
                "the generator after the epoch with the best validation PSNR (validation scenes, "
                "not the held-out test scenes)"
                if best.exists()
                else "the final generator"
            )
            with atomic_output(dest) as tmp:
                shutil.copyfile(chosen, tmp)
            p, s = score_model(dest, test)
            table.append((name, p, s))
            files = [dest]
            extra = (
                "Demo SAR-to-optical generator trained here on synthetic data, so the app works out of the "
                "box with no downloads."
            )
        # per-image held-out scores beside the card (the same numbers, from `python -m core evaluate`)
        from core.train.evaluate import evaluate

        evaluate(
            str(CKPT / ("pix2pix_unet_demo.safetensors" if key == "lora" else f"{name}.safetensors")),
            f"synthetic:{sensor}",
            synthetic_count=N_TEST,
            size=256,
            adapter=str(CKPT / name) if key == "lora" else None,
            out=str(CKPT / "heldout" / name),
        )
        for bname in ("mean colour", "grey-level lookup"):
            bp, bs = score(lambda sar, b=bname, f=fitted: apply_baseline(b, f, sar), test)
            table.append((f"baseline: {bname}", bp, bs))
        md_path = CKPT / f"{name}.md"
        with atomic_output(md_path) as tmp:
            tmp.write_text(card(name, cfg, result, table, files, extra))
        summary[name] = {
            "steps": result["step"],
            "minutes": round(result["wall_seconds"] / 60, 2),
            "size_mb": round(sum(f.stat().st_size for f in files) / 1e6, 2),
            "table": [(label, round(p, 3), round(s, 4)) for label, p, s in table],
        }
        print(json.dumps({name: summary[name]}, indent=2), flush=True)
    print("SUMMARY " + json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
