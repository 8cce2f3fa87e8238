"""Distributed data parallel helpers for `torchrun --nproc_per_node N -m core train ...`.

torchrun sets RANK, WORLD_SIZE and LOCAL_RANK; with WORLD_SIZE > 1 the trainer joins a process group
(NCCL when training on CUDA, gloo on CPU), wraps both networks in DistributedDataParallel, gives each process
its share of every global batch, and lets rank 0 alone write the run folder.
"""

from __future__ import annotations

import hashlib
import os


def env() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment; (0, 1, 0) in a plain process."""
    return (int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0)))


def backend_for(device) -> str:
    return "nccl" if getattr(device, "type", str(device)).startswith("cuda") else "gloo"


def init(device) -> None:
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group(backend=backend_for(device))


def cleanup() -> None:
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    import torch.distributed as dist

    if dist.is_initialized():
        dist.barrier()


def any_true(flag: bool, device) -> bool:
    """True on every rank if any rank says True (so all ranks stop at the same step)."""
    import torch
    import torch.distributed as dist

    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def parameter_checksum(model) -> str:
    """sha256 of every parameter's bytes, in state_dict order (buffers excluded)."""
    h = hashlib.sha256()
    for name, p in model.named_parameters():
        h.update(name.encode())
        h.update(p.detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def gather_checksums(model, device) -> list[str]:
    """Every rank's parameter checksum (rank order), gathered on all ranks."""
    import torch.distributed as dist

    out: list = [None] * dist.get_world_size()
    dist.all_gather_object(out, parameter_checksum(model))
    return out
