"""Supervised baselines without the KG: one modality → MLP, and MedMPT-style attention fusion.

They are what kgdx's KG fusion is compared with on the synthetic chest cohort
(``benchmarks/chest.py``). Each predicts the cohort's diseases as multi-label sigmoid outputs,
trained on the train split with early stopping on the validation split's macro AUROC. They can
only name the diseases they were trained on.

* :class:`ModalityMLP`: a fixed embedding (the CT scan embedding, or the report's MiniLM
  embedding) → LayerNorm → MLP.
* :class:`LabsMLP`: MedMPT's lab encoder (:class:`kgdx.encoders.labs.LabEncoder`: scaled value × a
  learned per-test embedding, unmeasured tests masked, a transformer, CLS) → MLP, trained end to end.
* :class:`AttentionFusion`: MedMPT's medication-recommendation fusion: one token per modality
  (projected CT embedding, projected report embedding, the lab encoder's CLS), plus a modality
  embedding, through a 2-layer transformer; its CLS output → MLP.

Inputs are a dict of float tensors: ``ct (N, D_ct)``, ``report (N, D_text)``, ``labs (N, T)``
and ``labs_present (N, T)`` (see :class:`kgdx.reasoning.multimodal.PatientEmbedding`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ["ModalityMLP", "LabsMLP", "AttentionFusion", "FitConfig", "fit_multilabel", "predict_scores"]

Batch = dict[str, torch.Tensor]


def _head(d_in: int, hidden: int, n_out: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_in, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, n_out))


def _lab_encoder(num_tests: int, width: int, depth: int, dropout: float) -> nn.Module:
    from kgdx.encoders.config import LabEncoderCfg
    from kgdx.encoders.labs import LabEncoder

    # The tests are named by position only: the values come already scaled (lab_vector).
    cfg = LabEncoderCfg(
        tests=tuple(f"t{i}" for i in range(num_tests)),
        width=width,
        depth=depth,
        heads=4,
        ffn=2 * width,
        dropout=dropout,
    )
    return LabEncoder(cfg)


class ModalityMLP(nn.Module):
    """One precomputed embedding → LayerNorm → MLP → one logit per label.

    Args:
        key: The input it reads (``"ct"`` or ``"report"``).
        in_dim: The embedding's width.
        num_labels: Outputs.
        hidden: MLP width.
        dropout: Dropout before the last layer.
    """

    def __init__(self, key: str, in_dim: int, num_labels: int, hidden: int = 128, dropout: float = 0.2) -> None:
        super().__init__()
        if in_dim < 1 or num_labels < 1:
            raise ValueError(f"'in_dim' and 'num_labels' must be positive (got {in_dim}, {num_labels})")
        self.key = key
        self.norm = nn.LayerNorm(in_dim)
        self.head = _head(in_dim, hidden, num_labels, dropout)

    def forward(self, batch: Batch) -> torch.Tensor:
        """Logits ``(B, num_labels)``."""
        return self.head(self.norm(batch[self.key]))


class LabsMLP(nn.Module):
    """MedMPT's lab encoder → MLP, trained end to end.

    Args:
        num_tests: Tests in the lab vector.
        num_labels: Outputs.
        width: Lab-encoder width.
        depth: Lab-encoder layers.
    """

    def __init__(
        self, num_tests: int, num_labels: int, width: int = 32, depth: int = 1, hidden: int = 128, dropout: float = 0.2
    ) -> None:
        super().__init__()
        self.labs = _lab_encoder(num_tests, width, depth, dropout=0.1)
        self.head = _head(width, hidden, num_labels, dropout)

    def forward(self, batch: Batch) -> torch.Tensor:
        return self.head(self.labs(batch["labs"], batch["labs_present"].bool()).embedding)


class AttentionFusion(nn.Module):
    """Modality tokens (CT, report, labs) → 2-layer transformer → CLS → MLP.

    Args:
        ct_dim: Width of the CT embedding.
        text_dim: Width of the report embedding.
        num_tests: Tests in the lab vector.
        num_labels: Outputs.
        width: Token width.
        depth: Fusion layers (MedMPT: 2).
        heads: Attention heads.
    """

    def __init__(
        self,
        ct_dim: int,
        text_dim: int,
        num_tests: int,
        num_labels: int,
        width: int = 64,
        depth: int = 2,
        heads: int = 4,
        hidden: int = 128,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        if width % heads:
            raise ValueError(f"'width' (got {width}) must be divisible by 'heads' (got {heads})")
        from kgdx.encoders.vit import transformer_stack

        self.ct = nn.Sequential(nn.LayerNorm(ct_dim), nn.Linear(ct_dim, width))
        self.text = nn.Sequential(nn.LayerNorm(text_dim), nn.Linear(text_dim, width))
        self.labs = _lab_encoder(num_tests, width, 1, dropout=0.1)
        self.cls = nn.Parameter(torch.zeros(1, 1, width))
        self.modality = nn.Parameter(torch.zeros(1, 4, width))  # CLS, CT, report, labs
        self.fusion = transformer_stack(width, depth, heads, 2 * width, 0.1)
        self.norm = nn.LayerNorm(width)
        self.head = _head(width, hidden, num_labels, dropout)
        nn.init.normal_(self.cls, std=0.02)
        nn.init.normal_(self.modality, std=0.02)

    def forward(self, batch: Batch) -> torch.Tensor:
        b = batch["ct"].shape[0]
        tokens = torch.stack(
            [
                self.ct(batch["ct"]),
                self.text(batch["report"]),
                self.labs(batch["labs"], batch["labs_present"].bool()).embedding,
            ],
            1,
        )  # (B, 3, W)
        x = torch.cat([self.cls.expand(b, -1, -1), tokens], 1) + self.modality  # (B, 4, W)
        return self.head(self.norm(self.fusion(x))[:, 0])


@dataclass
class FitConfig:
    """Training of a baseline: AdamW, BCE, early stopping on validation macro AUROC."""

    epochs: int = 300
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-2
    patience: int = 40
    seed: int = 0


@torch.no_grad()
def predict_scores(model: nn.Module, x: Batch, batch_size: int = 256) -> np.ndarray:
    """Logits ``(N, num_labels)`` as numpy, in eval mode."""
    was = model.training
    model.eval()
    n = len(next(iter(x.values())))
    out = [model({k: v[i : i + batch_size] for k, v in x.items()}) for i in range(0, n, batch_size)]
    model.train(was)
    return torch.cat(out).numpy()


def fit_multilabel(
    make_model: Callable[[], nn.Module],
    train: tuple[Batch, torch.Tensor],
    val: tuple[Batch, torch.Tensor],
    config: FitConfig | None = None,
) -> tuple[nn.Module, dict[str, Any]]:
    """Train a fresh ``make_model()`` on ``train`` = (inputs, labels ``(N, L)``), keep the epoch with
    the best validation macro AUROC (labels with both classes in validation; the validation loss
    breaks ties and stands in when no label has both classes).

    Returns:
        The model at its best epoch, and ``{"best_epoch", "val_macro_auroc", "epochs_run"}``.
    """
    from benchmarks.lib.chest_metrics import macro_scores

    c = config or FitConfig()
    torch.manual_seed(c.seed)
    rng = np.random.default_rng(c.seed)
    model = make_model()
    opt = torch.optim.AdamW(model.parameters(), lr=c.lr, weight_decay=c.weight_decay)
    x_tr, y_tr = train
    x_va, y_va = val
    n = len(y_tr)
    if n == 0:
        raise ValueError("no training cases")
    best, best_state, best_epoch, stale = (-np.inf, -np.inf), None, 0, 0
    loss_fn = nn.BCEWithLogitsLoss()
    epoch = 0
    for epoch in range(1, c.epochs + 1):
        model.train()
        order = torch.from_numpy(rng.permutation(n))
        for i in range(0, n, c.batch_size):
            idx = order[i : i + c.batch_size]
            loss = loss_fn(model({k: v[idx] for k, v in x_tr.items()}), y_tr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        s = predict_scores(model, x_va)
        m = macro_scores(y_va.numpy(), s)["auroc"]
        val_loss = float(loss_fn(torch.from_numpy(s), y_va))
        key = (m if m is not None else -np.inf, -val_loss)
        if key > best:
            best, best_epoch, stale = key, epoch, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            stale += 1
            if stale >= c.patience:
                break
    model.load_state_dict(best_state)
    model.eval()
    return model, {
        "best_epoch": best_epoch,
        "val_macro_auroc": None if best[0] == -np.inf else round(float(best[0]), 4),
        "epochs_run": epoch,
    }
