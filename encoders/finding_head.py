"""The CT-finding head: scan embedding → one probability per HPO finding term.

Why a multi-label sigmoid head and not a softmax: a scan can show several findings at once
(emphysema and a nodule and an effusion), and each probability becomes the weight of an edge
from the patient to that phenotype node in the KG. The terms are fixed by the config
(default :data:`kgdx.encoders.ct_findings.CT_FINDINGS`) and recorded in checkpoints.

An untrained head gives probabilities near 0.5 that mean nothing; train it (linear probe or
fine-tuning) on labelled scans before its output is used as evidence.

With ``detector`` in the config the head also has a lesion detector: a small MLP (or a linear
layer) over the slice ViT's patch tokens, one logit per finding and patch, trained on patch
labels read off lesion masks. Why: a 1 cm nodule covers one 16-px patch of one or two slices, and
the scan embedding, pooled over 32 slices of 64 patches, averages it away. Each finding's score
is then ``w_scan · head logit + w_det · (mean of the detector's top-k patch logits) + b``, with
the weights fitted on held-out scans (:func:`kgdx.encoders.train_ct_head.fit_detector`); the
patch logits are also a map of where each finding is.
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
        cfg: The HPO ids it scores, optional hidden width and dropout, and the detector.
        patch_dim: Width of the slice ViT's patch tokens (needed with ``cfg.detector``).
    """

    def __init__(self, in_dim: int, cfg: FindingHeadCfg, patch_dim: int | None = None) -> None:
        super().__init__()
        if in_dim <= 0:
            raise ValueError(f"'in_dim' must be positive, got {in_dim}")
        if cfg.detector and not (patch_dim and patch_dim > 0):
            raise ValueError(f"a finding head with a detector needs a positive 'patch_dim', got {patch_dim}")
        self.cfg = cfg
        self.in_dim = in_dim
        n = len(cfg.findings)
        layers: list[nn.Module] = [nn.LayerNorm(in_dim), nn.Dropout(cfg.dropout)]
        if cfg.hidden:
            layers += [nn.Linear(in_dim, cfg.hidden), nn.GELU(), nn.Linear(cfg.hidden, n)]
        else:
            layers.append(nn.Linear(in_dim, n))
        self.net = nn.Sequential(*layers)
        self.detector: nn.Module | None = None
        if cfg.detector:
            h = cfg.detector_hidden
            self.detector = (
                nn.Sequential(nn.Linear(patch_dim, h), nn.GELU(), nn.Linear(h, n)) if h else nn.Linear(patch_dim, n)
            )
        # (w_scan, w_det) and b per finding; (1, 0) and 0 until fitted: the scan head alone.
        self.stack_weight = nn.Parameter(torch.tensor([1.0, 0.0]).repeat(n, 1)) if cfg.detector else None
        self.stack_bias = nn.Parameter(torch.zeros(n)) if cfg.detector else None
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
        if self.detector is not None:
            for m in self.detector.modules():
                if isinstance(m, nn.Linear):
                    m.reset_parameters()
            with torch.no_grad():
                self.stack_weight.copy_(torch.tensor([1.0, 0.0]).expand_as(self.stack_weight))
                self.stack_bias.zero_()

    def forward(self, scan: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, F)`` for scan embeddings ``(B, D)``."""
        if scan.ndim != 2 or scan.shape[1] != self.in_dim:
            raise ValueError(f"expected scan embeddings of shape (B, {self.in_dim}), got {tuple(scan.shape)}")
        return self.net(scan)

    def detect(self, patches: torch.Tensor) -> torch.Tensor:
        """The detector's logits ``(B, S, L, F)`` for patch tokens ``(B, S, L, D_vit)``."""
        if self.detector is None:
            raise ValueError("this finding head has no detector (finding_head.detector is off)")
        return self.detector(patches)

    def pool(self, patch_logits: torch.Tensor) -> torch.Tensor:
        """Scan-level detector scores ``(B, F)``: the mean of each finding's top-k patch logits."""
        flat = patch_logits.flatten(1, 2)  # (B, S * L, F)
        k = min(self.cfg.detector_topk, flat.shape[1])
        return flat.topk(k, dim=1).values.mean(1)

    def stacked(self, scan_logits: torch.Tensor, patch_logits: torch.Tensor) -> torch.Tensor:
        """The finding logits ``(B, F)`` from the scan head's logits and the detector's patch logits."""
        w = self.stack_weight
        return w[:, 0] * scan_logits + w[:, 1] * self.pool(patch_logits) + self.stack_bias

    def probabilities(self, scan: torch.Tensor) -> list[dict[str, float]]:
        """Per scan, HPO id → probability of the scan head alone (the encoder's ``finding_probs``
        add the detector, which needs the patch tokens)."""
        probs = torch.sigmoid(self.forward(scan)).float().cpu()
        return [dict(zip(self.findings, row.tolist())) for row in probs]

    def extra_repr(self) -> str:
        det = (
            f", detector=top{self.cfg.detector_topk}, detector_hidden={self.cfg.detector_hidden}"
            if self.detector is not None
            else ""
        )
        return f"in_dim={self.in_dim}, findings={len(self.findings)}, hidden={self.cfg.hidden}{det}"
