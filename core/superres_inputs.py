"""The four inputs of reference-based x4 super-resolution, prepared once per image, and their packing on the LR grid.

RGTGAN takes LR, LR bicubic x4, Ref (at 4x the LR size) and Ref bicubic down-then-up x4 (`models/rgtgan.py`).
For tiling, the three HR arrays are folded 4x4 into channels (`fold`), so the packed stack sits on the LR grid
and every tile cut from it is the crop of the globally prepared inputs; `unfold` restores a batch of tiles.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

SCALE = 4


def resize_bicubic(img: np.ndarray, h: int, w: int) -> np.ndarray:
    """Bicubic resize of a float image (H, W) or (H, W, C) to (h, w); antialiased when shrinking (PIL)."""
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
