"""The source projects as their users have them: their config files with their documented keys (SAR2Optical's
config.yaml, RGTGAN's RGTGAN.yml, C-HR-GAN's train.sh), a SEN1-2 style folder and an SRD folder of tiny images."""

import numpy as np
from PIL import Image

from core.io import write_png
from core.train.synthetic import make_optical_scene

# SAR2Optical's config.yaml, every key as published (yuuIind/SAR2Optical config.yaml)
SAR2OPTICAL = {
    "dataset": {
        "root_dir": "./data/v2",
        "split_mode": "random",
        "split_ratio": [0.7, 0.15, 0.15],
        "split_file": None,
        "seed": 42,
        "shuffle": True,
    },
    "model": {
        "c_in": 3,
        "c_out": 3,
        "netD": "patch",
        "lambda_L1": 100.0,
        "is_CGAN": True,
        "use_upsampling": False,
        "mode": "nearest",
        "c_hid": 64,
        "n_layers": 3,
    },
    "training": {
        "num_epochs": 200,
        "batch_size": 32,
        "lr": 0.0002,
        "beta1": 0.5,
        "beta2": 0.999,
        "use_validation": False,
        "save_freq": 5,
        "eval_freq": 5,
        "resume": False,
        "resume_epoch": 0,
        "gen_checkpoint": "./models/checkpoints/pix2pix_gen_X.pth",
        "disc_checkpoint": "./models/checkpoints/pix2pix_disc_X.pth",
        "checkpoint_dir": "./models/checkpoints",
        "results_dir": "./models/results",
        "device": "cpu",
        "num_workers": 4,
    },
    "logging": {"comet": {"enabled": False, "project": "pix2pix", "name": None, "entity": None}},
}

# RGTGAN's codes/example/RGTGAN/options/RGTGAN.yml, as published (full-width comma in lr_steps included)
RGTGAN_YML = """\
name: 001_RGTGAN_KaggleSRD
use_tb_logger: false
model: RGTGAN_model
scale: 4
Ref_color: RGB
gpu_ids: [0,1]
datasets:
  train:
    name: Kaggle2
    data_type: lmdb
    mode: RGTNet
    dataroot_GT: ../dataset/train/train_KaggleSRD_lmdb/HR.lmdb
    dataroot_LQ: ../dataset/train/train_KaggleSRD_lmdb/LR.lmdb
    dataroot_LQ_UX4: ../dataset/train/train_KaggleSRD_lmdb/LR_UX4.lmdb
    dataroot_Ref: ../dataset/train/train_KaggleSRD_lmdb/Ref.lmdb
    dataroot_Ref_DUX4: ../dataset/train/train_KaggleSRD_lmdb/Ref_DUX4.lmdb
    use_shuffle: true
    n_workers: 2
    batch_size: 4
    GT_size: 256
    use_flip: true
    use_rot: true
  val:
    name: KaggleSRD_val_1
    mode: RGTNet
    dataroot_GT: ../dataset/val/KaggleSRD_test/val_1_lmdb/HR.lmdb
    dataroot_LQ: ../dataset/val/KaggleSRD_test/val_1_lmdb/LR.lmdb
    dataroot_LQ_UX4: ../dataset/val/KaggleSRD_test/val_1_lmdb/LR_UX4.lmdb
    dataroot_Ref: ../dataset/val/KaggleSRD_test/val_1_lmdb/Ref.lmdb
    dataroot_Ref_DUX4: ../dataset/val/KaggleSRD_test/val_1_lmdb/Ref_DUX4.lmdb
network_G:
  which_model_G: RGTNet_arch
  nf: 64
  n_blocks: 16
network_D:
  which_model_D: discriminator_vgg_128
  in_nc: 3
  nf: 64
path:
  strict_load: false
  resume_state: ~
  root: ./exp
train:
  lr_G: !!float 1e-4
  weight_decay_G: 0
  weight_decay_G_grad: 0
  beta1_G: 0.9
  beta2_G: 0.99
  beta1_G_grad: 0.9
  lr_D: !!float 1e-4
  weight_decay_D: 0
  beta1_D: 0.9
  beta2_D: 0.99
  lr_scheme: MultiStepLR
  niter: 300000
  warmup_iter: -1
  lr_steps: [50000, 100000, 150000, 200000\uff0c250000]
  lr_gamma: 0.5
  pixel_criterion: l1
  pixel_weight: 1.0
  feature_criterion: l1
  feature_weight: !!float 1e-1
  gan_type: gan
  gan_weight: !!float 1e-3
  gradient_pixel_weight: 1.0
  gradient_gan_weight: !!float 1e-3
  l1_init: 30000
  D_update_ratio: 1
  D_init_iters: 0
  manual_seed: 10
  val_freq: !!float 5e3
logger:
  print_freq: 100
  save_checkpoint_freq: !!float 5e3
""".replace("\\uff0c", "\uff0c")

# C-HR-GAN's scripts/train.sh (pix2pixHD's flags)
CHRGAN_SH = (
    "python train.py --name Uragen_SAR-to-optical --no_instance --label_nc 0  --resize_or_crop none "
    "--niter 50 --niter_decay 50 --dataroot ./datasets/Uragen --batchSize 16"
)


def _png(path, arr):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


def make_sen12(root, n=4, size=32, seed=0):
    rng = np.random.default_rng(seed)
    names = []
    for terrain in ("agri", "urban"):
        for k in range(n):
            name = f"ROIs1970_fall_s1_{k}_p{k + 10}.png"
            _png(root / terrain / "s1" / name, rng.integers(0, 256, (size, size), dtype=np.uint8))
            _png(root / terrain / "s2" / name.replace("_s1_", "_s2_"), rng.integers(0, 256, (size, size, 3), np.uint8))
            names.append(f"{terrain}/s1/{name}")
    return names


def write_srd(root, n=3, lr_size=8):
    for i in range(n):
        hr = make_optical_scene(i, lr_size * 4, (0.1, 0.1, 0.4, 0.4))
        lr = np.asarray(Image.fromarray(hr).resize((lr_size, lr_size), Image.BICUBIC))
        for sub, arr in (("HR", hr), ("LR", lr), ("Ref", make_optical_scene(i, lr_size * 4, (0.1, 0.12, 0.4, 0.42)))):
            (root / sub).mkdir(parents=True, exist_ok=True)
            write_png(root / sub / f"img_{i}.png", arr)
