"""Calibration: the fitted temperature and "not in the KG" logit, ECE and the reliability bins."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kgdx.reasoning.calibrate import expected_calibration_error, fit_calibration, reliability
from kgdx.reasoning.model import EvidenceGNN, EvidenceGNNConfig


def _sample(n: int, diseases: int, temperature: float, other: float, seed: int = 0):
    """Scores, and gold drawn from softmax([scores / T, other]): the truth a fit must recover."""
    rng = np.random.default_rng(seed)
    scores = rng.normal(0, 3, (n, diseases)).astype(np.float32)
    logits = np.concatenate([scores / temperature, np.full((n, 1), other)], 1)
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    gold = [int(rng.choice(diseases + 1, p=row)) for row in p]
    return scores, [None if g == diseases else g for g in gold]


def test_fit_recovers_a_known_temperature_and_other_logit():
    scores, gold = _sample(4000, 8, temperature=2.5, other=0.7)
    t, b = fit_calibration(scores, gold)
    assert t == pytest.approx(2.5, rel=0.1) and b == pytest.approx(0.7, abs=0.2)


def test_calibrated_probabilities_have_a_small_ece_and_the_raw_ones_do_not():
    scores, gold = _sample(4000, 8, temperature=3.0, other=-1.0, seed=1)
    model = EvidenceGNN(EvidenceGNNConfig(hidden=4))

    def ece() -> float:
        p, _ = model.probabilities(torch.from_numpy(scores))
        top = p.argmax(1).numpy()
        return expected_calibration_error(
            p.max(1).values.numpy(), top == np.array([-1 if g is None else g for g in gold])
        )

    raw = ece()
    model.config.temperature, model.config.other_logit = fit_calibration(scores, gold)
    assert ece() < 0.03 < raw


def test_probabilities_and_the_not_in_kg_mass():
    model = EvidenceGNN(EvidenceGNNConfig(hidden=4))
    s = torch.tensor([[2.0, 1.0, 0.0]])
    p, other = model.probabilities(s)
    assert torch.allclose(p, torch.softmax(s, -1)) and float(other) == 0.0
    model.config.temperature, model.config.other_logit = 2.0, 1.0
    p, other = model.probabilities(s)
    assert float(p.sum() + other) == pytest.approx(1.0) and float(other) > 0
    assert p.argsort(descending=True).tolist() == [[0, 1, 2]]  # the order never changes


def test_reliability_bins_and_bad_input():
    bins = reliability(np.array([0.05, 0.15, 0.95, 0.95]), np.array([0, 0, 1, 0]))
    assert len(bins) == 10 and sum(b["n"] for b in bins) == 4
    assert bins[9]["n"] == 2 and bins[9]["accuracy"] == 0.5
    assert expected_calibration_error(np.array([1.0, 0.0]), np.array([1, 0])) == 0.0
    with pytest.raises(ValueError, match="no cases"):
        expected_calibration_error(np.array([]), np.array([]))
    with pytest.raises(ValueError, match="as many gold"):
        fit_calibration(np.zeros((2, 3)), [0])
