"""Training options: the rules a page or the CLI leaves to the task (U-Net depth, loss weights, synthetic data),
and older run configs (with "" and -1 for "from the task") still read the same."""

import subprocess
import sys

import pytest

from core.errors import UserError
from core.train.config import TrainConfig, parse_data, unet_depth_for
from tests.support.repo import ROOT


@pytest.mark.parametrize("size", [16, 32, 48, 64, 100, 128, 256, 512, 1024, 4096])
def test_unet_depth_leaves_a_2x2_bottleneck(size):
    depth, side = 0, size  # halve until the feature map is 2 px (or smaller), then clip to the network's range
    while side > 3:
        side //= 2
        depth += 1
    assert unet_depth_for(size) == max(2, min(8, depth))
    if 2 ** (depth + 1) == size and 2 <= depth <= 8:
        assert size // 2 ** unet_depth_for(size) == 2


def test_synthetic_data_is_parsed_once_for_every_caller():
    assert parse_data("synthetic") == ("synthetic", "A")
    assert parse_data("synthetic", default_sensor="B") == ("synthetic", "B")
    assert parse_data("synthetic:B") == ("synthetic", "B")
    assert parse_data("/data/SEN1-2") == ("/data/SEN1-2", None)
    assert parse_data("synthetic_scenes") == ("synthetic_scenes", None)  # a folder that only starts alike
    for bad in ("synthetic:Z", "synthetic:"):
        with pytest.raises(UserError, match="synthetic sensor"):
            parse_data(bad)


def test_unset_loss_weights_come_from_the_objective():
    cfg = TrainConfig()
    assert (cfg.lambda_l1, cfg.lambda_ssim, cfg.objective, cfg.arch, cfg.base_model, cfg.vgg_weights) == (None,) * 6
    assert [cfg.l1_weight(o) for o in ("pix2pix", "pix2pixhd", "chrgan")] == [100.0, 0.0, 0.0]
    assert [cfg.ssim_weight(o) for o in ("pix2pix", "pix2pixhd", "chrgan")] == [0.0, 0.0, 1.0]
    set_ = TrainConfig(lambda_l1=7.0, lambda_ssim=0.0)
    assert (set_.l1_weight("pix2pix"), set_.ssim_weight("chrgan")) == (7.0, 0.0)


def test_older_configs_with_sentinels_read_as_unset():
    old = TrainConfig.from_dict(
        dict(objective="", arch="", base_model="", vgg_weights="", lambda_l1=-1, lambda_ssim=-1)
    )
    assert old == TrainConfig()
    assert TrainConfig.from_dict(old.to_dict()) == old  # config.json round trip (None as null)


def test_cli_help_names_the_rules_not_sentinels():
    out = subprocess.run(
        [sys.executable, "-m", "core", "train", "--help"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    flat = " ".join(out.split())
    assert "--lambda-l1 LAMBDA_L1 (default: 100 for the pix2pix objective, 0 for pix2pixHD / C-HR-GAN)" in flat
    assert "--lambda-ssim LAMBDA_SSIM (default: 1 for the C-HR-GAN objective" in flat
    assert "-1" not in flat and "default ''" not in flat
