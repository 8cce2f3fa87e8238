"""MERLIN deep despeckling (Dalsasso et al. 2022) with the pretrained networks of the `deepdespeckling` package.

torch is imported inside merlin_filter and load_merlin, not here: it takes seconds to import and only the MERLIN
path needs it, while the registry (and so every page and CLI command that lists filters) imports this module.
"""

from __future__ import annotations

import functools
import importlib.util
import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from core.checkpoints import load_state_strict, torch_load_weights
from core.compute import resolve_device
from core.errors import UserError
from core.local_stats import box_sum, prepare
from core.tiling import ProgressFn, tile_blend

if TYPE_CHECKING:
    from models.merlin import Merlin

MERLIN_MODELS = {
    # name: (weights file in deepdespeckling/merlin/saved_models, M, m as in deepdespeckling.utils.constants,
    #        median intensity each band is scaled to before the network: measured best on simulated speckle)
    "sentinel_tops": ("sentinel_tops.pth", 12.385, -math.log(0.001), 3000.0),
    "stripmap": ("stripmap.pth", 10.089038980848645, -1.429329123112601, 300.0),
    "spotlight": ("spotlight.pth", 10.089038980848645, -1.429329123112601, 300.0),
}


def merlin_weights_path(variant: str) -> Path:
    if variant not in MERLIN_MODELS:
        raise UserError(f"unknown MERLIN model {variant!r}; use one of {', '.join(MERLIN_MODELS)}.")
    spec = importlib.util.find_spec("deepdespeckling")
    if spec is None or not spec.submodule_search_locations:
        raise UserError(
            "the deepdespeckling package is not installed, so MERLIN weights are missing; "
            "run `make install` (it installs deepdespeckling --no-deps)."
        )
    path = Path(list(spec.submodule_search_locations)[0]) / "merlin" / "saved_models" / MERLIN_MODELS[variant][0]
    if not path.is_file():
        raise UserError(f"MERLIN weights {path.name} are missing from the deepdespeckling package; reinstall it.")
    return path


@functools.lru_cache(maxsize=6)
def load_merlin(variant: str = "sentinel_tops", device: str = "cpu") -> Merlin:
    """The pretrained MERLIN network (eval mode) on `device`, loaded strictly with weights_only."""
    from models.merlin import Merlin  # noqa: PLC0415 - heavy: a network module imports torch; only when it is built

    path = merlin_weights_path(variant)
    net = Merlin()
    load_state_strict(net, torch_load_weights(path), "merlin", path.name)
    return net.to(device).eval()


MERLIN_MEAN_WIDTH = 33  # box width of the bias correction (3 passes: about a Gaussian of sigma 16 px)


