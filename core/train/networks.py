"""The networks a training run starts from: generator and discriminator built from the options, a base generator
loaded for fine-tuning, pix2pix weight initialisation, the objective a run uses and the normalization it records.

Imports torch at module level: only the trainer and `evaluate` import this module, and both need it.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from core.checkpoints import FORMAT, load_model, read_metadata
from core.errors import UserError
from core.generators import GENERATOR_ARCHS, GENERATOR_WANTED, load_generator, translation_normalization
from core.train.config import OBJECTIVES, TrainConfig
from models.multiscale_discriminator import MultiscaleDiscriminator
from models.patchgan import PatchGAN
from models.registry import build

# How our generators expect their input and give their output; stored in every checkpoint we write, in the
# translation engine's terms (core.checkpoints.TRANSLATION_NORMALIZATION) plus a sentence for people.
NORMALIZATION_NOTE = (
    "SAR as an 8-bit display image (float or 16-bit SAR rendered by core.io.render: dB, 2-98 % "
    "stretch, VV/VH false colour for two bands), grey copied to R=G=B, x/255*2-1; output tanh, "
    "(y+1)/2*255"
)


def normalization_for(in_channels: int) -> dict:
    return translation_normalization(in_channels, note=NORMALIZATION_NOTE)


def objective_for(cfg: TrainConfig, base_meta: dict | None) -> str:
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
    p = Path(path)
    if p.suffix == ".safetensors" and read_metadata(p).get("format") == FORMAT:
        model, meta = load_model(p, archs=GENERATOR_ARCHS, wanted=GENERATOR_WANTED)
        return model, meta
    loaded = load_generator(str(p))
    model = loaded[0] if isinstance(loaded, tuple) else getattr(loaded, "model", loaded)
    if not hasattr(model, "parameters"):
        raise UserError(
            f"{p.name} is not a PyTorch generator (ONNX files cannot be fine-tuned); give a .pth or .safetensors file."
        )
    meta = {"arch": getattr(model, "arch_name", ""), "config": getattr(model, "config", {})}
    return model, meta


def build_discriminator(objective: str, cfg: TrainConfig, sar_channels: int):
    if objective == "pix2pix":
        return PatchGAN(in_channels=sar_channels + 3, ndf=cfg.ndf, n_layers=3)
    return MultiscaleDiscriminator(in_channels=sar_channels + 3, ndf=cfg.ndf, n_layers=3, num_D=cfg.num_d)


def sar_channels_of(model) -> int:
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            return int(m.in_channels)
    return 3


def size_multiple_of(model) -> int:
    return int(getattr(model, "size_multiple", 1) or 1)


def set_train_mode(model, freeze_bn: bool) -> None:
    """model.train(), with BatchNorm kept in eval mode (frozen running statistics) when fine-tuning LoRA."""
    model.train()
    if freeze_bn:
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.eval()


def init_weights(model) -> None:
    """pix2pix initialisation: conv weights N(0, 0.02), norm weights N(1, 0.02), biases 0 (residual gates 0)."""
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
