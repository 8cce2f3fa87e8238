"""Paired SAR/optical datasets: the public folder layouts, seeded splits, augmentation, tensors in [-1, 1].

Layouts (`detect_layout` guesses; every one can be named explicitly):
- "sen12_terrain": ROOT/{agri,barrenland,grassland,urban,...}/{s1,s2}/ROIs1970_fall_s1_13_p265.png, the optical
  partner has `s2` in place of the `s1` field; optional ROOT/split.json {"data": {"train": [...], "val": [...],
  "test": [...]}} listing s1 paths relative to ROOT.
- "sen12_original": ROOT/ROIs*/s1_N/*_s1_N_pK.png with partners ROIs*/s2_N/*_s2_N_pK.png.
- "qxslab": ROOT/sar_256_oc_0.2/*.png with ROOT/opt_256_oc_0.2/*.png of the same stem.
- "pix2pixhd": ROOT/train_A + ROOT/train_B (and test_A + test_B), paired by sorted order.
- "aligned": pix2pix A|B images, SAR on the left half and optical on the right, in ROOT/{train,val,test}/.
- "folders": ROOT/sar/*.* with ROOT/optical/*.* of the same stem (what samples/pairs/ and
  `write_synthetic_folder` use).
A folder that does not fit its layout, or where SAR and optical images do not pair up, is refused with one
sentence naming what is missing or unpaired; nothing is skipped silently.

SAR becomes network input the way the translation page converts it: 8-bit display images are used as they
are (x/255); float / uint16 SAR is rendered by `core.io.render` (dB, 2-98 % stretch; two bands as the VV/VH
false colour) to 8 bits first. One band is copied to R = G = B. Both images then map to [-1, 1].
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import UserError

IMAGE_EXT = {".png", ".jpg", ".jpeg", ".tif", ".tiff"}
LAYOUTS = ("sen12_terrain", "sen12_original", "qxslab", "pix2pixhd", "aligned", "folders")
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Pair:
    """One training example: a SAR file and its optical partner (the same file for A|B aligned images)."""

    sar: Path
    optical: Path
    split: str | None = None  # from the layout (split.json, test_A, train/ ...); None: assign by seed
    aligned: bool = False  # pix2pix A|B image: left half SAR, right half optical

    @property
    def name(self) -> str:
        return self.sar.stem


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXT)


def _rel(root: Path, p: Path) -> str:
    try:
        return p.relative_to(root).as_posix()
    except ValueError:
        return str(p)


# ------------------------------------------------------------------------------------------ layouts


def detect_layout(root: str | Path) -> str:
    root = Path(root)
    if not root.exists():
        raise UserError(f"dataset folder {root} does not exist; give an existing folder on the server.")
    if not root.is_dir():
        raise UserError(f"{root} is a file, not a dataset folder; give the folder that holds the images.")
    names = {p.name for p in root.iterdir() if p.is_dir()}
    if (root / "sar").is_dir() and (root / "optical").is_dir():
        return "folders"
    if any(n.startswith("sar_") for n in names) and any(n.startswith("opt_") for n in names):
        return "qxslab"
    if "train_A" in names or "test_A" in names:
        return "pix2pixhd"
    if any(n.startswith("ROIs") for n in names):
        return "sen12_original"
    if any((root / n / "s1").is_dir() for n in names):
        return "sen12_terrain"
    if names & set(SPLITS) and any(_images(root / n) for n in names & set(SPLITS)):
        return "aligned"
    found = ", ".join(sorted(names)[:6]) or "no subfolders"
    raise UserError(
        f"{root} matches no known dataset layout (found {found}); use sar/ + optical/, "
        f"SEN1-2 {{terrain}}/s1 + s2, QXSLAB sar_* + opt_*, pix2pixHD train_A + train_B, or pix2pix "
        f"A|B images in train/."
    )


def find_pairs(root: str | Path, layout: str = "auto") -> tuple[list[Pair], str]:
    """All pairs of a dataset folder and the layout used. UserError on unpaired or missing images."""
    root = Path(root)
    layout = detect_layout(root) if layout in (None, "", "auto") else layout
    if layout not in LAYOUTS:
        raise UserError(f"unknown dataset layout {layout!r}; use auto or one of {', '.join(LAYOUTS)}.")
    if not root.is_dir():
        detect_layout(root)  # raises the right message
    pairs = {
        "sen12_terrain": _pairs_sen12_terrain,
        "sen12_original": _pairs_sen12_original,
        "qxslab": _pairs_qxslab,
        "pix2pixhd": _pairs_pix2pixhd,
        "aligned": _pairs_aligned,
        "folders": _pairs_folders,
    }[layout](root)
    if not pairs:
        raise UserError(f"{root} holds no image pairs for layout {layout}; check the folder.")
    return pairs, layout


def _pair_by_name(
    root: Path,
    sar_files: list[Path],
    partner_of,
    sar_label: str,
    opt_label: str,
    opt_files: list[Path] | None = None,
    split: str | None = None,
) -> list[Pair]:
    pairs, missing = [], []
    for s in sar_files:
        o = partner_of(s)
        if o.is_file():
            pairs.append(Pair(s, o, split))
        else:
            missing.append(s)
    if missing:
        raise UserError(
            f"{len(missing)} of {len(sar_files)} SAR images in {sar_label} have no optical partner in "
            f"{opt_label}, first: {_rel(root, missing[0])} (expected {_rel(root, partner_of(missing[0]))}); "
            f"add the partners or remove the unpaired images."
        )
    if opt_files is not None:
        used = {p.optical for p in pairs}
        orphans = [o for o in opt_files if o not in used]
        if orphans:
            raise UserError(
                f"{len(orphans)} of {len(opt_files)} optical images in {opt_label} have no SAR partner in "
                f"{sar_label}, first: {_rel(root, orphans[0])}; add the partners or remove them."
            )
    return pairs


def _by_stem(folder: Path) -> dict[str, Path]:
    return {p.stem: p for p in _images(folder)}


def _pairs_folders(root: Path) -> list[Pair]:
    sar_dir, opt_dir = root / "sar", root / "optical"
    for d in (sar_dir, opt_dir):
        if not d.is_dir():
            raise UserError(f"{root} has no {d.name}/ folder; the sar/ + optical/ layout needs both.")
    opt = _by_stem(opt_dir)
    return _pair_by_name(
        root,
        _images(sar_dir),
        lambda s: opt.get(s.stem, opt_dir / (s.stem + s.suffix)),
        "sar/",
        "optical/",
        list(opt.values()),
    )


def _pairs_qxslab(root: Path) -> list[Pair]:
    sar_dirs = sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith("sar_"))
    pairs = []
    for sar_dir in sar_dirs:
        opt_dir = root / ("opt_" + sar_dir.name[4:])
        if not opt_dir.is_dir():
            raise UserError(f"{root} has {sar_dir.name}/ but no {opt_dir.name}/; QXSLAB needs both folders.")
        opt = _by_stem(opt_dir)
        pairs += _pair_by_name(
            root,
            _images(sar_dir),
            lambda s, o=opt, d=opt_dir: o.get(s.stem, d / s.name),
            sar_dir.name + "/",
            opt_dir.name + "/",
            list(opt.values()),
        )
    return pairs


def _pairs_pix2pixhd(root: Path) -> list[Pair]:
    pairs = []
    for phase in ("train", "test", "val"):
        a, b = root / f"{phase}_A", root / f"{phase}_B"
        if not a.is_dir() and not b.is_dir():
            continue
        if not (a.is_dir() and b.is_dir()):
            have, need = (a, b) if a.is_dir() else (b, a)
            raise UserError(f"{root} has {have.name}/ but no {need.name}/; pix2pixHD needs both.")
        fa, fb = _images(a), _images(b)
        if len(fa) != len(fb):
            raise UserError(
                f"{a.name}/ holds {len(fa)} images but {b.name}/ holds {len(fb)}; pix2pixHD pairs them "
                f"by sorted order, so both must hold the same number."
            )
        pairs += [Pair(x, y, phase) for x, y in zip(fa, fb)]
    return pairs


def _pairs_aligned(root: Path) -> list[Pair]:
    pairs = []
    for phase in SPLITS:
        if (root / phase).is_dir():
            pairs += [Pair(p, p, phase, aligned=True) for p in _images(root / phase)]
    return pairs


_S1_FIELD = re.compile(r"(^|_)s1(_|$)")


def _s2_name(name: str) -> str:
    return _S1_FIELD.sub(lambda m: f"{m.group(1)}s2{m.group(2)}", name)


def _pairs_sen12_terrain(root: Path) -> list[Pair]:
    split_of: dict[str, str] = {}
    split_file = root / "split.json"
    if split_file.is_file():
        try:
            data = json.loads(split_file.read_text()).get("data", {})
            for phase, entries in data.items():
                for e in entries:
                    split_of[Path(e).as_posix()] = "val" if phase in ("val", "valid", "validation") else phase
        except (ValueError, AttributeError, TypeError) as exc:
            raise UserError(
                f"{split_file} is not valid split JSON ({str(exc)[:60]}); expected "
                f'{{"data": {{"train": [...], "val": [...], "test": [...]}}}}.'
            ) from None
    pairs = []
    terrains = sorted(p for p in root.iterdir() if p.is_dir() and (p / "s1").is_dir())
    for t in terrains:
        s2 = t / "s2"
        if not s2.is_dir():
            raise UserError(f"{t.name}/ has s1/ but no s2/; each SEN1-2 terrain folder needs both.")
        sar = _images(t / "s1")
        found = _pair_by_name(
            root, sar, lambda s, d=s2: d / _s2_name(s.name), f"{t.name}/s1/", f"{t.name}/s2/", _images(s2)
        )
        pairs += [Pair(p.sar, p.optical, split_of.get(_rel(root, p.sar)) if split_of else None) for p in found]
    if split_of:
        listed = set(split_of)
        missing = [k for k in listed if not (root / k).is_file()]
        if missing:
            raise UserError(
                f"split.json lists {len(missing)} SAR images that are not in the folder, first: "
                f"{sorted(missing)[0]}; fix split.json or add the images."
            )
        pairs = [p for p in pairs if p.split is not None]  # split.json decides what is used, as in SEN1-2 tools
    return pairs


def _pairs_sen12_original(root: Path) -> list[Pair]:
    pairs = []
    for roi in sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith("ROIs")):
        for s1 in sorted(p for p in roi.iterdir() if p.is_dir() and p.name.startswith("s1_")):
            s2 = roi / ("s2_" + s1.name[3:])
            if not s2.is_dir():
                raise UserError(
                    f"{roi.name}/{s1.name}/ has no partner folder {roi.name}/{s2.name}/; SEN1-2 needs both."
                )
            pairs += _pair_by_name(
                root,
                _images(s1),
                lambda s, d=s2: d / _s2_name(s.name),
                f"{roi.name}/{s1.name}/",
                f"{roi.name}/{s2.name}/",
                _images(s2),
            )
    return pairs


# ------------------------------------------------------------------------------------------- splits


def split_pairs(
    pairs: list[Pair], seed: int = 0, val_fraction: float = 0.1, test_fraction: float = 0.1
) -> dict[str, list[Pair]]:
    """train / val / test lists. Pairs with a split from their layout keep it; the others are assigned by a
    seeded permutation (same seed, same split). If the layout gives no val split, val is taken from train."""
    out = {s: [p for p in pairs if p.split == s] for s in SPLITS}
    free = sorted((p for p in pairs if p.split not in SPLITS), key=lambda p: str(p.sar))
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(free))
    free = [free[i] for i in order]
    n = len(free)
    has_test, has_val = bool(out["test"]), bool(out["val"])
    n_test = 0 if has_test else int(round(n * test_fraction))
    n_val = 0 if has_val else int(round(n * val_fraction))
    if n >= 3:
        n_val = max(n_val, 0 if has_val or val_fraction <= 0 else 1)
        n_test = max(n_test, 0 if has_test or test_fraction <= 0 else 1)
    out["test"] += free[:n_test]
    out["val"] += free[n_test : n_test + n_val]
    out["train"] += free[n_test + n_val :]
    if not out["val"] and len(out["train"]) > 1 and val_fraction > 0:  # layout gave train/test only
        k = max(1, int(round(len(out["train"]) * val_fraction)))
        tr = sorted(out["train"], key=lambda p: str(p.sar))
        idx = rng.permutation(len(tr))
        out["val"] = [tr[i] for i in idx[:k]]
        out["train"] = [tr[i] for i in idx[k:]]
    if not out["train"]:
        raise UserError(
            f"only {len(pairs)} image pairs: none is left for training after the validation and test "
            f"splits; add images or lower the split fractions."
        )
    return out


# ------------------------------------------------------------------------------------- conversion


def sar_display(raster) -> np.ndarray:
    """SAR raster -> uint8 display (H, W) or (H, W, 3), exactly as the translation page converts it."""
    from core import io as sio

    if raster.kind == "display" and raster.data.dtype == np.uint8:
        d = raster.data
        return d if d.ndim == 2 else d[..., :3]
    return sio.render(raster)


def optical_display(raster) -> np.ndarray:
    """Optical raster -> uint8 RGB (16-bit or float optical is stretched 2-98 % per band)."""
    from core import io as sio

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
    import torch

    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))).float().div_(127.5).sub_(1.0)


def tensor_to_uint8(t) -> np.ndarray:
    """(C, H, W) tensor in [-1, 1] -> uint8 (H, W, C) ((y + 1)/2 * 255, rounded)."""
    x = ((t.detach().float().clamp(-1, 1) + 1) * 127.5).round().byte().cpu().numpy()
    return x.transpose(1, 2, 0)


# ------------------------------------------------------------------------------------------ datasets


class PairSource:
    """Loads uint8 (sar display, optical RGB) for one pair on demand."""

    def __init__(self, pair: Pair, root: Path | None = None):
        self.pair, self.root = pair, root

    @property
    def name(self) -> str:
        return self.pair.name

    def load(self) -> tuple[np.ndarray, np.ndarray]:
        from core import io as sio

        p = self.pair
        if p.aligned:
            r = sio.read_raster(p.sar)
            img = sio.to_rgb(optical_display(r))
            w = img.shape[1]
            if w % 2:
                raise UserError(f"{p.sar.name} is {w} pixels wide; an A|B image must have an even width.")
            return img[:, : w // 2], img[:, w // 2 :]
        sar = sar_display(sio.read_raster(p.sar))
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
    from core import io as sio
    from core.train import synthetic

    out = []
    for s in seeds:
        sar, opt = synthetic.make_sensor_pair(int(s), sensor, size, dual_pol=dual_pol)
        kind_raster = sio.Raster(data=sar, kind="intensity", name=f"synthetic_{sensor}_{s}")
        out.append(ArraySource(f"synthetic_{sensor}_{int(s):06d}", sio.render(kind_raster), opt))
    return out


def write_synthetic_folder(root: str | Path, seeds, sensor: str = "A", size: int = 256) -> Path:
    """Write synthetic pairs as a "folders" dataset: ROOT/sar/*.png (8-bit display) and ROOT/optical/*.png."""
    from core import io as sio

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
        else:
            rng = None
            y, x = (h - s) // 2, (w - s) // 2
        sar, opt = sar[y : y + s, x : x + s], opt[y : y + s, x : x + s]
        if self.train and self.augment:
            sar, opt = augment_pair(sar, opt, rng)
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


# ---------------------------------------------------------------------------------------- uploads

MAX_ZIP_BYTES = 4 * 1024**3
MAX_ZIP_FILES = 200_000


def extract_zip(blob: bytes, dest: str | Path, name: str = "upload.zip") -> Path:
    """Extract an uploaded dataset zip safely into `dest`; returns the dataset root inside it.

    Refused (UserError): not a zip, members with absolute paths or `..` (path traversal), links, more than
    MAX_ZIP_FILES files or MAX_ZIP_BYTES uncompressed. Only images and split.json are extracted. If everything
    sits in one top-level folder, that folder is the dataset root.
    """
    import io as _io
    import stat
    import zipfile
    from posixpath import normpath

    from core.io import atomic_output

    try:
        zf = zipfile.ZipFile(_io.BytesIO(blob))
    except zipfile.BadZipFile:
        raise UserError(f"{name} is not a zip archive; upload a .zip of the dataset folder.") from None
    members = zf.infolist()
    if len(members) > MAX_ZIP_FILES:
        raise UserError(f"{name} holds {len(members)} files, above the limit of {MAX_ZIP_FILES}; use a server folder.")
    if sum(m.file_size for m in members) > MAX_ZIP_BYTES:
        raise UserError(
            f"{name} unpacks to more than {MAX_ZIP_BYTES // 1024**3} GB; put the dataset in a "
            f"folder on the server instead."
        )
    dest = Path(dest)
    wanted = []
    for m in members:
        raw = m.filename.replace("\\", "/")
        clean = normpath(raw)
        if (
            raw.startswith("/")
            or clean.startswith("../")
            or clean == ".."
            or "/../" in f"/{clean}/"
            or (len(raw) > 1 and raw[1] == ":")
        ):
            raise UserError(
                f"{name} contains the unsafe path {m.filename!r} (outside the archive); "
                f"it was refused, re-create the zip from the dataset folder."
            )
        if stat.S_ISLNK(m.external_attr >> 16):
            raise UserError(f"{name} contains a link ({m.filename}); links are refused, zip the files themselves.")
        if m.is_dir() or clean.startswith("__MACOSX/") or Path(clean).name.startswith("._"):
            continue
        if Path(clean).suffix.lower() in IMAGE_EXT or Path(clean).name == "split.json":
            wanted.append((m, clean))
    if not wanted:
        raise UserError(f"{name} holds no images; zip the dataset folder (e.g. sar/ and optical/).")
    for m, clean in wanted:
        target = dest / clean
        if dest.resolve() not in target.resolve().parents:
            raise UserError(f"{name} contains the unsafe path {m.filename!r}; it was refused.")
        with zf.open(m) as src, atomic_output(target) as tmp:
            tmp.write_bytes(src.read())
    tops = {clean.split("/", 1)[0] for _, clean in wanted}
    if len(tops) == 1 and all("/" in clean for _, clean in wanted):
        only = dest / tops.pop()
        try:
            detect_layout(only)
            return only
        except UserError:
            return dest
    return dest
