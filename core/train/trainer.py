"""Trainers for SAR-to-optical generators: pix2pix, pix2pixHD, C-HR-GAN, LoRA and full fine-tuning.

Objectives (images in [-1, 1], the SAR condition concatenated to the image the discriminator judges):
- "pix2pix":   70x70 PatchGAN (models/patchgan.py), BCE adversarial + lambda_l1 (100) * L1; Adam 2e-4, beta1 0.5.
- "pix2pixhd": multi-scale discriminator (models/multiscale_discriminator.py), LSGAN, feature matching x
               lambda_feat (10), optional VGG19 perceptual loss x lambda_vgg (10) from a user-supplied torchvision
               weights file (`vgg_weights`); optional L1 (lambda_l1, 0 by default for this objective).
- "chrgan":    as pix2pixHD with SE-ResNet generator blocks and the structural term lambda_ssim * 2 * (1 - SSIM).
Tasks: "pix2pix", "pix2pixhd", "chrgan" train from scratch; "lora" adds LoRA adapters (peft, via core.lora) to a
base generator's Conv2d and ConvTranspose2d layers and trains only those (base weights and BatchNorm statistics
frozen); "finetune" trains every weight of a base generator. Both fine-tuning tasks use the base checkpoint's
objective unless `objective` is set.

Reproducible and resumable: the data order of each epoch, each item's crop and flips, and the dropout noise of
each step are drawn from (seed, epoch, step), and a checkpoint holds both networks and both optimizers, so a run
killed and resumed from its checkpoint continues at the same step with the same numbers.
Distributed: started by torchrun (WORLD_SIZE > 1), each process takes its share of every global batch and
DistributedDataParallel averages the gradients (gloo on CPU, NCCL on CUDA); rank 0 writes the run folder.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.errors import UserError

TASKS = ("pix2pix", "pix2pixhd", "chrgan", "lora", "finetune")
OBJECTIVES = ("pix2pix", "pix2pixhd", "chrgan")

# How our generators expect their input and give their output; stored in every checkpoint we write, in the
# translation engine's terms (core.checkpoints.TRANSLATION_NORMALIZATION) plus a sentence for people.
NORMALIZATION_NOTE = (
    "SAR as an 8-bit display image (float or 16-bit SAR rendered by core.io.render: dB, 2-98 % "
    "stretch, VV/VH false colour for two bands), grey copied to R=G=B, x/255*2-1; output tanh, "
    "(y+1)/2*255"
)


def normalization_for(in_channels: int) -> dict:
    from core.checkpoints import translation_normalization

    return translation_normalization(in_channels, note=NORMALIZATION_NOTE)


@dataclass
class TrainConfig:
    task: str = "pix2pix"
    data: str = "synthetic"  # a dataset folder, or "synthetic" (core.train.synthetic)
    layout: str = "auto"
    synthetic_sensor: str = "A"
    synthetic_count: int = 64  # synthetic training + validation scenes (test scenes are never drawn)
    synthetic_size: int = 256  # synthetic scene size in pixels (training crops of `size` are cut from it)
    size: int = 256  # training crop
    objective: str = ""  # "" = from the task / base checkpoint
    arch: str = ""  # "" = sar2optical_unet for pix2pix, pix2pixhd_global for the others
    width: int = 16  # generator width (U-Net width / pix2pixHD ngf)
    n_down: int = 8  # U-Net depth
    n_downsample: int = 3  # pix2pixHD downsamplings
    n_blocks: int = 6  # pix2pixHD residual blocks
    generator: dict = field(default_factory=dict)  # extra generator kwargs
    base_model: str = ""  # lora / finetune: the generator to start from
    ndf: int = 32  # discriminator width
    num_d: int = 3  # pix2pixHD discriminator scales
    epochs: int = 10
    max_steps: int = 0  # 0: no cap; else stop after this many steps
    max_seconds: float = 0.0  # 0: no cap; else finish (validate, save) once this much time has passed
    batch_size: int = 4
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    lambda_l1: float = -1.0  # -1: 100 for pix2pix, 0 for pix2pixHD / C-HR-GAN
    lambda_feat: float = 10.0
    lambda_vgg: float = 10.0
    vgg_weights: str = ""
    lambda_ssim: float = -1.0  # -1: 1 for C-HR-GAN (the 2 * (1 - SSIM) term), 0 otherwise
    lora_rank: int = 16
    lora_alpha: float = 32.0
    lora_dropout: float = 0.1
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    val_max: int = 16  # validation images per epoch
    val_size: int = 0  # validation centre crop (0: the training size)
    seed: int = 0
    augment: bool = True
    log_every: int = 5
    checkpoint_every: int = 25
    device: str = "auto"
    threads: int = 0  # 0: PyTorch default
    channels_last: bool = False  # channels-last memory format for both networks
    bf16: bool = False  # bfloat16 autocast for the forward passes (CPU or CUDA)
    keep_best: bool = True  # also keep the generator (LoRA: adapter) of the best validation PSNR

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise UserError(f"unknown training option(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}.")
        return cls(**d)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def check(self) -> "TrainConfig":
        if self.task not in TASKS:
            raise UserError(f"unknown task {self.task!r}; use one of {', '.join(TASKS)}.")
        if self.objective and self.objective not in OBJECTIVES:
            raise UserError(f"unknown objective {self.objective!r}; use one of {', '.join(OBJECTIVES)}.")
        if self.task in ("lora", "finetune") and not self.base_model:
            raise UserError(f"task {self.task} needs a base model to start from; give --base-model.")
        if self.batch_size < 1 or self.epochs < 1 or self.size < 16:
            raise UserError("batch size and epochs must be at least 1 and the size at least 16; fix the options.")
        if self.lr <= 0:
            raise UserError(f"learning rate {self.lr} must be positive; use e.g. 2e-4.")
        if self.vgg_weights and not Path(self.vgg_weights).is_file():
            raise UserError(
                f"VGG weights file {self.vgg_weights} not found; give a torchvision VGG19 .pth file or "
                f"leave it empty to train without the perceptual loss."
            )
        if self.base_model and not Path(self.base_model).is_file():
            raise UserError(f"base model {self.base_model} not found; give an existing checkpoint file.")
        return self


# --------------------------------------------------------------------------------------- set-up


def _objective(cfg: TrainConfig, base_meta: dict | None) -> str:
    if cfg.objective:
        return cfg.objective
    if cfg.task in OBJECTIVES:
        return cfg.task
    obj = (base_meta or {}).get("objective")
    if obj in OBJECTIVES:
        return obj
    arch = (base_meta or {}).get("arch", "")
    if "pix2pixhd" in arch:
        return "chrgan" if ((base_meta or {}).get("config") or {}).get("se_blocks") else "pix2pixhd"
    return "pix2pix"


def build_generator(cfg: TrainConfig, sar_channels: int = 3):
    from models.registry import build

    arch = cfg.arch or ("sar2optical_unet" if cfg.task == "pix2pix" else "pix2pixhd_global")
    if arch == "sar2optical_unet":
        kw = dict(in_channels=sar_channels, out_channels=3, width=cfg.width, n_down=cfg.n_down)
    elif arch == "pix2pixhd_global":
        kw = dict(
            in_channels=sar_channels,
            out_channels=3,
            ngf=cfg.width,
            n_downsample=cfg.n_downsample,
            n_blocks=cfg.n_blocks,
            se_blocks=cfg.task == "chrgan",
        )
    else:
        kw = {}
    kw.update(cfg.generator or {})
    return build(arch, kw)


def load_base_generator(path: str):
    """(generator, metadata) from one of our checkpoints or, when the translation engine can read it, a
    foreign .pth (SAR2Optical, pix2pixHD, C-HR-GAN)."""
    from core.checkpoints import load_model, read_metadata

    p = Path(path)
    if p.suffix == ".safetensors" and read_metadata(p).get("format") == "sar-studio/1":
        model, meta = load_model(p)
        return model, meta
    try:
        from core.checkpoints import load_generator  # written by the translation engine
    except ImportError:
        raise UserError(
            f"{p.name} is not a SAR Studio checkpoint; give a .safetensors generator trained here."
        ) from None
    loaded = load_generator(str(p))
    model = loaded[0] if isinstance(loaded, tuple) else getattr(loaded, "model", loaded)
    if not hasattr(model, "parameters"):
        raise UserError(
            f"{p.name} is not a PyTorch generator (ONNX files cannot be fine-tuned); give a .pth or .safetensors file."
        )
    meta = {"arch": getattr(model, "arch_name", ""), "config": getattr(model, "config", {})}
    return model, meta


def build_discriminator(objective: str, cfg: TrainConfig, sar_channels: int):
    from models.multiscale_discriminator import MultiscaleDiscriminator
    from models.patchgan import PatchGAN

    if objective == "pix2pix":
        return PatchGAN(in_channels=sar_channels + 3, ndf=cfg.ndf, n_layers=3)
    return MultiscaleDiscriminator(in_channels=sar_channels + 3, ndf=cfg.ndf, n_layers=3, num_D=cfg.num_d)


def _sar_channels(model) -> int:
    import torch

    for m in model.modules():
        if isinstance(m, torch.nn.Conv2d):
            return int(m.in_channels)
    return 3


def _size_multiple(model) -> int:
    return int(getattr(model, "size_multiple", 1) or 1)


def make_data(cfg: TrainConfig, sar_channels: int, size_multiple: int):
    """(train dataset, val dataset, description) for the config."""
    from core.train import datasets as dsets

    if cfg.data == "synthetic" or cfg.data.startswith("synthetic:"):
        sensor = cfg.data.split(":", 1)[1] if ":" in cfg.data else cfg.synthetic_sensor
        from core.train.synthetic import SENSORS

        if sensor not in SENSORS:
            raise UserError(f"unknown synthetic sensor {sensor!r}; use one of {', '.join(SENSORS)}.")
        n_val = max(1, int(round(cfg.synthetic_count * cfg.val_fraction)))
        n_train = max(1, cfg.synthetic_count - n_val)
        # training scenes: seeds 0.., validation: 50000.., held-out test (evaluate, model cards): 100000..
        scene = max(cfg.size, cfg.synthetic_size)
        train_src = dsets.synthetic_sources(range(n_train), sensor, scene)
        val_src = dsets.synthetic_sources(range(50000, 50000 + n_val), sensor, scene)
        desc = f"synthetic sensor {sensor}: {n_train} training and {n_val} validation scenes of {scene} px"
    else:
        pairs, layout = dsets.find_pairs(cfg.data, cfg.layout)
        splits = dsets.split_pairs(pairs, cfg.seed, cfg.val_fraction, cfg.test_fraction)
        root = Path(cfg.data)
        train_src = [dsets.PairSource(p, root) for p in splits["train"]]
        val_src = [dsets.PairSource(p, root) for p in splits["val"]]
        desc = (
            f"{cfg.data} ({layout}): {len(splits['train'])} train, {len(splits['val'])} val, "
            f"{len(splits['test'])} test pairs"
        )
    train = dsets.PairedDataset(
        train_src, cfg.size, sar_channels, train=True, augment=cfg.augment, seed=cfg.seed, size_multiple=size_multiple
    )
    val = dsets.PairedDataset(
        val_src[: cfg.val_max],
        cfg.val_size or cfg.size,
        sar_channels,
        train=False,
        seed=cfg.seed,
        size_multiple=size_multiple,
    )
    return train, val, desc


def set_train_mode(model, freeze_bn: bool) -> None:
    """model.train(), with BatchNorm kept in eval mode (frozen running statistics) when fine-tuning LoRA."""
    import torch

    model.train()
    if freeze_bn:
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.eval()


# --------------------------------------------------------------------------------------- training


class Trainer:
    def __init__(self, cfg: TrainConfig, run, progress=None):
        import torch

        from core.compute import resolve_device
        from core.train import ddp

        self.cfg = cfg.check()
        self.run = run
        self.progress = progress
        self.rank, self.world, self.local_rank = ddp.env()
        self.distributed = self.world > 1
        device, note = resolve_device(cfg.device)
        if self.distributed and device == "cuda":
            device = f"cuda:{self.local_rank}"
            torch.cuda.set_device(self.local_rank)
        self.device = torch.device(device)
        self.notes = [note] if note else []
        if cfg.threads:
            torch.set_num_threads(int(cfg.threads))
        if self.distributed:
            ddp.init(self.device)
        self.is_main = self.rank == 0

        base_meta = None
        if cfg.task in ("lora", "finetune"):
            self.G, base_meta = load_base_generator(cfg.base_model)
        else:
            self.G = build_generator(cfg, 3)
        self.base_meta = base_meta or {}
        self.objective = _objective(cfg, base_meta)
        self.sar_channels = _sar_channels(self.G)
        self.lambda_l1 = cfg.lambda_l1 if cfg.lambda_l1 >= 0 else (100.0 if self.objective == "pix2pix" else 0.0)
        self.lambda_ssim = cfg.lambda_ssim if cfg.lambda_ssim >= 0 else (1.0 if self.objective == "chrgan" else 0.0)
        self.freeze_bn = cfg.task == "lora"
        if cfg.task == "lora":
            from core.lora import add_lora

            self.G = add_lora(self.G, rank=cfg.lora_rank, alpha=cfg.lora_alpha, dropout=cfg.lora_dropout)
        self.D = build_discriminator(self.objective, cfg, self.sar_channels)
        torch.manual_seed(cfg.seed)  # same initial weights on every rank (DDP also broadcasts them)
        if cfg.task not in ("lora", "finetune"):
            self._init_weights(self.G)
        self._init_weights(self.D)
        self.G.to(self.device)
        self.D.to(self.device)
        if cfg.channels_last:
            self.G.to(memory_format=torch.channels_last)
            self.D.to(memory_format=torch.channels_last)
        self.train_params = [p for p in self.G.parameters() if p.requires_grad]
        if not self.train_params:
            raise UserError("the generator has no trainable weights; check the LoRA settings.")
        self.optG = torch.optim.Adam(self.train_params, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))
        self.optD = torch.optim.Adam(self.D.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))
        self.vgg = None
        if cfg.vgg_weights and self.objective != "pix2pix":
            from core.train.losses import VGGPerceptualLoss

            self.vgg = VGGPerceptualLoss(cfg.vgg_weights).to(self.device)
        self.train_set, self.val_set, self.data_desc = make_data(cfg, self.sar_channels, _size_multiple(self.G))
        self.global_batch = cfg.batch_size * self.world
        n = len(self.train_set)
        self.steps_per_epoch = max(1, n // self.global_batch)
        self.total_steps = self.steps_per_epoch * cfg.epochs
        if cfg.max_steps:
            self.total_steps = min(self.total_steps, cfg.max_steps)
        self.step = 0
        self.Gw, self.Dw = self.G, self.D
        if self.distributed:
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [self.local_rank] if self.device.type == "cuda" else None
            self.Gw = DDP(self.G, device_ids=ids)
            self.Dw = DDP(self.D, device_ids=ids)
        self._stop = False

    @staticmethod
    def _init_weights(model) -> None:
        """pix2pix initialisation: conv weights N(0, 0.02), norm weights N(1, 0.02), biases 0."""
        import torch
        from torch import nn

        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.normal_(m.weight, 0.0, 0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.modules.batchnorm._BatchNorm) and m.affine:
                nn.init.normal_(m.weight, 1.0, 0.02)
                nn.init.zeros_(m.bias)
        with torch.no_grad():
            for name, p in model.named_parameters():
                if name.endswith("res_weight"):
                    p.zero_()

    # ------------------------------------------------------------------------------- checkpoints
    def save_checkpoint(self) -> None:
        if not self.is_main:
            return
        from core.train.runs import save_train_state

        save_train_state(
            self.run.train_state_path,
            {"G": self.G, "D": self.D},
            {"optG": self.optG, "optD": self.optD},
            step=self.step,
            epoch=self.step // self.steps_per_epoch,
            objective=self.objective,
            task=self.cfg.task,
        )

    def resume(self) -> bool:
        """Continue from the run's checkpoint if there is one (True); all ranks load the same file."""
        from core.train.runs import load_train_state

        path = self.run.train_state_path
        if not path.exists():
            return False
        meta = load_train_state(path, {"G": self.G, "D": self.D}, {"optG": self.optG, "optD": self.optD})
        self.step = int(meta["step"])
        if self.is_main:
            self.run.truncate_rows("log.csv", self.step)
            self.run.truncate_rows("val.csv", self.step)
        return True

    def keep_if_best(self, metrics: dict) -> None:
        """Write best_generator.safetensors (LoRA: best_adapter/) when this validation PSNR beats every earlier one."""
        if not self.cfg.keep_best or not np.isfinite(metrics.get("psnr", np.nan)):
            return
        best = max((r["psnr"] for r in self.run.read_rows("val.csv")[:-1]), default=-np.inf)
        if metrics["psnr"] > best and self.cfg.task == "lora":
            from core.lora import save_adapter

            save_adapter(
                self.G, self.run.file("best_adapter"), step=self.step, val=metrics, selected="best validation PSNR"
            )
        elif metrics["psnr"] > best:
            from core.checkpoints import save_model

            save_model(
                self.run.file("best_generator.safetensors"),
                self.G,
                normalization=normalization_for(self.sar_channels),
                task=self.cfg.task,
                objective=self.objective,
                steps=self.step,
                data=self.data_desc,
                trained_with="core.train",
                val=metrics,
                selected="best validation PSNR",
            )

    def save_outputs(self, metrics: dict | None = None) -> dict:
        """Write the trained generator (and the LoRA adapter) in the run folder; returns their paths."""
        from core.checkpoints import save_model

        out = {}
        extra = dict(
            task=self.cfg.task,
            objective=self.objective,
            steps=self.step,
            data=self.data_desc,
            trained_with="core.train",
            val=metrics or {},
        )
        if self.cfg.task == "lora":
            from core.lora import merge_adapter, save_adapter

            save_adapter(self.G, self.run.adapter_path)
            out["adapter"] = str(self.run.adapter_path)
            merged = merge_adapter(_copy_model(self.G))
            if hasattr(merged, "arch_name"):
                save_model(
                    self.run.generator_path,
                    merged,
                    normalization=normalization_for(self.sar_channels),
                    **extra,
                    base_model=Path(self.cfg.base_model).name,
                )
                out["generator"] = str(self.run.generator_path)
        else:
            save_model(self.run.generator_path, self.G, normalization=normalization_for(self.sar_channels), **extra)
            out["generator"] = str(self.run.generator_path)
        return out

    # --------------------------------------------------------------------------------- one step
    def amp(self):
        """bfloat16 autocast for the forward passes when `bf16` is set, else nothing."""
        import contextlib

        import torch

        if self.cfg.bf16:
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def train_step(self, sar, opt) -> dict:
        import torch
        import torch.nn.functional as F

        from core.train.losses import feature_matching_loss, gan_loss, ssim_loss

        mode = "bce" if self.objective == "pix2pix" else "lsgan"
        with self.amp():
            fake = self.Gw(sar)
        # discriminator: fake and real in two backward passes (DDP averages each; the sum is the usual 0.5 * (f + r))
        for p in self.D.parameters():
            p.requires_grad_(True)
        self.optD.zero_grad(set_to_none=True)
        with self.amp():
            loss_d_fake = 0.5 * gan_loss(_to_float(self.Dw(torch.cat([sar, fake.detach()], 1))), False, mode)
        loss_d_fake.backward()
        with self.amp():
            loss_d_real = 0.5 * gan_loss(_to_float(self.Dw(torch.cat([sar, opt], 1))), True, mode)
        loss_d_real.backward()
        self.optD.step()
        # generator: the discriminator is frozen and called without its DDP wrapper (no gradient exchange)
        for p in self.D.parameters():
            p.requires_grad_(False)
        self.optG.zero_grad(set_to_none=True)
        fake32 = fake.float()
        with self.amp():
            pred_fake = self.D(torch.cat([sar, fake], 1))
            loss_gan = gan_loss(_to_float(pred_fake), True, mode)
            losses = {"loss_D_fake": loss_d_fake, "loss_D_real": loss_d_real, "loss_G_GAN": loss_gan}
            total = loss_gan
            if self.objective != "pix2pix":
                with torch.no_grad():
                    pred_real = self.D(torch.cat([sar, opt], 1))
                fm = feature_matching_loss(_to_float(pred_fake), _to_float(pred_real)) * self.cfg.lambda_feat
                losses["loss_G_feat"] = fm
                total = total + fm
            if self.vgg is not None:
                v = self.vgg(fake, opt).float() * self.cfg.lambda_vgg
                losses["loss_G_VGG"] = v
                total = total + v
        if self.lambda_l1 > 0:
            l1 = F.l1_loss(fake32, opt) * self.lambda_l1
            losses["loss_G_L1"] = l1
            total = total + l1
        if self.lambda_ssim > 0:
            s = ssim_loss(fake32, opt) * self.lambda_ssim
            losses["loss_G_SSIM"] = s
            total = total + s
        total.backward()
        self.optG.step()
        for p in self.D.parameters():
            p.requires_grad_(True)
        return {k: float(v.detach()) for k, v in losses.items()}

    # ------------------------------------------------------------------------------- validation
    def validate(self, epoch: int) -> dict:
        import torch

        from core.io import comparison_image, write_png
        from core.metrics import ssim
        from core.train.datasets import tensor_to_uint8
        from core.train.losses import psnr

        self.G.eval()
        ps, ss, panels = [], [], []
        with torch.no_grad():
            for i in range(len(self.val_set)):
                sar, opt = self.val_set.get(i)
                fake = self.G(sar[None].to(self.device)).float().cpu()[0]
                f01, o01 = (fake.clamp(-1, 1) + 1) / 2, (opt + 1) / 2
                ps.append(float(psnr(f01[None], o01[None])[0]))
                # the one SSIM of evaluate and the cards (scikit-image, 7x7 window), channels last
                ss.append(ssim(o01.permute(1, 2, 0).numpy(), f01.permute(1, 2, 0).numpy(), data_range=1.0))
                if i < 4:
                    panels += [
                        (f"SAR {i}", tensor_to_uint8(sar)),
                        ("generated", tensor_to_uint8(fake)),
                        ("optical", tensor_to_uint8(opt)),
                    ]
        set_train_mode(self.G, self.freeze_bn)
        metrics = {
            "epoch": epoch,
            "step": self.step,
            "psnr": float(np.mean(ps)) if ps else float("nan"),
            "ssim": float(np.mean(ss)) if ss else float("nan"),
        }
        if panels:
            grid = comparison_image(panels, columns=3)
            write_png(self.run.file(f"samples/epoch_{epoch:03d}.png"), grid)
            write_png(self.run.file("samples/latest.png"), grid)
        return metrics

    # ------------------------------------------------------------------------------------- loop
    def _install_signal_handlers(self) -> None:
        def on_term(signum, frame):
            self._stop = True

        try:
            signal.signal(signal.SIGTERM, on_term)
        except ValueError:  # not the main thread (e.g. a test calling train() in a thread)
            pass

    def fit(self) -> dict:
        import torch

        from core.train import ddp
        from core.train.datasets import epoch_order

        cfg, run = self.cfg, self.run
        resumed = self.resume()
        if self.is_main:
            run.update_state(
                status="running",
                step=self.step,
                total_steps=self.total_steps,
                steps_per_epoch=self.steps_per_epoch,
                data=self.data_desc,
                objective=self.objective,
                resumed=resumed,
                notes=self.notes,
                world_size=self.world,
                device=str(self.device),
                message="",
            )
        self._install_signal_handlers()
        set_train_mode(self.G, self.freeze_bn)
        self.D.train()
        t0, seen0 = time.time(), self.step
        last_val = {}
        status = "finished"
        while self.step < self.total_steps:
            epoch = self.step // self.steps_per_epoch
            in_epoch = self.step % self.steps_per_epoch
            order = epoch_order(len(self.train_set), cfg.seed, epoch)
            b = self.global_batch
            idx = order[in_epoch * b : (in_epoch + 1) * b]
            if len(idx) < b:  # fewer images than one global batch: repeat the order
                idx = np.resize(order, b)
            mine = idx[self.rank :: self.world]
            sar, opt = self.train_set.batch(mine, epoch)
            sar, opt = sar.to(self.device), opt.to(self.device)
            if cfg.channels_last:
                sar = sar.contiguous(memory_format=torch.channels_last)
                opt = opt.contiguous(memory_format=torch.channels_last)
            torch.manual_seed(cfg.seed * 1_000_003 + self.step * 7 + self.rank)  # dropout noise of this step
            try:
                losses = self.train_step(sar, opt)
            except ValueError as exc:
                if "Expected more than 1 value per channel" in str(exc):
                    raise UserError(
                        f"the generator's BatchNorm sees a 1x1 feature map from a batch of "
                        f"{len(mine)} at {cfg.size} px; use a batch size of at least 2 per process or a "
                        f"larger training crop."
                    ) from None
                raise
            self.step += 1
            if self.is_main and (self.step % cfg.log_every == 0 or self.step == self.total_steps):
                elapsed = time.time() - t0
                row = {
                    "step": self.step,
                    "epoch": epoch + (in_epoch + 1) / self.steps_per_epoch,
                    "seconds": round(elapsed, 2),
                    **losses,
                }
                run.append_row("log.csv", row)
                rate = (self.step - seen0) / max(elapsed, 1e-9)
                eta = (self.total_steps - self.step) / max(rate, 1e-9)
                if cfg.max_seconds:
                    eta = min(eta, max(0.0, cfg.max_seconds - elapsed))
                run.update_state(step=self.step, epoch=epoch, images_per_s=rate * b, eta_s=eta)
            if self.progress:
                self.progress(self.step / self.total_steps, f"step {self.step}/{self.total_steps}")
            epoch_done = self.step % self.steps_per_epoch == 0
            if epoch_done and self.is_main:
                last_val = self.validate(epoch)
                run.append_row("val.csv", last_val)
                self.keep_if_best(last_val)
            stop = self._stop or (self.is_main and run.stop_requested())
            if self.distributed:
                stop = ddp.any_true(stop, self.device)
            if self.step % cfg.checkpoint_every == 0 or epoch_done or stop or self.step == self.total_steps:
                self.save_checkpoint()
            time_up = bool(cfg.max_seconds) and time.time() - t0 > cfg.max_seconds and self.step < self.total_steps
            if self.distributed and cfg.max_seconds:
                time_up = ddp.any_true(time_up, self.device)
            if time_up:
                self.total_steps = self.step  # time budget spent: finish here (validated and saved below)
                if self.is_main:
                    run.update_state(total_steps=self.total_steps)
                    self.save_checkpoint()
            if stop and self.step < self.total_steps:
                status = "stopped"
                break
        result = {"status": status, "step": self.step, "total_steps": self.total_steps, "val": last_val}
        if self.distributed:
            result["rank_checksums"] = ddp.gather_checksums(self.G, self.device)
        if self.is_main:
            if status == "finished":
                if not last_val or last_val.get("step") != self.step:
                    last_val = self.validate(self.step // self.steps_per_epoch)
                    run.append_row("val.csv", last_val)
                    self.keep_if_best(last_val)
                result["val"] = last_val
                result.update(self.save_outputs(last_val))
            run.update_state(
                status=status,
                step=self.step,
                val=last_val,
                outputs=result,
                message=("stopped at step %d; resume to continue" % self.step)
                if status == "stopped"
                else f"finished {self.step} steps",
            )
        if self.distributed:
            ddp.barrier()
        return result


def _to_float(pred):
    """Discriminator output (a tensor or pix2pixHD's nested lists) in float32 for the losses."""
    if isinstance(pred, (list, tuple)):
        return [_to_float(p) for p in pred]
    return pred.float()


def _copy_model(model):
    import copy

    return copy.deepcopy(model)


def train(cfg: TrainConfig | dict, run=None, resume: bool = True, progress=None) -> dict:
    """Train (or resume) one run in this process. `run`: a RunFolder or path; a new one when None."""
    from core.train import ddp
    from core.train.runs import RunFolder

    if isinstance(cfg, dict):
        cfg = TrainConfig.from_dict(cfg)
    cfg.check()
    rank, world, _ = ddp.env()
    if run is None:
        if world > 1:
            raise UserError("a distributed run needs --run-dir so that every process uses the same folder.")
        run = RunFolder.create(f"{time.strftime('%Y%m%d-%H%M%S')}-{cfg.task}")
    elif not isinstance(run, RunFolder):
        run = RunFolder(run)
        run.path.mkdir(parents=True, exist_ok=True)
    if rank == 0:
        # a stop request from before this process was started is spent; one made since (the page's Stop while the
        # process was starting) still counts
        started = float(os.environ.get("SAR_STUDIO_JOB_STARTED", time.time()))
        if run.stop_requested() and run.stop_path.stat().st_mtime < started:
            run.clear_stop()
        run.write_config(cfg.to_dict())
        if not resume and run.train_state_path.exists():
            run.train_state_path.unlink()
    try:
        trainer = Trainer(cfg, run, progress)
        return trainer.fit()
    except UserError as exc:
        if rank == 0:
            run.update_state(status="failed", message=str(exc))
        raise
    except BaseException as exc:
        if rank == 0:
            run.update_state(status="failed", message=f"{type(exc).__name__}: {str(exc)[:200]}")
        raise
    finally:
        if world > 1:
            ddp.cleanup()
