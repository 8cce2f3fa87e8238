"""Tile, run, blend: any image size through a network that wants fixed-size inputs.

`tile_blend` cuts an (H, W, C) image into `tile`-sized windows that overlap by `overlap` pixels, runs `fn` on
batches of them, and blends the outputs with feathered (linear ramp) weights so no seam shows. The output is
the size of the input times `scale`. Images smaller than a tile are reflect-padded up to one tile and cropped
back. Tiles are produced and consumed batch by batch, so only the output accumulator is scene-sized.
"""

from __future__ import annotations

from typing import Callable, Iterator

import numpy as np

ProgressFn = Callable[[float, str], None]


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets covering [0, length) with windows of `tile`, consecutive windows overlapping >= overlap."""
    if tile <= 0:
        raise ValueError("tile must be positive")
    if length <= tile:
        return [0]
    overlap = min(max(overlap, 0), tile - 1)
    step = tile - overlap
    n = int(np.ceil((length - tile) / step)) + 1
    starts = [min(i * step, length - tile) for i in range(n)]
    return sorted(set(starts))


def feather_weights(size: int, overlap: int) -> np.ndarray:
    """1-D weights: a linear ramp over `overlap` pixels at both ends, 1 in the middle, never zero."""
    w = np.ones(size, np.float32)
    r = min(overlap, size // 2)
    if r > 0:
        ramp = (np.arange(1, r + 1, dtype=np.float32)) / (r + 1)
        w[:r] = ramp
        w[size - r :] = ramp[::-1]
    return w


def iter_tiles(h: int, w: int, tile: int, overlap: int) -> Iterator[tuple[int, int]]:
    for y in tile_starts(h, tile, overlap):
        for x in tile_starts(w, tile, overlap):
            yield y, x


def count_tiles(h: int, w: int, tile: int, overlap: int) -> int:
    return len(tile_starts(h, tile, overlap)) * len(tile_starts(w, tile, overlap))


def _pad_to(image: np.ndarray, th: int, tw: int) -> np.ndarray:
    h, w = image.shape[:2]
    ph, pw = max(0, th - h), max(0, tw - w)
    if ph == 0 and pw == 0:
        return image
    pad = ((0, ph), (0, pw)) + ((0, 0),) * (image.ndim - 2)
    # reflect needs the pad to be smaller than the size; fall back to edge for tiny images
    mode = "reflect" if ph < h and pw < w else "edge"
    return np.pad(image, pad, mode=mode)


def tile_blend(
    image: np.ndarray,
    fn: Callable[[np.ndarray], np.ndarray],
    tile: int = 256,
    overlap: int = 32,
    scale: int = 1,
    batch_size: int = 1,
    progress: ProgressFn | None = None,
    out_dtype=np.float32,
) -> np.ndarray:
    """Run `fn` over overlapping tiles of `image` (H, W, C) and blend.

    `fn` takes a float32 batch (N, tile, tile, C) and returns (N, tile*scale, tile*scale, C_out).
    Returns (H*scale, W*scale, C_out) in `out_dtype`.
    """
    if image.ndim == 2:
        image = image[..., None]
    h, w = image.shape[:2]
    padded = _pad_to(image, tile, tile)
    ph, pw = padded.shape[:2]
    positions = list(iter_tiles(ph, pw, tile, overlap))
    wt = np.outer(feather_weights(tile * scale, overlap * scale), feather_weights(tile * scale, overlap * scale))
    acc = None
    norm = np.zeros((ph * scale, pw * scale), np.float32)
    done = 0
    for b in range(0, len(positions), max(1, batch_size)):
        group = positions[b : b + batch_size]
        batch = np.stack([padded[y : y + tile, x : x + tile] for y, x in group]).astype(np.float32, copy=False)
        out = np.asarray(fn(batch), dtype=np.float32)
        if out.shape[:3] != (len(group), tile * scale, tile * scale):
            raise ValueError(
                f"tile function returned {out.shape}, expected ({len(group)}, {tile * scale}, {tile * scale}, C)"
            )
        if acc is None:
            acc = np.zeros((ph * scale, pw * scale, out.shape[3]), np.float32)
        for (y, x), o in zip(group, out):
            ys, xs = y * scale, x * scale
            acc[ys : ys + tile * scale, xs : xs + tile * scale] += o * wt[..., None]
            norm[ys : ys + tile * scale, xs : xs + tile * scale] += wt
        done += len(group)
        if progress is not None:
            progress(done / len(positions), f"tile {done}/{len(positions)}")
    acc /= norm[..., None]
    result = acc[: h * scale, : w * scale]
    return result.astype(out_dtype, copy=False) if out_dtype != np.float32 else np.ascontiguousarray(result)
