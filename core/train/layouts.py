"""Paired SAR/optical dataset folders: the public layouts, how their images pair up, and seeded splits.

Layouts (`detect_layout` guesses; every one can be named explicitly):
- "sen12_terrain": ROOT/{agri,barrenland,grassland,urban,...}/{s1,s2}/ROIs1970_fall_s1_13_p265.png, the optical
  partner has `s2` in place of the `s1` field; optional ROOT/split.json {"data": {"train": [...], "val": [...],
  "test": [...]}} listing s1 paths relative to ROOT.
- "sen12_original": ROOT/ROIs*/s1_N/*_s1_N_pK.png with partners ROIs*/s2_N/*_s2_N_pK.png.
- "qxslab": ROOT/sar_256_oc_0.2/*.png with ROOT/opt_256_oc_0.2/*.png of the same stem.
- "pix2pixhd": ROOT/train_A + ROOT/train_B (and test_A + test_B), paired by sorted order; when the counts differ,
  by name without leading letters (C-HR-GAN: test_A/S4 with test_B/O4), and B images that are variants of a paired
  one (test_B/O4_snow, the snow-covered optical references) are not used (`ignored_variants` names them).
- "aligned": pix2pix A|B images, SAR on the left half and optical on the right, in ROOT/{train,val,test}/.
- "folders": ROOT/sar/*.* with ROOT/optical/*.* of the same stem (what samples/pairs/ and
  `write_synthetic_folder` use).
A folder that does not fit its layout, or where SAR and optical images do not pair up, is refused with one
sentence naming what is missing or unpaired; nothing is skipped silently.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import UserError
from core.files import list_images

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
    if names & set(SPLITS) and any(list_images(root / n) for n in names & set(SPLITS)):
        return "aligned"
    found = ", ".join(sorted(names)[:6]) or "no subfolders"
    raise UserError(
        f"{root} matches no known dataset layout (found {found}); use sar/ + optical/, "
        f"SEN1-2 {{terrain}}/s1 + s2, QXSLAB sar_* + opt_*, pix2pixHD train_A + train_B, or pix2pix "
        f"A|B images in train/."
    )


def find_pairs(root: str | Path, layout: str = "auto", split_file: str | Path | None = None) -> tuple[list[Pair], str]:
    """All pairs of a dataset folder and the layout used. UserError on unpaired or missing images.

    split_file: a SAR2Optical split.json kept elsewhere than ROOT/split.json (SEN1-2 by-terrain layout only)."""
    root = Path(root)
    layout = detect_layout(root) if layout in (None, "", "auto") else layout
    if layout not in LAYOUTS:
        raise UserError(f"unknown dataset layout {layout!r}; use auto or one of {', '.join(LAYOUTS)}.")
    if not root.is_dir():
        detect_layout(root)  # raises the right message
    if split_file is not None:
        if layout != "sen12_terrain":
            raise UserError(
                f"a split file applies to the SEN1-2 by-terrain layout ({{terrain}}/s1, s2), not {layout}; "
                f"remove split_file or give that layout."
            )
        if not Path(split_file).is_file():
            raise UserError(f"split file {split_file} not found; give an existing split.json.")
        return _pairs_sen12_terrain(root, Path(split_file)), layout
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
    return {p.stem: p for p in list_images(folder)}


def _pairs_folders(root: Path) -> list[Pair]:
    sar_dir, opt_dir = root / "sar", root / "optical"
    for d in (sar_dir, opt_dir):
        if not d.is_dir():
            raise UserError(f"{root} has no {d.name}/ folder; the sar/ + optical/ layout needs both.")
    opt = _by_stem(opt_dir)
    return _pair_by_name(
        root,
        list_images(sar_dir),
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
            list_images(sar_dir),
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
        fa, fb = list_images(a), list_images(b)
        if len(fa) != len(fb):
            pairs += [Pair(x, y, phase) for x, y in _pair_by_number(root, a, b, fa, fb)[0]]
        else:
            pairs += [Pair(x, y, phase) for x, y in zip(fa, fb)]
    return pairs


def _key(stem: str) -> str:
    """A file's name without its leading letters: S4 and O4 (C-HR-GAN's test_A / test_B) share the key 4."""
    return re.sub(r"^[A-Za-z]+", "", stem) or stem


def _pair_by_number(
    root: Path, a: Path, b: Path, fa: list[Path], fb: list[Path]
) -> tuple[list[tuple[Path, Path]], list[Path]]:
    """Pairs of A and B images whose names match without their leading letters (S4 <-> O4), and the B images that
    are variants of a paired one (O4_snow: C-HR-GAN's snow-covered optical references), which are not scored.
    UserError when an A image has no partner or a B image is neither a partner nor a variant."""
    by_key = {_key(p.stem): p for p in fb}
    pairs, missing = [], []
    for x in fa:
        y = by_key.get(_key(x.stem))
        (pairs.append((x, y)) if y is not None else missing.append(x))
    used = {y for _, y in pairs}
    keys = sorted((_key(x.stem) for x, _ in pairs), key=len, reverse=True)
    variants = [p for p in fb if p not in used and any(_key(p.stem).startswith(k + "_") for k in keys)]
    orphans = [p for p in fb if p not in used and p not in variants]
    if missing or orphans:
        first = missing[0] if missing else orphans[0]
        raise UserError(
            f"{a.name}/ holds {len(fa)} images but {b.name}/ holds {len(fb)}, and {_rel(root, first)} has no "
            f"partner by name (S4 pairs with O4; O4_snow is taken as a variant of O4); give both folders the "
            f"same number of images or matching names."
        )
    return pairs, variants


def ignored_variants(root: str | Path) -> list[str]:
    """pix2pixHD-layout B images that are variants of a paired image (C-HR-GAN's O4_snow ..), not scored."""
    root = Path(root)
    out = []
    for phase in ("train", "test", "val"):
        a, b = root / f"{phase}_A", root / f"{phase}_B"
        if a.is_dir() and b.is_dir():
            fa, fb = list_images(a), list_images(b)
            if len(fa) != len(fb):
                out += [_rel(root, p) for p in _pair_by_number(root, a, b, fa, fb)[1]]
    return out


def _pairs_aligned(root: Path) -> list[Pair]:
    pairs = []
    for phase in SPLITS:
        if (root / phase).is_dir():
            pairs += [Pair(p, p, phase, aligned=True) for p in list_images(root / phase)]
    return pairs


_S1_FIELD = re.compile(r"(^|_)s1(_|$)")


def _s2_name(name: str) -> str:
    return _S1_FIELD.sub(lambda m: f"{m.group(1)}s2{m.group(2)}", name)


def _pairs_sen12_terrain(root: Path, split_file: Path | None = None) -> list[Pair]:
    split_of: dict[str, str] = {}
    split_file = split_file or root / "split.json"
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
        sar = list_images(t / "s1")
        found = _pair_by_name(
            root, sar, lambda s, d=s2: d / _s2_name(s.name), f"{t.name}/s1/", f"{t.name}/s2/", list_images(s2)
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
                list_images(s1),
                lambda s, d=s2: d / _s2_name(s.name),
                f"{roi.name}/{s1.name}/",
                f"{roi.name}/{s2.name}/",
                list_images(s2),
            )
    return pairs


# ------------------------------------------------------------------------------------------- splits


def split_pairs(
    pairs: list[Pair], seed: int = 0, val_fraction: float = 0.1, test_fraction: float = 0.1, need_train: bool = True
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
    if not out["train"] and need_train:
        raise UserError(
            f"only {len(pairs)} image pairs: none is left for training after the validation and test "
            f"splits; add images or lower the split fractions."
        )
    return out