def merlin_filter(
    intensity: np.ndarray,
    model: str = "sentinel_tops",
    keep_mean: bool = True,
    device: str = "auto",
    tile: int = 256,
    overlap: int = 32,
    seed: int = 0,
    valid: np.ndarray | None = None,
    progress: ProgressFn | None = None,
    notes: list | None = None,
    network: Merlin | None = None,
    scene_median: float | None = None,
) -> np.ndarray:
    """MERLIN despeckling of detected intensity.

    MERLIN was trained on the real and imaginary parts of single-look complex data. A detected intensity I
    has lost its phase; with a uniform random phase p, sqrt(I) cos p and sqrt(I) sin p are two independent
    zero-mean Gaussians of variance R/2 when I is single-look speckle of reflectivity R, which is exactly the
    SLC model MERLIN expects (their spectrum is flat, so deepdespeckling's spectrum symmetrisation has nothing
    to do and is skipped). Each part is normalised as in deepdespeckling's MerlinDenoiser,
    (log(part² + 1e-3) - 2m) / (2 (M - m)), run through the network tile by tile, de-normalised with
    exp((M - m) y + m), and the two estimates are combined as 0.5 (A_re² + A_im²), an intensity.
    The networks are not scale-invariant: each band is scaled so that its median intensity is the model's
    level in MERLIN_MODELS (3000 for sentinel_tops, close to the Sentinel-1 DN² of the samples, 300 for the
    TerraSAR-X models: where each worked best on simulated single-look speckle) and scaled back afterwards.
    On detected intensity the raw output is biased (mean 1.2-1.4x the input on simulated speckle, 1.9x on the
    Shanghai sample), so with keep_mean (default) it is multiplied by the ratio of input to output local means
    (three passes of a 33x33 box, close to a Gaussian of sigma 16 px) and then by one factor that makes the
    band mean equal the input's. On simulated single-look speckle with two bright point targets this lowered
    the relative error away from the targets from about 0.4 to about 0.15; a single 31x31 box did about as
    well but drew squares around bright targets on the real samples.
    """
    import torch  # heavy: only the MERLIN path needs it (see the module docstring)

    if model not in MERLIN_MODELS:
        raise UserError(f"unknown MERLIN model {model!r}; use one of {', '.join(MERLIN_MODELS)}.")
    if tile % 32 or tile < 32:
        raise UserError(f"MERLIN tile must be a multiple of 32, got {tile}; use 256.")
    dev, note = resolve_device(device)
    if note and notes is not None:
        notes.append(note)
    net = network if network is not None else load_merlin(model, dev)
    on = next(net.parameters()).device  # where the network is (a given network may sit elsewhere)
    _, big_m, small_m, level = MERLIN_MODELS[model]
    x, msk, _ = prepare(intensity, valid)
    positive = x[(msk > 0) & (x > 0)]
    if scene_median is None and positive.size:
        scene_median = float(np.median(positive))
    gain = np.float32(level / scene_median) if scene_median else np.float32(1.0)
    amp = np.sqrt(np.maximum(x * gain, 0, dtype=np.float32))
    phase = np.random.default_rng(seed).uniform(0, 2 * np.pi, x.shape).astype(np.float32)
    parts = np.stack([amp * np.cos(phase), amp * np.sin(phase)], axis=-1)
    norm = (np.log(parts * parts + np.float32(1e-3)) - 2 * small_m) / (2 * (big_m - small_m))

    def run(batch: np.ndarray) -> np.ndarray:  # (N, t, t, 2) -> (N, t, t, 2)
        n, t, _, c = batch.shape
        inp = torch.from_numpy(np.ascontiguousarray(batch.transpose(0, 3, 1, 2).reshape(n * c, 1, t, t)))
        with torch.inference_mode():
            out = net(inp.to(on)).float().cpu().numpy()
        return out.reshape(n, c, t, t).transpose(0, 2, 3, 1)

    y = tile_blend(norm.astype(np.float32), run, tile=tile, overlap=overlap, batch_size=2, progress=progress)
    a = np.exp((big_m - small_m) * y.astype(np.float64) + small_m)
    out = (0.5 * (a[..., 0] ** 2 + a[..., 1] ** 2) / gain).astype(np.float32)
    if keep_mean:
        out = _merlin_bias_correction(out, x, msk)
    return out.astype(np.float32)


def _smooth_masked(values: np.ndarray, m: np.ndarray, width: int) -> np.ndarray:
    """Mean of the valid pixels under three passes of a width x width box (close to a Gaussian of sigma
    about width/2), zero outside the image; cost independent of the width."""
    num, den = values * m, m.copy()
    for _ in range(3):
        num, den = box_sum(num, width), box_sum(den, width)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.maximum(den, 1e-30), 0).astype(np.float32)


def _merlin_bias_correction(out: np.ndarray, x: np.ndarray, msk: np.ndarray) -> np.ndarray:
    """Multiply by the smoothed (MERLIN_MEAN_WIDTH) ratio of input to output means, then by one factor so the
    band mean equals the input's exactly. The smooth kernel avoids the squares a plain box draws around
    bright targets."""
    ok = msk > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = _smooth_masked(x, msk, MERLIN_MEAN_WIDTH) / _smooth_masked(np.where(ok, out, 0), msk, MERLIN_MEAN_WIDTH)
    out = out * np.where(np.isfinite(ratio) & (ratio > 0), ratio, 1).astype(np.float32)
    total = float(out[ok].astype(np.float64).sum())
    if total > 0:
        out = out * np.float32(float(x[ok].astype(np.float64).sum()) / total)
    return out.astype(np.float32)
