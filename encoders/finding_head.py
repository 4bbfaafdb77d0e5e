"""The CT-finding head: scan embedding → one probability per HPO finding term.

Why a multi-label sigmoid head and not a softmax: a scan can show several findings at once
(emphysema and a nodule and an effusion), and each probability becomes the weight of an edge
from the patient to that phenotype node in the KG. The terms are fixed by the config
(default :data:`kgdx.encoders.ct_findings.CT_FINDINGS`) and recorded in checkpoints.

An untrained head gives probabilities near 0.5 that mean nothing; train it (linear probe or
fine-tuning) on labelled scans before its output is used as evidence.
"""

from __future__ import annotations

import torch
from torch import nn

from kgdx.encoders.config import FindingHeadCfg

__all__ = ["FindingHead"]


class FindingHead(nn.Module):
    """Linear (or one-hidden-layer MLP) multi-label head over ``cfg.findings``.

    Args:
        in_dim: Width of the scan embedding.
        cfg: The HPO ids it scores, optional hidden width and dropout.
    """

    def __init__(self, in_dim: int, cfg: FindingHeadCfg) -> None:
        super().__init__()
        if in_dim <= 0:
            raise ValueError(f"'in_dim' must be positive, got {in_dim}")
        self.cfg = cfg
        self.in_dim = in_dim
        layers: list[nn.Module] = [nn.LayerNorm(in_dim), nn.Dropout(cfg.dropout)]
        if cfg.hidden:
            layers += [nn.Linear(in_dim, cfg.hidden), nn.GELU(), nn.Linear(cfg.hidden, len(cfg.findings))]
        else:
            layers.append(nn.Linear(in_dim, len(cfg.findings)))
        self.net = nn.Sequential(*layers)
        self.reset_parameters()

    @property
    def findings(self) -> tuple[str, ...]:
        return self.cfg.findings

    def reset_parameters(self) -> None:
        for m in self.net:
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                m.reset_parameters()

    def forward(self, scan: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, F)`` for scan embeddings ``(B, D)``."""
        if scan.ndim != 2 or scan.shape[1] != self.in_dim:
            raise ValueError(f"expected scan embeddings of shape (B, {self.in_dim}), got {tuple(scan.shape)}")
        return self.net(scan)

    def probabilities(self, scan: torch.Tensor) -> list[dict[str, float]]:
        """Per scan, HPO id → probability."""
        probs = torch.sigmoid(self.forward(scan)).float().cpu()
        return [dict(zip(self.findings, row.tolist())) for row in probs]

    def extra_repr(self) -> str:
        return f"in_dim={self.in_dim}, findings={len(self.findings)}, hidden={self.cfg.hidden}"
