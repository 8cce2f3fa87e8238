"""The comparison the speckle page shows: band labels, looks per band, the ENL area and the metrics table, and
what it offers for download (a result as GeoTIFF, the zip of every result).

Kept out of the page so that a test of core can check it, and out of core.speckle's re-exports because it
builds on core.metrics (which, like the filters, uses core.local_stats).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core import io as sio
from core import metrics
from core.errors import UserError
from core.files import digest_bytes
from core.speckle.apply import result_raster
from core.speckle.looks import estimate_enl
from core.speckle.registry import FILTERS, FilterSpec

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


def windows_too_big(chosen: Sequence[str], params: dict[str, dict], height: int, width: int) -> list[str]:
    """'Lee (9×9)' for each chosen filter whose window is larger than the image's shorter side."""
    return [
        f"{FILTERS[f].label} ({params[f]['window']}×{params[f]['window']})"
        for f in chosen
        if params[f].get("window") and params[f]["window"] > min(height, width)
    ]


def result_tif(raster: sio.Raster, r: FilterResult) -> bytes:
    """One result as a GeoTIFF in the input's kind, with the input's georeference and band names."""
    return sio.encode_geotiff(result_raster(raster, r.intensity, r.name).data, raster.geo, raster.band_names)


def results_zip(
    name: str,
    raster: sio.Raster,
    results: Sequence[FilterResult],
    panels: Sequence[tuple[str, np.ndarray]],
    rows: list[dict] | None,
) -> bytes:
    """Every result of a run as GeoTIFF and display PNG (`panels`: the input's then each result's display image),
    the comparison PNG, the metrics table as CSV when there is one, and a readme saying what each file is."""
    base = Path(name).stem
    unit = sio.KIND_LABELS[raster.kind].split(" (")[0]
    files = []
    lines = [f"Speckle filtering of {name} ({raster.width}x{raster.height}, {raster.bands} band(s), read as {unit})."]
    for r, (_label, img) in zip(results, panels[1:]):
        files += [(f"{base}_{r.name}.tif", result_tif(raster, r)), (f"{base}_{r.name}.png", sio.encode_png(img))]
        lines.append(f"{base}_{r.name}.tif / .png: {r.label} ({r.params or 'defaults'}), {unit} float / display")
    files.append((f"{base}_comparison.png", sio.encode_png(sio.comparison_image(list(panels)))))
    lines.append(f"{base}_comparison.png: the input and every result on the input's dB stretch")
    if rows is not None:
        import pandas as pd  # heavy: pandas only when the zip is built

        files.append(("metrics.csv", pd.DataFrame(rows).to_csv(index=False).encode()))
        lines.append("metrics.csv: ENL, mean ratio and EPI per filter and band")
    return sio.zip_bytes(files, "\n".join(lines) + "\n")
