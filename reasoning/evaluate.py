"""Evaluation on folders of phenopackets: top-k and MRR with fair ties, per-case records.

Shared by ``kgdx evaluate phenopackets`` and ``benchmarks/diagnosis.py`` so the CLI and the
benchmark count exactly the same way.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from kgdx.ingest.case import PatientCase
from kgdx.reasoning.metrics import GoldRank, RankingMetrics, gold_rank

__all__ = ["evaluate_scores", "per_case_record"]

Scorer = Callable[[PatientCase], np.ndarray]


def per_case_record(
    case: PatientCase, gold: str | None, rank: GoldRank | None, scores: np.ndarray | None, diseases: list[str]
) -> dict[str, Any]:
    """One JSON line: case id, gold disease, its rank and ties, and the top 10 with scores."""
    top = []
    if scores is not None:
        order = np.argsort(-scores, kind="stable")[:10]
        top = [{"id": diseases[i], "score": round(float(scores[i]), 4)} for i in order]
    return {
        "case": case.id,
        "file": case.source,
        "gold": gold,
        "in_kg": rank is not None,
        "rank": rank.rank if rank else None,
        "ties": rank.ties if rank else None,
        "top10": top,
    }


def evaluate_scores(
    cases: Iterable[PatientCase],
    scorer: Scorer,
    disease_index: dict[str, int],
    diseases: list[str],
    *,
    per_case: str | Path | None = None,
    on_case: Callable[[], None] | None = None,
) -> RankingMetrics:
    """Rank every case with ``scorer`` and count where the gold disease lands.

    A case whose diagnosis is not a disease of the KG counts as a miss in the overall figures and
    is left out of the in-KG figures; it is never silently dropped.
    """
    metrics = RankingMetrics()
    with contextlib.ExitStack() as stack:
        out = stack.enter_context(Path(per_case).open("w", encoding="utf-8")) if per_case else None
        for case in cases:
            gold = next(
                (d for d in case.diagnoses if d in disease_index), case.diagnoses[0] if case.diagnoses else None
            )
            g = disease_index.get(gold) if gold else None
            scores = scorer(case) if (g is not None or out) and (case.observed or case.excluded) else None
            rank = gold_rank(scores, g) if (g is not None and scores is not None) else None
            metrics.add(rank)
            if out:
                out.write(json.dumps(per_case_record(case, gold, rank, scores, diseases)) + "\n")
            if on_case:
                on_case()
    return metrics
