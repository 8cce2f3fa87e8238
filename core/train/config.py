"""Training options: one dataclass with defaults, and the rules that turn a choice into a value.

`TrainConfig` is what the page, `python -m core train` and a run's config.json all hold. An option left as None
takes its value from the task (or the base checkpoint): the rule is written once here (`l1_weight`, `ssim_weight`,
`objective_for` in core.train.networks) and its sentence is the field's `help`, which the CLI shows as the
default. Older run folders wrote `""` and `-1` for "from the task"; `from_dict` still reads them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import UserError
from core.train.synthetic import SENSORS

TASKS = ("pix2pix", "pix2pixhd", "chrgan", "lora", "finetune")  # SAR-to-optical translation (the training page)
SR_TASKS = ("rgtgan",)  # x4 reference-based super-resolution on HR / LR / Ref folders (core.superres.run)
OBJECTIVES = ("pix2pix", "pix2pixhd", "chrgan")
LR_POLICIES = ("constant", "linear", "step", "cosine")
GAN_MODES = ("bce", "lsgan")
LORA_TARGETS = ("all", "encoder")
SYNTHETIC = "synthetic"


# The source projects' own defaults (SAR2Optical config.yaml / junyanz pix2pix, pix2pixHD and C-HR-GAN
# train_options.py, RGTGAN.yml), for the options left as None; `fill_task_defaults` applies them.
COMMON_DEFAULTS: dict = dict(
    width=64, ndf=64, lr=2e-4, beta1=0.5, beta2=0.999, lr_policy="constant", lambda_vgg=10.0, lambda_gan=1.0
)
TASK_DEFAULTS: dict[str, dict] = {
    "chrgan": dict(lr=1e-4),  # C-HR-GAN's train_options.py (pix2pixHD's is 2e-4)
    "rgtgan": dict(lr=1e-4, beta1=0.9, beta2=0.99, lr_policy="step", lambda_vgg=0.1, lambda_gan=1e-3),
}
RGTGAN_MILESTONES = (50000, 100000, 150000, 200000, 250000)  # RGTGAN.yml lr_steps, in steps


def _opt(default=None, help: str = ""):
    return field(default=default, metadata={"help": help})


@dataclass
class TrainConfig:
    task: str = "pix2pix"
    data: str = _opt(SYNTHETIC, "a dataset folder, or synthetic[:A|B] (core.train.synthetic)")
    layout: str = "auto"
    synthetic_sensor: str = "A"
    synthetic_count: int = _opt(64, "synthetic training + validation scenes (test scenes are never drawn)")
    synthetic_size: int = _opt(256, "synthetic scene size in pixels (training crops of --size are cut from it)")
    size: int = _opt(256, "training crop in pixels")
    objective: str | None = _opt(None, "from the task, or for lora / finetune from the base checkpoint")
    arch: str | None = _opt(None, "sar2optical_unet for pix2pix, pix2pixhd_global for the others")
    width: int | None = _opt(
        None, "64, every source project's generator width (U-Net width / pix2pixHD ngf / RGTGAN nf)"
    )
    n_down: int = _opt(8, "U-Net depth")
    n_downsample: int = _opt(4, "pix2pixHD downsamplings (pix2pixHD's and C-HR-GAN's n_downsample_global)")
    n_blocks: int = _opt(9, "pix2pixHD residual blocks (pix2pixHD's and C-HR-GAN's n_blocks_global)")
    generator: dict = field(default_factory=dict, metadata={"help": "JSON object of extra generator arguments"})
    base_model: str | None = _opt(None, "lora / finetune: the generator file to start from")
    ndf: int | None = _opt(None, "64, every source project's discriminator width")
    num_d: int = _opt(2, "pix2pixHD discriminator scales (pix2pixHD's and C-HR-GAN's num_D)")
    n_layers_d: int = _opt(3, "discriminator layers (SAR2Optical n_layers, pix2pixHD n_layers_D)")
    gan_feat: bool = _opt(True, "pix2pixHD / C-HR-GAN feature-matching loss (off: their --no_ganFeat_loss)")
    epochs: int = 10
    max_steps: int = _opt(0, "0: no cap; else stop after this many steps")
    max_seconds: float = _opt(0.0, "0: no cap; else finish (validate, save) once this much time has passed")
    batch_size: int = 4
    lr: float | None = _opt(None, "the task's: 1e-4 for chrgan and rgtgan (C-HR-GAN's, RGTGAN's), 2e-4 otherwise")
    lr_policy: str | None = _opt(
        None,
        "step for rgtgan (RGTGAN's MultiStepLR), constant otherwise; linear: pix2pix's, constant then linear "
        "decay to 0 over the last --lr-decay-epochs; step: MultiStepLR at --lr-milestones x --lr-gamma; cosine: "
        "to --lr-min over all epochs",
    )
    lr_decay_epochs: int | None = _opt(None, "linear policy: epochs of decay (pix2pix n_epochs_decay); half the epochs")
    lr_milestones: list = field(
        default_factory=list,
        metadata={
            "help": "step policy: where the LR drops (JSON list, e.g. [50,100]): epochs, but STEPS for --task "
            "rgtgan (RGTGAN's lr_steps; default there [50000,100000,150000,200000,250000])"
        },
    )
    lr_gamma: float = _opt(0.5, "step policy: factor at each milestone")
    lr_min: float = _opt(0.0, "cosine policy: final learning rate")
    gan_mode: str | None = _opt(None, "bce or lsgan; from the objective (pix2pix bce, pix2pixHD / C-HR-GAN lsgan)")
    discriminator: str | None = _opt(
        None, "discriminator .pth to start from (SAR2Optical pix2pix_disc_N.pth, pix2pix or pix2pixHD net_D)"
    )
    save_every_epochs: int = _opt(0, "0: off; else keep the generator of every N-th epoch (epoch_N.safetensors)")
    lora_target: str = _opt("all", "lora: all convolutions, or encoder (SAR2Optical's: the encoder convs only)")
    beta1: float | None = _opt(None, "Adam beta1: 0.9 for rgtgan (RGTGAN's), 0.5 otherwise")
    beta2: float | None = _opt(None, "Adam beta2: 0.99 for rgtgan (RGTGAN's), 0.999 otherwise")
    lambda_l1: float | None = _opt(None, "100 for the pix2pix objective, 0 for pix2pixHD / C-HR-GAN")
    lambda_feat: float = 10.0
    lambda_vgg: float | None = _opt(None, "10 (pix2pixHD / C-HR-GAN), 0.1 for rgtgan (RGTGAN's feature_weight)")
    lambda_gan: float | None = _opt(None, "adversarial weight: 1, 1e-3 for rgtgan (RGTGAN's gan_weight)")
    lambda_gradient: float = _opt(1.0, "rgtgan: L1 between gradient maps (RGTGAN's gradient_pixel_weight)")
    lambda_gradient_gan: float = _opt(1e-3, "rgtgan: GAN on gradient maps (RGTGAN's gradient_gan_weight)")
    gan_start_step: int = _opt(0, "rgtgan: steps of pixel losses only before the GAN terms start (RGTGAN's l1_init)")
    vgg_weights: str | None = _opt(None, "none: no perceptual loss; else a torchvision VGG19 .pth file")
    lambda_ssim: float | None = _opt(
        None, "1 for the C-HR-GAN objective (weight of the 2 * (1 - SSIM) term: C-HR-GAN's lambda 2), 0 otherwise"
    )
    lora_rank: int = 16
    lora_alpha: float = 32.0
    lora_dropout: float = 0.1
    val_fraction: float = 0.1
    val_data: str | None = _opt(None, "rgtgan: HR/LR/Ref folder scored (PSNR / SSIM) during training")
    val_every: int = _opt(0, "rgtgan: validate every N steps (0: at the end only; RGTGAN's val_freq)")
    split_file: str | None = _opt(
        None, 'a split.json ({"data": {"train": [...], ...}}) anywhere; default ROOT/split.json'
    )
    prefilter: str | None = _opt(None, "despeckle the SAR input first: NAME[:window] (core.speckle), as at inference")
    test_fraction: float = 0.1
    val_max: int = _opt(16, "validation images per epoch")
    val_size: int = _opt(0, "validation centre crop (0: the training size)")
    seed: int = 0
    augment: bool = True
    log_every: int = 5
    checkpoint_every: int = 25
    device: str = "auto"
    threads: int = _opt(0, "0: PyTorch default")
    channels_last: bool = _opt(False, "channels-last memory format for both networks")
    bf16: bool = _opt(False, "bfloat16 autocast for the forward passes (CPU or CUDA)")
    keep_best: bool = _opt(True, "also keep the generator (LoRA: adapter) of the best validation PSNR")

    def __post_init__(self) -> None:
        # "" and a negative weight were how older configs (and the CLI) said "from the task"
        for name in ("objective", "arch", "base_model", "vgg_weights", "gan_mode", "discriminator"):
            if getattr(self, name) == "":
                setattr(self, name, None)
        for name in ("lambda_l1", "lambda_ssim"):
            value = getattr(self, name)
            if value is not None and value < 0:
                setattr(self, name, None)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise UserError(f"unknown training option(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}.")
        return cls(**d)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def l1_weight(self, objective: str) -> float:
        """lambda_l1, or the objective's own weight when it is not set."""
        if self.lambda_l1 is not None:
            return float(self.lambda_l1)
        return 100.0 if objective == "pix2pix" else 0.0

    def ssim_weight(self, objective: str) -> float:
        """lambda_ssim, or the objective's own weight when it is not set."""
        if self.lambda_ssim is not None:
            return float(self.lambda_ssim)
        return 1.0 if objective == "chrgan" else 0.0

    def fill_task_defaults(self) -> TrainConfig:
        """Set every option left to the task (None) to the source project's value, in place, so that the run's
        config.json records what was used (TASK_DEFAULTS)."""
        values: dict = {**COMMON_DEFAULTS, **TASK_DEFAULTS.get(self.task, {})}
        for name, value in values.items():
            if getattr(self, name) is None:
                setattr(self, name, value)
        if self.task == "rgtgan" and self.lr_policy == "step" and not self.lr_milestones:
            self.lr_milestones = list(RGTGAN_MILESTONES)
        return self

    def adam(self) -> tuple[float, tuple[float, float]]:
        """(lr, betas) after the task's defaults are filled in."""
        self.fill_task_defaults()
        assert self.lr is not None and self.beta1 is not None and self.beta2 is not None
        return float(self.lr), (float(self.beta1), float(self.beta2))

    def check(self) -> TrainConfig:
        if self.task not in TASKS + SR_TASKS:
            raise UserError(f"unknown task {self.task!r}; use one of {', '.join(TASKS + SR_TASKS)}.")
        self.fill_task_defaults()
        if self.objective and self.objective not in OBJECTIVES:
            raise UserError(f"unknown objective {self.objective!r}; use one of {', '.join(OBJECTIVES)}.")
        if self.task in ("lora", "finetune") and not self.base_model:
            raise UserError(f"task {self.task} needs a base model to start from; give --base-model.")
        if self.batch_size < 1 or self.epochs < 1 or self.size < 16:
            raise UserError("batch size and epochs must be at least 1 and the size at least 16; fix the options.")
        for value, allowed, what in (
            (self.lr_policy, LR_POLICIES, "LR policy"),
            (self.gan_mode or "bce", GAN_MODES, "GAN loss"),
            (self.lora_target, LORA_TARGETS, "LoRA target"),
        ):
            if value not in allowed:
                raise UserError(f"unknown {what} {value!r}; use one of {', '.join(allowed)}.")
        if self.lr_policy == "step" and not self.lr_milestones:
            raise UserError("the step LR policy needs --lr-milestones, e.g. [50,100] (epochs where the LR drops).")
        if self.discriminator and not Path(self.discriminator).is_file():
            raise UserError(f"discriminator file {self.discriminator} not found; give an existing .pth file.")
        if self.prefilter:
            from core.speckle.prepare import parse_prefilter  # noqa: PLC0415 - start-up: the speckle package (26 modules) only when a prefilter is given

            parse_prefilter(self.prefilter)  # UserError on an unknown filter or a bad window
        if self.lr is None or self.lr <= 0:
            raise UserError(f"learning rate {self.lr} must be positive; use e.g. 2e-4.")
        if self.vgg_weights and not Path(self.vgg_weights).is_file():
            raise UserError(
                f"VGG weights file {self.vgg_weights} not found; give a torchvision VGG19 .pth file or "
                f"leave it empty to train without the perceptual loss."
            )
        if self.base_model and not Path(self.base_model).is_file():
            raise UserError(f"base model {self.base_model} not found; give an existing checkpoint file.")
        return self


def parse_data(data: str, default_sensor: str = "A") -> tuple[str, str | None]:
    """Split a data option: ("synthetic", sensor) for `synthetic` or `synthetic:B`, (folder, None) otherwise.

    UserError for a synthetic sensor that core.train.synthetic does not define.
    """
    head, sep, sensor = data.partition(":")
    if head != SYNTHETIC:
        return data, None
    sensor = sensor if sep else default_sensor
    if sensor not in SENSORS:
        raise UserError(f"unknown synthetic sensor {sensor!r}; use one of {', '.join(SENSORS)}.")
    return SYNTHETIC, sensor


def unet_depth_for(size: int) -> int:
    """U-Net depth whose bottleneck is 2x2 at a training crop of `size` pixels (kept within 2..8)."""
    return max(2, min(8, int(size).bit_length() - 2))
