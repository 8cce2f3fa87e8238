"""Each source project's own config file runs the run it describes (`train --config FILE`): SAR2Optical's
config.yaml, RGTGAN's RGTGAN.yml and pix2pixHD / C-HR-GAN option flags. The files are written (tests/support/source_projects.py) from the keys
those projects document in their public configs; the task, network size and optimiser that result are checked,
and an unknown key is refused in one line. Training runs use tiny overrides (width, size, one or two steps)."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
import yaml

from core.cli import main
from core.errors import UserError
from core.train.config import TrainConfig
from core.train.config_files import read_config_file
from core.train.networks import build_discriminator, build_generator, load_discriminator
from tests.support.repo import ROOT
from tests.support.source_projects import CHRGAN_SH, RGTGAN_YML, SAR2OPTICAL, make_sen12, write_srd


def n_params(net) -> int:
    return sum(p.numel() for p in net.parameters())


def write_yaml(path, doc):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc))
    return path


# --------------------------------------------------------------------------------------- SAR2Optical


def test_sar2optical_config_builds_their_54_5m_network_and_optimiser(tmp_path):
    cfg_path = write_yaml(tmp_path / "proj" / "config.yaml", SAR2OPTICAL)
    make_sen12(tmp_path / "proj" / "data" / "v2")
    opts, notes, _ = read_config_file(str(cfg_path))
    cfg = TrainConfig.from_dict(opts).check()
    assert (cfg.task, cfg.arch, cfg.width, cfg.n_down, cfg.ndf, cfg.n_layers_d) == (
        "pix2pix",
        "sar2optical_unet",
        64,
        8,
        64,
        3,
    )
    assert cfg.data == str((tmp_path / "proj" / "data" / "v2").resolve())  # from the config's folder
    assert (cfg.lr, cfg.beta1, cfg.beta2, cfg.lambda_l1, cfg.epochs, cfg.batch_size) == (2e-4, 0.5, 0.999, 100, 200, 32)
    assert (cfg.val_fraction, cfg.test_fraction, cfg.seed, cfg.save_every_epochs) == (0.15, 0.15, 42, 5)
    assert n_params(build_generator(cfg, 3)) == 54_541_827  # the spec's count of their pix2pix_gen_*.pth
    # their PatchGAN: 64 -> 128 -> 256 -> 512 (stride 1) -> 1, 4x4 convs, on 6 channels
    expect_d = (6 * 64 * 16 + 64) + (64 * 128 * 16 + 2 * 128) + (128 * 256 * 16 + 2 * 256)
    expect_d += (256 * 512 * 16 + 2 * 512) + (512 * 16 + 1)
    assert n_params(build_discriminator("pix2pix", cfg, 3)) == expect_d
    assert any("model.c_hid -> ndf" in n for n in notes) and any("training.num_workers" in n for n in notes)
    # use_upsampling is honoured: the decoder's first conv becomes Upsample -> 3x3 conv (keys conv_block.0.1.*)
    up = dict(SAR2OPTICAL, model=dict(SAR2OPTICAL["model"], use_upsampling=True, mode="bilinear"))
    opts, _, _ = read_config_file(str(write_yaml(tmp_path / "proj" / "up.yaml", up)))
    g = build_generator(TrainConfig.from_dict(opts).check(), 3)
    assert g.decoder.dec2.conv_block[0][1].weight.shape == (512, 1024, 3, 3)
    assert g.decoder.dec2.conv_block[0][0].mode == "bilinear"


def test_sar2optical_config_trains_with_their_optimiser_and_split_file(tmp_path, capsys):
    names = make_sen12(tmp_path / "proj" / "data" / "v2")
    (tmp_path / "proj" / "splits").mkdir(parents=True)
    split = {"data": {"train": names[:4], "val": names[4:6], "test": names[6:]}}
    (tmp_path / "proj" / "splits" / "split.json").write_text(json.dumps(split))
    doc = dict(SAR2OPTICAL, dataset=dict(SAR2OPTICAL["dataset"], split_mode="split", split_file="splits/split.json"))
    cfg_path = write_yaml(tmp_path / "proj" / "config.yaml", doc)
    run = tmp_path / "run"
    args = ["train", "--config", str(cfg_path), "--run-dir", str(run), "--width", "4", "--n-down", "3"]
    args += ["--ndf", "8", "--size", "32", "--batch-size", "2", "--max-steps", "1", "--epochs", "1", "--threads", "1"]
    assert main(args) == 0, capsys.readouterr().err
    saved = json.loads((run / "config.json").read_text())
    assert (saved["task"], saved["arch"], saved["width"], saved["ndf"]) == ("pix2pix", "sar2optical_unet", 4, 8)
    assert (saved["lr"], saved["beta1"], saved["beta2"], saved["lambda_l1"]) == (2e-4, 0.5, 0.999, 100.0)
    assert saved["split_file"] == str((tmp_path / "proj" / "splits" / "split.json").resolve())
    state = json.loads((run / "state.json").read_text())
    assert "4 train, 2 val, 2 test" in state["data"]  # the split file decided, not the 0.7/0.15/0.15 ratio


def test_unknown_and_unusable_keys_are_refused_in_one_line(tmp_path, capsys):
    doc = dict(SAR2OPTICAL, model=dict(SAR2OPTICAL["model"], fancy=1, netD="pixel"))
    cfg_path = write_yaml(tmp_path / "config.yaml", doc)
    assert main(["train", "--config", str(cfg_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: config.yaml: keys we do not use:")
    assert "model.fancy" in err and "model.netD: 'pixel'" in err
    # a relative root_dir that does not exist is reported as coming from the config
    cfg_path = write_yaml(tmp_path / "config2.yaml", SAR2OPTICAL)
    assert main(["train", "--config", str(cfg_path)]) == 2
    err = capsys.readouterr().err
    assert "dataset.root_dir './data/v2' in config2.yaml" in err and str(tmp_path / "data" / "v2") in err
    # our own JSON: an unknown option is refused too, and a file without a task never starts a default run
    (tmp_path / "ours.json").write_text(json.dumps({"epochs": 1, "fancy": 2, "task": "pix2pix", "data": "synthetic"}))
    assert main(["train", "--config", str(tmp_path / "ours.json")]) == 2
    assert "unknown training option(s) fancy" in capsys.readouterr().err
    (tmp_path / "notask.json").write_text(json.dumps({"epochs": 1}))
    assert main(["train", "--config", str(tmp_path / "notask.json")]) == 2
    assert "does not say which task" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------- RGTGAN


def test_rgtgan_yml_without_task_trains_rgtgan_with_its_optimiser(tmp_path, capsys):
    proj = tmp_path / "codes"
    proj.mkdir()
    (proj / "RGTGAN.yml").write_text(RGTGAN_YML, encoding="utf-8")
    opts, notes, _ = read_config_file(str(proj / "RGTGAN.yml"))
    cfg = TrainConfig.from_dict(opts).check()
    assert (cfg.task, cfg.width, cfg.generator, cfg.ndf, cfg.size, cfg.batch_size) == (
        "rgtgan",
        64,
        {"n_blocks": 16},
        64,
        256,
        4,
    )
    assert (cfg.lr, cfg.beta1, cfg.beta2, cfg.lr_policy, cfg.lr_gamma) == (1e-4, 0.9, 0.99, "step", 0.5)
    assert cfg.lr_milestones == [50000, 100000, 150000, 200000, 250000] and cfg.max_steps == 300000
    assert (cfg.lambda_vgg, cfg.lambda_gan, cfg.lambda_gradient, cfg.lambda_gradient_gan) == (0.1, 1e-3, 1.0, 1e-3)
    assert (cfg.gan_start_step, cfg.seed, cfg.val_every) == (30000, 10, 5000)
    assert cfg.data == str(tmp_path / "dataset" / "train" / "train_KaggleSRD")  # the images the LMDB came from
    # the run it describes, on tiny folders at the config's paths (sizes and steps overridden)
    write_srd(tmp_path / "dataset" / "train" / "train_KaggleSRD")
    write_srd(tmp_path / "dataset" / "val" / "KaggleSRD_test" / "val_1", n=1)
    small = json.dumps(dict(n_blocks=1, groups=4, gtem_blocks=1, align_tail_blocks=0, dense_rounds=1, dense_steps=1))
    run = tmp_path / "run"
    args = ["train", "--config", str(proj / "RGTGAN.yml"), "--run-dir", str(run), "--width", "16", "--ndf", "16"]
    args += ["--generator", small, "--size", "16", "--batch-size", "2", "--max-steps", "2", "--threads", "1"]
    args += ["--device", "cpu", "--val-every", "1", "--log-every", "1"]
    assert main(args) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    result = json.loads(out[out.index("{") :])
    assert result["adam_betas"] == [0.9, 0.99] and result["lr_milestones_steps"][0] == 50000
    assert result["losses"]["gradient_gan"] == 1e-3
    saved = json.loads((run / "config.json").read_text())
    assert (saved["task"], saved["beta1"], saved["beta2"], saved["lr"]) == ("rgtgan", 0.9, 0.99, 1e-4)
    rows = (run / "val.csv").read_text().splitlines()
    header = rows[0].split(",")
    assert {"step", "psnr", "ssim", "psnr_bicubic"} <= set(header) and len(rows) == 3  # step 1 and the end
    psnr = float(rows[-1].split(",")[header.index("psnr")])
    assert 5 < psnr < 60


def test_rgtgan_lmdb_path_error_says_it_came_from_the_config(tmp_path, capsys):
    (tmp_path / "RGTGAN.yml").write_text(RGTGAN_YML, encoding="utf-8")
    assert main(["train", "--config", str(tmp_path / "RGTGAN.yml")]) == 2
    err = capsys.readouterr().err
    assert "datasets.train.dataroot_GT '../dataset/train/train_KaggleSRD_lmdb/HR.lmdb' in RGTGAN.yml" in err
    assert "LMDB is not read" in err and "pix2pix" not in err
    # --task of another kind is refused rather than mixing the two
    assert main(["train", "--config", str(tmp_path / "RGTGAN.yml"), "--task", "pix2pix"]) == 2
    assert "describes a rgtgan run" in capsys.readouterr().err


def test_help_says_rgtgan_milestones_are_steps():
    out = subprocess.run(
        [sys.executable, "-m", "core", "train", "--help"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    flat = " ".join(out.split())
    assert "but STEPS for --task rgtgan" in flat and "0.9 for rgtgan (RGTGAN's)" in flat


# ----------------------------------------------------------------------------------- pix2pixHD / C-HR-GAN


def test_chrgan_defaults_are_theirs_and_recorded():
    cfg = TrainConfig(task="chrgan").check()
    assert (cfg.width, cfg.n_downsample, cfg.n_blocks, cfg.num_d, cfg.ndf, cfg.lr) == (64, 4, 9, 2, 64, 1e-4)
    assert (cfg.beta1, cfg.beta2, cfg.ssim_weight("chrgan")) == (0.5, 0.999, 1.0)  # 1 x 2(1-SSIM): their lambda 2
    assert n_params(build_generator(TrainConfig(task="pix2pixhd").check(), 3)) == 182_443_267  # spec's count
    hd = TrainConfig(task="pix2pixhd").check()
    assert (hd.lr, hd.num_d) == (2e-4, 2)
    r = TrainConfig(task="rgtgan").check()
    assert (r.lr, r.beta1, r.beta2, r.lr_policy, r.lr_milestones[:2]) == (1e-4, 0.9, 0.99, "step", [50000, 100000])
    assert TrainConfig.from_dict(r.to_dict()) == r  # what config.json records is what ran


def test_chrgan_train_sh_needs_the_task_and_the_vgg_choice(tmp_path, capsys):
    make_sen12(tmp_path / "datasets" / "Uragen")
    (tmp_path / "train.sh").write_text(CHRGAN_SH)
    assert main(["train", "--config", str(tmp_path / "train.sh")]) == 2
    assert "add --task pix2pixhd or --task chrgan" in capsys.readouterr().err
    assert main(["train", "--config", str(tmp_path / "train.sh"), "--task", "chrgan"]) == 2
    assert "--vgg-weights" in capsys.readouterr().err  # their VGG loss is on by default: never dropped silently
    (tmp_path / "train.sh").write_text(CHRGAN_SH + " --no_vgg_loss")
    opts, notes, _ = read_config_file(str(tmp_path / "train.sh"), "chrgan")
    cfg = TrainConfig.from_dict(opts).check()
    assert (cfg.task, cfg.arch, cfg.batch_size, cfg.epochs, cfg.lr_policy, cfg.lr_decay_epochs) == (
        "chrgan",
        "pix2pixhd_global",
        16,
        100,
        "linear",
        50,
    )
    assert (cfg.width, cfg.n_downsample, cfg.n_blocks, cfg.num_d, cfg.lr) == (64, 4, 9, 2, 1e-4)
    run = tmp_path / "run"
    args = ["train", "--config", str(tmp_path / "train.sh"), "--task", "chrgan", "--run-dir", str(run)]
    args += ["--width", "4", "--n-downsample", "2", "--n-blocks", "1", "--ndf", "4", "--size", "32"]
    args += ["--batch-size", "2", "--max-steps", "1", "--threads", "1"]
    assert main(args) == 0, capsys.readouterr().err
    saved = json.loads((run / "config.json").read_text())
    assert (saved["task"], saved["lr"], saved["num_d"], saved["epochs"]) == ("chrgan", 1e-4, 2, 100)


def test_pix2pixhd_opt_txt_with_no_ganfeat_loss_and_its_discriminator(tmp_path):
    opt = "------------ Options -------------\n"
    flags = dict(
        batchSize=1, beta1=0.5, checkpoints_dir="./checkpoints", continue_train=False, data_type=32,
        dataroot="./datasets/x", debug=False, display_freq=100, display_winsize=512, feat_num=3, fineSize=512,
        fp16=False, gpu_ids="[0]", input_nc=3, instance_feat=False, isTrain=True, label_feat=False, label_nc=0,
        lambda_feat=10.0, loadSize=1024, load_features=False, load_pretrain="", local_rank=0, lr=0.0002,
        max_dataset_size="inf", model="pix2pixHD", nThreads=2, n_blocks_global=9, n_blocks_local=3,
        n_clusters=10, n_downsample_E=4, n_downsample_global=4, n_layers_D=3, n_local_enhancers=1, name="x",
        ndf=64, nef=16, netG="global", ngf=64, niter=100, niter_decay=100, niter_fix_global=0, no_flip=False,
        no_ganFeat_loss=True, no_html=False, no_instance=True, no_lsgan=False, no_vgg_loss=True, norm="instance",
        num_D=2, output_nc=3, phase="train", pool_size=0, print_freq=100, resize_or_crop="crop",
        save_epoch_freq=10, save_latest_freq=1000, serial_batches=False, tf_log=False, use_dropout=False,
        verbose=False, which_epoch="latest",
    )  # fmt: skip
    opt += "".join(f"{k}: {v}\n" for k, v in sorted(flags.items())) + "-------------- End ----------------\n"
    (tmp_path / "opt.txt").write_text(opt)
    opts, notes, _ = read_config_file(str(tmp_path / "opt.txt"), "pix2pixhd")
    cfg = TrainConfig.from_dict(opts).check()
    assert (cfg.gan_feat, cfg.size, cfg.epochs, cfg.num_d, cfg.width, cfg.lr, cfg.lambda_vgg) == (
        False, 512, 200, 2, 64, 2e-4, 10.0
    )  # fmt: skip
    # a discriminator trained with --no_ganFeat_loss: one flat Sequential per scale, pix2pixHD's key names
    # (conv 0, LeakyReLU 1, conv 2, norm 3, LeakyReLU 4, conv 5, norm 6, LeakyReLU 7, conv 8, norm 9, LeakyReLU 10,
    # conv 11), written here by hand
    shapes = {0: (8, 6), 2: (16, 8), 5: (32, 16), 8: (64, 32), 11: (1, 64)}
    state = {}
    for i in range(2):
        for k, (cout, cin) in shapes.items():
            state[f"layer{i}.{k}.weight"] = torch.randn(cout, cin, 4, 4)
            state[f"layer{i}.{k}.bias"] = torch.randn(cout)
    torch.save(state, tmp_path / "latest_net_D.pth")
    d, note = load_discriminator(str(tmp_path / "latest_net_D.pth"), "pix2pixhd", 3)
    assert "pix2pixhd_flat" in note and d.num_D == 2
    out = d(torch.zeros(1, 6, 64, 64))
    assert len(out) == 2 and len(out[0]) == 1 and out[0][0].shape[1] == 1
    x = torch.randn(1, 6, 32, 32)
    ref = torch.nn.functional.conv2d(x, state["layer0.0.weight"], state["layer0.0.bias"], stride=2, padding=2)
    assert torch.allclose(d.layer0[0](x), ref)
    with pytest.raises(UserError, match="pix2pixHD multi-scale"):
        load_discriminator(str(tmp_path / "latest_net_D.pth"), "pix2pix", 3)


def test_evaluate_folder_is_named_after_the_checkpoint_and_its_folder(tmp_path):
    from core.train.evaluate import output_name

    a = tmp_path / "checkpoints" / "Uragen_SAR-to-optical" / "latest_net_G.pth"
    b = tmp_path / "checkpoints" / "other_experiment" / "latest_net_G.pth"
    assert output_name(a) == "Uragen_SAR-to-optical__latest_net_G"
    assert output_name(a) != output_name(b)


def test_a_no_ganfeat_discriminator_trains_without_feature_matching(tmp_path):
    from core.train.runs import RunFolder
    from core.train.trainer import Trainer
    from models.multiscale_discriminator import MultiscaleDiscriminator

    d = MultiscaleDiscriminator(in_channels=6, ndf=4, n_layers=3, num_D=2, intermediate=False)
    assert "layer1.11.weight" in d.state_dict()  # pix2pixHD's flat key names
    torch.save(d.state_dict(), tmp_path / "latest_net_D.pth")
    make_sen12(tmp_path / "data")
    cfg = TrainConfig(
        task="pix2pixhd", data=str(tmp_path / "data"), width=4, n_downsample=2, n_blocks=1, size=32, batch_size=2,
        epochs=1, discriminator=str(tmp_path / "latest_net_D.pth"),
    )  # fmt: skip
    t = Trainer(cfg, RunFolder(tmp_path / "run"))
    assert any("--no_ganFeat_loss" in n for n in t.notes)
    sar, opt = t.train_set.batch([0, 1], 0)
    losses = t.train_step(sar, opt)
    assert "loss_G_feat" not in losses and np.isfinite(losses["loss_G_GAN"])


def test_task_rgtgan_without_data_says_what_to_give(tmp_path, capsys):
    assert main(["train", "--task", "rgtgan", "--run-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "give --data FOLDER" in err and "'synthetic'" not in err and "folder synthetic" not in err
