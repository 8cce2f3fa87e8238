"""Where a run's style statistics come from: one image, the mean over a folder of images, or a Gram file; and,
for a folder of content images, transband's `--style_source` choices (`style_images_for`):
- "total": one mean Gram over the style folder (or a Gram file) for every content image (ours by default);
- "real": each content image's own partner in the style folder (their dataset pairs test/A and test/B by
  sorted order, which is name order when both folders hold the same names);
- "style": a style image drawn at random (seeded here) for each content image; with `same_category`, from
  those whose name starts with the same category as the content's (the text before the first `_`, e.g.
  building_12.png -> building), as their `--same_category`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

import numpy as np

from core.crossband.features import Extractor, resolve_layers
from core.crossband.gram import GramSet, ProgressFn, accumulate_grams
from core.crossband.gram_files import is_gram_path, load_gram
from core.crossband.images import read_display
from core.errors import UserError
from core.files import digest_bytes, list_images


def folder_images(folder: str | os.PathLike) -> list[Path]:
    """The image files of a style folder; UserError when it is not a folder or holds none."""
    p = Path(folder)
    if not p.is_dir():
        raise UserError(f"{p.name or folder} is not a folder; give an existing folder of images.")
    found = list_images(p)
    if not found:
        raise UserError(f"{p} holds no PNG, JPEG or TIFF images; pick a folder of target-band images.")
    return found


def gram_from_folder(
    folder: str | os.PathLike,
    extractor: Extractor,
    layers: Iterable[str] | None = None,
    band: int | None = None,
    kind: str | None = None,
    device: str = "cpu",
    progress: ProgressFn | None = None,
    memory_gb: float | None = None,
) -> GramSet:
    """Mean Gram over every image of a folder (each read as its display image)."""
    files = folder_images(folder)
    imgs = ((f.name, read_display(f, band=band, kind=kind)[0]) for f in files)
    return accumulate_grams(
        extractor,
        imgs,
        layers,
        device,
        source=f"{len(files)} images in {Path(folder).name}",
        progress=progress,
        total=len(files),
        memory_gb=memory_gb,
    )


def style_from_path(
    path: str | os.PathLike,
    extractor: Extractor,
    layers: Iterable[str] | None = None,
    band: int | None = None,
    kind: str | None = None,
    device: str = "cpu",
    progress: ProgressFn | None = None,
) -> tuple[GramSet, np.ndarray | None]:
    """Style statistics from an image, a folder of images or a Gram file. Returns (grams, style display or None)."""
    p = Path(path)
    if p.is_dir():
        return gram_from_folder(p, extractor, layers, band, kind, device, progress), None
    if not p.exists():
        raise UserError(f"{p.name}: style file or folder not found; give an image, a folder or a Gram file.")
    if is_gram_path(p):
        gs = load_gram(p, extractor)
        if layers:
            wanted = resolve_layers(extractor, layers, extractor.style_layers, "style")
            missing = [k for k in wanted if k not in gs.grams]
            if missing:
                raise UserError(
                    f"{p.name} has no Gram for {missing[0]} (it holds {', '.join(gs.grams)}); "
                    f"choose style layers from those."
                )
            gs = replace(gs, grams={k: gs.grams[k] for k in wanted})
        return gs, None
    img, _ = read_display(p, band=band, kind=kind)
    return style_from_image(img, extractor, layers, device, name=p.name), img


def style_from_image(
    img: np.ndarray,
    extractor: Extractor,
    layers: Iterable[str] | None = None,
    device: str = "cpu",
    name: str = "style image",
) -> GramSet:
    """The Gram statistics of one display image."""
    return accumulate_grams(extractor, [(name, img)], layers, device, source=name)


def images_key(images: Iterable[tuple[str, np.ndarray]]) -> str:
    """A cache key for a list of display images: the sha256 of their pixels and shapes (names left out)."""
    return digest_bytes(
        b"".join(digest_bytes(im.tobytes(), 64).encode() + str(im.shape).encode() for _, im in images), 64
    )


STYLE_SOURCES = ("total", "real", "style")


def category_of(path: str | os.PathLike) -> str:
    """transband's category of an image: its file name up to the first underscore."""
    return Path(path).name.split("_")[0]


def style_images_for(
    contents: list[Path], style_folder: str | os.PathLike, source: str, same_category: bool = False, seed: int = 0
) -> list[Path]:
    """The style image of each content image for --style-source real or style (transband's choices)."""
    if source not in ("real", "style"):
        raise UserError(f"unknown style source {source!r}; use total, real or style.")
    styles = folder_images(style_folder)
    if source == "real":
        if same_category:
            raise UserError("--same-category goes with --style-source style (a drawn style image); drop one.")
        if len(styles) != len(contents):
            raise UserError(
                f"--style-source real pairs each content image with the style image at the same place in name "
                f"order, but there are {len(contents)} content and {len(styles)} style images; give folders "
                f"with the same names."
            )
        return list(styles)
    rng = np.random.default_rng(seed)
    out = []
    for c in contents:
        pool = [s for s in styles if category_of(s) == category_of(c)] if same_category else styles
        if not pool:
            raise UserError(
                f"no style image of category {category_of(c)!r} (the name before the first _) for {c.name}; add "
                f"one or drop --same-category."
            )
        out.append(pool[int(rng.integers(0, len(pool)))])
    return out
