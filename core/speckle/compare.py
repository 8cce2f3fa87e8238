"""The comparison the speckle page shows: band labels, looks per band, the ENL area and the metrics table.

Kept out of the page so that a test of core can check it, and out of core.speckle's re-exports because it
builds on core.metrics (which, like the filters, uses core.local_stats).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from core import io as sio
from core import metrics
from core.errors import UserError
from core.files import digest_bytes
from core.speckle.looks import estimate_enl
from core.speckle.registry import FilterSpec

# An int: the most homogeneous window of that size on the input's first band; (row, column, height, width): the
# user's region; None: the image is too small for ENL and EPI.
RegionRequest = int | metrics.Region | None


@dataclass
class FilterResult:
    """One filter's output on the input: its name and label, the parameters as shown, and the intensity."""

    name: str
    label: str
    params: dict
    intensity: np.ndarray


def input_key(blob: bytes, kind: str) -> str:
    """What identifies an input for caching and for keeping results across reruns: its bytes and its kind."""
    return digest_bytes(blob) + kind


def band_labels(raster: sio.Raster) -> list[str]:
    """The raster's band names when it has one per band, else VV/VH for two bands, else "band 1", "band 2"…"""
    if len(raster.band_names) == raster.bands:
        return list(raster.band_names)
    return ["VV", "VH"] if raster.bands == 2 else [f"band {i + 1}" for i in range(raster.bands)]


def split_bands(intensity: np.ndarray) -> list[np.ndarray]:
    """(H, W) or (H, W, C) intensity as a list of (H, W) bands."""
    return [intensity] if intensity.ndim == 2 else [intensity[..., b] for b in range(intensity.shape[2])]


def estimated_looks(intensity: np.ndarray) -> list[float]:
    """The equivalent number of looks of each band, estimated from its valid pixels."""
    return [estimate_enl(b, np.isfinite(b)) for b in split_bands(intensity)]


def shown_params(spec: FilterSpec, params: dict) -> dict:
    """The parameters a result was made with, as shown to the user: the looks say "estimated" when not given."""
    shown = {k: v for k, v in params.items() if v is not None}
    if "looks" in spec.param_names and "looks" not in shown:
        shown["looks"] = "estimated"
    return shown


def enl_region(first_band: np.ndarray, request: RegionRequest, band_name: str) -> tuple[metrics.Region, str]:
    """(region, how it was chosen, in words) for ENL: found on the input's first band or the user's own."""
    if request is None:
        h, w = first_band.shape
        raise UserError(f"the image ({w}×{h}) is too small for ENL and EPI; use an image of at least 3×3 pixels.")
    if isinstance(request, int):
        region = metrics.find_homogeneous_region(first_band, request)
        return region, f"the most homogeneous {region[2]}×{region[3]} window of the input ({band_name})"
    return request, "your region"


def metrics_table(
    intensity: np.ndarray, results: Sequence[FilterResult], region: metrics.Region, band_names: Sequence[str]
) -> list[dict]:
    """One row per filter and band: ENL over `region`, mean ratio output/input and EPI against the input
    (the input's own row first, with ratio and EPI 1), and the parameters used."""
    bands = split_bands(intensity)
    rows: list[dict] = [
        {
            "filter": "Input",
            "band": band_names[b],
            "ENL": metrics.enl(band, region),
            "mean ratio": 1.0,
            "EPI": 1.0,
            "parameters": "",
        }
        for b, band in enumerate(bands)
    ]
    for r in results:
        for b, (band, out) in enumerate(zip(bands, split_bands(r.intensity))):
            rows.append(
                {
                    "filter": r.label,
                    "band": band_names[b],
                    **metrics.speckle_metrics(band, out, region),
                    "parameters": ", ".join(f"{k}={v}" for k, v in r.params.items()),
                }
            )
    return rows
