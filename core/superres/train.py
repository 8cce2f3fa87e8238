"""Training RGTGAN-style reference-based x4 super-resolution on synthetic scenes.

Data (`make_sr_example`): the synthetic scene generator (core/train/synthetic.py) renders one place at any
resolution, so
- HR: a `4*lr_size` crop of a random footprint;
- LR: the HR crop downsampled x4 (bicubic with antialiasing, `core.superres.resize_bicubic`);
- Ref: a view of an overlapping area: the footprint shifted by up to `max_shift` of its width, rotated by up to
  `max_rotation` degrees, rendered with another colour variant and then re-coloured (per-channel gain and
  offset), at HR resolution;
- LR_up and Ref_dup: the inputs the network expects, made by `core.superres.prepare_inputs` exactly as at
  inference time.

Losses follow RGTGAN's configuration: L1 pixel loss (weight 1), optionally a VGG19 conv5_4 feature loss
(weight 0.1, needs a torchvision VGG19 file since nothing is downloaded) and a GAN loss (weight 1e-3, BCE,
switched on after `l1_init` steps) with a VGG-style discriminator. Adam(0.9, 0.99).

`train_superres` returns the trained generator and a history; `evaluate_superres` gives PSNR / SSIM of bicubic
and of the model on held-out pairs (border of 4 pixels cropped).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import torch  # noqa: TID253 - torch module: RGTGAN training, imported only when it runs
import torch.nn.functional as F  # noqa: TID253 - torch module: RGTGAN training, imported only when it runs

from core.errors import UserError
from core.superres import psnr, ssim
from core.superres.data import SRExample, random_crop
from core.superres.inputs import SCALE, bicubic_upscale, prepare_inputs, resize_bicubic
from core.train.losses import gan_loss, load_vgg19
from core.train.synthetic import make_optical_scene

__all__ = ["SCALE", "SRExample", "SRTrainConfig", "evaluate_superres", "make_sr_example", "train_superres"]


def make_sr_example(
    seed: int, lr_size: int = 32, footprint_width: float = 0.22, max_shift: float = 0.25, max_rotation: float = 10.0
) -> SRExample:
    """One synthetic (LR, reference, HR) triple; the same seed gives the same triple."""
    from scipy import ndimage

    rng = np.random.default_rng([int(seed), 4242])
    hr_size = lr_size * SCALE
    x0, y0 = rng.uniform(0.02, 0.98 - footprint_width, 2)
    fp = (x0, y0, x0 + footprint_width, y0 + footprint_width)
    hr = make_optical_scene(seed, hr_size, fp).astype(np.float32) / 255.0
    lr = np.clip(resize_bicubic(hr, lr_size, lr_size), 0, 1)
    # reference: shifted, rotated, re-coloured view of an overlapping area (rendered 1.5x larger, rotated, cropped)
    dx, dy = rng.uniform(-max_shift, max_shift, 2) * footprint_width
    angle = float(rng.uniform(-max_rotation, max_rotation))
    cx, cy = x0 + footprint_width / 2 + dx, y0 + footprint_width / 2 + dy
    big = int(round(hr_size * 1.5))
    half = footprint_width * 0.75
    big_fp = (cx - half, cy - half, cx + half, cy + half)
    view = make_optical_scene(seed, big, big_fp, variant=1 + int(rng.integers(0, 3))).astype(np.float32) / 255.0
    view = ndimage.rotate(view, angle, axes=(1, 0), reshape=False, order=1, mode="reflect")
    o = (big - hr_size) // 2
    ref = view[o : o + hr_size, o : o + hr_size]
    gain = rng.uniform(0.8, 1.2, 3).astype(np.float32)
    bias = rng.uniform(-0.06, 0.06, 3).astype(np.float32)
    ref = np.clip(ref * gain + bias, 0, 1).astype(np.float32)
    return SRExample(lr=lr.astype(np.float32), ref=ref, hr=hr)


def example_tensors(examples: list[SRExample], device="cpu") -> tuple[torch.Tensor, ...]:
    """Batch of the four network inputs plus the HR target, (N, 3, H, W) each."""

    lrs: list = []
    lr_ups: list = []
    refs: list = []
    ref_dups: list = []
    hrs: list = []
    for ex in examples:
        lr, lr_up, ref, ref_dup = prepare_inputs(ex.lr, ex.ref)
        for dest, value in zip((lrs, lr_ups, refs, ref_dups, hrs), (lr, lr_up, ref, ref_dup, ex.hr)):
            dest.append(value)
    to_t = lambda xs: torch.from_numpy(np.stack(xs)).permute(0, 3, 1, 2).contiguous().to(device)  # noqa: E731
    return to_t(lrs), to_t(lr_ups), to_t(refs), to_t(ref_dups), to_t(hrs)


def _augment(batch: tuple[torch.Tensor, ...], rng: np.random.Generator) -> tuple[torch.Tensor, ...]:
    """Same random flip / 90-degree rotation for every tensor of a batch (RGTGAN's use_flip / use_rot)."""
    k = int(rng.integers(0, 4))
    flip = bool(rng.integers(0, 2))
    out = []
    for t in batch:
        t = torch.rot90(t, k, (2, 3))
        out.append(torch.flip(t, (3,)) if flip else t)
    return tuple(out)


# ----------------------------------------------------------------------------------------------- losses


class VGGFeatureLoss(torch.nn.Module):
    """L1 between VGG19 conv5_4 features (ImageNet normalisation), as RGTGAN's feature_criterion."""

    MEAN = (0.485, 0.456, 0.406)
    STD = (0.229, 0.224, 0.225)

    def __init__(self, vgg_path: str, layer: str = "conv5_4"):
        super().__init__()

        self.net = load_vgg19(vgg_path).eval()
        for p in self.net.parameters():
            p.requires_grad_(False)
        self.layer = layer
        self.register_buffer("mean", torch.tensor(self.MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(self.STD).view(1, 3, 1, 1))

    def forward(self, fake, real):
        f = self.net((fake - self.mean) / self.std, [self.layer])[self.layer]
        with torch.no_grad():
            r = self.net((real - self.mean) / self.std, [self.layer])[self.layer]
        return F.l1_loss(f, r)


# ---------------------------------------------------------------------------------------------- trainer


@dataclass
class SRTrainConfig:
    """Options of one super-resolution training run (defaults: the compact demo model)."""

    model: dict = field(
        default_factory=lambda: dict(
            ngf=16,
            n_blocks=2,
            groups=4,
            gtem_nf=16,
            gtem_blocks=2,
            align_tail_blocks=0,
            dense_rounds=1,
            dense_steps=1,
            with_unused=False,
        )
    )
    steps: int = 2000
    batch_size: int = 4
    lr_size: int = 24
    lr: float = 4e-4
    lr_final: float = 2e-5  # cosine decay to this
    lr_milestones: list = field(default_factory=list)  # steps: MultiStepLR (RGTGAN's lr_steps) instead of cosine
    lr_gamma: float = 0.5  # MultiStepLR factor at each milestone
    constant_lr: bool = False  # neither cosine nor milestones
    pixel_weight: float = 1.0
    feature_weight: float = 0.0  # 0.1 in RGTGAN; needs vgg_path
    gan_weight: float = 0.0  # 1e-3 in RGTGAN
    gradient_weight: float = 0.0  # 1.0 in RGTGAN (gradient_pixel_weight): L1 between gradient maps
    l1_init: int = 0  # steps of L1 only before the GAN term starts
    gradient_gan_weight: float = 0.0  # 1e-3 in RGTGAN: GAN on gradient maps (a second discriminator)
    betas: tuple = (0.9, 0.99)  # Adam, RGTGAN's beta1_G / beta2_G
    augment: bool = True  # RGTGAN's use_flip / use_rot
    val_every: int = 0  # steps between validations on val_pool (0: at the end only)
    vgg_path: str | None = None
    train_pool: int = 256  # distinct synthetic scenes for training (seeds 0..train_pool-1)
    seed: int = 0
    log_every: int = 25
    time_budget_s: float | None = None  # stop early when exceeded (the step count is recorded)
    device: str = "cpu"

    def to_dict(self) -> dict:
        return asdict(self)


def gradient_map(x: torch.Tensor) -> torch.Tensor:
    """Per-channel gradient magnitude sqrt(dx^2 + dy^2 + 1e-6) with central differences (zero padded), the map
    RGTGAN's gradient branch and its gradient loss use."""
    c = x.shape[1]
    kv = torch.tensor([[0.0, -1.0, 0.0], [0.0, 0.0, 0.0], [0.0, 1.0, 0.0]], device=x.device, dtype=x.dtype)
    kh = kv.t()
    v = F.conv2d(x, kv.view(1, 1, 3, 3).repeat(c, 1, 1, 1), padding=1, groups=c)
    h = F.conv2d(x, kh.reshape(1, 1, 3, 3).repeat(c, 1, 1, 1), padding=1, groups=c)
    return torch.sqrt(v * v + h * h + 1e-6)


def lr_at_step(config: SRTrainConfig, step: int, frac: float) -> float:
    """The learning rate of 1-based `step`: MultiStepLR at lr_milestones, constant, or cosine to lr_final."""
    if config.lr_milestones:
        drops = sum(1 for m in config.lr_milestones if step > int(m))
        return config.lr * config.lr_gamma**drops
    if config.constant_lr:
        return config.lr
    return config.lr_final + 0.5 * (config.lr - config.lr_final) * (1 + np.cos(np.pi * frac))


def build_generator(config: SRTrainConfig):
    from models.rgtgan import RGTGANGenerator  # noqa: PLC0415 - heavy: a network module imports torch; only when it is built

    return RGTGANGenerator(**{k: v for k, v in config.model.items() if k != "ndf"})  # ndf: the discriminator's


def train_superres(
    config: SRTrainConfig,
    progress: Callable[[float, str], None] | None = None,
    log: Callable[[str], None] | None = None,
    model=None,
    pool: list[SRExample] | None = None,
    on_log: Callable[[dict], None] | None = None,
    val_pool: list[SRExample] | None = None,
    on_val: Callable[[dict], None] | None = None,
):
    """Train (or continue training `model`) on `pool` (the user's triples, cropped to lr_size each step) or on
    synthetic scenes; returns (generator in eval mode, history dict). on_log(row) gets each logged row; with
    val_pool, on_val(row) gets PSNR / SSIM of the model (and of bicubic) every val_every steps and at the end."""
    from models.rgtgan_discriminator import RGTGANDiscriminator  # noqa: PLC0415 - heavy: a network module imports torch; only when it is built

    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    dev = torch.device(config.device)
    if pool is None:
        pool = [make_sr_example(s, config.lr_size) for s in range(config.train_pool)]
    if model is None:
        model = build_generator(config)
        # start from bicubic exactly: the residual head outputs zero until it learns something better
        last = model.texture_transfer.tail_large[-1]
        torch.nn.init.zeros_(last.weight)
        torch.nn.init.zeros_(last.bias)
    gen = model.to(dev).train()
    betas = tuple(config.betas)
    opt_g = torch.optim.Adam([p for p in gen.parameters() if p.requires_grad], lr=config.lr, betas=betas)
    disc = opt_d = disc_g = opt_dg = None
    nf_d = int(config.model.get("ndf") or max(16, config.model.get("ngf", 64) // 2))
    if config.gan_weight > 0:
        disc = RGTGANDiscriminator(nf=nf_d).to(dev).train()
        opt_d = torch.optim.Adam(disc.parameters(), lr=config.lr, betas=betas)
    if config.gradient_gan_weight > 0:  # RGTGAN's second discriminator, on gradient maps
        disc_g = RGTGANDiscriminator(nf=nf_d).to(dev).train()
        opt_dg = torch.optim.Adam(disc_g.parameters(), lr=config.lr, betas=betas)
    feat_loss = VGGFeatureLoss(config.vgg_path).to(dev) if config.feature_weight > 0 and config.vgg_path else None
    if config.feature_weight > 0 and feat_loss is None:
        raise UserError(
            "the feature (perceptual) loss needs a torchvision VGG19 weights file; give vgg_path or "
            "set feature_weight to 0."
        )

    history: dict = {"step": [], "l1": [], "seconds": []}
    start = time.time()
    step = 0
    for step in range(1, config.steps + 1):
        frac = (step - 1) / max(1, config.steps - 1)
        if config.time_budget_s:  # the schedule ends with whichever budget runs out first
            frac = max(frac, (time.time() - start) / config.time_budget_s)
        frac = min(frac, 1.0)
        lr_now = lr_at_step(config, step, frac)
        for opt_ in (opt_g, opt_d, opt_dg):
            for g in opt_.param_groups if opt_ is not None else []:
                g["lr"] = lr_now
        idx = rng.choice(len(pool), config.batch_size, replace=len(pool) < config.batch_size)
        batch = [random_crop(pool[i], config.lr_size, rng) for i in idx]
        tensors = example_tensors(batch, dev)
        lr, lr_up, ref, ref_dup, hr = _augment(tensors, rng) if config.augment else tensors
        sr = gen(lr, lr_up, ref, ref_dup)
        l1 = F.l1_loss(sr, hr)
        loss = config.pixel_weight * l1
        parts = {"loss_G_L1": float(l1.detach())}
        if feat_loss is not None:
            fl = feat_loss(sr, hr)
            parts["loss_G_VGG"] = float(fl.detach())
            loss = loss + config.feature_weight * fl
        if config.gradient_weight > 0:
            gl = F.l1_loss(gradient_map(sr), gradient_map(hr))
            parts["loss_G_gradient"] = float(gl.detach())
            loss = loss + config.gradient_weight * gl
        use_gan = step > config.l1_init
        if use_gan and disc is not None:
            for p in disc.parameters():
                p.requires_grad_(False)
            gl_gan = gan_loss(disc(sr), True)
            parts["loss_G_GAN"] = float(gl_gan.detach())
            loss = loss + config.gan_weight * gl_gan
        if use_gan and disc_g is not None:
            for p in disc_g.parameters():
                p.requires_grad_(False)
            gg_gan = gan_loss(disc_g(gradient_map(sr)), True)
            parts["loss_G_grad_GAN"] = float(gg_gan.detach())
            loss = loss + config.gradient_gan_weight * gg_gan
        opt_g.zero_grad(set_to_none=True)
        loss.backward()
        opt_g.step()
        if use_gan and disc is not None and opt_d is not None:
            for p in disc.parameters():
                p.requires_grad_(True)
            d_loss = gan_loss(disc(hr), True) + gan_loss(disc(sr.detach()), False)
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()
            parts["loss_D"] = float(d_loss.detach())
        if use_gan and disc_g is not None and opt_dg is not None:
            for p in disc_g.parameters():
                p.requires_grad_(True)
            g_sr, g_hr = gradient_map(sr.detach()), gradient_map(hr)
            dg_loss = gan_loss(disc_g(g_hr), True) + gan_loss(disc_g(g_sr), False)
            opt_dg.zero_grad(set_to_none=True)
            dg_loss.backward()
            opt_dg.step()
            parts["loss_D_grad"] = float(dg_loss.detach())
        if val_pool and on_val and config.val_every and step % config.val_every == 0 and step != config.steps:
            on_val({"step": step, **validate_pool(gen, val_pool, dev)})
            gen.train()
        if step % config.log_every == 0 or step == config.steps:
            history["step"].append(step)
            history["l1"].append(float(l1.detach()))
            history["seconds"].append(round(time.time() - start, 1))
            if on_log:
                on_log({"step": step, "lr": lr_now, "seconds": round(time.time() - start, 2), **parts})
            if log:
                log(
                    f"step {step}/{config.steps} l1 {float(l1.detach()):.4f} lr {lr_now:.2e} {time.time() - start:.0f}s"
                )
        if progress:
            progress(step / config.steps, f"step {step}/{config.steps}")
        if config.time_budget_s and time.time() - start > config.time_budget_s:
            if log:
                log(f"time budget of {config.time_budget_s:.0f} s reached at step {step}")
            break
    history["steps_done"] = step
    history["seconds_total"] = round(time.time() - start, 1)
    if val_pool and on_val:
        history["val"] = {"step": step, **validate_pool(gen, val_pool, dev)}
        on_val(history["val"])
    return gen.eval(), history


@torch.no_grad()
def validate_pool(model, pool: list[SRExample], device="cpu") -> dict:
    """Mean PSNR / SSIM (RGB in [0, 1], border 4 cropped, as evaluate_superres) of the model and of bicubic on
    whole validation triples; leaves the model in eval mode."""

    model = model.eval()
    rows = []
    for ex in pool:
        lr, lr_up, ref, ref_dup, _ = example_tensors([ex], device)
        sr = model(lr, lr_up, ref, ref_dup).clamp(0, 1)[0].permute(1, 2, 0).cpu().numpy()
        bic = bicubic_upscale(ex.lr)
        rows.append((psnr(sr, ex.hr), ssim(sr, ex.hr), psnr(bic, ex.hr), ssim(bic, ex.hr)))
    a = np.asarray(rows, dtype=np.float64).mean(axis=0)
    return {
        "psnr": float(a[0]),
        "ssim": float(a[1]),
        "psnr_bicubic": float(a[2]),
        "ssim_bicubic": float(a[3]),
        "n": len(rows),
    }


@torch.no_grad()
def evaluate_superres(model, seeds: list[int], lr_size: int = 32, device="cpu") -> dict:
    """Mean PSNR / SSIM (border 4 cropped) of bicubic and of `model` on held-out synthetic triples."""

    rows = []
    model = model.to(device).eval()
    for s in seeds:
        ex = make_sr_example(s, lr_size)
        lr, lr_up, ref, ref_dup, hr = example_tensors([ex], device)
        sr = model(lr, lr_up, ref, ref_dup).clamp(0, 1)[0].permute(1, 2, 0).cpu().numpy()
        bic = bicubic_upscale(ex.lr)
        rows.append(
            dict(
                seed=s,
                psnr_bicubic=psnr(bic, ex.hr),
                psnr_model=psnr(sr, ex.hr),
                ssim_bicubic=ssim(bic, ex.hr),
                ssim_model=ssim(sr, ex.hr),
            )
        )
    mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[0] if k != "seed"}
    mean["psnr_gain"] = mean["psnr_model"] - mean["psnr_bicubic"]
    mean["n"] = len(rows)
    return {"mean": mean, "per_pair": rows}
