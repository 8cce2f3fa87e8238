"""Paired SAR/optical datasets for training: image conversion, in-memory and file sources, seeded crops and
augmentation, tensors in [-1, 1], and the train / validation sets a config asks for.

Folder layouts and splits are in core.train.layouts; uploaded zips in core.train.dataset_zip.

SAR becomes network input the way the translation page converts it: 8-bit display images are used as they
are (x/255); float / uint16 SAR is rendered by `core.io.render` (dB, 2-98 % stretch; two bands as the VV/VH
false colour) to 8 bits first. One band is copied to R = G = B. Both images then map to [-1, 1].
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core import io as sio
from core import speckle
from core.errors import UserError
from core.speckle.prepare import despeckle_display, parse_prefilter
from core.train import synthetic
from core.train.config import TrainConfig, parse_data
from core.train.layouts import Pair, find_pairs, split_pairs


def sar_display(raster) -> np.ndarray:
    """SAR raster -> uint8 display (H, W) or (H, W, 3), exactly as the translation page converts it."""
    if raster.kind == "display" and raster.data.dtype == np.uint8:
        d = raster.data
        return d if d.ndim == 2 else d[..., :3]
    return sio.render(raster)


def optical_display(raster) -> np.ndarray:
    """Optical raster -> uint8 RGB (16-bit or float optical is stretched 2-98 % per band)."""
    d = raster.data
    if d.dtype != np.uint8:
        d = np.stack([sio.stretch(raster.band(i)) for i in range(raster.bands)], -1) if d.ndim == 3 else sio.stretch(d)
    return sio.to_rgb(d)


def to_channels(img: np.ndarray, channels: int) -> np.ndarray:
    """uint8 (H, W) or (H, W, C) -> (H, W, channels): grey copied to every channel, RGB averaged to grey for 1."""
    if img.ndim == 2:
        img = img[..., None]
    if img.shape[2] == channels:
        return img
    if img.shape[2] == 1:
        return np.repeat(img, channels, axis=2)
    if channels == 1:
        return np.rint(img[..., :3].astype(np.float32).mean(axis=2, keepdims=True)).astype(np.uint8)
    if img.shape[2] >= channels:
        return img[..., :channels]
    raise UserError(
        f"an image with {img.shape[2]} bands cannot feed a network with {channels} input channels; "
        f"pick a matching model."
    )


def unit_to_tensor(img: np.ndarray):
    """uint8 (H, W, C) -> float tensor (C, H, W) in [-1, 1] (x/255 then (x - 0.5)/0.5)."""
    import torch  # heavy: only the trainer and evaluation make tensors; layouts and previews do not

    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))).float().div_(127.5).sub_(1.0)


def tensor_to_uint8(t) -> np.ndarray:
    """(C, H, W) tensor in [-1, 1] -> uint8 (H, W, C) ((y + 1)/2 * 255, rounded)."""
    x = ((t.detach().float().clamp(-1, 1) + 1) * 127.5).round().byte().cpu().numpy()
    return x.transpose(1, 2, 0)


# ------------------------------------------------------------------------------------------ datasets


class PairSource:
    """Loads uint8 (sar display, optical RGB) for one pair on demand."""

    def __init__(self, pair: Pair, root: Path | None = None, prefilter: str | None = None):
        self.pair, self.root, self.prefilter = pair, root, prefilter

    @property
    def name(self) -> str:
        return self.pair.name

    def load(self) -> tuple[np.ndarray, np.ndarray]:
        p = self.pair
        if p.aligned:
            r = sio.read_raster(p.sar)
            img = sio.to_rgb(optical_display(r))
            w = img.shape[1]
            if w % 2:
                raise UserError(f"{p.sar.name} is {w} pixels wide; an A|B image must have an even width.")
            return img[:, : w // 2], img[:, w // 2 :]
        raster = sio.read_raster(p.sar)
        if self.prefilter:  # as translate --prefilter does at inference: display images as amplitude, else values
            name, params = parse_prefilter(self.prefilter)
            if raster.kind == "display":
                sar = despeckle_display(sar_display(raster), name, params)
            else:
                sar = sar_display(speckle.despeckle_raster(raster, name, **params))
        else:
            sar = sar_display(raster)
        opt = optical_display(sio.read_raster(p.optical))
        if sar.shape[:2] != opt.shape[:2]:
            raise UserError(
                f"{p.sar.name} is {sar.shape[1]}x{sar.shape[0]} but its optical partner {p.optical.name} "
                f"is {opt.shape[1]}x{opt.shape[0]}; pairs must have the same size."
            )
        return sar, opt


class ArraySource:
    """A pair held in memory (synthetic data)."""

    def __init__(self, name: str, sar: np.ndarray, optical: np.ndarray):
        self.name, self.sar, self.optical = name, sar, optical

    def load(self):
        return self.sar, self.optical


def synthetic_sources(seeds, sensor: str = "A", size: int = 256, dual_pol: bool = False) -> list[ArraySource]:
    """Synthetic pairs (core.train.synthetic), SAR rendered to 8-bit display like any float SAR input."""
    out = []
    for s in seeds:
        sar, opt = synthetic.make_sensor_pair(int(s), sensor, size, dual_pol=dual_pol)
        kind_raster = sio.Raster(data=sar, kind="intensity", name=f"synthetic_{sensor}_{s}")
        out.append(ArraySource(f"synthetic_{sensor}_{int(s):06d}", sio.render(kind_raster), opt))
    return out


def write_synthetic_folder(root: str | Path, seeds, sensor: str = "A", size: int = 256) -> Path:
    """Write synthetic pairs as a "folders" dataset: ROOT/sar/*.png (8-bit display) and ROOT/optical/*.png."""
    root = Path(root)
    for src in synthetic_sources(seeds, sensor, size):
        sio.write_png(root / "sar" / f"{src.name}.png", src.sar)
        sio.write_png(root / "optical" / f"{src.name}.png", src.optical)
    return root


def augment_pair(sar: np.ndarray, opt: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The same random flip and 90-degree rotation on both images."""
    k = int(rng.integers(0, 4))
    if rng.random() < 0.5:
        sar, opt = sar[:, ::-1], opt[:, ::-1]
    return np.rot90(sar, k, axes=(0, 1)), np.rot90(opt, k, axes=(0, 1))


class PairedDataset:
    """Indexable set of (sar tensor, optical tensor) in [-1, 1], cropped to `size` (random crop and
    augmentation when `train`, centre crop otherwise). Deterministic: item i of epoch e always gets the same
    crop and flips for a given seed, so a resumed run sees exactly the data it would have seen."""

    def __init__(
        self,
        sources: list,
        size: int = 256,
        sar_channels: int = 3,
        train: bool = True,
        augment: bool = True,
        seed: int = 0,
        cache: bool = True,
        size_multiple: int = 1,
    ):
        self.sources, self.size, self.sar_channels = list(sources), int(size), int(sar_channels)
        self.train, self.augment, self.seed = train, augment, int(seed)
        self.epoch = 0
        self.size_multiple = size_multiple
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] | None = {} if cache else None
        if self.size % size_multiple:
            raise UserError(
                f"training size {size} is not a multiple of {size_multiple}, which this network needs; "
                f"use {max(size_multiple, size // size_multiple * size_multiple)}."
            )

    def __len__(self) -> int:
        return len(self.sources)

    def names(self) -> list[str]:
        return [s.name for s in self.sources]

    def _load(self, i: int):
        if self._cache is not None and i in self._cache:
            return self._cache[i]
        sar, opt = self.sources[i].load()
        sar = to_channels(sar, self.sar_channels)
        h, w = sar.shape[:2]
        if h < self.size or w < self.size:
            raise UserError(
                f"{self.sources[i].name} is {w}x{h}, smaller than the training size {self.size}; "
                f"lower the training size."
            )
        if self._cache is not None:
            self._cache[i] = (sar, opt)
        return sar, opt

    def get(self, i: int, epoch: int | None = None):
        epoch = self.epoch if epoch is None else epoch
        sar, opt = self._load(i)
        h, w = sar.shape[:2]
        s = self.size
        if self.train:
            rng = np.random.default_rng([self.seed, int(epoch), int(i)])
            y, x = int(rng.integers(0, h - s + 1)), int(rng.integers(0, w - s + 1))
            sar, opt = sar[y : y + s, x : x + s], opt[y : y + s, x : x + s]
            if self.augment:
                sar, opt = augment_pair(sar, opt, rng)
        else:
            y, x = (h - s) // 2, (w - s) // 2
            sar, opt = sar[y : y + s, x : x + s], opt[y : y + s, x : x + s]
        return unit_to_tensor(sar), unit_to_tensor(opt)

    def __getitem__(self, i: int):
        return self.get(i)

    def batch(self, indices, epoch: int | None = None):
        import torch

        items = [self.get(int(i), epoch) for i in indices]
        return torch.stack([a for a, _ in items]), torch.stack([b for _, b in items])


def epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    """The seeded order in which epoch `epoch` visits the n training items."""
    return np.random.default_rng([int(seed), 104729, int(epoch)]).permutation(n)


def make_data(cfg: TrainConfig, sar_channels: int, size_multiple: int):
    """(train dataset, val dataset, description) for the config."""
    _, sensor = parse_data(cfg.data, cfg.synthetic_sensor)
    train_src: list[PairSource | ArraySource]
    val_src: list[PairSource | ArraySource]
    if sensor is not None:
        if cfg.prefilter:
            raise UserError("--prefilter applies to a dataset folder's SAR images, not to synthetic scenes; drop it.")
        n_val = max(1, int(round(cfg.synthetic_count * cfg.val_fraction)))
        n_train = max(1, cfg.synthetic_count - n_val)
        # training scenes: seeds 0.., validation: 50000.., held-out test (evaluate, model cards): 100000..
        scene = max(cfg.size, cfg.synthetic_size)
        train_src = list(synthetic_sources(range(n_train), sensor, scene))
        val_src = list(synthetic_sources(range(50000, 50000 + n_val), sensor, scene))
        desc = f"synthetic sensor {sensor}: {n_train} training and {n_val} validation scenes of {scene} px"
    else:
        pairs, layout = find_pairs(cfg.data, cfg.layout, cfg.split_file)
        splits = split_pairs(pairs, cfg.seed, cfg.val_fraction, cfg.test_fraction)
        root = Path(cfg.data)
        train_src = [PairSource(p, root, cfg.prefilter) for p in splits["train"]]
        val_src = [PairSource(p, root, cfg.prefilter) for p in splits["val"]]
        desc = (
            f"{cfg.data} ({layout}): {len(splits['train'])} train, {len(splits['val'])} val, "
            f"{len(splits['test'])} test pairs"
        )
    train = PairedDataset(
        train_src, cfg.size, sar_channels, train=True, augment=cfg.augment, seed=cfg.seed, size_multiple=size_multiple
    )
    val = PairedDataset(
        val_src[: cfg.val_max],
        cfg.val_size or cfg.size,
        sar_channels,
        train=False,
        seed=cfg.seed,
        size_multiple=size_multiple,
    )
    return train, val, desc
