"""The pretraining model: the CT encoder with everything its five objectives need.

One forward pass computes every enabled loss:

* the online encoder sees view 1 with ``mask_ratio`` of each slice's patches hidden (0.2 when
  MAE is on, MedMPT's choice, so that one pass serves all objectives);
* the momentum encoder sees view 2 whole and gives the MoCo keys (slice CLS and scan CLS);
* the text encoder embeds the report for the image–report loss;
* the MAE decoder reconstructs the hidden patches of view 1;
* the report decoder predicts the report from the fused slice tokens.

Modules of a loss whose weight is 0 are not built, so DDP never waits for gradients that no
loss produces.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from kgdx.encoders.config import CTEncoderCfg
from kgdx.encoders.ct_encoder import CTEncoder
from kgdx.encoders.pretrain.config import PretrainConfig
from kgdx.encoders.pretrain.contrastive import ImageReportContrastive
from kgdx.encoders.pretrain.mae import MAEDecoder
from kgdx.encoders.pretrain.moco import KeyQueue, ProjectionHead, moco_loss, momentum_update
from kgdx.encoders.pretrain.report_decoder import ReportDecoder
from kgdx.encoders.text import TextEncoder

__all__ = ["PretrainModel"]


class PretrainModel(nn.Module):
    """CT encoder + momentum encoder + queues + text encoder + MAE and report decoders.

    Args:
        encoder_cfg: The CT encoder's config (its ``mae_decoder`` part sizes the MAE decoder).
        cfg: The run's config (loss weights, MoCo, contrastive, report decoder).
        text_encoder: A loaded text encoder, or ``None`` to load ``cfg.text_model`` (only when
            the image–report or report loss is on).
    """

    def __init__(self, encoder_cfg: CTEncoderCfg, cfg: PretrainConfig, text_encoder: TextEncoder | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        self.weights = cfg.losses.enabled()
        w = self.weights
        self.encoder = CTEncoder(encoder_cfg, finding_head=False)
        vit_w, emb = encoder_cfg.slice_encoder.width, encoder_cfg.fusion.width
        self.use_moco = "moco_slice" in w or "moco_scan" in w
        if self.use_moco:
            self.encoder_m = copy.deepcopy(self.encoder).requires_grad_(False)
        if "moco_slice" in w:
            self.slice_proj = ProjectionHead(vit_w, cfg.moco.proj_dim)
            self.slice_proj_m = copy.deepcopy(self.slice_proj).requires_grad_(False)
            self.slice_queue = KeyQueue(cfg.moco.proj_dim, cfg.moco.slice_queue)
        if "moco_scan" in w:
            self.scan_proj = ProjectionHead(emb, cfg.moco.proj_dim)
            self.scan_proj_m = copy.deepcopy(self.scan_proj).requires_grad_(False)
            self.scan_queue = KeyQueue(cfg.moco.proj_dim, cfg.moco.scan_queue)
        self.text_encoder: TextEncoder | None = None
        if "itc" in w or "report" in w:
            self.text_encoder = text_encoder if text_encoder is not None else TextEncoder(cfg.text_model)
            if cfg.freeze_text:
                self.text_encoder.requires_grad_(False)
            elif "itc" not in w:
                # Only the tied word embeddings are used without the image–report loss.
                self.text_encoder.requires_grad_(False)
                self.text_encoder.word_embeddings.requires_grad_(True)
        if "itc" in w:
            assert self.text_encoder is not None
            self.itc = ImageReportContrastive(
                emb, self.text_encoder.embed_dim, cfg.itc.proj_dim, cfg.itc.init_temperature
            )
        if "mae" in w:
            v = encoder_cfg.slice_encoder
            self.mae_decoder = MAEDecoder(vit_w, v.image_size, v.patch_size, v.in_channels, encoder_cfg.mae_decoder)
        if "report" in w:
            assert self.text_encoder is not None
            self.report_decoder = ReportDecoder(self.text_encoder.word_embeddings, emb, cfg.report)

    @property
    def mask_ratio(self) -> float:
        return self.encoder.cfg.mae_decoder.mask_ratio if "mae" in self.weights else 0.0

    def momentum_step(self) -> None:
        """EMA update of the momentum encoder and heads; call after each optimiser step."""
        if not self.use_moco:
            return
        m = self.cfg.moco.momentum
        momentum_update(self.encoder, self.encoder_m, m)
        if "moco_slice" in self.weights:
            momentum_update(self.slice_proj, self.slice_proj_m, m)
        if "moco_scan" in self.weights:
            momentum_update(self.scan_proj, self.scan_proj_m, m)

    def forward(
        self,
        view1: torch.Tensor,
        view2: torch.Tensor,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Unweighted losses by name, plus ``total`` (weighted sum). Views are ``(B, S, C, H, W)``."""
        out = self.encoder(view1, mask_ratio=self.mask_ratio)
        losses: dict[str, torch.Tensor] = {}
        t = self.cfg.moco.temperature
        if self.use_moco:
            with torch.no_grad():
                out_k = self.encoder_m(view2)
            if "moco_slice" in self.weights:
                q = self.slice_proj(out.slice_cls.flatten(0, 1))  # (B*S, P)
                with torch.no_grad():
                    k = self.slice_proj_m(out_k.slice_cls.flatten(0, 1))
                losses["moco_slice"] = moco_loss(
                    q, k, self.slice_queue.keys.clone(), t
                )  # clone: enqueue writes in place
                self.slice_queue.enqueue(k)
            if "moco_scan" in self.weights:
                q = self.scan_proj(out.scan_embedding)  # (B, P)
                with torch.no_grad():
                    k = self.scan_proj_m(out_k.scan_embedding)
                losses["moco_scan"] = moco_loss(q, k, self.scan_queue.keys.clone(), t)
                self.scan_queue.enqueue(k)
        if self.text_encoder is not None:
            if input_ids is None or attention_mask is None:
                raise ValueError("the image–report and report losses need input_ids and attention_mask")
            if "itc" in self.weights:
                text = self.text_encoder(input_ids, attention_mask)  # (B, E)
                losses["itc"] = self.itc(out.scan_embedding, text)
            if "report" in self.weights:
                losses["report"] = self.report_decoder.loss(input_ids, attention_mask, out.slice_tokens)
        if "mae" in self.weights:
            pred = self.mae_decoder(out.vit.tokens, out.vit.ids_restore)  # (B*S, L, p*p*C)
            losses["mae"] = self.mae_decoder.loss(view1.flatten(0, 1), pred, out.vit.mask)
        losses["total"] = sum(self.weights[k] * v for k, v in losses.items())
        return losses
