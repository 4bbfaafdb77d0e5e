"""The supervised baselines without the KG: shapes, argument checks, and that training with
early stopping learns an easy multi-label task."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmarks.lib.chest_metrics import macro_scores
from benchmarks.lib.fusion_baselines import (
    AttentionFusion,
    FitConfig,
    LabsMLP,
    ModalityMLP,
    fit_multilabel,
    predict_scores,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def batch(n: int, seed: int = 0) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Label 0 is in the CT embedding, label 1 in the report, label 2 in the first lab."""
    g = torch.Generator().manual_seed(seed)
    x = {
        "ct": torch.randn(n, 12, generator=g),
        "report": torch.randn(n, 8, generator=g),
        "labs": torch.randn(n, 5, generator=g),
        "labs_present": torch.rand(n, 5, generator=g) > 0.2,
    }
    x["labs_present"][:, 0] = True
    y = torch.stack([x["ct"][:, 0] > 0, x["report"][:, 0] > 0, x["labs"][:, 0] > 0], 1).float()
    return x, y


def test_shapes_and_checks():
    x, _ = batch(4)
    assert ModalityMLP("ct", 12, 3)(x).shape == (4, 3)
    assert LabsMLP(5, 3)(x).shape == (4, 3)
    assert AttentionFusion(12, 8, 5, 3, width=16)(x).shape == (4, 3)
    with pytest.raises(ValueError, match="'width' \\(got 10\\) must be divisible by 'heads' \\(got 4\\)"):
        AttentionFusion(12, 8, 5, 3, width=10)
    with pytest.raises(ValueError, match="must be positive"):
        ModalityMLP("ct", 0, 3)


def test_fit_learns_and_selects_on_validation():
    train, val = batch(160, 0), batch(60, 1)
    model, info = fit_multilabel(
        lambda: AttentionFusion(12, 8, 5, 3, width=16), train, val, FitConfig(epochs=60, patience=15, lr=3e-3)
    )
    s = predict_scores(model, val[0])
    assert s.shape == (60, 3) and not model.training
    m = macro_scores(val[1].numpy(), s)
    assert m["auroc"] > 0.85 and info["val_macro_auroc"] == pytest.approx(m["auroc"], abs=1e-4)
    assert 1 <= info["best_epoch"] <= info["epochs_run"] <= 60
    # One modality only sees its own label.
    img, _ = fit_multilabel(lambda: ModalityMLP("ct", 12, 3), train, val, FitConfig(epochs=40, patience=10, lr=3e-3))
    per = macro_scores(val[1].numpy(), predict_scores(img, val[0]))["per_label_auroc"]
    assert per[0] > 0.85 and per[1] < 0.75


def test_fit_is_reproducible():
    train, val = batch(40, 0), batch(20, 1)
    a, _ = fit_multilabel(lambda: LabsMLP(5, 3), train, val, FitConfig(epochs=3, seed=4))
    b, _ = fit_multilabel(lambda: LabsMLP(5, 3), train, val, FitConfig(epochs=3, seed=4))
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    np.testing.assert_array_equal(predict_scores(a, val[0]), predict_scores(b, val[0]))
