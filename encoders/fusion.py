"""The slice-fusion transformer: MedMPT's step from per-slice CLS vectors to one scan vector.

A learned CLS token is prepended to the slice vectors, a learned position embedding says which
slice is which (the slices are in inferior → superior order), and ``TransformerEncoder`` layers
(MedMPT: 2 layers, 8 heads, FFN 3072) mix them. The scan embedding is the output CLS; the slice
tokens are kept for the report-generation decoder to attend to.
"""

from __future__ import annotations

import torch
from torch import nn

from kgdx.encoders.config import SliceFusionCfg
from kgdx.encoders.vit import init_transformer_weights, transformer_stack

__all__ = ["SliceFusion"]


class SliceFusion(nn.Module):
    """Fuse ``(B, S, D_in)`` slice vectors into a scan vector ``(B, D)`` and slice tokens ``(B, S, D)``.

    Args:
        cfg: Slice count, width, depth, heads, FFN size, dropout.
        in_dim: Width of the incoming slice vectors; projected to ``cfg.width`` if different.
    """

    def __init__(self, cfg: SliceFusionCfg, in_dim: int) -> None:
        super().__init__()
        if in_dim <= 0:
            raise ValueError(f"'in_dim' must be positive, got {in_dim}")
        self.cfg = cfg
        self.in_dim = in_dim
        self.proj = nn.Linear(in_dim, cfg.width) if in_dim != cfg.width else nn.Identity()
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.width))
        self.pos_embed = nn.Parameter(torch.zeros(1, cfg.num_slices + 1, cfg.width))
        self.encoder = transformer_stack(cfg.width, cfg.depth, cfg.heads, cfg.ffn, cfg.dropout)
        self.norm = nn.LayerNorm(cfg.width)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.cls_token, std=0.02)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        init_transformer_weights(self)

    def forward(self, slices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(scan (B, D), slice_tokens (B, S, D))``."""
        s, d = self.cfg.num_slices, self.in_dim
        if slices.ndim != 3 or slices.shape[1:] != (s, d):
            raise ValueError(f"expected slice vectors of shape (B, {s}, {d}), got {tuple(slices.shape)}")
        x = self.proj(slices)  # (B, S, D)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed  # (B, 1+S, D)
        x = self.norm(self.encoder(x))
        return x[:, 0], x[:, 1:]

    def extra_repr(self) -> str:
        c = self.cfg
        return f"num_slices={c.num_slices}, in_dim={self.in_dim}, width={c.width}, depth={c.depth}, heads={c.heads}"
