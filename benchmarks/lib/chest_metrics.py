"""Metrics of the multimodal chest benchmark: multi-label AUROC/AUPRC, top-k with fair ties over a
set of candidate diseases, set overlap of drug suggestions, and KG safety violations.

Why not sklearn: the benchmark must state exactly how ties and undefined cases count. A disease
with no positive (or no negative) case has no AUROC and is left out of the macro average, and
the number left out is returned with it; a method that gives every case the same score gets 0.5,
never a lucky value from sort order. Top-k uses :func:`kgdx.reasoning.metrics.gold_rank`, the expected
hit under random tie-breaking, as the phenotype benchmark does.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.stats import rankdata

from kgdx.kg.store import KGStore
from kgdx.reasoning.metrics import gold_rank

__all__ = [
    "auroc",
    "average_precision",
    "macro_scores",
    "topk",
    "set_overlap",
    "Violation",
    "drug_violations",
    "ViolationCount",
]


def auroc(y: np.ndarray, s: np.ndarray) -> float | None:
    """Area under the ROC curve of scores ``s`` for binary labels ``y`` (ties count half).

    Returns ``None`` when ``y`` has no positive or no negative.

    Example:
        >>> auroc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]))
        0.75
    """
    y = np.asarray(y).astype(bool)
    s = np.asarray(s, dtype=np.float64)
    if y.shape != s.shape or y.ndim != 1:
        raise ValueError(f"'y' and 's' must be 1-d of the same length (got {y.shape} and {s.shape})")
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    r = rankdata(s)  # average ranks: a tie between a positive and a negative counts 1/2
    return float((r[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def average_precision(y: np.ndarray, s: np.ndarray) -> float | None:
    """Area under the precision–recall curve as average precision (sklearn's definition): the
    precision at each distinct score threshold, weighted by the recall gained there. Tied scores
    form one threshold, so a constant scorer gets the prevalence. ``None`` without positives.

    Example:
        >>> round(average_precision(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])), 4)
        0.8333
    """
    y = np.asarray(y).astype(bool)
    s = np.asarray(s, dtype=np.float64)
    if y.shape != s.shape or y.ndim != 1:
        raise ValueError(f"'y' and 's' must be 1-d of the same length (got {y.shape} and {s.shape})")
    n_pos = int(y.sum())
    if n_pos == 0:
        return None
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s) != 0), len(s) - 1]  # last index of each tied block
    tp = np.cumsum(y)[last]
    precision = tp / (last + 1)
    recall = tp / n_pos
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def macro_scores(Y: np.ndarray, S: np.ndarray, columns: Sequence[int] | None = None) -> dict[str, Any]:
    """Macro AUROC and AUPRC over the label columns of ``Y (N, L)`` scored by ``S (N, L)``.

    Args:
        Y: 0/1 labels.
        S: Scores (higher = more likely); ``-inf`` is allowed (a label a model cannot predict).
        columns: The labels to average over (default all).

    Returns:
        ``auroc``, ``auprc`` (``None`` if no column has both classes), ``labels`` averaged and
        ``labels_without_both_classes`` left out of the AUROC, and per-label values.
    """
    Y = np.asarray(Y)
    S = np.asarray(S, dtype=np.float64)
    if Y.shape != S.shape or Y.ndim != 2:
        raise ValueError(f"'Y' and 'S' must be (N, L) of the same shape (got {Y.shape} and {S.shape})")
    cols = range(Y.shape[1]) if columns is None else columns
    S = np.where(np.isneginf(S), np.finfo(np.float64).min, S)  # keep -inf ties as ties
    au, ap = {}, {}
    for j in cols:
        a = auroc(Y[:, j], S[:, j])
        if a is not None:
            au[j] = a
            ap[j] = average_precision(Y[:, j], S[:, j])
    return {
        "auroc": float(np.mean(list(au.values()))) if au else None,
        "auprc": float(np.mean(list(ap.values()))) if ap else None,
        "labels": len(au),
        "labels_without_both_classes": len(list(cols)) - len(au),
        "per_label_auroc": au,
        "per_label_auprc": ap,
    }


def topk(S: np.ndarray, gold: Sequence[int], ks: Sequence[int] = (1, 3)) -> dict[str, float]:
    """Expected top-k hit rate and MRR of the ``gold`` column per row of ``S (N, L)``, with ties
    broken at random (:func:`kgdx.reasoning.metrics.gold_rank`)."""
    S = np.asarray(S, dtype=np.float64)
    if len(gold) != len(S):
        raise ValueError(f"'gold' has {len(gold)} entries for {len(S)} rows")
    if not len(S):
        return {**{f"top{k}": float("nan") for k in ks}, "mrr": float("nan")}
    ranks = [gold_rank(row, int(g)) for row, g in zip(S, gold)]
    out = {f"top{k}": float(np.mean([r.hit(k) for r in ranks])) for k in ks}
    out["mrr"] = float(np.mean([r.reciprocal for r in ranks]))
    return out


def set_overlap(predicted: Collection[str], true: Collection[str]) -> dict[str, float]:
    """Jaccard, precision, recall and F1 of two sets. Two empty sets agree perfectly (1.0); an
    empty prediction against a non-empty truth scores 0."""
    p, t = set(predicted), set(true)
    if not p and not t:
        return {"jaccard": 1.0, "precision": 1.0, "recall": 1.0, "f1": 1.0}
    inter = len(p & t)
    precision = inter / len(p) if p else 0.0
    recall = inter / len(t) if t else 0.0
    f1 = 2 * inter / (len(p) + len(t))
    return {"jaccard": inter / len(p | t), "precision": precision, "recall": recall, "f1": f1}


@dataclass(frozen=True)
class Violation:
    """One KG edge that makes a suggested drug unsafe for the patient."""

    drug: str
    kind: str  # "contraindication" | "interaction"
    other: str  # the condition, or the other drug
    severity: str
    against: str  # "condition", "current_drug" or "suggestion"


def drug_violations(
    store: KGStore,
    drugs: Sequence[str],
    *,
    conditions: Iterable[str] = (),
    current_drugs: Iterable[str] = (),
    among_suggestions: bool = True,
) -> list[Violation]:
    """Every ``CONTRAINDICATED_IN`` edge from one of ``drugs`` into ``conditions``, and every
    ``INTERACTS_WITH`` edge between one of ``drugs`` and a current drug (or, with
    ``among_suggestions``, another of ``drugs``), read from the KG, whatever its severity.

    Args:
        store: The KG.
        drugs: The suggested drugs.
        conditions: Disease and phenotype ids the patient has (pass phenotype ancestors too:
            a drug contraindicated in *Hemoptysis* is so in *Massive hemoptysis*).
        current_drugs: The patient's current medication.
        among_suggestions: Also count interactions between two suggested drugs (once, on the
            later one).
    """
    conds = set(conditions)
    current = set(current_drugs)
    out: list[Violation] = []
    for i, drug in enumerate(drugs):
        for nb in store.neighbours(drug, rel_types=["CONTRAINDICATED_IN"], direction="out"):
            if nb.node.id in conds:
                out.append(
                    Violation(
                        drug, "contraindication", nb.node.id, str(nb.edge.props.get("severity", "unknown")), "condition"
                    )
                )
        earlier = set(drugs[:i]) if among_suggestions else set()
        for e in store.interactions([drug, *current, *earlier]):
            if drug not in (e.src, e.dst):
                continue
            other = e.dst if e.src == drug else e.src
            if other in current:
                out.append(
                    Violation(drug, "interaction", other, str(e.props.get("severity", "unknown")), "current_drug")
                )
            elif other in earlier:
                out.append(Violation(drug, "interaction", other, str(e.props.get("severity", "unknown")), "suggestion"))
    return out


@dataclass
class ViolationCount:
    """Suggestions counted over cases: how many, and how many hit at least one violation."""

    suggestions: int = 0
    unsafe: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)

    def add(self, drugs: Sequence[str], violations: Iterable[Violation]) -> None:
        bad = set()
        for v in violations:
            bad.add(v.drug)
            key = f"{v.kind}:{v.against}"
            self.by_kind[key] = self.by_kind.get(key, 0) + 1
        self.suggestions += len(drugs)
        self.unsafe += len(bad & set(drugs))

    @property
    def rate(self) -> float:
        return self.unsafe / self.suggestions if self.suggestions else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "suggestions": self.suggestions,
            "unsafe": self.unsafe,
            "rate": round(self.rate, 4),
            "by_kind": dict(sorted(self.by_kind.items())),
        }
