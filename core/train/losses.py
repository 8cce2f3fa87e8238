"""Training losses for SAR-to-optical GANs (images in [-1, 1]).

- `gan_loss(pred, target_is_real, mode)`: "bce" (pix2pix: BCE with logits) or "lsgan" (pix2pixHD: MSE to 1/0);
  `pred` may be a tensor or pix2pixHD's nested list (one list of layer outputs per scale, logits last),
  in which case the losses of the scales are summed (as pix2pixHD does).
- `feature_matching_loss(fake_feats, real_feats)`: pix2pixHD's D feature matching, L1 between the
  intermediate D features of fake and real, weighted 4/(n_layers+1) and 1/num_D (times lambda_feat outside).
- `ssim(x, y)`: SSIM with an 11x11 Gaussian window (sigma 1.5), K1 0.01, K2 0.03, averaged over the valid
  region (the same definition as scikit-image's `structural_similarity(gaussian_weights=True,
  use_sample_covariance=False)`); `ssim_loss = 2 * (1 - SSIM)` is C-HR-GAN's term (computed on [0, 1] images).
- `VGGPerceptualLoss`: pix2pixHD's VGG19 loss, sum of w_i * L1(relu_i(fake), relu_i(real)) over relu1_1 ..
  relu5_1 with weights 1/32, 1/16, 1/8, 1/4, 1, from a user-supplied torchvision VGG19 weights file.
"""

from __future__ import annotations

from typing import cast

import torch  # noqa: TID253 - torch module of the trainer, imported only when training runs
import torch.nn.functional as F  # noqa: TID253 - torch module of the trainer, imported only when training runs

from core.checkpoints import load_state_strict, torch_load_weights
from core.errors import UserError


def gan_loss(pred, target_is_real: bool, mode: str = "bce") -> torch.Tensor:
    if isinstance(pred, (list, tuple)):
        total: torch.Tensor | float = 0.0
        for scale in pred:
            logits = scale[-1] if isinstance(scale, (list, tuple)) else scale
            total = total + gan_loss(logits, target_is_real, mode)
        return cast(torch.Tensor, total)  # a tensor once one scale is added (pred is never empty)
    target = torch.ones_like(pred) if target_is_real else torch.zeros_like(pred)
    if mode == "bce":
        return F.binary_cross_entropy_with_logits(pred, target)
    if mode == "lsgan":
        return F.mse_loss(pred, target)
    raise ValueError(f"unknown GAN loss {mode!r}; use bce or lsgan")


def feature_matching_loss(fake_feats, real_feats) -> torch.Tensor:
    num_d = len(fake_feats)
    total: torch.Tensor | float = 0.0
    for f_scale, r_scale in zip(fake_feats, real_feats):
        n_layers = len(f_scale) - 2  # the layers before the logits, as pix2pixHD counts them
        w = 4.0 / (n_layers + 1) / num_d
        for f, r in zip(f_scale[:-1], r_scale[:-1]):
            total = total + w * F.l1_loss(f, r.detach())
    return cast(torch.Tensor, total)  # a tensor once one layer is added


def _gaussian_window(size: int = 11, sigma: float = 1.5, device=None, dtype=torch.float32) -> torch.Tensor:
    x = torch.arange(size, device=device, dtype=dtype) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    return g


def ssim(
    x: torch.Tensor,
    y: torch.Tensor,
    data_range: float = 1.0,
    win_size: int = 11,
    sigma: float = 1.5,
    reduction: str = "mean",
) -> torch.Tensor:
    """SSIM of (N, C, H, W) images; mean over channels and the valid region (per image with reduction="none")."""
    c = x.shape[1]
    g = _gaussian_window(win_size, sigma, x.device, x.dtype)
    gh = g.view(1, 1, 1, -1).repeat(c, 1, 1, 1)
    gv = g.view(1, 1, -1, 1).repeat(c, 1, 1, 1)

    def blur(t):
        return F.conv2d(F.conv2d(t, gh, groups=c), gv, groups=c)

    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mx, my = blur(x), blur(y)
    sxx = blur(x * x) - mx * mx
    syy = blur(y * y) - my * my
    sxy = blur(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    per_image = s.mean(dim=(1, 2, 3))
    return per_image.mean() if reduction == "mean" else per_image


def ssim_loss(fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """C-HR-GAN's structural term 2 * (1 - SSIM), on images mapped from [-1, 1] to [0, 1]."""
    return 2.0 * (1.0 - ssim((fake + 1) / 2, (real + 1) / 2, data_range=1.0))


def psnr(fake: torch.Tensor, real: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Per-image PSNR in dB of (N, C, H, W) images in [0, data_range]."""
    mse = ((fake - real) ** 2).mean(dim=(1, 2, 3)).clamp_min(1e-12)
    return 10 * torch.log10(data_range**2 / mse)


VGG_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
VGG_WEIGHTS = (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0)


class VGGPerceptualLoss(torch.nn.Module):
    """pix2pixHD's VGG loss with a frozen VGG19 (models/vgg.py) loaded from a torchvision weights file."""

    def __init__(self, weights_path: str):
        super().__init__()
        self.net = load_vgg19(weights_path).eval()
        for p in self.net.parameters():
            p.requires_grad_(False)

    def forward(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        ff = self.net(fake, list(VGG_LAYERS))
        with torch.no_grad():
            rf = self.net(real, list(VGG_LAYERS))
        return cast(torch.Tensor, sum(w * F.l1_loss(ff[k], rf[k]) for k, w in zip(VGG_LAYERS, VGG_WEIGHTS)))


def load_vgg19(path: str):
    """VGG19 features from a torchvision state_dict file (classifier keys dropped explicitly, strict load)."""
    import models.vgg as vgg  # noqa: PLC0415 - heavy: a network module imports torch; only when it is built

    state = torch_load_weights(path)
    if not isinstance(state, dict):
        raise UserError(
            f"{path} does not hold a state_dict; give a torchvision VGG19 weights file such as vgg19-dcbb9e9d.pth."
        )
    split = getattr(vgg, "split_torchvision_state", None)
    features = split(state)[0] if split else {k: v for k, v in state.items() if k.startswith("features.")}
    net = vgg.VGG19()
    load_state_strict(net, features, "vgg19", str(path))
    return net
