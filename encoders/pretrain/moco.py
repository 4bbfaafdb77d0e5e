"""MoCo (He et al. 2020) pieces: the key queue, the projection head and the InfoNCE loss.

MedMPT uses MoCo twice: on per-slice CLS vectors (queue 65,536) and on the fused scan CLS
(queue 2,048), with a momentum encoder (m = 0.996) producing the keys from a second view.
Keys are gathered from every rank before they enter the queue, so all ranks hold the same
queue without broadcasting it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from kgdx.encoders.pretrain.distributed import gather_no_grad

__all__ = ["KeyQueue", "ProjectionHead", "moco_loss", "momentum_update"]


class KeyQueue(nn.Module):
    """A FIFO of ``size`` L2-normalised keys of width ``dim`` (buffers, so checkpoints keep it)."""

    def __init__(self, dim: int, size: int) -> None:
        super().__init__()
        if dim < 1 or size < 1:
            raise ValueError(f"'dim' and 'size' must be >= 1, got {dim} and {size}")
        self.register_buffer("keys", F.normalize(torch.randn(size, dim), dim=1))
        self.register_buffer("ptr", torch.zeros((), dtype=torch.long))

    @property
    def size(self) -> int:
        return self.keys.shape[0]

    def reset_parameters(self) -> None:
        self.keys.copy_(F.normalize(torch.randn_like(self.keys), dim=1))
        self.ptr.zero_()

    @torch.no_grad()
    def enqueue(self, keys: torch.Tensor) -> None:
        """Add this step's keys ``(n, dim)`` from every rank, overwriting the oldest."""
        k = gather_no_grad(keys.detach().to(self.keys.dtype))
        if k.shape[0] >= self.size:
            k = k[-self.size :]
        n, p = k.shape[0], int(self.ptr)
        end = p + n
        if end <= self.size:
            self.keys[p:end] = k
        else:
            first = self.size - p
            self.keys[p:] = k[:first]
            self.keys[: n - first] = k[first:]
        self.ptr.fill_(end % self.size)

    def extra_repr(self) -> str:
        return f"size={self.size}, dim={self.keys.shape[1]}"


class ProjectionHead(nn.Module):
    """Two-layer MLP projection (MoCo v2) into the contrastive space."""

    def __init__(self, in_dim: int, out_dim: int, hidden: int | None = None) -> None:
        super().__init__()
        hidden = hidden or in_dim
        self.net = nn.Sequential(nn.Linear(in_dim, hidden), nn.GELU(), nn.Linear(hidden, out_dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for m in self.net:
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.net(x), dim=-1)


def moco_loss(q: torch.Tensor, k: torch.Tensor, queue: torch.Tensor, temperature: float) -> torch.Tensor:
    """InfoNCE of queries ``(n, d)`` against their keys ``(n, d)`` and the queue ``(K, d)``.

    All inputs are L2-normalised; the positive logit is in column 0.
    """
    pos = (q * k).sum(-1, keepdim=True)  # (n, 1)
    neg = q @ queue.t().to(q.dtype)  # (n, K)
    logits = torch.cat([pos, neg], dim=1) / temperature
    return F.cross_entropy(logits.float(), torch.zeros(q.shape[0], dtype=torch.long, device=q.device))


@torch.no_grad()
def momentum_update(online: nn.Module, momentum: nn.Module, m: float) -> None:
    """``momentum ← m · momentum + (1 − m) · online``, all parameters in one batched op."""
    mp = list(momentum.parameters())
    torch._foreach_mul_(mp, m)
    torch._foreach_add_(mp, [p.detach() for p in online.parameters()], alpha=1.0 - m)
    for b, bm in zip(online.buffers(), momentum.buffers()):
        bm.copy_(b)
