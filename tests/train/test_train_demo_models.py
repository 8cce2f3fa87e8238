"""The shipped demo models: loadable by the translation engine, small, with cards whose numbers can be recomputed."""

import re

import numpy as np
import pytest

from tests.support.repo import ROOT

CKPT = ROOT / "checkpoints"
DEMOS = ["pix2pix_unet_demo", "chrgan_demo"]


def _card_rows(name):
    text = (CKPT / f"{name}.md").read_text()
    return {
        m.group(1).strip(): (float(m.group(2)), float(m.group(3)))
        for m in re.finditer(r"^\| ([^|]+) \| ([0-9.]+) \| ([0-9.]+) \|$", text, re.M)
    }


@pytest.mark.parametrize("name", DEMOS)
def test_demo_generator_ships_small_with_a_card_and_loads_in_the_translation_engine(name):
    from core.translate.generators import load_generator

    path = CKPT / f"{name}.safetensors"
    assert path.exists(), "run scripts/train_demo_models.py"
    assert path.stat().st_size <= 25e6
    gen = load_generator(path)
    assert gen.format == "sar-studio" and gen.normalization["input"] == "x/255*2-1"
    rows = _card_rows(name)
    ours, mean_colour = rows[name], rows["baseline: mean colour"]
    lookup = rows["baseline: grey-level lookup"]
    assert ours[0] > mean_colour[0] and ours[0] > lookup[0]  # the card's held-out PSNR beats both baselines
    assert ours[1] > mean_colour[1] and ours[1] > lookup[1]  # and so does its SSIM


@pytest.mark.parametrize(
    "name,model,adapter,sensor",
    [
        ("pix2pix_unet_demo", "pix2pix_unet_demo.safetensors", None, "A"),
        ("chrgan_demo", "chrgan_demo.safetensors", None, "A"),
        ("pix2pix_unet_demo_sensorB_lora", "pix2pix_unet_demo.safetensors", "pix2pix_unet_demo_sensorB_lora", "B"),
    ],
)
def test_demo_card_numbers_are_reproduced(name, model, adapter, sensor):
    """The card's held-out means are those of checkpoints/heldout/<name>/per_image.csv (32 synthetic scenes never
    used in training, written by `python -m core evaluate`), and two of those rows are recomputed here."""
    import csv

    from core.train.datasets import synthetic_sources, to_channels
    from core.train.evaluate import generate, image_metrics, load_for_inference

    rows = list(csv.DictReader(open(CKPT / "heldout" / name / "per_image.csv")))
    assert len(rows) == 32
    card = _card_rows(name)
    ours = card["base pix2pix_unet_demo + this adapter"] if adapter else card[name]
    assert np.mean([float(r["psnr"]) for r in rows]) == pytest.approx(ours[0], abs=0.006)
    assert np.mean([float(r["ssim"]) for r in rows]) == pytest.approx(ours[1], abs=0.0006)
    net, _ = load_for_inference(str(CKPT / model), str(CKPT / adapter) if adapter else None)
    for row, src in zip(rows[:2], synthetic_sources(range(100000, 100002), sensor, 256)):
        assert row["name"] == src.name
        sar, opt = src.load()
        p, s = image_metrics(generate(net, to_channels(sar, 3)), opt)
        assert p == pytest.approx(float(row["psnr"]), abs=1e-3) and s == pytest.approx(float(row["ssim"]), abs=1e-4)


def test_lora_demo_adapter_improves_the_base_on_sensor_b():
    folder = CKPT / "pix2pix_unet_demo_sensorB_lora"
    assert (folder / "adapter_config.json").exists() and (folder / "adapter_model.safetensors").exists()
    assert sum(f.stat().st_size for f in folder.iterdir()) <= 25e6
    rows = _card_rows("pix2pix_unet_demo_sensorB_lora")
    adapted = rows["base pix2pix_unet_demo + this adapter"]
    base = rows["base pix2pix_unet_demo alone (trained on sensor A)"]
    assert adapted[0] > base[0] and adapted[1] > base[1]
    assert adapted[1] > rows["baseline: grey-level lookup"][1]  # (not the mean colour's SSIM: the card says so)
    assert adapted[0] > rows["baseline: mean colour"][0] and adapted[0] > rows["baseline: grey-level lookup"][0]
