"""Open a Sentinel-1 product as the user asked: one swath (core.io.sentinel1.reader) or several swaths of a TOPS
SLC merged into one image (core.io.sentinel1.merge); check a whole product for `core info`.

`swath`: None (the product's only swath), one ("IW2"), or "all" / a list ("IW1,IW2") to merge.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from core.io.sentinel1.calibration import read_calibration
from core.io.sentinel1.merge import open_merged
from core.io.sentinel1.metadata import parse_annotation, parse_manifest
from core.io.sentinel1.noise import read_noise
from core.io.sentinel1.reader import ProductSource, check_choices, open_swath, pick_swath
from core.io.sentinel1.safexml import ProductFiles


def open_product(
    path: str | os.PathLike,
    calibration: str = "sigma0",
    pol: str = "all",
    swath: str | None = None,
    noise: str = "remove",
) -> ProductSource:
    """The product's swath `swath`, or its swaths merged; bands = the chosen polarisations ("VV", "VV,VH", "all")."""
    if swath is None or ("," not in swath and swath.lower() != "all"):
        return open_swath(path, calibration, pol, swath, noise)
    check_choices(calibration, noise)
    product = parse_manifest(ProductFiles(Path(path)))
    wanted = product.swaths if swath.lower() == "all" else [pick_swath(product, s.strip()) for s in swath.split(",")]
    opened: list[ProductSource] = []
    try:
        for s in wanted:
            opened.append(open_swath(path, calibration, pol, s, noise))
    except BaseException:
        for o in opened:
            o.close()
        raise
    return open_merged(product, opened)


def check_product(path: str | os.PathLike) -> dict[str, Any]:
    """Read and check every measurement's annotation, calibration and noise tables and open every measurement;
    what `core info` shows. A missing or malformed part ends in one UserError line."""
    files = ProductFiles(Path(path))
    product = parse_manifest(files)
    layouts, bursts, done = set(), 0, False
    for swath in product.swaths:
        open_swath(path, "sigma0", "all", swath, "keep").close()
        for p in product.pols(swath):
            meas = product.measurements[(swath, p)]
            ann = parse_annotation(files, meas.annotation)
            for cal in ("beta0", "gamma0"):
                read_calibration(files, meas.calibration, cal)
            done = done or ann.noise_removed_by_ipf
            if not ann.noise_removed_by_ipf:
                layouts.add(read_noise(files, meas.noise, ann.lines_per_burst, len(ann.bursts)).layout)
            bursts = max(bursts, len(ann.bursts))
    return {
        "swaths": product.swaths,
        "mode": product.mode,
        "ipf_version": product.ipf_version or "unknown",
        "noise": "already removed by the IPF" if done else " / ".join(sorted(layouts)) + " noise tables",
        "bursts": bursts,
    }
