"""The MedMPT-style CT encoder: per-slice ViT → slice-fusion transformer → (finding head).

Input is the preprocessed volume batch ``(B, S, C, H, W)`` (see :mod:`kgdx.encoders.preprocess`):
``S`` slices of ``C`` HU-window channels. Every slice goes through the same ViT; the per-slice
CLS vectors go through the fusion transformer, whose CLS is the scan embedding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from kgdx.encoders.config import CTEncoderCfg
from kgdx.encoders.finding_head import FindingHead
from kgdx.encoders.fusion import SliceFusion
from kgdx.encoders.vit import SliceViT, SliceViTOutput
from kgdx.ingest.volume import Volume

__all__ = ["CTEncoder", "CTEncoderOutput"]


@dataclass
class CTEncoderOutput:
    """Outputs of :meth:`CTEncoder.forward` for a batch of ``B`` scans of ``S`` slices.

    Attributes:
        scan_embedding: ``(B, D)`` fused CLS, the scan's embedding.
        slice_tokens: ``(B, S, D)`` fused slice tokens (for report generation, attention maps).
        slice_cls: ``(B, S, D_vit)`` per-slice ViT CLS vectors before fusion (slice-level MoCo).
        finding_logits: ``(B, F)`` finding-head logits, or ``None`` without a head.
        vit: The raw ViT output over the ``B * S`` slices (masks for MAE), flattened.
        patch_logits: ``(B, S, L, F)`` the lesion detector's logit per slice, patch (row-major
            over the ``image_size / patch_size`` grid) and finding, or ``None`` without one.
    """

    scan_embedding: torch.Tensor
    slice_tokens: torch.Tensor
    slice_cls: torch.Tensor
    finding_logits: torch.Tensor | None
    vit: SliceViTOutput
    patch_logits: torch.Tensor | None = None

    @property
    def finding_probs(self) -> torch.Tensor | None:
        """``(B, F)`` sigmoid of the logits, or ``None``."""
        return None if self.finding_logits is None else torch.sigmoid(self.finding_logits)


class CTEncoder(nn.Module):
    """Slice ViT + slice fusion (+ optional CT-finding head), built from a :class:`CTEncoderCfg`.

    Args:
        cfg: The model config (``create_encoder("ct-tiny")`` reads one by name).
        finding_head: Build the finding head when the config has one; pretraining passes
            ``False`` since the head is trained later, on labels.

    Example:
        >>> from kgdx.encoders import create_encoder
        >>> enc = create_encoder("ct-tiny")
        >>> out = enc(torch.zeros(2, 32, 3, 128, 128))
        >>> out.scan_embedding.shape, out.slice_tokens.shape, out.finding_probs.shape
        (torch.Size([2, 64]), torch.Size([2, 32, 64]), torch.Size([2, 16]))
    """

    def __init__(self, cfg: CTEncoderCfg, *, finding_head: bool = True) -> None:
        super().__init__()
        self.cfg = cfg
        self.slice_encoder = SliceViT(cfg.slice_encoder)
        self.fusion = SliceFusion(cfg.fusion, in_dim=cfg.slice_encoder.width)
        self.finding_head = (
            FindingHead(cfg.fusion.width, cfg.finding_head, patch_dim=cfg.slice_encoder.width)
            if finding_head and cfg.finding_head is not None
            else None
        )

    @property
    def embed_dim(self) -> int:
        """Width of the scan embedding and slice tokens."""
        return self.cfg.fusion.width

    @property
    def findings(self) -> tuple[str, ...]:
        """HPO ids the finding head scores (empty without a head)."""
        return self.finding_head.findings if self.finding_head is not None else ()

    def reset_parameters(self) -> None:
        self.slice_encoder.reset_parameters()
        self.fusion.reset_parameters()
        if self.finding_head is not None:
            self.finding_head.reset_parameters()

    def _check_input(self, x: torch.Tensor) -> None:
        s, c, size = self.cfg.fusion.num_slices, self.cfg.slice_encoder.in_channels, self.cfg.slice_encoder.image_size
        if x.ndim != 5 or tuple(x.shape[1:]) != (s, c, size, size):
            raise ValueError(f"expected a batch of shape (B, {s}, {c}, {size}, {size}), got {tuple(x.shape)}")

    def _with_context(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, S, C, H, W)`` → ``(B, S, C + 2k, H, W)``: each slice followed by the first window of
        the ``k = slice_encoder.context`` slices below and above it (the edge slice repeats)."""
        k = self.cfg.slice_encoder.context
        if not k:
            return x
        s = torch.arange(x.shape[1], device=x.device)
        near = [x[:, (s + d).clamp(0, x.shape[1] - 1), :1] for d in (*range(-k, 0), *range(1, k + 1))]
        return torch.cat([x, *near], dim=2)

    def encode_slices(self, x: torch.Tensor, mask_ratio: float = 0.0, chunk: int | None = None) -> SliceViTOutput:
        """Run the ViT over all ``B * S`` slices of ``x (B, S, C, H, W)``, ``chunk`` slices at a time.

        ``chunk`` bounds activation memory for large batches at inference; with masking it must
        stay ``None`` so the masks line up with one call.
        """
        self._check_input(x)
        flat = self._with_context(x).flatten(0, 1)  # (B*S, C [+ 2 * context], H, W)
        if chunk is None or chunk >= flat.shape[0]:
            return self.slice_encoder(flat, mask_ratio)
        if mask_ratio > 0:
            raise ValueError("'chunk' is for inference; masking needs one pass (chunk=None)")
        parts = [self.slice_encoder(part) for part in flat.split(chunk)]
        c = torch.cat([o.cls for o in parts])
        if self.finding_head is not None and self.finding_head.detector is not None:  # the detector reads the patches
            return SliceViTOutput(c, torch.cat([o.tokens for o in parts]), None, None)
        return SliceViTOutput(c, c.unsqueeze(1), None, None)

    def forward(self, x: torch.Tensor, mask_ratio: float = 0.0, chunk: int | None = None) -> CTEncoderOutput:
        """Encode preprocessed volumes ``x (B, S, C, H, W)``."""
        b, s = x.shape[0], x.shape[1] if x.ndim == 5 else 0
        vit = self.encode_slices(x, mask_ratio, chunk)
        slice_cls = vit.cls.view(b, s, -1)  # (B, S, D_vit)
        scan, tokens = self.fusion(slice_cls)  # (B, D), (B, S, D)
        logits = patch_logits = None
        if self.finding_head is not None:
            logits = self.finding_head(scan)
            if self.finding_head.detector is not None and vit.mask is None:
                patch_logits = self.finding_head.detect(vit.tokens[:, 1:].reshape(b, s, -1, vit.tokens.shape[-1]))
                logits = self.finding_head.stacked(logits, patch_logits)
        return CTEncoderOutput(scan, tokens, slice_cls, logits, vit, patch_logits)

    @torch.inference_mode()
    def embed(
        self, volumes: Sequence[Volume] | Volume, *, batch_size: int = 2, chunk: int | None = 64
    ) -> tuple[np.ndarray, list[dict[str, float]] | None]:
        """Preprocess and encode volumes; return scan embeddings ``(N, D)`` and finding probabilities.

        The convenience path for a few scans (CLI, notebooks): preprocessing follows
        ``cfg.preprocess`` without augmentation, and the model runs in eval mode.
        """
        from kgdx.encoders.preprocess import CTPreprocessor

        vols = [volumes] if isinstance(volumes, Volume) else list(volumes)
        if not vols:
            raise ValueError("'volumes' is empty")
        pre = CTPreprocessor(self.cfg.preprocess)
        was_training = self.training
        self.eval()
        device = next(self.parameters()).device
        embs, probs = [], []
        try:
            for i in range(0, len(vols), batch_size):
                x = torch.stack([pre(v) for v in vols[i : i + batch_size]]).to(device)  # (b, S, C, H, W)
                out = self(x, chunk=chunk)
                embs.append(out.scan_embedding.float().cpu().numpy())
                if out.finding_probs is not None:
                    probs += [dict(zip(self.findings, p.tolist())) for p in out.finding_probs.float().cpu()]
        finally:
            self.train(was_training)
        return np.concatenate(embs), (probs if self.finding_head is not None else None)
