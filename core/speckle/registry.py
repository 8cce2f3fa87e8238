"""The filter registry: every filter by name, with its label, parameters (for widgets and CLI options) and
which parameters it takes; `check_params` refuses a parameter a filter does not use."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from core.errors import UserError
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
from core.speckle.merlin import MERLIN_MODELS, merlin_filter
from core.speckle.refined_lee import refined_lee_filter


@dataclass(frozen=True)
class Param:
    name: str
    kind: str  # "int", "float", "bool" or "choice"
    default: object
    help: str
    min: float | None = None
    max: float | None = None
    step: float | None = None
    choices: tuple = ()


@dataclass(frozen=True)
class FilterSpec:
    name: str
    label: str
    fn: Callable
    params: tuple[Param, ...]
    keeps_mean: bool
    description: str
    deep: bool = False
    param_names: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "param_names", tuple(p.name for p in self.params))


_WINDOW = Param("window", "int", 7, "side of the square window in pixels (odd)", 3, 101, 2)
_WINDOW5 = Param("window", "int", 5, "side of the square window in pixels (odd)", 3, 101, 2)
_LOOKS = Param(
    "looks",
    "float",
    None,
    "equivalent number of looks L (Cu² = 1/L); empty = estimated from the image",
    0.1,
    1000.0,
    0.5,
)

FILTERS: dict[str, FilterSpec] = {
    f.name: f
    for f in [
        FilterSpec("boxcar", "Boxcar (mean)", boxcar_filter, (_WINDOW5,), True, "plain mean over the window"),
        FilterSpec(
            "median",
            "Median",
            median_filter,
            (_WINDOW5,),
            False,
            "median over the window; lowers the mean of speckled areas (median < mean for speckle)",
        ),
        FilterSpec(
            "gaussian",
            "Gaussian",
            gaussian_filter,
            (_WINDOW5, Param("sigma", "float", 0.0, "Gaussian sigma in pixels (0 = from the window)", 0.0, 50.0, 0.5)),
            True,
            "Gaussian-weighted mean",
        ),
        FilterSpec(
            "bilateral",
            "Bilateral (dB)",
            bilateral_filter,
            (
                _WINDOW5,
                Param("sigma_space", "float", 1.5, "spatial sigma in pixels", 0.1, 50.0, 0.5),
                Param("sigma_db", "float", 3.0, "range sigma in dB", 0.1, 50.0, 0.5),
            ),
            False,
            "edge-preserving smoothing of dB values; averaging in dB lowers the mean intensity",
        ),
        FilterSpec("lee", "Lee", lee_filter, (_WINDOW, _LOOKS), True, "local linear MMSE (Lee 1980)"),
        FilterSpec(
            "refined_lee",
            "Refined Lee",
            refined_lee_filter,
            (Param("window", "int", 7, "side of the square window in pixels (odd, at least 5)", 5, 101, 2), _LOOKS),
            True,
            "Lee inside edge-aligned half windows (Lee 1981)",
        ),
        FilterSpec(
            "frost",
            "Frost",
            frost_filter,
            (_WINDOW, Param("damping", "float", 2.0, "damping factor K of the exponential weights", 0.01, 100.0, 0.5)),
            True,
            "exponentially weighted mean, sharper where the local variation is high (Frost 1982)",
        ),
        FilterSpec(
            "kuan", "Kuan", kuan_filter, (_WINDOW, _LOOKS), True, "local linear MMSE, multiplicative model (Kuan 1985)"
        ),
        FilterSpec(
            "gamma_map",
            "Gamma-MAP",
            gamma_map_filter,
            (_WINDOW, _LOOKS),
            True,
            "maximum a posteriori with a Gamma prior (Lopes 1990); the posterior mode sits a few % below "
            "the mean on single-look speckle",
        ),
        FilterSpec(
            "merlin",
            "MERLIN (deep)",
            merlin_filter,
            (
                Param(
                    "model",
                    "choice",
                    "sentinel_tops",
                    "pretrained MERLIN weights from deepdespeckling",
                    choices=tuple(MERLIN_MODELS),
                ),
                Param(
                    "keep_mean",
                    "bool",
                    True,
                    "correct the network's brightness bias (smooth local ratio, then the band mean equals the input's)",
                ),
            ),
            True,
            "self-supervised deep despeckling (Dalsasso et al. 2022), pretrained weights",
            deep=True,
        ),
    ]
}


def canonical_name(name: str) -> str:
    """Our name for a filter given as ours or as SNAP / other tools spell it: `refined-lee`, `Refined Lee`,
    `Gamma Map`, `gamma-map`, `Boxcar`, `Mean` ... (case, spaces, dashes and underscores do not matter)."""
    key = "".join(ch for ch in str(name).lower() if ch.isalnum())
    return _ALIASES.get(key, str(name))


# SNAP's Speckle-Filter names (Boxcar, Median, Frost, Gamma Map, Lee, Refined Lee, Lee Sigma, IDAN, Mean) and
# spellings users type; Lee Sigma and IDAN are SNAP filters we do not have, so they stay unknown.
_ALIASES = {"".join(ch for ch in s.label.lower() if ch.isalnum()): n for n, s in FILTERS.items()} | {
    **{"".join(ch for ch in n if ch.isalnum()): n for n in FILTERS},
    "mean": "boxcar",
    "gammamap": "gamma_map",
    "refinedlee": "refined_lee",
    "bilateraldb": "bilateral",
}


def filter_spec(name: str) -> FilterSpec:
    key = canonical_name(name)
    if key not in FILTERS:
        raise UserError(f"unknown filter {name!r}; use one of {', '.join(FILTERS)}.")
    return FILTERS[key]


def split_params(spec: FilterSpec, params: dict) -> tuple[dict, list[str]]:
    """(the parameters `spec` takes, a note naming the given ones it does not take): for the command line, where
    a scripted loop over filters passes the same options to each (`--looks` means nothing to boxcar)."""
    used = {k: v for k, v in params.items() if v is not None and k in spec.param_names}
    unused = [k for k, v in params.items() if v is not None and k not in spec.param_names]
    notes = []
    if unused:
        opts = ", ".join("--" + k.replace("_", "-") for k in unused)
        notes.append(f"{spec.name} does not use {opts}; ignored.")
    return used, notes


def check_params(spec: FilterSpec, params: dict) -> dict:
    out = {}
    for k, v in params.items():
        if v is None:
            continue
        if k not in spec.param_names:
            allowed = ", ".join(spec.param_names) or "none"
            raise UserError(f"filter {spec.name} has no parameter {k!r} (its parameters: {allowed}); drop that option.")
        p = spec.params[spec.param_names.index(k)]
        if p.kind == "choice" and v not in p.choices:
            raise UserError(f"{k} for {spec.name} must be one of {', '.join(p.choices)}, got {v!r}.")
        out[k] = v
    return out
