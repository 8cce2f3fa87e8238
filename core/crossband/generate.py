"""Cross-band generation proper: optimise an image whose features keep the content of one band and carry the Gram
statistics of another, with Adam (clamped to [-1, 1] after every step) or L-BFGS (strong-Wolfe line search),
starting from the content image or faint noise.

Loss = style weight * sum MSE(Gram) + content weight * sum MSE(features), as in transband-SARgeneration.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

import numpy as np

from core.budget import check_run_time
from core.compute import resolve_device
from core.crossband.features import Extractor, check_size, resolve_layers
from core.crossband.gram import GramSet, ProgressFn, gram_matrix
from core.crossband.images import as_rgb, to_display, to_tensor
from core.errors import UserError
from core.files import digest_bytes

OPTIMIZERS = ("adam", "lbfgs")
INITS = ("content", "noise")

PreviewFn = Callable[[int, np.ndarray, list], None]


@dataclass
class CrossbandOptions:
    """Everything that steers one generation; None means the extractor's default."""

    steps: int | None = None
    optimizer: str = "adam"  # adam | lbfgs
    lr: float | None = None  # Adam learning rate (L-BFGS uses lr 1 with a strong-Wolfe line search)
    style_weight: float | None = None
    content_weight: float | None = None
    style_layers: tuple[str, ...] | None = None
    content_layers: tuple[str, ...] | None = None
    seed: int = 0
    init: str = "content"  # content | noise
    device: str = "auto"
    preview_every: int = 25
    memory_gb: float | None = None
    threads: int | None = None  # PyTorch CPU threads for this run (restored afterwards); None: unchanged


@dataclass
class CrossbandResult:
    image: np.ndarray  # uint8 display (H, W) or (H, W, 3)
    content: np.ndarray  # the content display it started from
    history: list = field(default_factory=list)  # dicts: step, style, content, total, evaluations
    extractor_label: str = ""
    device: str = "cpu"
    notes: list = field(default_factory=list)
    seconds: float = 0.0
    options: CrossbandOptions = field(default_factory=CrossbandOptions)  # as resolved for the run


def resolved_options(extractor: Extractor, options: CrossbandOptions | None) -> CrossbandOptions:
    o = replace(options or CrossbandOptions())
    d = extractor.defaults
    o.steps = int(o.steps if o.steps is not None else d["steps"])
    o.lr = float(o.lr if o.lr is not None else d["lr"])
    o.style_weight = float(o.style_weight if o.style_weight is not None else d["style_weight"])
    o.content_weight = float(o.content_weight if o.content_weight is not None else d["content_weight"])
    o.optimizer = (o.optimizer or "adam").lower()
    if o.optimizer not in OPTIMIZERS:
        raise UserError(f"unknown optimizer {o.optimizer!r}; use adam or lbfgs.")
    if o.steps < 1:
        raise UserError(f"steps must be at least 1 (got {o.steps}).")
    if o.lr <= 0:
        raise UserError(f"the learning rate must be positive (got {o.lr}).")
    if o.style_weight < 0 or o.content_weight < 0:
        raise UserError("style and content weights must not be negative.")
    if o.init not in INITS:
        raise UserError(f"unknown start image {o.init!r}; use content or noise.")
    o.content_layers = resolve_layers(extractor, o.content_layers, extractor.content_layers, "content")
    return o


def generate_crossband(
    content: np.ndarray,
    style: GramSet,
    extractor: Extractor,
    options: CrossbandOptions | None = None,
    progress: ProgressFn | None = None,
    on_preview: PreviewFn | None = None,
    name: str = "content image",
) -> CrossbandResult:
    """Optimise an image with the content of `content` (uint8 display) and the Gram statistics of `style`.

    progress(fraction, message) is called every step; on_preview(step, uint8 image, history) every
    `preview_every` steps and at the end.
    """
    import torch  # heavy: loaded on first use so `python -m core --help` stays light

    threads = (options or CrossbandOptions()).threads
    if threads is None:
        return _generate(content, style, extractor, options, progress, on_preview, name)
    if threads < 1:
        raise UserError(f"CPU threads must be at least 1 (got {threads}).")
    before = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    try:
        return _generate(content, style, extractor, options, progress, on_preview, name)
    finally:
        torch.set_num_threads(before)


