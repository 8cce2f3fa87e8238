"""Speckle filtering on linear intensity: classic filters, MERLIN deep despeckling, and the registry of both.

One job per module:
  (core.local_stats: windowed sums, local mean and variance over valid pixels, shared with core.metrics)
  looks         the equivalent number of looks, estimated from the image or checked
  filters       boxcar, Lee, Kuan, Gamma-MAP, Frost, Gaussian, median, bilateral
  refined_lee   refined Lee's edge-aligned half windows
  merlin        MERLIN (torch imported only when it runs)
  registry      filter names, labels, parameters and which parameters each filter takes
  apply         `despeckle` an image or raster band by band, back to the input's kind and georeference
  display       results on the input's dB scale
  compare       the comparison the speckle page shows (ENL area, metrics table); not re-exported here
The `despeckle` command is in core/cli/speckle.py. This package re-exports the public API, so
`from core import speckle as sp; sp.lee_filter(...)` works.
"""

from core.local_stats import box_sum, local_moments
from core.speckle.apply import band_valid, despeckle, despeckle_raster, input_intensity, result_raster
from core.speckle.display import display_channels, display_limits, render_with_limits, view_panel
from core.speckle.filters import (
    bilateral_filter,
    boxcar_filter,
    frost_filter,
    gamma_map_filter,
    gaussian_filter,
    kuan_filter,
    lee_filter,
    median_filter,
)
from core.speckle.looks import estimate_enl
from core.speckle.merlin import MERLIN_MEAN_WIDTH, MERLIN_MODELS, load_merlin, merlin_filter, merlin_weights_path
from core.speckle.refined_lee import refined_lee_choice, refined_lee_filter, refined_lee_masks
from core.speckle.registry import FILTERS, FilterSpec, Param, check_params, filter_spec

__all__ = [
    "FILTERS",
    "MERLIN_MEAN_WIDTH",
    "MERLIN_MODELS",
    "FilterSpec",
    "Param",
    "band_valid",
    "bilateral_filter",
    "box_sum",
    "boxcar_filter",
    "check_params",
    "despeckle",
    "despeckle_raster",
    "display_channels",
    "display_limits",
    "estimate_enl",
    "filter_spec",
    "frost_filter",
    "gamma_map_filter",
    "gaussian_filter",
    "input_intensity",
    "kuan_filter",
    "lee_filter",
    "load_merlin",
    "local_moments",
    "median_filter",
    "merlin_filter",
    "merlin_weights_path",
    "refined_lee_choice",
    "refined_lee_filter",
    "refined_lee_masks",
    "render_with_limits",
    "view_panel",
    "result_raster",
]
