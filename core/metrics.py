"""Image quality figures for SAR filtering and translation: ENL, mean ratio, EPI, PSNR, SSIM.

A plain module of functions on numpy arrays. ENL, mean ratio and EPI take linear intensity.
"""

from __future__ import annotations

import numpy as np

from core import io as sio
from core.checkpoints import load_state_strict, torch_load_weights
from core.errors import UserError
from core.files import list_images
from core.local_stats import local_moments

Region = tuple[int, int, int, int]  # row, column, height, width


def _valid(x: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    ok = np.isfinite(x)
    return ok if mask is None else ok & mask


def find_homogeneous_region(intensity: np.ndarray, size: int = 32, mask: np.ndarray | None = None) -> Region:
    """The size x size window with the highest ENL (lowest coefficient of variation) among windows that hold
    only valid pixels. Found on the input, then reused for every filtered result."""

    x = np.asarray(intensity, np.float32)
    h, w = x.shape
    size = int(min(size, h, w))
    if size < 3:
        raise UserError(f"the image ({w}x{h}) is too small to find a homogeneous area; use at least 3x3 pixels.")
    ok = _valid(x, mask)
    mean, var, n = local_moments(x, size, ok)
    half = size // 2
    # windows centred at (r, c) span r-half .. r-half+size-1: keep those fully inside the image and valid
    full = n >= size * size - 0.5
    inside = np.zeros_like(full)
    inside[half : h - (size - 1 - half), half : w - (size - 1 - half)] = True
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.where(full & inside & (mean > 0) & (var > 0), mean * mean / var, -np.inf)
    if not np.isfinite(score).any():
        raise UserError("no fully valid homogeneous area was found; give an ENL region explicitly.")
    r, c = np.unravel_index(int(np.argmax(score)), score.shape)
    return int(r - half), int(c - half), size, size


def enl(intensity: np.ndarray, region: Region | None = None, size: int = 32, mask: np.ndarray | None = None) -> float:
    """Equivalent number of looks mean² / variance over `region` (row, col, height, width), or over the most
    homogeneous size x size window when region is None. Invalid pixels are left out."""
    x = np.asarray(intensity, np.float64)
    if region is None:
        region = find_homogeneous_region(intensity, size, mask)
    r, c, hh, ww = (int(v) for v in region)
    if hh < 2 or ww < 2 or r < 0 or c < 0 or r + hh > x.shape[0] or c + ww > x.shape[1]:
        raise UserError(
            f"ENL region (row {r}, column {c}, {hh}x{ww}) is not inside the {x.shape[1]}x{x.shape[0]} "
            f"image; choose a region inside it."
        )
    ok = _valid(x, mask)[r : r + hh, c : c + ww]
    v = x[r : r + hh, c : c + ww][ok]
    if v.size < 4:
        raise UserError("the ENL region holds fewer than 4 valid pixels; choose another region.")
    var = v.var()
    return float(v.mean() ** 2 / var) if var > 0 else float("inf")


def mean_ratio(filtered: np.ndarray, original: np.ndarray, mask: np.ndarray | None = None) -> float:
    """mean(filtered) / mean(original) over pixels valid in both: 1 means the radiometry is kept."""
    f = np.asarray(filtered, np.float64)
    o = np.asarray(original, np.float64)
    ok = _valid(f, mask) & np.isfinite(o)
    if not ok.any():
        raise UserError("no pixel is valid in both images; check the inputs.")
    return float(f[ok].mean() / o[ok].mean())


def edge_preservation_index(filtered: np.ndarray, reference: np.ndarray, mask: np.ndarray | None = None) -> float:
    """EPI as the ratio of summed absolute differences between neighbouring pixels (horizontal and vertical),
    filtered over reference. With the noisy input as reference (no clean image available) it is below 1 for
    any smoothing; higher means edges (and speckle) kept. Pairs with an invalid pixel are left out."""
    f = np.asarray(filtered, np.float64)
    g = np.asarray(reference, np.float64)
    ok = _valid(f, mask) & np.isfinite(g)
    num = den = 0.0
    for axis in (0, 1):
        pair = np.logical_and(np.take(ok, range(1, ok.shape[axis]), axis), np.take(ok, range(ok.shape[axis] - 1), axis))
        df = np.abs(np.diff(np.where(ok, f, 0), axis=axis))[pair]
        dg = np.abs(np.diff(np.where(ok, g, 0), axis=axis))[pair]
        num += df.sum()
        den += dg.sum()
    if den == 0:
        raise UserError("the reference image is flat, so the edge preservation index is undefined.")
    return float(num / den)


def psnr(reference: np.ndarray, test: np.ndarray, data_range: float) -> float:
    """Peak signal-to-noise ratio (dB) from scikit-image, with an explicit data range."""
    from skimage.metrics import peak_signal_noise_ratio

    return float(
        peak_signal_noise_ratio(
            np.asarray(reference, np.float64), np.asarray(test, np.float64), data_range=float(data_range)
        )
    )


def ssim(reference: np.ndarray, test: np.ndarray, data_range: float) -> float:
    """Structural similarity from scikit-image, with an explicit data range (channels last for RGB)."""
    from skimage.metrics import structural_similarity

    a = np.asarray(reference, np.float64)
    b = np.asarray(test, np.float64)
    kw = {"channel_axis": -1} if a.ndim == 3 else {}
    return float(structural_similarity(a, b, data_range=float(data_range), **kw))


def speckle_metrics(original: np.ndarray, filtered: np.ndarray, region: Region) -> dict:
    """The figures the speckle page and CLI report for one band: ENL over `region`, mean ratio, EPI."""
    return {
        "ENL": enl(filtered, region),
        "mean ratio": mean_ratio(filtered, original),
        "EPI": edge_preservation_index(filtered, original),
    }


# ------------------------------------------------------------------------------ FID (added by the training engine)

FID_INPUT_SIZE = 299  # the Inception input size FID is defined at


def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray, eps: float = 1e-6
) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)), computed as pytorch-fid does (scipy sqrtm; an eps
    offset on the diagonals when the product is singular; the imaginary part of round-off dropped)."""
    from scipy import linalg

    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    s1, s2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(sigma2).astype(np.float64)
    diff = mu1 - mu2
    covmean = linalg.sqrtm(s1.dot(s2))
    if not np.isfinite(covmean).all():
        offset = np.eye(s1.shape[0]) * eps
        covmean = linalg.sqrtm((s1 + offset).dot(s2 + offset))
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def load_fid_inception(path: str, device: str = "cpu"):
    """The FID Inception network (models/inception_fid.py) with the user's pytorch-fid weights file
    (pt_inception-2015-12-05-6726825d.pth), loaded strictly with weights_only."""
    from models.inception_fid import InceptionFID  # noqa: PLC0415 - heavy: a network module imports torch; only when it is built

    state = torch_load_weights(path)
    if not isinstance(state, dict):
        raise UserError(f"{path} holds no state_dict; give pytorch-fid's pt_inception-2015-12-05 weights file.")
    state = {k[7:] if k.startswith("module.") else k: v for k, v in state.items()}
    if "AuxLogits.fc.weight" in state:
        raise UserError(
            f"{path} is torchvision's ImageNet Inception-v3, not the FID Inception; give pytorch-fid's "
            f"pt_inception-2015-12-05-6726825d.pth."
        )
    net = InceptionFID(
        num_classes=int(state["fc.weight"].shape[0]) if "fc.weight" in state else 1008, input_size=FID_INPUT_SIZE
    )
    load_state_strict(net, state, "FID Inception-v3", str(path))
    return net.to(device).eval()


def inception_features(images, net, device: str = "cpu", batch_size: int = 16) -> np.ndarray:
    """pool3 features (N, 2048) of uint8 RGB images (H, W, 3), each fed as x/255 in [0, 1]."""
    import torch

    feats = []
    with torch.no_grad():
        for i in range(0, len(images), batch_size):
            chunk = images[i : i + batch_size]
            x = torch.stack(
                [torch.from_numpy(np.ascontiguousarray(im[..., :3].transpose(2, 0, 1))).float() / 255.0 for im in chunk]
            ).to(device)
            feats.append(net(x).double().cpu().numpy())
    return np.concatenate(feats)


def fid(real_images, fake_images, weights_path: str, device: str = "cpu", batch_size: int = 16) -> float:
    """Fréchet Inception distance between two sets of uint8 RGB images (pytorch-fid's definition: pool3
    features, unbiased covariances). Needs at least two images per set; hundreds for a meaningful value."""
    if len(real_images) < 2 or len(fake_images) < 2:
        raise UserError("FID needs at least two images in each set (hundreds for a stable value); add images.")
    net = load_fid_inception(weights_path, device)
    a = inception_features(list(real_images), net, device, batch_size)
    b = inception_features(list(fake_images), net, device, batch_size)
    return frechet_distance_of_features(a, b)


def frechet_distance_of_features(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between the Gaussians fitted to two feature sets (rows = samples, unbiased covariances).

    With fewer samples than dimensions the covariances are low rank, and Tr((S1 S2)^(1/2)) equals the sum of the
    singular values of A1 A2^T / sqrt((n1 - 1)(n2 - 1)) (A = centred features): exact, and far cheaper than a
    2048 x 2048 matrix square root. Otherwise the matrix route of `frechet_distance` is used."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    n1, n2, d = len(a), len(b), a.shape[1]
    if min(n1, n2) >= d:
        return frechet_distance(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))
    A1, A2 = a - a.mean(0), b - b.mean(0)
    diff = a.mean(0) - b.mean(0)
    tr1 = float((A1**2).sum() / (n1 - 1))
    tr2 = float((A2**2).sum() / (n2 - 1))
    tr_covmean = float(np.linalg.svd(A1 @ A2.T, compute_uv=False).sum() / np.sqrt((n1 - 1) * (n2 - 1)))
    return float(diff.dot(diff) + tr1 + tr2 - 2 * tr_covmean)


# ------------------------------------------------------------- FID between two folders (python -m core fid)

FID_WEIGHTS_MISSING = (
    "FID needs an Inception weights file, which is not shipped and never downloaded: give --weights "
    "pt_inception-2015-12-05-6726825d.pth (pytorch-fid's, the comparable FID) and/or --torchvision-inception "
    "inception_v3_google-0cc3c7bd.pth (SAR2Optical's variant, not comparable)."
)
SAR2OPTICAL_FID_NOTE = (
    "SAR2Optical's variant, NOT comparable with pytorch-fid: torchvision's ImageNet Inception-v3 1000 fc logits "
    "(not pool3), images resized to 342 on the short side (bilinear, antialiased, rounded to 8 bits), centre crop "
    "299, ImageNet mean/std, as their evaluation notebook"
)
PYTORCH_FID_NOTE = "pytorch-fid's definition: FID Inception pool3 (2048-d), images x/255 resized to 299 (bilinear)"


def load_torchvision_inception(path: str, device: str = "cpu"):
    """torchvision's ImageNet Inception-v3 (inception_v3_google-0cc3c7bd.pth, with AuxLogits) for SAR2Optical's
    FID variant, loaded strictly with weights_only; the FID Inception file is refused (it is the other one)."""
    from models.inception_fid import InceptionFID  # noqa: PLC0415 - heavy: a network module imports torch; only when it is built

    state = torch_load_weights(path)
    if not isinstance(state, dict):
        raise UserError(f"{path} holds no state_dict; give torchvision's inception_v3_google-0cc3c7bd.pth.")
    state = {k[7:] if k.startswith("module.") else k: v for k, v in state.items()}
    if "AuxLogits.fc.weight" not in state:
        raise UserError(
            f"{path} is not torchvision's ImageNet Inception-v3 (no AuxLogits); for pytorch-fid's FID Inception use "
            f"--weights, for SAR2Optical's variant give inception_v3_google-0cc3c7bd.pth."
        )
    net = InceptionFID(num_classes=int(state["fc.weight"].shape[0]), aux_logits=True, torchvision_pools=True)
    load_state_strict(net, state, "torchvision Inception-v3", str(path))
    return net.to(device).eval()


SAR2OPTICAL_RESIZE, SAR2OPTICAL_CROP = 342, 299  # torchvision inception_v3 transforms, as their notebook


def sar2optical_inputs(images):
    """SAR2Optical's transform of uint8 RGB images: Resize(342) on the short side (bilinear, antialiased, back to
    uint8), CenterCrop(299), /255, ImageNet mean / std. (N, 3, 299, 299) float32 torch tensor."""
    import torch
    import torch.nn.functional as F

    out = []
    for im in images:
        x = torch.from_numpy(np.ascontiguousarray(im[..., :3].transpose(2, 0, 1))).float()[None]
        h, w = x.shape[2:]
        short, crop = SAR2OPTICAL_RESIZE, SAR2OPTICAL_CROP
        size = (short, int(w * short / h)) if h <= w else (int(h * short / w), short)
        x = F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False).round().clamp(0, 255)
        top, left = int(round((size[0] - crop) / 2.0)), int(round((size[1] - crop) / 2.0))
        out.append(x[:, :, top : top + crop, left : left + crop] / 255.0)
    x = torch.cat(out)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    return (x - mean) / std


def folder_features(folder: str, net, kind: str, device: str = "cpu", batch_size: int = 16, progress=None):
    """Features of every image of a folder, read batch by batch (memory does not grow with the folder):
    kind "pytorch_fid" (pool3) or "sar2optical" (torchvision logits)."""
    import torch

    files = list_images(folder)
    if len(files) < 2:
        raise UserError(f"{folder} holds {len(files)} image(s); FID needs at least two (hundreds for a stable value).")
    feats = []
    for i in range(0, len(files), batch_size):
        imgs = []
        for f in files[i : i + batch_size]:
            r = sio.read_raster(f)
            if r.data.dtype != np.uint8:
                raise UserError(f"{f.name} is {r.data.dtype}; FID reads 8-bit RGB images (PNG / JPEG / 8-bit TIFF).")
            imgs.append(sio.to_rgb(r.data))
        if kind == "sar2optical":
            with torch.no_grad():
                feats.append(net.imagenet_logits(sar2optical_inputs(imgs).to(device)).double().cpu().numpy())
        else:
            feats.append(inception_features(imgs, net, device, batch_size))
        if progress:
            progress(min(i + batch_size, len(files)), len(files))
    return np.concatenate(feats)


def fid_of_folders(
    folder_a: str,
    folder_b: str,
    weights: str | None = None,
    torchvision_weights: str | None = None,
    device: str = "cpu",
    batch_size: int = 16,
    progress=None,
) -> dict:
    """FID between the images of two folders: pytorch-fid's (`weights`) and/or SAR2Optical's variant
    (`torchvision_weights`), each labelled with its definition."""
    if not weights and not torchvision_weights:
        raise UserError(FID_WEIGHTS_MISSING)
    out: dict = {"a": str(folder_a), "b": str(folder_b)}
    if weights:
        net = load_fid_inception(weights, device)
        a = folder_features(folder_a, net, "pytorch_fid", device, batch_size, progress)
        b = folder_features(folder_b, net, "pytorch_fid", device, batch_size, progress)
        out.update(fid=frechet_distance_of_features(a, b), fid_definition=PYTORCH_FID_NOTE, n_a=len(a), n_b=len(b))
    if torchvision_weights:
        net = load_torchvision_inception(torchvision_weights, device)
        a = folder_features(folder_a, net, "sar2optical", device, batch_size, progress)
        b = folder_features(folder_b, net, "sar2optical", device, batch_size, progress)
        out.update(
            fid_sar2optical_variant=frechet_distance_of_features(a, b),
            fid_sar2optical_variant_definition=SAR2OPTICAL_FID_NOTE,
            n_a=len(a),
            n_b=len(b),
        )
    return out
