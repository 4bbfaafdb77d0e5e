"""DDP helpers: set up from ``torchrun``'s environment, and gather across ranks.

``torchrun --nproc_per_node N`` sets ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE``; without them
everything runs as one process. The backend is NCCL on GPUs and gloo on CPUs (the CPU test uses
two gloo processes).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

__all__ = [
    "DistInfo",
    "setup_distributed",
    "cleanup_distributed",
    "gather_with_grad",
    "gather_no_grad",
    "all_reduce_mean",
]


@dataclass(frozen=True)
class DistInfo:
    rank: int
    local_rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def setup_distributed(device: str | None = None) -> DistInfo:
    """Start the process group if ``torchrun`` launched us; pick this rank's device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() and device != "cpu"
    dev = (
        torch.device(f"cuda:{local}" if use_cuda else "cpu")
        if device in (None, "cpu", "cuda")
        else torch.device(device)
    )
    if use_cuda:
        torch.cuda.set_device(dev)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return DistInfo(rank, local, world, dev)


def cleanup_distributed() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _world() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """Concatenate ``x`` from all ranks along dim 0; gradients flow to this rank's own part.

    The other ranks' parts are plain copies (open_clip's "local loss"): each rank's loss then
    gives exact gradients for its own features, and DDP's gradient averaging does the rest.
    """
    world = _world()
    if world == 1:
        return x
    parts = [torch.empty_like(x) for _ in range(world)]
    dist.all_gather(parts, x.detach().contiguous())
    parts[dist.get_rank()] = x
    return torch.cat(parts, dim=0)


@torch.no_grad()
def gather_no_grad(x: torch.Tensor) -> torch.Tensor:
    """Concatenate ``x`` from all ranks along dim 0 (for MoCo keys)."""
    if _world() == 1:
        return x
    out = [torch.empty_like(x) for _ in range(_world())]
    dist.all_gather(out, x.contiguous())
    return torch.cat(out, dim=0)


@torch.no_grad()
def all_reduce_mean(values: dict[str, float], device: torch.device) -> dict[str, float]:
    """Average scalar metrics over ranks (for logging what the whole job sees)."""
    if _world() == 1 or not values:
        return values
    keys = sorted(values)
    t = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    t /= _world()
    return dict(zip(keys, t.tolist()))
