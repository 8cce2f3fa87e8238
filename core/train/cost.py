"""What a training run will hold in memory, estimated before any network is built, and refused when over budget.

The generator and discriminator are built on PyTorch's meta device (shapes only, no memory), so a width of 100000
costs nothing to measure. Weights count four times (values, gradients, Adam's two moments); activations are every
module output of one forward pass at the configured batch and size, also on the meta device, counted twice (kept for
backward, and their gradients). The sum is checked against core.budget (host memory) or the GPU's memory.
"""

from __future__ import annotations

from core.budget import budget_bytes, format_bytes
from core.errors import UserError
from core.train.config import TrainConfig

BYTES = 4  # float32
WEIGHT_COPIES = 4  # values, gradients, Adam exp_avg and exp_avg_sq
ACTIVATION_COPIES = 2  # outputs kept for backward and their gradients


def _module_outputs(model, x) -> int:
    """Elements of every leaf module's output in one forward pass of `x` (on the meta device)."""
    import torch

    total = 0

    def count(_module, _inputs, out) -> None:
        nonlocal total
        for t in out if isinstance(out, (tuple, list)) else [out]:
            if isinstance(t, torch.Tensor):
                total += t.numel()

    model.eval()  # same output shapes; batch norm then takes a batch of one
    handles = [m.register_forward_hook(count) for m in model.modules() if not list(m.children())]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return total


def training_bytes(cfg: TrainConfig, sar_channels: int = 3) -> int | None:
    """Estimated peak bytes of one training step of `cfg` (None when the networks cannot be sized on the meta
    device: a base model loaded from a file, or an operator without a meta kernel)."""
    import torch

    from core.train.networks import build_discriminator, build_generator, objective_for  # noqa: PLC0415 - heavy: core.train.networks imports torch and models

    if cfg.task not in ("pix2pix", "pix2pixhd", "chrgan"):  # lora / finetune load their base model from a file
        return None
    try:
        with torch.device("meta"):
            g = build_generator(cfg, sar_channels)
            d = build_discriminator(objective_for(cfg, None), cfg, sar_channels)
            weights = sum(p.numel() for p in [*g.parameters(), *d.parameters()])
            b, s = int(cfg.batch_size), int(cfg.size)
            fake = torch.empty(b, sar_channels, s, s)
            acts = _module_outputs(g, fake)
            acts += 2 * _module_outputs(d, torch.empty(b, sar_channels + 3, s, s))  # real and fake pairs
    except (RuntimeError, NotImplementedError, TypeError, ValueError):
        return None
    return BYTES * (WEIGHT_COPIES * weights + ACTIVATION_COPIES * acts)


def check_training_cost(cfg: TrainConfig, device: str) -> None:
    """UserError when the estimate for `cfg` exceeds the memory of `device` (CPU: core.budget)."""
    need = training_bytes(cfg)
    if need is None:
        return
    if device.startswith("cuda"):
        import torch

        have = int(torch.cuda.get_device_properties(torch.device(device)).total_memory)
        where = "GPU memory"
    else:
        have, where = budget_bytes(), "memory budget (SAR_STUDIO_MEMORY_GB)"
    if need > have:
        raise UserError(
            f"training at batch {cfg.batch_size}, size {cfg.size} and width {cfg.width} needs about "
            f"{format_bytes(need)}, above the {where} of {format_bytes(have)}; lower --batch-size, --size or --width."
        )
