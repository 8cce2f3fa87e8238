"""Score a generator on a paired dataset: PSNR and SSIM per image (CSV) and a summary (JSON), plus FID over the
set when the user gives pytorch-fid's Inception weights file (core.metrics.fid, models/inception_fid.py).

PSNR and SSIM are scikit-image's (`peak_signal_noise_ratio`, `structural_similarity` with data_range 255 over
the RGB channels) on the 8-bit output against the 8-bit optical image. The split is the same seeded split that
training uses (same seed and fractions), so `--split test` scores images the run never saw.
Synthetic data (`--data synthetic` or `synthetic:B`) scores held-out scenes (seeds 100000 and up) that neither
training nor validation draws.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np

from core.checkpoints import describe_arch, read_metadata, torch_load_weights
from core.compute import resolve_device
from core.errors import UserError
from core.io import atomic_output
from core.lora import apply_adapter
from core.metrics import frechet_distance_of_features, inception_features, load_fid_inception
from core.train.config import parse_data
from core.train.datasets import PairSource, synthetic_sources, tensor_to_uint8, to_channels, unit_to_tensor
from core.train.layouts import find_pairs, ignored_variants, split_pairs
from core.train.networks import load_base_generator
from models.registry import names

HELD_OUT_SEED = 100000


def refuse_superres(model_path: str) -> None:
    """UserError when the file is a super-resolution model (RGTGAN / RRSGAN), which `evaluate` cannot score."""

    p = Path(model_path)
    arch = ""
    if p.suffix == ".safetensors" and p.is_file():
        arch = str(read_metadata(p).get("arch", ""))
    elif p.is_file() and p.suffix in (".pth", ".pt"):
        state = torch_load_weights(p)
        keys = list(state) if isinstance(state, dict) else []
        if any("GTEM." in str(k) or "Encoder_grad." in str(k) for k in keys):
            arch = "rgtgan" if any("GTEM." in str(k) for k in keys) else "rrsgan"
    if any(a in arch.lower() for a in names("superres")):
        raise UserError(
            f"{p.name} holds {describe_arch(arch.lower())} (x4), not a SAR-to-optical generator; score it with "
            f"`python -m core superres LR_DIR OUT_DIR --ref REF_DIR --hr HR_DIR --model {p.name}`."
        )


def load_for_inference(model_path: str, adapter: str | None = None, device: str = "cpu"):
    refuse_superres(model_path)
    model, meta = load_base_generator(model_path)
    if adapter:
        model, _note = apply_adapter(model, adapter)
    return model.to(device).eval(), meta


def generate(model, sar_uint8: np.ndarray, device: str = "cpu") -> np.ndarray:
    """uint8 (H, W, C) SAR display -> uint8 (H, W, 3) generated optical; reflect-padded to the size multiple."""
    import torch
    import torch.nn.functional as F

    mult = int(getattr(model, "size_multiple", 1) or 1)
    x = unit_to_tensor(sar_uint8)[None].to(device)
    h, w = x.shape[-2:]
    ph, pw = (-h) % mult, (-w) % mult
    if ph or pw:
        mode = "reflect" if ph < h and pw < w else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    with torch.no_grad():
        y = model(x)[0, :, :h, :w]
    return tensor_to_uint8(y.float().cpu())


def output_name(model: str | Path) -> str:
    """The default output folder's name: the checkpoint's folder and its name (`Uragen_SAR-to-optical__latest_net_G`),
    so that pix2pixHD-style experiments, whose files are all called latest_net_G.pth, do not overwrite each other."""
    p = Path(model).resolve()
    parent = p.parent.name
    return f"{parent}__{p.stem}" if parent else p.stem


def image_metrics(out: np.ndarray, ref: np.ndarray) -> tuple[float, float]:
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    p = float(peak_signal_noise_ratio(ref, out, data_range=255))
    s = float(structural_similarity(ref, out, data_range=255, channel_axis=2))
    return p, s


def evaluation_sources(
    data: str,
    layout: str = "auto",
    split: str = "test",
    seed: int = 0,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    synthetic_count: int = 32,
    size: int = 256,
) -> tuple[list, str]:
    _, sensor = parse_data(data)
    if sensor is not None:
        seeds = range(HELD_OUT_SEED, HELD_OUT_SEED + synthetic_count)
        return synthetic_sources(seeds, sensor, size), f"{synthetic_count} held-out synthetic scenes, sensor {sensor}"
    pairs, used = find_pairs(data, layout)
    if split == "all":
        chosen = pairs
    elif split == "test" and pairs and all(p.split == "test" for p in pairs):
        chosen = pairs  # a folder that is only a test set (test_A + test_B, test/, split.json with test only)
    else:
        chosen = split_pairs(pairs, seed, val_fraction, test_fraction, need_train=False)[split]
    if not chosen:
        raise UserError(f"the {split} split of {data} is empty; use --split all or other fractions.")
    desc = f"{data} ({used}), {split} split: {len(chosen)} pairs"
    variants = ignored_variants(data) if used == "pix2pixhd" else []
    if variants:
        desc += f"; not scored, variants of paired images: {', '.join(variants)}"
    return [PairSource(p, Path(data)) for p in chosen], desc


def fid_with_floor(reals: list, fakes: list, weights: str, device: str, seed: int = 0) -> dict:
    """FID of generated against optical images, and beside it the real-vs-real floor that SAR2Optical reports: the
    FID between two halves of the optical set (a seeded random split), what a perfect generator would score at
    this set size. Inception features are computed once for both."""

    if len(reals) < 2 or len(fakes) < 2:
        raise UserError("FID needs at least two images in each set (hundreds for a stable value); add images.")
    net = load_fid_inception(weights, device)
    a = inception_features(list(reals), net, device)
    b = inception_features(list(fakes), net, device)
    out: dict = {"fid": frechet_distance_of_features(a, b)}
    order = np.random.default_rng([int(seed), 7919]).permutation(len(a))
    half = len(a) // 2
    if half >= 2:
        out["fid_real_floor"] = frechet_distance_of_features(a[order[:half]], a[order[half : 2 * half]])
    else:
        out["fid_real_floor"] = None
    out["fid_definition"] = (
        f"pytorch-fid Inception pool3 features of {len(reals)} optical and {len(fakes)} generated images; "
        f"fid_real_floor: FID between two random halves of {2 * half} optical images"
        + ("" if half >= 2 else " (needs at least 4)")
        + "; unstable below a few hundred images"
    )
    return out


def evaluate(
    model: str,
    data: str,
    layout: str = "auto",
    split: str = "test",
    seed: int = 0,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    synthetic_count: int = 32,
    size: int = 256,
    adapter: str | None = None,
    fid_weights: str | None = None,
    out: str | None = None,
    device: str = "auto",
    progress=None,
) -> dict:

    dev, note = resolve_device(device)
    net, meta = load_for_inference(model, adapter, dev)
    channels = next((m.in_channels for m in net.modules() if hasattr(m, "in_channels")), 3)
    sources, desc = evaluation_sources(data, layout, split, seed, val_fraction, test_fraction, synthetic_count, size)
    rows, fakes, reals = [], [], []
    for i, src in enumerate(sources):
        sar, opt = src.load()
        fake = generate(net, to_channels(sar, channels), dev)
        p, s = image_metrics(fake, opt)
        rows.append({"name": src.name, "psnr": p, "ssim": s})
        if fid_weights:
            fakes.append(fake)
            reals.append(opt)
        if progress:
            progress((i + 1) / len(sources), f"{i + 1}/{len(sources)} {src.name}")
    ps = np.array([r["psnr"] for r in rows])
    ss = np.array([r["ssim"] for r in rows])
    summary = {
        "model": str(model),
        "adapter": adapter,
        "data": desc,
        "count": len(rows),
        "psnr_mean": float(ps.mean()),
        "psnr_std": float(ps.std()),
        "ssim_mean": float(ss.mean()),
        "ssim_std": float(ss.std()),
        "metric_definition": "scikit-image PSNR and SSIM, data_range 255, RGB",
        "notes": [n for n in [note] if n],
        "split": split,
    }
    if fid_weights:
        summary.update(fid_with_floor(reals, fakes, fid_weights, dev, seed))
    out_dir = Path(out) if out else Path(__file__).resolve().parents[2] / "outputs" / "evaluate" / output_name(model)
    out_dir.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=["name", "psnr", "ssim"])
    w.writeheader()
    for r in rows:
        w.writerow({"name": r["name"], "psnr": f"{r['psnr']:.4f}", "ssim": f"{r['ssim']:.5f}"})
    with atomic_output(out_dir / "per_image.csv") as tmp:
        tmp.write_text(buf.getvalue())
    with atomic_output(out_dir / "summary.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2))
    summary["out"] = str(out_dir)
    return summary
