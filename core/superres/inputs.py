"""The four inputs of reference-based x4 super-resolution, prepared once per image, and their packing on the LR grid.

RGTGAN takes LR, LR bicubic x4, Ref (at 4x the LR size) and Ref bicubic down-then-up x4 (`models/rgtgan.py`).
For tiling, the three HR arrays are folded 4x4 into channels (`fold`), so the packed stack sits on the LR grid
and every tile cut from it is the crop of the globally prepared inputs; `unfold` restores a batch of tiles.
"""

from __future__ import annotations

import numpy as np

SCALE = 4


def resize_bicubic(img: np.ndarray, h: int, w: int) -> np.ndarray:
    """Bicubic resize of a float image (H, W) or (H, W, C) to (h, w); antialiased when shrinking (PIL)."""
    from PIL import Image  # heavy (Pillow): `superres --help` loads this module

    x = np.asarray(img, np.float32)
    if x.ndim == 2:
        return np.asarray(Image.fromarray(np.ascontiguousarray(x)).resize((w, h), Image.Resampling.BICUBIC), np.float32)
    return np.stack([resize_bicubic(x[..., c], h, w) for c in range(x.shape[2])], axis=-1)


def prepare_inputs(lr: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(LR, LR bicubic x4, Ref at 4x LR size, Ref down-then-up x4), all (H, W, 3) float32 in [0, 1]."""
    h, w = lr.shape[:2]
    H, W = h * SCALE, w * SCALE
    ref_hr = ref if ref.shape[:2] == (H, W) else np.clip(resize_bicubic(ref, H, W), 0, 1)
    lr_up = np.clip(resize_bicubic(lr, H, W), 0, 1)
    ref_dup = np.clip(resize_bicubic(resize_bicubic(ref_hr, h, w), H, W), 0, 1)
    return lr.astype(np.float32), lr_up, ref_hr.astype(np.float32), ref_dup


def bicubic_upscale(lr: np.ndarray) -> np.ndarray:
    """The bicubic x4 baseline, clipped to [0, 1]."""
    h, w = lr.shape[:2]
    return np.clip(resize_bicubic(lr, h * SCALE, w * SCALE), 0, 1)


def fold(x: np.ndarray) -> np.ndarray:
    """(4h, 4w, C) -> (h, w, 16*C): each 4x4 HR block becomes channels of one LR pixel."""
    H, W, C = x.shape
    return (
        x.reshape(H // SCALE, SCALE, W // SCALE, SCALE, C)
        .transpose(0, 2, 1, 3, 4)
        .reshape(H // SCALE, W // SCALE, SCALE * SCALE * C)
    )


def unfold(x: np.ndarray, c: int) -> np.ndarray:
    """Inverse of fold for a batch: (N, h, w, 16*c) -> (N, 4h, 4w, c)."""
    n, h, w, _ = x.shape
    return x.reshape(n, h, w, SCALE, SCALE, c).transpose(0, 1, 3, 2, 4, 5).reshape(n, h * SCALE, w * SCALE, c)


MIN_HR_PSNR = 20.0  # dB between the HR image shrunk to the LR grid and the LR image; same-scene pairs score ~59 dB
REF_ASPECT_TOLERANCE = 1.25  # the reference is resized to 4x the LR, so its shape must be about the LR's


def pair_problem(
    lr: np.ndarray, hr: np.ndarray | None, ref: np.ndarray | None, names=("HR", "reference")
) -> str | None:
    """Why an HR or reference image cannot belong to this LR image (one sentence), or None when they can.

    HR must be exactly 4x the LR and, shrunk back to the LR grid (bicubic, antialiased), look like the LR: a PSNR
    below MIN_HR_PSNR means another scene. The reference (another date or view) may differ in content, but it must
    be at least the LR's size with about the LR's aspect ratio, since it is resized to cover the LR's footprint.
    """
    h, w = lr.shape[:2]
    if hr is not None:
        if hr.shape[:2] != (h * SCALE, w * SCALE):
            return (
                f"{names[0]} is {hr.shape[1]}×{hr.shape[0]} but 4× the LR image is {w * SCALE}×{h * SCALE}; "
                f"give the HR image of the same footprint at 4× size."
            )
        shrunk = np.clip(resize_bicubic(hr, h, w), 0, 1)
        mse = float(np.mean((shrunk.astype(np.float64) - lr.astype(np.float64)) ** 2))
        score = 10 * np.log10(1 / max(mse, 1e-12))
        if score < MIN_HR_PSNR:
            return (
                f"{names[0]} shrunk to the LR size differs from the LR image (PSNR {score:.1f} dB, below "
                f"{MIN_HR_PSNR:.0f} dB): it shows another scene; give the HR image of this LR image."
            )
    if ref is not None:
        rh, rw = ref.shape[:2]
        ratio = (rw / rh) / (w / h)
        if rh < h or rw < w or not 1 / REF_ASPECT_TOLERANCE <= ratio <= REF_ASPECT_TOLERANCE:
            return (
                f"{names[1]} is {rw}×{rh}, which cannot cover the {w}×{h} LR image's footprint (it must be at least "
                f"the LR size with about its aspect ratio); give a reference of the same area."
            )
    return None
