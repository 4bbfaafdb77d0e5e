"""Calibrating the differential's probabilities on cases the model was not trained on.

A ranking model trained with cross-entropy on cases it has seen is over-confident on new ones,
and it has no word for "the disease is not in the KG". Two numbers fix both, fitted by maximum
likelihood on held-out cases (``kgdx train --real`` holds out whole cohorts of ``train/`` for
this; ``dev/`` is never used): a temperature ``T`` that divides every score, and the logit ``b``
of one more outcome, "a disease not in the KG". A held-out case whose disease the KG lacks counts
as that outcome. Both leave the order of diseases unchanged.

A temperature bends every confidence by the same rule, and on real cases the error is not that
even. A third step re-maps the top answer's probability alone, fitted on the same cases after
``T`` and ``b``: either an isotonic regression of "was it right" on that probability (a monotone
table of knots), or Platt scaling, a logistic regression on the answer's log-odds and its lead
over the runner-up. The other outcomes share what is left in their old proportions, so the order
of every outcome, "not in the KG" included, stays as it was. Both maps are stored as plain floats.
``benchmarks/calibration.py --oof`` compares them with the temperature alone and a not-in-KG rate
match by cohort-grouped cross-validation on out-of-fold scores of ``train/``: it preferred the
isotonic map, dev preferred ``T`` and ``b`` alone, and those ship (docs/reasoning.md).

Example:
    >>> T, b = fit_calibration(scores, gold)  # doctest: +SKIP
    >>> model.config.temperature, model.config.other_logit = T, b  # doctest: +SKIP
    >>> model.config.top_label = fit_top_label(logits, correct)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

__all__ = [
    "fit_calibration",
    "fit_gene_weight",
    "fit_rate_matched",
    "fit_top_label",
    "fit_top_isotonic",
    "top_isotonic_probabilities",
    "top_features",
    "top_label_probabilities",
    "with_top_probability",
    "answers",
    "expected_calibration_error",
    "reliability",
]


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


def fit_gene_weight(
    scores: torch.Tensor,
    gene_diseases: Sequence[Sequence[int]],
    gold: Sequence[int | None],
    *,
    temperature: float = 1.0,
    other_logit: float | None = None,
    steps: int = 100,
) -> float:
    """The gene-aware term's weight ``w`` that maximises the likelihood of ``gold``.

    In gene-aware mode a disease associated with one of the case's genes gains ``w`` (added to its
    score, before the temperature). Only cases with a gene association and a disease in the KG
    say anything about ``w``; the others are left out.

    Args:
        scores: ``(num_cases, num_diseases)`` phenotype-only scores of cases the model never saw.
        gene_diseases: For each case, the disease indices its genes are associated with.
        gold: Each case's disease index, or ``None`` when its disease is not in the KG.
        temperature: The checkpoint's temperature.
        other_logit: The checkpoint's "not in the KG" logit, if it has that outcome.
        steps: L-BFGS iterations.

    Returns:
        ``w`` (at least 0: a gene association never counts against a disease).
    """
    rows = [i for i, (g, d) in enumerate(zip(gold, gene_diseases)) if g is not None and len(d)]
    if not rows:
        raise ValueError("no case with both a disease in the KG and a gene associated with a disease")
    s = torch.as_tensor(scores)[rows].float()
    # (row, disease) of every gene association, so the weight is added where it applies only
    where = [(r, d) for r, i in enumerate(rows) for d in sorted(set(gene_diseases[i]))]
    at = (torch.tensor([r for r, _ in where]), torch.tensor([d for _, d in where]))
    target = torch.tensor([gold[i] for i in rows])
    log_w = torch.tensor(float(np.log(10.0)), requires_grad=True)
    opt = torch.optim.LBFGS([log_w], lr=0.5, max_iter=steps, line_search_fn="strong_wolfe")

    def nll() -> torch.Tensor:
        opt.zero_grad()
        logits = s.index_put(at, log_w.exp().expand(len(where)), accumulate=True) / temperature
        if other_logit is not None:
            logits = torch.cat([logits, torch.full((len(s), 1), other_logit)], 1)
        loss = torch.nn.functional.cross_entropy(logits, target)
        loss.backward()
        return loss

    opt.step(nll)
    return float(log_w.detach().exp())


def fit_rate_matched(scores: np.ndarray, gold: Sequence[int | None]) -> tuple[float, float]:
    """The temperature by likelihood, with "not in the KG" as often as the cases say.

    For each temperature on a grid (e^-1 to e^1.5), the not-in-KG logit is set so that the mean
    probability of "not in the KG" equals the share of such cases; the temperature with the best
    likelihood wins. Likelihood alone lets ``b`` drift where few cases are not in the KG.

    Args:
        scores: ``(num_cases, num_diseases)`` model scores.
        gold: Each case's disease index, or ``None`` when its disease is not in the KG.

    Returns:
        ``(temperature, other_logit)``.
    """
    if len(scores) != len(gold) or not len(gold):
        raise ValueError(f"need as many gold labels as score rows, at least one (got {len(gold)}, {len(scores)})")
    s = torch.as_tensor(np.asarray(scores))
    other = torch.tensor([g is None for g in gold])
    rate = float(other.float().mean())
    target = torch.tensor([0 if g is None else g for g in gold])
    gold_score = s.gather(1, target[:, None])[:, 0]
    best = (float("inf"), 1.0, 0.0)
    for t in np.exp(np.arange(-1.0, 1.51, 0.05)):
        log_z = torch.logsumexp(s / t, 1)
        lo, hi = -50.0, 100.0
        for _ in range(60):  # mean p(other) rises with b
            b = (lo + hi) / 2
            lo, hi = (b, hi) if torch.sigmoid(b - log_z).mean() < rate else (lo, b)
        # cross-entropy over the diseases and "not in the KG", from log_z without another pass
        log_z_all = torch.logaddexp(log_z, torch.tensor(b, dtype=log_z.dtype))
        nll = float((log_z_all - torch.where(other, torch.tensor(b, dtype=s.dtype), gold_score / t)).mean())
        best = min(best, (nll, float(t), b))
    return best[1], best[2]


def top_features(logits: torch.Tensor) -> torch.Tensor:
    """What the top-label map reads: the top outcome's log-odds and its lead over the runner-up.

    Args:
        logits: ``(..., num_outcomes)``.

    Returns:
        ``(..., 2)``: logit of the top softmax probability (kept finite), and the gap between the
        two best logits (at most 50, past which it says nothing more).
    """
    conf = torch.softmax(logits, -1).max(-1).values.clamp(1e-6, 1 - 1e-6)
    two = logits.topk(2, -1).values
    margin = (two[..., 0] - two[..., 1]).clamp(max=50.0)
    return torch.stack([torch.logit(conf), margin], -1)


def _needs_sklearn() -> None:
    try:
        import sklearn  # noqa: F401
    except ImportError as e:  # the ml extra brings it
        raise ImportError('fitting the top-label map needs scikit-learn: pip install "kgdx[ml]"') from e


def _correctness(logits: torch.Tensor, correct: np.ndarray) -> np.ndarray:
    """``correct`` as booleans, one per case of ``logits`` (at least one)."""
    correct = np.asarray(correct, bool)
    if len(logits) != len(correct) or not len(correct):
        raise ValueError(f"need one correctness per case, at least one (got {len(correct)}, {len(logits)})")
    return correct


def fit_top_label(logits: torch.Tensor, correct: np.ndarray) -> list[float]:
    """Platt scaling of the top answer: a logistic regression of "was it right" on :func:`top_features`.

    Args:
        logits: ``(num_cases, num_outcomes)`` calibrated logits (scores over ``T``, then ``b``).
        correct: ``(num_cases,)`` whether each case's top outcome was right.

    Returns:
        ``[weight of the log-odds, weight of the margin, intercept]``, plain floats for the config.
    """
    _needs_sklearn()
    from sklearn.linear_model import LogisticRegression

    correct = _correctness(logits, correct)
    if correct.all() or not correct.any():
        raise ValueError(f"need right and wrong answers to fit on (got {int(correct.sum())} right of {len(correct)})")
    # C=100: nearly unpenalised; three parameters on hundreds of cases need little shrinkage.
    lr = LogisticRegression(C=100.0).fit(top_features(logits.double()).numpy(), correct)
    return [float(w) for w in lr.coef_[0]] + [float(lr.intercept_[0])]


def top_label_probabilities(logits: torch.Tensor, coef: Sequence[float]) -> torch.Tensor:
    """Softmax of ``logits`` with the top outcome's probability from the map ``coef``.

    Args:
        logits: ``(..., num_outcomes)``, e.g. the diseases' calibrated scores and "not in the KG".
        coef: ``[weight of the log-odds, weight of the margin, intercept]`` (:func:`fit_top_label`).

    Returns:
        ``(..., num_outcomes)`` probabilities that sum to 1, in the order of ``logits``
        (:func:`with_top_probability`).
    """
    if len(coef) != 3:
        raise ValueError(f"the top-label map has 3 numbers (got {len(coef)})")
    if logits.shape[-1] < 2:
        return torch.ones_like(logits)
    w = torch.tensor(coef[:2], dtype=logits.dtype)
    return with_top_probability(logits, torch.sigmoid(top_features(logits) @ w + coef[2]))


def fit_top_isotonic(logits: torch.Tensor, correct: np.ndarray) -> list[list[float]]:
    """Isotonic regression of "was the top answer right" on its probability (top-label isotonic).

    Free of any shape but monotone, it follows a reliability curve that a two-feature logistic
    map cannot (``benchmarks/calibration.py`` preferred it on out-of-fold scores of ``train/``;
    the shipped checkpoint has none, see the module docstring).

    Args:
        logits: ``(num_cases, num_outcomes)`` calibrated logits (scores over ``T``, then ``b``).
        correct: ``(num_cases,)`` whether each case's top outcome was right.

    Returns:
        ``[knots, values]``: the top probability at each knot, linear between them and constant
        past the ends, plain floats for the config.
    """
    _needs_sklearn()
    from sklearn.isotonic import IsotonicRegression

    correct = _correctness(logits, correct)
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
    iso.fit(torch.softmax(logits, -1).max(-1).values.numpy(), correct)
    return [[float(x) for x in iso.X_thresholds_], [float(y) for y in iso.y_thresholds_]]


def top_isotonic_probabilities(logits: torch.Tensor, table: Sequence[Sequence[float]]) -> torch.Tensor:
    """Softmax of ``logits`` with the top outcome's probability read off the isotonic ``table``.

    Args:
        logits: ``(..., num_outcomes)``.
        table: ``[knots, values]`` (:func:`fit_top_isotonic`).

    Returns:
        ``(..., num_outcomes)`` probabilities that sum to 1, in the order of ``logits``
        (:func:`with_top_probability`).
    """
    knots, values = table
    if len(knots) != len(values) or not len(knots):
        raise ValueError(
            f"the isotonic map needs as many values as knots, at least one (got {len(values)}, {len(knots)})"
        )
    if logits.shape[-1] < 2:
        return torch.ones_like(logits)
    conf = torch.softmax(logits, -1).max(-1).values
    top = np.interp(conf.detach().cpu().numpy(), np.asarray(knots), np.asarray(values))
    return with_top_probability(logits, torch.as_tensor(top, dtype=logits.dtype))


def with_top_probability(logits: torch.Tensor, top: torch.Tensor) -> torch.Tensor:
    """Probabilities in which the top outcome has probability ``top`` and the order is kept.

    The other outcomes share ``1 - top`` in the proportions of a softmax over them alone (exact
    even when the top one had all the mass). ``top`` is raised where it would not stay above the
    runner-up's new probability, so no outcome changes place.

    Args:
        logits: ``(..., num_outcomes)``.
        top: ``(...)`` the top outcome's new probability, in ``[0, 1]``.

    Returns:
        ``(..., num_outcomes)`` probabilities that sum to 1.
    """
    if logits.shape[-1] < 2:
        return torch.ones_like(logits)
    best = logits.argmax(-1, keepdim=True)  # (..., 1)
    rest = torch.softmax(logits.scatter(-1, best, float("-inf")), -1)  # (..., K), 0 at the top
    runner_up = rest.max(-1).values
    # top > runner_up × (1 − top)  ⇔  top > runner_up / (1 + runner_up); a hair above it, no tie
    top = torch.maximum(top.to(logits.dtype).clamp(0, 1), (runner_up / (1 + runner_up) * (1 + 1e-4)).clamp(max=1))
    return (rest * (1 - top).unsqueeze(-1)).scatter(-1, best, top.unsqueeze(-1))


def answers(p: np.ndarray, other: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The top answer of each case and its probability: the best disease or "not in the KG".

    Args:
        p: ``(num_cases, num_diseases)`` disease probabilities.
        other: ``(num_cases,)`` probability that the disease is not in the KG.

    Returns:
        ``(confidence, best disease index, whether the answer is "not in the KG")``; the answer is
        "not in the KG" only when its probability is above the best disease's.
    """
    best = p.argmax(1)
    top = p[np.arange(len(p)), best]
    says_other = other > top
    return np.where(says_other, other, top), best, says_other


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
