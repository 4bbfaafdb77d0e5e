"""The light MAE decoder (MedMPT: 512-d, 4 layers) and the masked-patch pixel loss.

The decoder takes the encoder's visible tokens, puts learned mask tokens where patches were
hidden, adds fixed sin-cos positions and predicts the pixels of every patch; the loss is the
mean squared error on hidden patches only, against per-patch normalised pixels (MAE's
``norm_pix_loss``) by default.
"""

from __future__ import annotations

import torch
from monai.networks.blocks.pos_embed_utils import build_sincos_position_embedding
from torch import nn

from kgdx.encoders.config import MAEDecoderCfg
from kgdx.encoders.vit import init_transformer_weights, transformer_stack

__all__ = ["MAEDecoder", "patchify"]


def patchify(imgs: torch.Tensor, patch: int) -> torch.Tensor:
    """``(N, C, H, W)`` → ``(N, L, patch² · C)`` in the patch order of the ViT (row-major)."""
    n, c, h, w = imgs.shape
    if h % patch or w % patch:
        raise ValueError(f"image size {(h, w)} is not divisible by the patch size {patch}")
    x = imgs.reshape(n, c, h // patch, patch, w // patch, patch)
    x = torch.einsum("nchpwq->nhwpqc", x)
    return x.reshape(n, (h // patch) * (w // patch), patch * patch * c)


class MAEDecoder(nn.Module):
    """Reconstruct hidden patches from the slice ViT's visible tokens.

    Args:
        enc_width: Width of the slice ViT.
        image_size: Slice side in pixels.
        patch_size: ViT patch side.
        in_channels: Channels per slice (HU windows).
        cfg: Decoder width, depth, heads, mask ratio, norm_pix_loss.
    """

    def __init__(self, enc_width: int, image_size: int, patch_size: int, in_channels: int, cfg: MAEDecoderCfg) -> None:
        super().__init__()
        self.cfg = cfg
        self.patch_size = patch_size
        grid = image_size // patch_size
        self.num_patches = grid * grid
        self.embed = nn.Linear(enc_width, cfg.width)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, cfg.width))
        pos = build_sincos_position_embedding((grid, grid), cfg.width, spatial_dims=2)  # (1, L, W), fixed
        self.register_buffer("pos_embed", torch.cat([torch.zeros(1, 1, cfg.width), pos.data], dim=1), persistent=False)
        self.blocks = transformer_stack(cfg.width, cfg.depth, cfg.heads, 4 * cfg.width, 0.0)
        self.norm = nn.LayerNorm(cfg.width)
        self.pred = nn.Linear(cfg.width, patch_size * patch_size * in_channels)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.mask_token, std=0.02)
        init_transformer_weights(self)

    def forward(self, tokens: torch.Tensor, ids_restore: torch.Tensor) -> torch.Tensor:
        """Predict pixels ``(N, L, p²C)`` from visible tokens ``(N, 1 + L_keep, D)`` (CLS first)."""
        x = self.embed(tokens)  # (N, 1+L_keep, W)
        n, keep = x.shape[0], x.shape[1] - 1
        masks = self.mask_token.expand(n, self.num_patches - keep, -1)
        body = torch.cat([x[:, 1:], masks], dim=1)  # (N, L, W) in shuffled order
        body = body.gather(1, ids_restore.unsqueeze(-1).expand(-1, -1, x.shape[2]))  # back to patch order
        x = torch.cat([x[:, :1], body], dim=1) + self.pos_embed.to(x.dtype)
        x = self.norm(self.blocks(x))
        return self.pred(x[:, 1:])

    def loss(self, imgs: torch.Tensor, pred: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Mean squared error over hidden patches; ``imgs (N, C, H, W)``, ``mask (N, L)`` 1 = hidden."""
        target = patchify(imgs, self.patch_size)
        if self.cfg.norm_pix_loss:
            mean = target.mean(-1, keepdim=True)
            var = target.var(-1, keepdim=True)
            target = (target - mean) / (var + 1e-6).sqrt()
        err = ((pred.float() - target.float()) ** 2).mean(-1)  # (N, L)
        return (err * mask).sum() / mask.sum().clamp(min=1.0)

    def extra_repr(self) -> str:
        c = self.cfg
        return f"width={c.width}, depth={c.depth}, heads={c.heads}, mask_ratio={c.mask_ratio}"
