"""SAR-to-optical translation, one module per part:

- engine: an image (or several) translated in memory: input mapping, tiles, blending;
- translator: the options and the Translator, a generator ready to run (PyTorch or ONNX Runtime, device, adapter);
- results: a translation's result and every output made of it (files, downloads, comparison, scores);
- backends: `--backend auto`, choosing PyTorch or ONNX Runtime and the batch size from a measurement;
- inputs: how SAR values become a network's 8-bit input, the same for a whole image and for one tile;
- stream: a whole scene in bounded memory, tiles read from disk and output blocks written as they finish;
- generators: translation generators from model files (recognised, built, loaded strictly);
- estimate: the duration of a run, estimated before it starts from a measured time per tile;
- sample_norms: instance-norm / SE-pooling statistics of the whole image, recorded once and frozen for every tile;
- scene_job: a whole scene or product translated by a background job for the page (core.jobs), preview, comparison.

`from core.translate import Translator` keeps working: the names below are looked up in their module on first use
(PEP 562), so that `core.translate.generators` stays light for the catalog and core.onnx, which loads generators
while the engine uses its sessions, imports without a circle.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.translate.engine import (
        MIN_SIDE,
        check_size,
        network_input,
        translate_array,
        translate_many,
        translate_raster,
    )
    from core.translate.estimate import Estimate, estimate_duration
    from core.translate.inputs import DUALPOL_LABELS, DUALPOL_MODES
    from core.translate.results import (
        TranslationResult,
        comparison_png,
        encode_result,
        exported_output,
        output_geo,
        quality_against,
        write_result,
    )
    from core.translate.translator import BACKEND_CHOICES, BACKENDS, TranslateOptions, Translator, open_translator

__all__ = [
    "BACKENDS",
    "BACKEND_CHOICES",
    "DUALPOL_LABELS",
    "DUALPOL_MODES",
    "MIN_SIDE",
    "TranslateOptions",
    "TranslationResult",
    "Translator",
    "check_size",
    "Estimate",
    "comparison_png",
    "estimate_duration",
    "encode_result",
    "exported_output",
    "network_input",
    "open_translator",
    "output_geo",
    "quality_against",
    "translate_array",
    "translate_many",
    "translate_raster",
    "write_result",
]
_MODULE_OF = {
    **dict.fromkeys(("DUALPOL_LABELS", "DUALPOL_MODES"), "inputs"),
    **dict.fromkeys(("Estimate", "estimate_duration"), "estimate"),
    **dict.fromkeys(("BACKENDS", "BACKEND_CHOICES", "TranslateOptions", "Translator", "open_translator"), "translator"),
    **dict.fromkeys(
        (
            "TranslationResult",
            "comparison_png",
            "encode_result",
            "exported_output",
            "output_geo",
            "quality_against",
            "write_result",
        ),
        "results",
    ),
}  # the rest: engine


def __getattr__(name: str) -> Any:
    """The package's public names, imported from their module on first use (see the module docstring)."""
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"core.translate.{_MODULE_OF.get(name, 'engine')}"), name)
