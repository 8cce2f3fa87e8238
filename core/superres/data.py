"""Super-resolution training data: the example type (SRExample), and the user's own data (RGTGAN's folders of
HR / LR / Ref images, paired by file name).

Layouts (RGTGAN and RRSGAN, before their LMDB step): ROOT/HR, ROOT/LR and ROOT/Ref (KaggleSRD `train_KaggleSRD/`,
RRSSRD `train/`), or ROOT/google_Ref (RRSSRD's test sets `val_1st` .. `val_4th`). The derived folders LR_UX4,
Ref_DUX4 and google_Ref_DUX4 are not read: the network inputs are made from LR and Ref by
`core.superres.inputs.prepare_inputs`, exactly as at inference. HR must be 4x LR; a Ref of another size is
resized to the HR size. Images become float RGB in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core import io as sio
from core.errors import UserError
from core.files import list_images
from core.superres.inputs import SCALE, resize_bicubic

REF_FOLDERS = ("Ref", "google_Ref", "ref")


@dataclass
class SRExample:
    """One training example: LR, Ref and HR as float RGB in [0, 1] (Ref and HR at 4x the LR size)."""

    lr: np.ndarray  # (h, w, 3) float32 in [0, 1]
    ref: np.ndarray  # (4h, 4w, 3)
    hr: np.ndarray  # (4h, 4w, 3)


def find_triples(root: str | Path) -> list[tuple[str, Path, Path, Path]]:
    """(name, LR, Ref, HR) files of a folder with HR/, LR/ and Ref/ (or google_Ref/), paired by stem."""
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"super-resolution data folder {root} does not exist; give the folder that holds HR/ and LR/.")
    ref_dir = next((root / n for n in REF_FOLDERS if (root / n).is_dir()), None)
    missing = [
        n for n, d in (("HR", root / "HR"), ("LR", root / "LR"), ("Ref", ref_dir)) if d is None or not d.is_dir()
    ]
    if missing:
        raise UserError(
            f"{root} has no {'/, '.join(missing)}/ folder; RGTGAN's layout is HR/, LR/ and Ref/ (or google_Ref/) "
            f"with the same file names in each."
        )
    assert ref_dir is not None
    hr = {p.stem: p for p in list_images(root / "HR")}
    ref = {p.stem: p for p in list_images(ref_dir)}
    out = []
    for lr in list_images(root / "LR"):
        if lr.stem not in hr or lr.stem not in ref:
            where = "HR/" if lr.stem not in hr else f"{ref_dir.name}/"
            raise UserError(f"LR/{lr.name} has no partner in {where} (same file name); add it or remove the LR image.")
        out.append((lr.stem, lr, ref[lr.stem], hr[lr.stem]))
    if not out:
        raise UserError(f"{root / 'LR'} holds no images; add the LR images.")
    return out


def _rgb01(path: Path) -> np.ndarray:
    r = sio.read_raster(path)
    d = r.data
    if d.dtype != np.uint8:
        raise UserError(f"{path.name} is {d.dtype}; super-resolution training reads 8-bit PNG / JPEG images.")
    return sio.to_rgb(d).astype(np.float32) / 255.0


def load_examples(root: str | Path, min_lr_size: int = 0) -> list[SRExample]:
    """Every triple of the folder in memory (float RGB in [0, 1]); UserError on a size mismatch."""
    out = []
    for _name, lr_p, ref_p, hr_p in find_triples(root):
        lr, ref, hr = _rgb01(lr_p), _rgb01(ref_p), _rgb01(hr_p)
        h, w = lr.shape[:2]
        if hr.shape[:2] != (h * SCALE, w * SCALE):
            raise UserError(
                f"HR/{hr_p.name} is {hr.shape[1]}x{hr.shape[0]} but 4x its LR is {w * SCALE}x{h * SCALE}; "
                f"RGTGAN trains x4 pairs only."
            )
        if min(h, w) < min_lr_size:
            raise UserError(f"LR/{lr_p.name} is {w}x{h}, smaller than the LR crop {min_lr_size}; lower --size.")
        if ref.shape[:2] != hr.shape[:2]:
            ref = np.clip(resize_bicubic(ref, hr.shape[0], hr.shape[1]), 0, 1).astype(np.float32)
        out.append(SRExample(lr=lr, ref=ref, hr=hr))
    return out


def random_crop(ex: SRExample, lr_size: int, rng: np.random.Generator) -> SRExample:
    """The same area of LR (lr_size), Ref and HR (4 * lr_size)."""
    h, w = ex.lr.shape[:2]
    if h == lr_size and w == lr_size:
        return ex
    y, x = int(rng.integers(0, h - lr_size + 1)), int(rng.integers(0, w - lr_size + 1))
    s, Y, X = lr_size * SCALE, y * SCALE, x * SCALE
    return SRExample(
        lr=ex.lr[y : y + lr_size, x : x + lr_size], ref=ex.ref[Y : Y + s, X : X + s], hr=ex.hr[Y : Y + s, X : X + s]
    )
