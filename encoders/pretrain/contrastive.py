"""Image–report contrastive loss: symmetric InfoNCE with negatives from every rank (CLIP-style).

Each rank scores its own scans against the reports of the whole job (and its reports against
all scans), so the number of negatives grows with the number of GPUs, as in MedMPT. Gathering
keeps gradients to the local features only, the standard "local loss" formulation.
"""

from __future__ import annotations

import math

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from kgdx.encoders.pretrain.distributed import gather_with_grad

__all__ = ["ImageReportContrastive"]


class ImageReportContrastive(nn.Module):
    """Project scan and report embeddings to a shared space and score matching pairs.

    Args:
        image_dim: Scan embedding width.
        text_dim: Report embedding width.
        proj_dim: Shared space width.
        init_temperature: Starting softmax temperature (learned, clamped to ≥ 0.01).
    """

    def __init__(self, image_dim: int, text_dim: int, proj_dim: int = 256, init_temperature: float = 0.07) -> None:
        super().__init__()
        self.image_proj = nn.Linear(image_dim, proj_dim)
        self.text_proj = nn.Linear(text_dim, proj_dim)
        self.init_temperature = init_temperature
        self.logit_scale = nn.Parameter(torch.zeros(()))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for lin in (self.image_proj, self.text_proj):
            nn.init.xavier_uniform_(lin.weight)
            nn.init.zeros_(lin.bias)
        with torch.no_grad():
            self.logit_scale.fill_(math.log(1.0 / self.init_temperature))

    def forward(self, image: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """Symmetric InfoNCE for ``image (B, Di)`` and ``text (B, Dt)`` of matching pairs."""
        if image.shape[0] != text.shape[0]:
            raise ValueError(f"need as many scans as reports, got {image.shape[0]} and {text.shape[0]}")
        img = F.normalize(self.image_proj(image), dim=-1)  # (B, P)
        txt = F.normalize(self.text_proj(text), dim=-1)  # (B, P)
        all_img, all_txt = gather_with_grad(img), gather_with_grad(txt)  # (B * world, P)
        scale = self.logit_scale.clamp(max=math.log(100.0)).exp()
        rank = dist.get_rank() if dist.is_available() and dist.is_initialized() else 0
        labels = torch.arange(img.shape[0], device=img.device) + rank * img.shape[0]
        li = scale * img @ all_txt.t()  # (B, B * world)
        lt = scale * txt @ all_img.t()
        return 0.5 * (F.cross_entropy(li.float(), labels) + F.cross_entropy(lt.float(), labels))
