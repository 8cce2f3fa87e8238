"""Reference-based x4 super-resolution (RGTGAN), one module per part:

- engine: load a model (safetensors, foreign .pth, ONNX), run it tiled on rasters, check memory, export to ONNX;
- inputs: the four network inputs prepared once per image, and their packing on the LR grid;
- train: training on synthetic scenes (torch); data: the user's HR / LR / Ref folders; run: `train --task rgtgan`
  (called by core.train_dispatch.train).

`from core.superres import super_resolve` keeps working: the engine's public names are re-exported here (train,
data and run are not imported: they need torch).
"""

from core.superres.engine import (
    BYTES_PER_LR_PIXEL,
    DEFAULT_OVERLAP,
    DEFAULT_TILE,
    check_memory,
    describe_superres_file,
    export_superres_file,
    load_superres_model,
    max_lr_pixels,
    memory_bytes,
    output_geo,
    psnr,
    ssim,
    super_resolve,
    superres_rasters,
    to_output,
)
from core.superres.inputs import SCALE

__all__ = [
    "BYTES_PER_LR_PIXEL",
    "DEFAULT_OVERLAP",
    "DEFAULT_TILE",
    "SCALE",
    "check_memory",
    "export_superres_file",
    "describe_superres_file",
    "load_superres_model",
    "max_lr_pixels",
    "memory_bytes",
    "output_geo",
    "psnr",
    "ssim",
    "super_resolve",
    "superres_rasters",
    "to_output",
]
