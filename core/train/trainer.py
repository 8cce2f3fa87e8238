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

import contextlib
import copy
import signal
import time
from pathlib import Path

import numpy as np
import torch  # noqa: TID253 - torch module of the trainer, imported only when training runs
import torch.nn.functional as F  # noqa: TID253 - torch module of the trainer, imported only when training runs
from torch.nn.parallel import DistributedDataParallel  # noqa: TID253 - torch module of the trainer, imported only when training runs

from core.checkpoints import save_model
from core.compute import resolve_device
from core.errors import UserError
from core.lora import add_lora, merge_adapter, save_adapter
from core.train import ddp, outputs
from core.train.config import TrainConfig
from core.train.cost import check_training_cost
from core.train.curves import write_loss_curves
from core.train.datasets import epoch_order, make_data
from core.train.losses import VGGPerceptualLoss, feature_matching_loss, gan_loss, ssim_loss
from core.train.networks import (
    build_discriminator,
    build_generator,
    encoder_convs,
    init_weights,
    load_base_generator,
    load_discriminator,
    normalization_for,
    objective_for,
    sar_channels_of,
    set_train_mode,
    size_multiple_of,
)
from core.train.runs import load_train_state, save_train_state
from core.train.schedules import lr_at, set_lr


class Trainer:
    def __init__(self, cfg: TrainConfig, run, progress=None):
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

        check_training_cost(cfg, device)  # before any network or batch takes memory
        base_meta = None
        if cfg.task in ("lora", "finetune"):
            self.G, base_meta = load_base_generator(str(cfg.base_model))  # check(): set for these tasks
        else:
            self.G = build_generator(cfg, 3)
        self.base_meta = base_meta or {}
        self.objective = objective_for(cfg, base_meta)
        self.sar_channels = sar_channels_of(self.G)
        self.lambda_l1 = cfg.l1_weight(self.objective)
        self.lambda_ssim = cfg.ssim_weight(self.objective)
        self.freeze_bn = cfg.task == "lora"
        if cfg.task == "lora":
            targets = encoder_convs(self.G) if cfg.lora_target == "encoder" else None
            self.G = add_lora(
                self.G, rank=cfg.lora_rank, alpha=cfg.lora_alpha, dropout=cfg.lora_dropout, target_modules=targets
            )
        torch.manual_seed(cfg.seed)  # same initial weights on every rank (DDP also broadcasts them)
        if cfg.task not in ("lora", "finetune"):
            init_weights(self.G)
        self.gan_feat = cfg.gan_feat
        if cfg.discriminator:
            self.D, d_note = load_discriminator(cfg.discriminator, self.objective, self.sar_channels)
            self.notes.append(d_note)
            if self.gan_feat and getattr(self.D, "intermediate", True) is False:
                self.gan_feat = False  # its layers give no intermediate features to match
                self.notes.append("no feature-matching loss: the discriminator was trained with --no_ganFeat_loss")
        else:
            self.D = build_discriminator(self.objective, cfg, self.sar_channels)
            init_weights(self.D)
        self.G.to(self.device)
        self.D.to(self.device)
        if cfg.channels_last:
            self.G.to(memory_format=torch.channels_last)
            self.D.to(memory_format=torch.channels_last)
        self.train_params = [p for p in self.G.parameters() if p.requires_grad]
        if not self.train_params:
            raise UserError("the generator has no trainable weights; check the LoRA settings.")
        lr, betas = cfg.adam()
        self.optG = torch.optim.Adam(self.train_params, lr=lr, betas=betas)
        self.optD = torch.optim.Adam(self.D.parameters(), lr=lr, betas=betas)
        self.vgg = None
        if cfg.vgg_weights and self.objective != "pix2pix":
            self.vgg = VGGPerceptualLoss(cfg.vgg_weights).to(self.device)
        self.train_set, self.val_set, self.data_desc = make_data(cfg, self.sar_channels, size_multiple_of(self.G))
        self.global_batch = cfg.batch_size * self.world
        n = len(self.train_set)
        self.steps_per_epoch = max(1, n // self.global_batch)
        self.total_steps = self.steps_per_epoch * cfg.epochs
        if cfg.max_steps:
            self.total_steps = min(self.total_steps, cfg.max_steps)
        self.step = 0
        self.Gw, self.Dw = self.G, self.D
        if self.distributed:
            ids = [self.local_rank] if self.device.type == "cuda" else None
            self.Gw = DistributedDataParallel(self.G, device_ids=ids)
            self.Dw = DistributedDataParallel(self.D, device_ids=ids)
        self._stop = False

    # ------------------------------------------------------------------------------- checkpoints
    def save_checkpoint(self) -> None:
        if not self.is_main:
            return
        save_train_state(
            self.run.train_state_path,
            {"G": self.G, "D": self.D},
            {"optG": self.optG, "optD": self.optD},
            step=self.step,
            epoch=self.step // self.steps_per_epoch,
            objective=self.objective,
            task=self.cfg.task,
        )

    # ---------------------------------------------------------------------------- generators written
    def _save_generator(self, path, model=None, **meta) -> None:
        """`model` (the generator by default) as one of our checkpoints, with its normalisation, task, objective."""
        save_model(
            path,
            self.G if model is None else model,
            normalization=normalization_for(self.sar_channels),
            task=self.cfg.task,
            objective=self.objective,
            **meta,
        )

    def save_epoch_generator(self, epoch: int) -> None:
        """epoch_N.safetensors (LoRA: epoch_N_adapter/) in the run folder: the generator after epoch N."""
        if self.cfg.task == "lora":
            save_adapter(self.G, self.run.file(f"epoch_{epoch}_adapter"))
            return
        self._save_generator(self.run.file(f"epoch_{epoch}.safetensors"), epoch=epoch, step=self.step)

    def validate(self, epoch: int) -> dict:
        """PSNR / SSIM on the validation set, the collapse check and the sample grid (core.train.outputs)."""
        return outputs.validate(
            self.G, self.val_set, self.run, epoch=epoch, step=self.step, device=self.device, freeze_bn=self.freeze_bn
        )

    def keep_if_best(self, metrics: dict) -> None:
        """Write best_generator.safetensors (LoRA: best_adapter/) when this validation PSNR beats every earlier one."""
        if not self.cfg.keep_best or not np.isfinite(metrics.get("psnr", np.nan)):
            return
        best = max((r["psnr"] for r in self.run.read_rows("val.csv")[:-1]), default=-np.inf)
        if metrics["psnr"] <= best:
            return
        selected = "best validation PSNR"
        if self.cfg.task == "lora":
            save_adapter(self.G, self.run.file("best_adapter"), step=self.step, val=metrics, selected=selected)
            return
        self._save_generator(
            self.run.file("best_generator.safetensors"),
            steps=self.step,
            data=self.data_desc,
            trained_with="core.train",
            val=metrics,
            selected=selected,
        )

    def save_outputs(self, metrics: dict | None = None) -> dict:
        """Write the trained generator (and the LoRA adapter) in the run folder; returns their paths."""
        extra = dict(steps=self.step, data=self.data_desc, trained_with="core.train", val=metrics or {})
        out = {}
        model = self.G
        if self.cfg.task == "lora":
            save_adapter(self.G, self.run.adapter_path)
            out["adapter"] = str(self.run.adapter_path)
            model = merge_adapter(copy.deepcopy(self.G))
            if not hasattr(model, "arch_name"):
                return out
            extra["base_model"] = Path(str(self.cfg.base_model)).name
        self._save_generator(self.run.generator_path, model, **extra)
        out["generator"] = str(self.run.generator_path)
        return out

    def resume(self) -> bool:
        """Continue from the run's checkpoint if there is one (True); all ranks load the same file."""
        path = self.run.resume_checkpoint(self.is_main)  # UserError when a saved state has gone missing
        if path is None:
            return False
        meta = load_train_state(path, {"G": self.G, "D": self.D}, {"optG": self.optG, "optD": self.optD})
        self.step = int(meta["step"])
        if self.is_main:
            self.run.truncate_rows("log.csv", self.step)
            self.run.truncate_rows("val.csv", self.step)
        return True

    # --------------------------------------------------------------------------------- one step
    def amp(self):
        """bfloat16 autocast for the forward passes when `bf16` is set, else nothing."""
        if self.cfg.bf16:
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def train_step(self, sar, opt) -> dict:
        mode = self.cfg.gan_mode or ("bce" if self.objective == "pix2pix" else "lsgan")
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
            loss_gan = gan_loss(_to_float(pred_fake), True, mode) * float(self.cfg.lambda_gan or 1.0)
            losses = {"loss_D_fake": loss_d_fake, "loss_D_real": loss_d_real, "loss_G_GAN": loss_gan}
            total = loss_gan
            if self.objective != "pix2pix" and self.gan_feat:
                with torch.no_grad():
                    pred_real = self.D(torch.cat([sar, opt], 1))
                fm = feature_matching_loss(_to_float(pred_fake), _to_float(pred_real)) * self.cfg.lambda_feat
                losses["loss_G_feat"] = fm
                total = total + fm
            if self.vgg is not None:
                v = self.vgg(fake, opt).float() * float(self.cfg.lambda_vgg or 0.0)
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

    # ------------------------------------------------------------------------------------ the loop
    def _install_signal_handlers(self) -> None:
        def on_term(signum, frame):
            self._stop = True

        try:
            signal.signal(signal.SIGTERM, on_term)
        except ValueError:  # not the main thread (e.g. a test calling train() in a thread)
            pass

    def fit(self) -> dict:
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
            set_lr((self.optG, self.optD), lr_at(cfg, epoch))
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
                    "lr": lr_at(cfg, epoch),
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
                if cfg.save_every_epochs and (epoch + 1) % cfg.save_every_epochs == 0:
                    self.save_epoch_generator(epoch + 1)
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
            result["loss_curves"] = [str(p) for p in write_loss_curves(run.path)]
            run.update_state(
                status=status,
                step=self.step,
                val=last_val,
                outputs=result,
                message=f"stopped at step {self.step}; resume to continue"
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
