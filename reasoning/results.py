"""What the Diagnoser returns: the ranked differential and the whole diagnosis.

They live apart from :mod:`kgdx.reasoning.diagnoser` so that explanations, drug suggestions and
the app can use them without importing the model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from kgdx.ingest.case import PatientCase
from kgdx.reasoning.metrics import GoldRank, gold_rank

if TYPE_CHECKING:
    from kgdx.reasoning.drugs import DrugSuggestion
    from kgdx.reasoning.explain import Explanation
    from kgdx.reasoning.model import Attribution

__all__ = ["RankedDisease", "Ranking", "Diagnosis"]


@dataclass
class RankedDisease:
    """One disease of a differential."""

    rank: int
    id: str
    name: str
    score: float
    probability: float
    members: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "id": self.id,
            "name": self.name,
            "score": round(self.score, 4),
            "probability": round(self.probability, 4),
            "members": list(self.members or (self.id,)),
        }

    @property
    def label(self) -> str:
        """``name (id)``, with the disease's other ids: ``Name (OMIM:1; also ORPHA:2)``."""
        also = [m for m in self.members if m != self.id]
        return f"{self.name} ({self.id}{'; also ' + ', '.join(also) if also else ''})"


@dataclass
class Ranking:
    """The ranked differential for one case, with what is needed to explain it.

    Attributes:
        case: The case as the model saw it (ids mapped, lab findings added).
        top: The ``k`` best diseases.
        scores: ``(num_diseases,)`` scores of every disease in the KG.
        notes: What happened to the input: unknown ids, mapped ids, findings from labs, and a
            plain warning when the evidence is weak.
        not_in_kg: The calibrated probability that the case's disease is none in the KG (0 for a
            model without that calibration).
    """

    case: PatientCase
    top: list[RankedDisease]
    scores: np.ndarray
    observed: list[int] = field(repr=False, default_factory=list)
    excluded: list[int] = field(repr=False, default_factory=list)
    attribution: Attribution | None = field(repr=False, default=None)
    notes: list[str] = field(default_factory=list)
    use_genes: bool = False
    disease_index: Mapping[str, int] = field(repr=False, default_factory=dict)
    not_in_kg: float = 0.0

    def rank_of(self, disease_id: str) -> GoldRank | None:
        """Where ``disease_id`` (any id of the disease) ranks among every disease (``rank`` = 1 +
        diseases scored higher, ``ties`` = others with its score), or ``None`` if the KG lacks it."""
        i = self.disease_index.get(disease_id)
        return None if i is None else gold_rank(self.scores, i)

    def to_dict(self) -> dict[str, Any]:
        return {
            "case": self.case.id,
            "diseases": [d.to_dict() for d in self.top],
            "not_in_kg": round(self.not_in_kg, 4),
            "notes": self.notes,
            "unknown_ids": self.case.unknown_ids,
            # Every finding, drug and condition taken from a note or report: span, assertion,
            # linked id, how it was matched and what the case made of it.
            "extracted": self.case.extra.get("text_findings", []),
            "drugs": list(self.case.drugs),
            "conditions": list(self.case.conditions),
        }


@dataclass
class Diagnosis:
    """A ranking with its explanation and drug suggestions (:meth:`Diagnoser.diagnose`)."""

    ranking: Ranking
    explanation: Explanation | None = None
    drugs: list[DrugSuggestion] = field(default_factory=list)
    #: Notes about the KG behind the answer, e.g. that its load into Neo4j did not finish.
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        doc = self.ranking.to_dict()
        if self.explanation is not None:
            doc["explanation"] = self.explanation.to_dict()
        doc["drugs"] = [s.to_dict() for s in self.drugs]
        if self.warnings:
            doc["warnings"] = list(self.warnings)
        return doc

    def to_markdown(self) -> str:
        out = "".join(f"> **Warning:** {w}\n\n" for w in self.warnings)
        out += self.explanation.to_markdown() if self.explanation else ""
        if self.drugs:
            out += "\n\n### Drugs\n\n" + "\n".join(
                f"- **{s.action.capitalize()} {s.name}** (`{s.drug}`): " + "; ".join(i.text for i in s.issues)
                if s.action != "start"
                else f"- **{s.name}** (`{s.drug}`) for "
                + ", ".join(f"{t['name']} (line {t['line'] or '?'})" for t in s.treats)
                for s in self.drugs
            )
        return out
