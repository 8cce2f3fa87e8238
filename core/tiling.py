"""Tile, run, blend: any image size through a network that wants fixed-size inputs.

`tile_blend` cuts an (H, W, C) image into `tile`-sized windows that overlap by `overlap` pixels, runs `fn` on
batches of them, and blends the outputs with feathered weights so no seam shows. At an edge a tile shares with a
neighbour, the outer third of the overlap gets zero weight (the network's output there saw the tile's padding,
not the image) and the middle third is a linear crossfade; at the image's own borders a tile keeps full weight, as
the untiled network would see the same padding there. The output is
the size of the input times `scale`. Images smaller than a tile are reflect-padded up to one tile and cropped
back. Tiles are produced and consumed batch by batch, so only the output accumulator is scene-sized.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

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


def feather_weights(size: int, overlap: int, first_is_border: bool = False, last_is_border: bool = False) -> np.ndarray:
    """1-D blend weights of one tile along one axis.

    At an inner edge: zero over the outer third of `overlap` (outputs there depend on the tile's padding), then a
    linear ramp over the middle third, then 1. At an image border: 1 up to the edge. Two neighbours overlapping by
    at least `overlap` always leave a positive total weight, since each tile's zero margin lies inside the other's
    full-weight part.
    """
    w = np.ones(size, np.float32)
    overlap = min(max(overlap, 0), size // 2)
    margin = overlap // 3
    ramp_len = overlap - 2 * margin
    ramp = np.concatenate([np.zeros(margin, np.float32), np.arange(1, ramp_len + 1, dtype=np.float32) / (ramp_len + 1)])
    r = len(ramp)
    if r > 0:
        if not first_is_border:
            w[:r] = ramp
        if not last_is_border:
            w[size - r :] = np.minimum(w[size - r :], ramp[::-1])
    return w


def _edge_weights(size: int, before: int, after: int) -> np.ndarray:
    """Weights of one tile along one axis given its actual overlap with each neighbour (0: image border)."""
    w = np.ones(size, np.float32)
    if before > 0:
        w = np.minimum(w, feather_weights(size, before, last_is_border=True))
    if after > 0:
        w = np.minimum(w, feather_weights(size, after, first_is_border=True))
    return w


class BlendWeights:
    """The 2-D blend weights of each tile of a grid (`ys`, `xs` from `tile_starts`), cached by edge overlaps.

    Shared by `tile_blend` and the streaming engines, so a streamed scene blends exactly as an in-memory one.
    """

    def __init__(self, ys: list[int], xs: list[int], tile: int, scale: int = 1):
        self.ys, self.xs, self.tile, self.scale = list(ys), list(xs), tile, scale
        self._cache: dict[tuple[int, int, int, int], np.ndarray] = {}

    def _overlaps(self, starts: list[int], v: int) -> tuple[int, int]:
        """(overlap with the previous tile, with the next tile); 0 at an image border. The last tile is shifted
        to end at the border, so its overlap with its neighbour can exceed the nominal one: blend over that."""
        i = starts.index(v)
        before = starts[i - 1] + self.tile - v if i > 0 else 0
        after = v + self.tile - starts[i + 1] if i + 1 < len(starts) else 0
        return before, after

    def __call__(self, y: int, x: int) -> np.ndarray:
        key = self._overlaps(self.ys, y) + self._overlaps(self.xs, x)
        if key not in self._cache:
            size, s = self.tile * self.scale, self.scale
            self._cache[key] = np.outer(
                _edge_weights(size, key[0] * s, key[1] * s), _edge_weights(size, key[2] * s, key[3] * s)
            )
        return self._cache[key]


def iter_tiles(h: int, w: int, tile: int, overlap: int) -> Iterator[tuple[int, int]]:
    for y in tile_starts(h, tile, overlap):
        for x in tile_starts(w, tile, overlap):
            yield y, x


def count_tiles(h: int, w: int, tile: int, overlap: int) -> int:
    return len(tile_starts(h, tile, overlap)) * len(tile_starts(w, tile, overlap))


def pad_to(image: np.ndarray, th: int, tw: int) -> np.ndarray:
    h, w = image.shape[:2]
    ph, pw = max(0, th - h), max(0, tw - w)
    if ph == 0 and pw == 0:
        return image
    pad = [(0, ph), (0, pw)] + [(0, 0)] * (image.ndim - 2)
    # reflect needs the pad to be smaller than the size; fall back to edge for tiny images
    if ph < h and pw < w:
        return np.pad(image, pad, mode="reflect")
    return np.pad(image, pad, mode="edge")


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
    padded = pad_to(image, tile, tile)
    ph, pw = padded.shape[:2]
    positions = list(iter_tiles(ph, pw, tile, overlap))
    tile_weights = BlendWeights(tile_starts(ph, tile, overlap), tile_starts(pw, tile, overlap), tile, scale)

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
            wt = tile_weights(y, x)
            acc[ys : ys + tile * scale, xs : xs + tile * scale] += o * wt[..., None]
            norm[ys : ys + tile * scale, xs : xs + tile * scale] += wt
        done += len(group)
        if progress is not None:
            progress(done / len(positions), f"tile {done}/{len(positions)}")
    acc /= norm[..., None]
    result = acc[: h * scale, : w * scale]
    return result.astype(out_dtype, copy=False) if out_dtype != np.float32 else np.ascontiguousarray(result)
