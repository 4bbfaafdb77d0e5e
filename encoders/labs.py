"""The lab encoder, MedMPT-style: scaled value × per-test embedding, missing masked, transformer.

Each test ``t`` of the panel has two learned vectors: ``v_t``, multiplied by the value scaled to
its reference range (``low → −1``, ``high → +1``, :func:`kgdx.ingest.labs.scale_to_reference`), and
``e_t``, added so the token still says which test it is when the scaled value is 0 (mid-range).
Tests not measured are left out of attention (a key-padding mask), and a CLS token, always
present, gives the panel embedding, so even an empty panel encodes to a defined vector.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from kgdx.encoders.config import LabEncoderCfg
from kgdx.encoders.lab_panel import DEFAULT_TESTS, reference_range
from kgdx.encoders.vit import init_transformer_weights, transformer_stack
from kgdx.ingest.labs import LabResult, latest_by_test, scale_to_reference

__all__ = ["LabEncoder", "LabBatch", "LabEncoderOutput"]


@dataclass
class LabBatch:
    """Lab panels as tensors for :class:`LabEncoder`.

    Attributes:
        values: ``(B, T)`` values scaled to their reference range (0 where missing).
        present: ``(B, T)`` True where the test was measured.
        unknown: Per panel, LOINC codes that are not in the encoder's panel (ignored).
    """

    values: torch.Tensor
    present: torch.Tensor
    unknown: list[list[str]]


@dataclass
class LabEncoderOutput:
    """``embedding (B, D)``: the CLS output; ``tokens (B, T, D)``: one per test."""

    embedding: torch.Tensor
    tokens: torch.Tensor


class LabEncoder(nn.Module):
    """Encode lab panels over a fixed list of LOINC tests.

    Args:
        cfg: Tests, width, depth (MedMPT: 4 layers), heads, FFN width, dropout, clip.

    Example:
        >>> from kgdx.ingest.labs import LabResult
        >>> enc = LabEncoder(LabEncoderCfg(width=32, depth=1, heads=4, ffn=64))
        >>> enc.encode([[LabResult("718-7", 9.1, "g/dL", 12.0, 17.5)]]).shape
        (1, 32)
    """

    def __init__(self, cfg: LabEncoderCfg | None = None) -> None:
        super().__init__()
        cfg = cfg or LabEncoderCfg()
        self.cfg = cfg
        self.tests: tuple[str, ...] = DEFAULT_TESTS if cfg.tests == "default" else tuple(cfg.tests)
        self.index = {code: i for i, code in enumerate(self.tests)}
        n, d = len(self.tests), cfg.width
        self.value_embed = nn.Parameter(torch.empty(n, d))
        self.test_embed = nn.Parameter(torch.empty(n, d))
        self.cls_token = nn.Parameter(torch.empty(1, 1, d))
        self.encoder = transformer_stack(d, cfg.depth, cfg.heads, cfg.ffn, cfg.dropout)
        self.norm = nn.LayerNorm(d)
        self.reset_parameters()

    @property
    def embed_dim(self) -> int:
        return self.cfg.width

    @property
    def num_tests(self) -> int:
        return len(self.tests)

    def reset_parameters(self) -> None:
        nn.init.normal_(self.value_embed, std=0.02)
        nn.init.normal_(self.test_embed, std=0.02)
        nn.init.normal_(self.cls_token, std=0.02)
        init_transformer_weights(self.encoder)
        self.norm.reset_parameters()

    def tensorize(self, panels: Sequence[Iterable[LabResult]]) -> LabBatch:
        """Turn panels (each an iterable of results, e.g. one lab table) into a :class:`LabBatch`.

        The latest measured value per test is used; rows without their own range fall back to
        the panel default (:func:`kgdx.encoders.lab_panel.reference_range`).

        Raises:
            ValueError: naming the test (and its line) when no reference range can be found.
        """
        b, t = len(panels), self.num_tests
        values = torch.zeros(b, t)
        present = torch.zeros(b, t, dtype=torch.bool)
        unknown: list[list[str]] = []
        for i, panel in enumerate(panels):
            unk = []
            for code, r in latest_by_test(panel).items():
                j = self.index.get(code)
                if j is None:
                    unk.append(code)
                    continue
                if r.value is None:
                    continue
                try:
                    low, high = reference_range(r)
                    values[i, j] = scale_to_reference(r.value, low, high, clip=self.cfg.clip)
                except ValueError as e:
                    where = f" (line {r.line})" if r.line else ""
                    raise ValueError(f"panel {i}{where}: {e}") from None
                present[i, j] = True
            unknown.append(sorted(unk))
        return LabBatch(values, present, unknown)

    def forward(self, values: torch.Tensor, present: torch.Tensor) -> LabEncoderOutput:
        """Encode scaled values ``(B, T)`` with their presence mask ``(B, T)``."""
        t = self.num_tests
        if values.ndim != 2 or values.shape[1] != t or present.shape != values.shape:
            raise ValueError(
                f"expected values and present of shape (B, {t}), got {tuple(values.shape)} and {tuple(present.shape)}"
            )
        b = values.shape[0]
        tokens = values.unsqueeze(-1) * self.value_embed + self.test_embed  # (B, T, D)
        x = torch.cat([self.cls_token.expand(b, -1, -1), tokens], dim=1)  # (B, 1+T, D)
        ignore = torch.cat([torch.zeros(b, 1, dtype=torch.bool, device=values.device), ~present.bool()], dim=1)
        x = self.norm(self.encoder(x, src_key_padding_mask=ignore))
        return LabEncoderOutput(x[:, 0], x[:, 1:])

    @torch.inference_mode()
    def encode(self, panels: Sequence[Iterable[LabResult]]) -> np.ndarray:
        """Panel embeddings ``(B, D)`` as numpy, in eval mode."""
        batch = self.tensorize(panels)
        was = self.training
        self.eval()
        try:
            dev = self.value_embed.device
            return self(batch.values.to(dev), batch.present.to(dev)).embedding.float().cpu().numpy()
        finally:
            self.train(was)

    def extra_repr(self) -> str:
        c = self.cfg
        return f"tests={self.num_tests}, width={c.width}, depth={c.depth}, heads={c.heads}"
