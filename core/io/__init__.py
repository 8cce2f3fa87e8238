"""Read, convert, render and write SAR and optical images; open Sentinel-1 products; stream whole scenes.

What a file holds is detected from its dtype and value range (`detect_kind`) and can be overridden:
- "display":   8-bit, already display-scaled (most PNG/JPEG in public datasets); no radiometric meaning.
- "amplitude": sqrt of intensity, typically uint16 DN or float.
- "intensity": linear power (sigma0 / beta0 / DN^2), typically float32 GeoTIFF.
- "db":        10*log10(intensity).
Filters work on intensity; display is dB plus a 2-98 % percentile stretch; dual-pol false colour is
R = VV, G = VH, B = VV/VH (the linear ratio, i.e. VV_dB - VH_dB), each stretched on its own.

Every writer goes through `atomic_output`: a temporary file in the destination folder, renamed on success,
so an interrupted or failed write never leaves a half-written output.

Modules: kinds (what values mean), georef (GeoInfo), read (whole-image reads into a Raster), render (display),
write (PNG/GeoTIFF bytes and files), source (`Source`: a raster opened for windowed reads), products (`open_source`:
any GDAL raster or Sentinel-1 SAFE/zip as a Source, calibration, `describe`), sentinel1/ (a product's own reader:
manifest, annotation, calibration and noise tables, deburst, swath merging), blocks (windowed reads with a halo,
block-by-block GeoTIFF/COG writer, stream_filter).
Everything is re-exported here: `from core import io as sio` and `from core.io import X` keep working.
"""

from pathlib import Path

from core.io import view  # (viewer data: decimation, colour maps, histograms, footprints)
from core.io.blocks import (
    BlockWriter,
    Window,
    WindowRead,
    filter_window,
    iter_windows,
    read_window,
    stream_filter,
    stream_filters,
    window_cores,
)
from core.io.georef import GeoInfo, crs_name
from core.io.kinds import DB_FLOOR, KIND_LABELS, KINDS, detect_kind, from_intensity, to_db, to_intensity
from core.io.products import CALIBRATIONS, describe, format_description, open_source
from core.io.read import DEFAULT_MAX_PIXELS, Raster, check_input_file, max_pixels_default, read_raster, valid_mask
from core.io.render import (
    DUALPOL_CONVENTION,
    comparison_image,
    encode_png,
    percentile_limits,
    render,
    render_dualpol,
    render_intensity,
    stretch,
    to_rgb,
)
from core.io.source import Source
from core.io.write import (
    atomic_output,
    clean_stale_parts,
    constant_output_note,
    encode_geotiff,
    geotiff_profile,
    write_bytes,
    write_georef,
    write_geotiff,
    write_image,
    write_png,
    zip_bytes,
)

__all__ = [
    "clean_stale_parts",
    "constant_output_note",
    "BlockWriter",
    "CALIBRATIONS",
    "DB_FLOOR",
    "DEFAULT_MAX_PIXELS",
    "DUALPOL_CONVENTION",
    "GeoInfo",
    "KINDS",
    "KIND_LABELS",
    "Path",
    "Raster",
    "Source",
    "Window",
    "WindowRead",
    "atomic_output",
    "check_input_file",
    "comparison_image",
    "crs_name",
    "describe",
    "detect_kind",
    "encode_geotiff",
    "encode_png",
    "filter_window",
    "format_description",
    "from_intensity",
    "geotiff_profile",
    "iter_windows",
    "max_pixels_default",
    "open_source",
    "percentile_limits",
    "read_raster",
    "read_window",
    "render",
    "render_dualpol",
    "render_intensity",
    "stream_filter",
    "stream_filters",
    "window_cores",
    "view",
    "stretch",
    "to_db",
    "to_intensity",
    "to_rgb",
    "valid_mask",
    "write_bytes",
    "write_geotiff",
    "write_georef",
    "write_image",
    "write_png",
    "zip_bytes",
]