def _generate(
    content: np.ndarray,
    style: GramSet,
    extractor: Extractor,
    options: CrossbandOptions | None,
    progress: ProgressFn | None,
    on_preview: PreviewFn | None,
    name: str,
) -> CrossbandResult:
    import torch  # heavy: see generate_crossband

    o = resolved_options(extractor, options)
    # resolved_options has filled in every default: plain values from here on
    steps, lr = int(o.steps or 0), float(o.lr or 0.0)
    style_weight, content_weight = float(o.style_weight or 0.0), float(o.content_weight or 0.0)
    content_layers = tuple(o.content_layers or ())
    style_layers = tuple(o.style_layers) if o.style_layers else tuple(style.grams)
    resolve_layers(extractor, style_layers, style_layers, "style")
    missing = [k for k in style_layers if k not in style.grams]
    if missing:
        raise UserError(
            f"the style statistics have no Gram for {missing[0]}; choose style layers from {', '.join(style.grams)}."
        )
    o.style_layers = style_layers
    for k in style_layers:
        c = extractor.channels(k)
        if tuple(style.grams[k].shape) != (c, c):
            raise UserError(
                f"the style Gram for {k} is {tuple(style.grams[k].shape)} but {extractor.arch} has {c} "
                f"channels there; use statistics made with the same features."
            )
    h, w = content.shape[:2]
    check_size(h, w, name, extractor, o.memory_gb)
    device, note = resolve_device(o.device)
    notes = [note] if note else []
    net = extractor.net.to(device).eval()
    torch.manual_seed(o.seed)
    layers = sorted(set(style_layers) | set(content_layers), key=extractor.net.layer_index)
    target = to_tensor(content, device)
    with torch.no_grad():
        feats = net(as_rgb(target), list(content_layers))
        content_targets = {k: feats[k].detach() for k in content_layers}
    gram_targets = {k: style.grams[k].detach().to(device)[None] for k in style_layers}
    if o.init == "content":
        # contiguous: an RGB display enters as a permuted view, and L-BFGS flattens the gradient with .view(-1)
        x = target.clone(memory_format=torch.contiguous_format)
    else:
        gen = torch.Generator().manual_seed(o.seed)
        x = (torch.rand(target.shape, generator=gen) * 0.2 - 0.1).to(device)
    x.requires_grad_(True)

    def losses():
        f = net(as_rgb(x), layers)
        s = sum(torch.mean((gram_matrix(f[k]) - gram_targets[k]) ** 2) for k in style_layers)
        c = sum(torch.mean((f[k] - content_targets[k]) ** 2) for k in content_layers)
        return s, c, style_weight * s + content_weight * c

    history: list = []
    evals = [0]
    start = time.perf_counter()
    opt: torch.optim.Optimizer
    if o.optimizer == "adam":
        opt = torch.optim.Adam([x], lr=lr)
    else:
        # max_eval must be given: its default, int(1.25 * max_iter) = 1, leaves the line search no evaluations
        opt = torch.optim.LBFGS(
            [x],
            lr=1.0,
            max_iter=1,
            max_eval=20,
            history_size=20,
            line_search_fn="strong_wolfe",
            tolerance_grad=0.0,
            tolerance_change=0.0,
        )  # the step count decides
    last: dict = {}

    scale: list = []  # L-BFGS: the loss is scaled once so the first gradient's largest entry is 1; its
    # curvature test (y.s > 1e-10) and first step length assume gradients of about that size, ours are ~1e-5

    def closure():
        opt.zero_grad()
        s, c, t = losses()
        t.backward()
        evals[0] += 1
        if o.optimizer == "lbfgs":
            if not scale:
                scale.append(1.0 / max(float(x.grad.abs().max()), 1e-12))
        if not last:  # the first evaluation of a step is at the image the step starts from
            last.update(style=float(s.detach()), content=float(c.detach()), total=float(t.detach()))
        if scale:
            x.grad.mul_(scale[0])
            return t * scale[0]
        return t

    loop_start = time.perf_counter()
    for step in range(1, steps + 1):
        if step == 2:  # the first step measured the cost of one: the whole run is estimated before going on
            per_step = time.perf_counter() - loop_start
            what = f"{steps} steps at {per_step:.3g} s per step (measured on the first)"
            check_run_time(per_step * steps, what, "use fewer --steps")
        last.clear()
        if o.optimizer == "adam":
            closure()
            opt.step()  # type: ignore[call-arg]  # opt is Adam here; only L-BFGS needs the closure
            with torch.no_grad():  # Adam: keep the image in range after every step
                x.clamp_(-1.0, 1.0)
        else:
            # L-BFGS: no clamping inside (it would break its curvature history); clamped at the end
            opt.step(closure)
        if not all(math.isfinite(v) for v in last.values()):
            raise UserError(
                f"the optimisation diverged at step {step} (loss {last['total']}); lower the learning "
                f"rate or the style weight."
            )
        # the losses logged are those of the image the step started from (computed for its gradient)
        history.append(dict(step=step, evaluations=evals[0], **last))
        if progress is not None:
            progress(step / steps, f"step {step}/{steps}: style {last['style']:.3g}, content {last['content']:.3g}")
        if on_preview is not None and (step % max(1, o.preview_every) == 0 or step == steps):
            on_preview(step, to_display(x), history)
    image = to_display(x)
    return CrossbandResult(
        image=image,
        content=content,
        history=history,
        extractor_label=extractor.label,
        device=device,
        notes=notes,
        seconds=time.perf_counter() - start,
        options=o,
    )


