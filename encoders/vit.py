"""The per-slice ViT of the CT encoder, MAE-style (He et al. 2022), as MedMPT uses it.

Patches come from MONAI's ``PatchEmbeddingBlock`` with fixed 2-D sin-cos positions (or, with
``stem="conv"``, from a small convolutional stem with the same positions); the blocks
are PyTorch's pre-norm ``TransformerEncoderLayer`` (GELU), i.e. the ViT block. With
``mask_ratio > 0`` the encoder sees only a random subset of patches, MAE's trick that MedMPT
uses with a low ratio (0.2) so the same pass serves contrastive learning and reconstruction.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from monai.networks.blocks import PatchEmbeddingBlock
from monai.networks.blocks.pos_embed_utils import build_sincos_position_embedding
from torch import nn

from kgdx.encoders.config import SliceViTCfg

__all__ = ["ConvStem", "SliceViT", "SliceViTOutput", "init_transformer_weights"]


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


class ConvStem(nn.Module):
    """Slices ``(N, C, H, W)`` → patch tokens ``(N, L, D)`` with 2-D sin-cos positions added, through
    ``log2(patch_size)`` 3×3 stride-2 convolutions (BatchNorm, ReLU) and a 1×1 projection.

    A drop-in for ``PatchEmbeddingBlock``: the same token grid, so MAE masking and patch-level
    labels work unchanged. Convolutions bring the locality a ViT would otherwise have to learn
    from data, which a few hundred labelled volumes cannot teach it.
    """

    def __init__(self, cfg: SliceViTCfg) -> None:
        super().__init__()
        n = cfg.patch_size.bit_length() - 1  # stride-2 layers
        chans = [max(16, cfg.width >> (n - 1 - i)) for i in range(n)]
        layers: list[nn.Module] = []
        c_in = cfg.input_channels
        for c in chans:
            layers += [nn.Conv2d(c_in, c, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
            c_in = c
        layers.append(nn.Conv2d(c_in, cfg.width, 1))
        self.convs = nn.Sequential(*layers)
        grid = cfg.image_size // cfg.patch_size
        self.position_embeddings = build_sincos_position_embedding([grid, grid], cfg.width, spatial_dims=2)

    def reset_parameters(self) -> None:
        for m in self.convs.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.convs(x).flatten(2).transpose(1, 2) + self.position_embeddings


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
        self.patch_embed: nn.Module = (
            ConvStem(cfg)
            if cfg.stem == "conv"
            else PatchEmbeddingBlock(
                in_channels=cfg.input_channels,
                img_size=cfg.image_size,
                patch_size=cfg.patch_size,
                hidden_size=cfg.width,
                num_heads=cfg.heads,
                proj_type="conv",
                pos_embed_type="sincos",
                dropout_rate=0.0,
                spatial_dims=2,
            )
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
        if isinstance(self.patch_embed, ConvStem):
            self.patch_embed.reset_parameters()
        else:
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
        """Encode slices ``(N, C, H, W)`` (``C`` = ``cfg.input_channels``); ``mask_ratio > 0`` hides
        random patches (pretraining)."""
        c, size = self.cfg.input_channels, self.cfg.image_size
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
            f"image_size={c.image_size}, patch_size={c.patch_size}, width={c.width}, depth={c.depth}, "
            f"heads={c.heads}, stem={c.stem}"
        )
