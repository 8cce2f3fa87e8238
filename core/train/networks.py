"""The networks a training run starts from: generator and discriminator built from the options, a base generator
loaded for fine-tuning, pix2pix weight initialisation, the objective a run uses and the normalization it records.

Imports torch at module level: only the trainer and `evaluate` import this module, and both need it.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch  # noqa: TID253 - torch module of the trainer, imported only when training runs
from torch import nn  # noqa: TID253 - torch module of the trainer, imported only when training runs

from core.checkpoints import FOREIGN_PREFIXES, FORMAT, load_model, load_state_strict, read_metadata, torch_load_weights
from core.errors import UserError
from core.train.config import OBJECTIVES, TrainConfig
from core.translate.generators import GENERATOR_WANTED, generator_archs, load_generator, translation_normalization
from models.multiscale_discriminator import MultiscaleDiscriminator  # noqa: TID253 - torch module of the trainer, imported only when training runs
from models.patchgan import PatchGAN  # noqa: TID253 - torch module of the trainer, imported only when training runs
from models.registry import build  # noqa: TID253 - torch module of the trainer, imported only when training runs

# How our generators expect their input and give their output; stored in every checkpoint we write, in the
# translation engine's terms (core.checkpoints.TRANSLATION_NORMALIZATION) plus a sentence for people.
NORMALIZATION_NOTE = (
    "SAR as an 8-bit display image (float or 16-bit SAR rendered by core.io.render: dB, 2-98 % "
    "stretch, VV/VH false colour for two bands), grey copied to R=G=B, x/255*2-1; output tanh, "
    "(y+1)/2*255"
)


def normalization_for(in_channels: int) -> dict:
    # input_scaling: SAR rendered by core.io.render (per-image 2-98 % stretch), see core.translate.inputs
    return translation_normalization(in_channels, note=NORMALIZATION_NOTE, input_scaling="stretch")


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
        model, meta = load_model(p, archs=generator_archs(), wanted=GENERATOR_WANTED)
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
        return PatchGAN(in_channels=sar_channels + 3, ndf=int(cfg.ndf or 64), n_layers=cfg.n_layers_d)
    return MultiscaleDiscriminator(
        in_channels=sar_channels + 3,
        ndf=int(cfg.ndf or 64),
        n_layers=cfg.n_layers_d,
        num_D=cfg.num_d,
        intermediate=cfg.gan_feat,
    )


_SAR2OPTICAL_D = re.compile(r"^model\.model\.(\d+)\.(?:conv_block\.(\d+)\.)?(.+)$")


def discriminator_state(path: str) -> tuple[dict, str]:
    """A discriminator file's state_dict in our key layout, and the layout it came in.

    Read with weights_only; `module.` / `_orig_mod.` prefixes stripped. Layouts: SAR2Optical's
    `pix2pix_disc_N.pth` (PatchGAN of DownsamplingBlocks, keys `model.model.B.conv_block.{0,1}.*` and the last
    conv `model.model.4.*`), junyanz pix2pix `latest_net_D.pth` (`model.N.*`, ours as is) and pix2pixHD /
    C-HR-GAN `latest_net_D.pth` with intermediate features (`scale{i}_layer{j}.*`, ours as is) or trained with
    --no_ganFeat_loss (`layer{i}.{k}.*`, one flat Sequential per scale: layout "pix2pixhd_flat").
    """

    state = torch_load_weights(path)
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(hasattr(v, "shape") for v in state.values()):
        raise UserError(f"{Path(path).name} does not hold a discriminator state_dict; give a net_D / disc .pth file.")
    clean = {}
    for k, v in state.items():
        for prefix in FOREIGN_PREFIXES:
            if k.startswith(prefix):
                k = k[len(prefix) :]
        clean[k] = v
    if any(k.startswith("scale0_layer0.") for k in clean):
        return clean, "pix2pixhd"
    if "layer0.0.weight" in clean:
        return clean, "pix2pixhd_flat"
    if "model.model.0.conv_block.0.weight" in clean:
        # block b of SAR2Optical -> index in our Sequential: conv, LeakyReLU, then (conv, norm, LeakyReLU) per block
        blocks = sorted({int(m.group(1)) for k in clean if (m := _SAR2OPTICAL_D.match(k))})
        last = blocks[-1]
        out = {}
        for k, v in clean.items():
            m = _SAR2OPTICAL_D.match(k)
            if not m:
                out[k] = v  # left for the strict load to name
                continue
            b, part, rest = int(m.group(1)), m.group(2), m.group(3)
            if b == last:
                idx = 3 * last - 1
            elif b == 0:
                idx = 0
            else:
                idx = 3 * b - 1 + int(part or 0)
            out[f"model.{idx}.{rest}"] = v
        return out, "sar2optical"
    if "model.0.weight" in clean:
        return clean, "pix2pix"
    first = ", ".join(list(clean)[:3])
    raise UserError(
        f"{Path(path).name} is not a discriminator layout we know (first keys {first}); give SAR2Optical's "
        f"pix2pix_disc_N.pth, or a pix2pix / pix2pixHD latest_net_D.pth."
    )


def load_discriminator(path: str, objective: str, sar_channels: int):
    """(discriminator built from the file's shapes with its weights loaded strictly, one-line note)."""

    state, layout = discriminator_state(path)
    name = Path(path).name
    net: nn.Module
    if layout in ("pix2pixhd", "pix2pixhd_flat"):
        if objective == "pix2pix":
            raise UserError(f"{name} is a pix2pixHD multi-scale discriminator; use it with --task pix2pixhd or chrgan.")
        flat = layout == "pix2pixhd_flat"
        first = state["layer0.0.weight" if flat else "scale0_layer0.0.weight"]
        if flat:  # conv weights of scale 0: n_layers + 2 of them
            num_d = len({k.split(".")[0] for k in state if re.match(r"^layer\d+\.", k)})
            n_layers = sum(1 for k, v in state.items() if k.startswith("layer0.") and v.ndim == 4) - 2
        else:
            num_d = len({k.split("_")[0] for k in state if k.startswith("scale")})
            n_layers = len({k.split(".")[0] for k in state if k.startswith("scale0_layer")}) - 2
        norm = "batch" if any(k.endswith("running_mean") for k in state) else "instance"
        net = MultiscaleDiscriminator(
            in_channels=int(first.shape[1]),
            ndf=int(first.shape[0]),
            n_layers=n_layers,
            num_D=num_d,
            norm=norm,
            intermediate=not flat,
        )
    else:
        if objective != "pix2pix":
            raise UserError(f"{name} is a PatchGAN (pix2pix) discriminator; use it with --task pix2pix.")
        first = state["model.0.weight"]
        n_layers = (
            len([k for k in state if k.endswith(".weight") and k[6:].split(".")[0].isdigit() and state[k].ndim == 4])
            - 2
        )
        net = PatchGAN(in_channels=int(first.shape[1]), ndf=int(first.shape[0]), n_layers=n_layers)
    if int(first.shape[1]) != sar_channels + 3:
        raise UserError(
            f"{name} takes {int(first.shape[1])} input channels but this run feeds {sar_channels} SAR + 3 optical; "
            f"give a discriminator trained for the same input."
        )
    load_state_strict(net, state, f"{layout} discriminator", name)
    return net, f"discriminator from {name} ({layout} layout, ndf {int(first.shape[0])})"


def encoder_convs(model) -> list[str]:
    """The encoder's convolutions, LoRA's targets with `lora_target encoder` (SAR2Optical puts its adapters on
    the eight encoder convs only): `encoder.*` convs of the U-Net; for pix2pixHD's GlobalGenerator the first conv
    and the downsampling convs (the top-level Conv2d layers before the first residual block)."""
    named = [(n, m) for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)) and n]
    names = [n for n, m in named if n.startswith("encoder.") and ".lora_" not in n]
    if names:
        return names
    out = []
    for n, m in model.named_modules():
        if n.count(".") == 1 and isinstance(m, nn.Conv2d):
            out.append(n)
        elif n.count(".") == 1 and (hasattr(m, "conv_block") or isinstance(m, nn.ConvTranspose2d)):
            break
    if not out:
        raise UserError("this generator has no encoder convolutions we can find; use --lora-target all.")
    return out


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