def final_losses(
    image: np.ndarray,
    content: np.ndarray,
    style: GramSet,
    extractor: Extractor,
    style_layers: Iterable[str],
    content_layers: Iterable[str],
    device: str = "cpu",
) -> dict:
    """Style and content loss of a finished image (unweighted sums of MSE), for reporting and tests."""
    import torch  # heavy: see generate_crossband

    style_layers, content_layers = list(style_layers), list(content_layers)
    with torch.no_grad():
        net = extractor.net.to(device)
        f = net(as_rgb(to_tensor(image, device)), sorted(set(style_layers) | set(content_layers), key=net.layer_index))
        p = net(as_rgb(to_tensor(content, device)), content_layers)
        s = sum(float(torch.mean((gram_matrix(f[k])[0] - style.grams[k].to(device)) ** 2)) for k in style_layers)
        c = sum(float(torch.mean((f[k] - p[k]) ** 2)) for k in content_layers)
    return {"style": s, "content": c}


def inputs_signature(content: np.ndarray, style: GramSet) -> tuple[str, str]:
    """What a result was made from (content pixels, style statistics), to tell when the inputs have changed."""
    return digest_bytes(content.tobytes()), repr(sorted((k, float(v.sum())) for k, v in style.grams.items()))


def loss_log_rows(history: list, style_weight: float, content_weight: float) -> list[dict]:
    """Weighted losses per step on a log10 scale, for a chart; a zero loss (e.g. content at step 1) is None."""

    def lg(v: float) -> float | None:
        return float(np.log10(v)) if v > 0 else None

    return [
        {
            "step": h["step"],
            "log10 style loss × weight": lg(h["style"] * style_weight),
            "log10 content loss × weight": lg(h["content"] * content_weight),
        }
        for h in history
    ]
