"""Calibrating the differential's probabilities on cases the model was not trained on.

A ranking model trained with cross-entropy on cases it has seen is over-confident on new ones,
and it has no word for "the disease is not in the KG". Two numbers fix both, fitted by maximum
likelihood on held-out cases (``kgdx train --real`` holds out whole cohorts of ``train/`` for
this; ``dev/`` is never used): a temperature ``T`` that divides every score, and the logit ``b``
of one more outcome, "a disease not in the KG". A held-out case whose disease the KG lacks counts
as that outcome. Both leave the order of diseases unchanged.

Example:
    >>> T, b = fit_calibration(scores, gold)  # doctest: +SKIP
    >>> model.config.temperature, model.config.other_logit = T, b  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

__all__ = ["fit_calibration", "expected_calibration_error", "reliability"]


def fit_calibration(scores: np.ndarray, gold: Sequence[int | None], *, steps: int = 200) -> tuple[float, float]:
    """The temperature and "not in the KG" logit that maximise the likelihood of ``gold``.

    Args:
        scores: ``(num_cases, num_diseases)`` model scores.
        gold: Each case's disease index, or ``None`` when its disease is not in the KG.
        steps: L-BFGS iterations.

    Returns:
        ``(temperature, other_logit)``.
    """
    if len(scores) != len(gold) or not len(gold):
        raise ValueError(f"need as many gold labels as score rows, at least one (got {len(gold)}, {len(scores)})")
    s = torch.as_tensor(np.asarray(scores, np.float32))
    target = torch.tensor([s.shape[1] if g is None else g for g in gold])
    log_t = torch.zeros((), requires_grad=True)
    other = torch.tensor(float(s.max(1).values.median()), requires_grad=True)
    opt = torch.optim.LBFGS([log_t, other], lr=0.5, max_iter=steps, line_search_fn="strong_wolfe")

    def nll() -> torch.Tensor:
        opt.zero_grad()
        logits = torch.cat([s / log_t.exp(), other.expand(len(s), 1)], 1)
        loss = torch.nn.functional.cross_entropy(logits, target)
        loss.backward()
        return loss

    opt.step(nll)
    return float(log_t.detach().exp()), float(other.detach())


def reliability(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> list[dict[str, float]]:
    """Per equal-width confidence bin: its range, case count, mean confidence and accuracy."""
    confidence, correct = np.asarray(confidence, float), np.asarray(correct, float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    out = []
    for b in range(bins):
        m = which == b
        out.append(
            {
                "lo": float(edges[b]),
                "hi": float(edges[b + 1]),
                "n": int(m.sum()),
                "confidence": float(confidence[m].mean()) if m.any() else 0.0,
                "accuracy": float(correct[m].mean()) if m.any() else 0.0,
            }
        )
    return out


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    """ECE: the case-weighted mean gap between confidence and accuracy over equal-width bins."""
    n = len(confidence)
    if not n:
        raise ValueError("no cases")
    return float(sum(b["n"] / n * abs(b["accuracy"] - b["confidence"]) for b in reliability(confidence, correct, bins)))
