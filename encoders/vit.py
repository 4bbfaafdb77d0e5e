"""The per-slice ViT of the CT encoder, MAE-style (He et al. 2022), as MedMPT uses it.

Patches come from MONAI's ``PatchEmbeddingBlock`` with fixed 2-D sin-cos positions; the blocks
are PyTorch's pre-norm ``TransformerEncoderLayer`` (GELU), i.e. the ViT block. With
``mask_ratio > 0`` the encoder sees only a random subset of patches, MAE's trick that MedMPT
uses with a low ratio (0.2) so the same pass serves contrastive learning and reconstruction.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from monai.networks.blocks import PatchEmbeddingBlock
from torch import nn

from kgdx.encoders.config import SliceViTCfg

__all__ = ["SliceViT", "SliceViTOutput", "init_transformer_weights"]


class SliceViTOutput(NamedTuple):
    """What the slice ViT returns for ``N`` slices.

    Attributes:
        cls: ``(N, D)`` CLS vector per slice.
        tokens: ``(N, 1 + L_kept, D)`` all output tokens, CLS first.
        mask: ``(N, L)`` 1 where a patch was hidden, or ``None`` without masking.
        ids_restore: ``(N, L)`` permutation that restores patch order, or ``None``.
    """

    cls: torch.Tensor
    tokens: torch.Tensor
    mask: torch.Tensor | None
    ids_restore: torch.Tensor | None


def init_transformer_weights(module: nn.Module) -> None:
    """MAE/ViT initialisation: Xavier-uniform linears with zero bias, unit LayerNorms."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.MultiheadAttention):
            if m.in_proj_weight is not None:
                nn.init.xavier_uniform_(m.in_proj_weight)
            if m.in_proj_bias is not None:
                nn.init.zeros_(m.in_proj_bias)


def transformer_stack(width: int, depth: int, heads: int, ffn: int, dropout: float) -> nn.TransformerEncoder:
    """``depth`` pre-norm GELU transformer blocks, batch-first."""
    layer = nn.TransformerEncoderLayer(width, heads, ffn, dropout, activation="gelu", batch_first=True, norm_first=True)
    return nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)


class SliceViT(nn.Module):
    """ViT over one 2-D slice (``in_channels`` HU windows), returning a CLS vector per slice.

    Args:
        cfg: Image and patch size, width, depth, heads, MLP ratio.

    Example:
        >>> vit = SliceViT(SliceViTCfg(image_size=32, patch_size=16, width=32, depth=1, heads=4))
        >>> vit(torch.zeros(5, 3, 32, 32)).cls.shape
        torch.Size([5, 32])
    """

    def __init__(self, cfg: SliceViTCfg) -> None:
        super().__init__()
        self.cfg = cfg
        self.patch_embed = PatchEmbeddingBlock(
            in_channels=cfg.in_channels,
            img_size=cfg.image_size,
            patch_size=cfg.patch_size,
            hidden_size=cfg.width,
            num_heads=cfg.heads,
            proj_type="conv",
            pos_embed_type="sincos",
            dropout_rate=0.0,
            spatial_dims=2,
        )
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.width))
        self.blocks = transformer_stack(cfg.width, cfg.depth, cfg.heads, int(cfg.width * cfg.mlp_ratio), cfg.dropout)
        self.norm = nn.LayerNorm(cfg.width)
        self.reset_parameters()

    @property
    def num_patches(self) -> int:
        return self.cfg.num_patches

    def reset_parameters(self) -> None:
        """Re-draw all learned weights (the sin-cos positions are fixed)."""
        w = self.patch_embed.patch_embeddings.weight
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))  # MAE: treat the conv as a linear layer
        nn.init.zeros_(self.patch_embed.patch_embeddings.bias)
        nn.init.normal_(self.cls_token, std=0.02)
        init_transformer_weights(self.blocks)
        nn.init.ones_(self.norm.weight)
        nn.init.zeros_(self.norm.bias)

    @staticmethod
    def random_masking(x: torch.Tensor, mask_ratio: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Keep a random ``1 - mask_ratio`` of the patches of each slice (MAE's per-sample shuffle).

        Returns:
            kept ``(N, L_keep, D)``, mask ``(N, L)`` (1 = hidden), ids_restore ``(N, L)``.
        """
        n, length, d = x.shape
        keep = max(1, int(round(length * (1 - mask_ratio))))
        noise = torch.rand(n, length, device=x.device)
        ids_shuffle = noise.argsort(dim=1)
        ids_restore = ids_shuffle.argsort(dim=1)
        ids_keep = ids_shuffle[:, :keep]
        kept = x.gather(1, ids_keep.unsqueeze(-1).expand(-1, -1, d))
        mask = torch.ones(n, length, device=x.device)
        mask[:, :keep] = 0
        mask = mask.gather(1, ids_restore)
        return kept, mask, ids_restore

    def forward(self, x: torch.Tensor, mask_ratio: float = 0.0) -> SliceViTOutput:
        """Encode slices ``(N, C, H, W)``; ``mask_ratio > 0`` hides random patches (pretraining)."""
        c, size = self.cfg.in_channels, self.cfg.image_size
        if x.ndim != 4 or x.shape[1] != c or x.shape[-2:] != (size, size):
            raise ValueError(f"expected slices of shape (N, {c}, {size}, {size}), got {tuple(x.shape)}")
        if not 0 <= mask_ratio < 1:
            raise ValueError(f"'mask_ratio' must be in [0, 1), got {mask_ratio}")
        tokens = self.patch_embed(x)  # (N, L, D), positions added
        mask = ids_restore = None
        if mask_ratio > 0:
            tokens, mask, ids_restore = self.random_masking(tokens, mask_ratio)  # (N, L_keep, D)
        cls = self.cls_token.expand(tokens.shape[0], -1, -1)
        tokens = self.norm(self.blocks(torch.cat([cls, tokens], dim=1)))  # (N, 1 + L_keep, D)
        return SliceViTOutput(tokens[:, 0], tokens, mask, ids_restore)

    def extra_repr(self) -> str:
        c = self.cfg
        return (
            f"image_size={c.image_size}, patch_size={c.patch_size}, width={c.width}, depth={c.depth}, heads={c.heads}"
        )
