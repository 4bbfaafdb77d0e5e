"""The diagnosis API: rank every disease in the KG for a case, explain it, suggest drugs.

Example:
    >>> from kgdx.reasoning import Diagnoser
    >>> dx = Diagnoser.from_pretrained(store=kgdx.open_kg())     # doctest: +SKIP
    >>> result = dx.rank("case.json", k=5)                      # doctest: +SKIP
    >>> print(dx.explain(result).to_text())                     # doctest: +SKIP
    >>> dx.suggest_drugs(result)                                # doctest: +SKIP
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import torch

from kgdx.errors import DataError
from kgdx.ingest.case import Finding, PatientCase, loinc_curie
from kgdx.kg.store import KGStore
from kgdx.kg.vocab import NodeLabel, RelType
from kgdx.reasoning.evidence import CaseEvidence, EvidenceExtractor
from kgdx.reasoning.index import KGIndex
from kgdx.reasoning.model import EvidenceGNN
from kgdx.reasoning.results import Diagnosis, RankedDisease, Ranking

__all__ = ["Diagnoser"]

#: Below this calibrated probability of the best-ranked disease, the ranking says the evidence is weak.
WEAK_EVIDENCE = 0.3


class Diagnoser:
    """Ranks, explains and suggests drugs over a KG store with a trained :class:`EvidenceGNN`.

    Args:
        store: The KG (in memory or Neo4j).
        model: The trained phenotype model.
        index: A prebuilt :class:`KGIndex` of ``store`` (built here if omitted).
    """

    def __init__(self, store: KGStore, model: EvidenceGNN, index: KGIndex | None = None) -> None:
        self.store = store
        self.model = model.eval()
        self.index = index or KGIndex.for_store(store, text=model.config.uses_text)
        if model.config.uses_text:
            self.index.with_text(store, progress=True)
        self.extractor = EvidenceExtractor.for_model(self.index, model.config)
        self._indicates = self._lab_map()

    @classmethod
    def from_pretrained(cls, name_or_path: str | Path = "default", *, store: KGStore) -> Diagnoser:
        """The shipped model (or a checkpoint name or file) over ``store``, e.g. :func:`kgdx.open_kg`."""
        from kgdx.reasoning.checkpoint import load_checkpoint

        model, _ = load_checkpoint(name_or_path)
        return cls(store, model)

    def __repr__(self) -> str:
        return f"Diagnoser({type(self.store).__name__}, {self.index.num_diseases} diseases, {self.model!r})"

    # -- cases ------------------------------------------------------------------------------------

    def _lab_map(self) -> dict[tuple[str, str], list[str]]:
        out: dict[tuple[str, str], list[str]] = {}
        for e in self.store.iter_edges(RelType.INDICATES):
            out.setdefault((e.src, e.props["direction"]), []).append(e.dst)
        return out

    def resolve(self, hp_id: str) -> str | None:
        """The current id of a phenotype id (mapping alternative and obsolete ids), or ``None``."""
        n = self.store.node(hp_id)
        return n.id if n is not None and n.type == NodeLabel.PHENOTYPE else None

    def load_case(self, case: PatientCase | str | Path) -> PatientCase:
        """A case object, reading a phenopacket path with this KG's id mapping."""
        if isinstance(case, PatientCase):
            return case
        from kgdx.ingest.phenopackets import read_phenopacket

        return read_phenopacket(case, self.resolve)

    def _inputs(
        self, case: PatientCase, use_genes: bool
    ) -> tuple[list[int], list[float], list[int], list[int], list[str]]:
        notes: list[str] = []
        weights: dict[int, float] = {}
        for f in case.observed:
            t = self.index.phenotype_index.get(self.resolve(f.id) or "")
            if t is None:
                case.unknown_ids.setdefault(f.id, "not a phenotype in the KG")
                continue
            weights[t] = max(weights.get(t, 0.0), f.probability)
        for lab in case.labs:
            direction = lab.direction
            for d in {"high": ("high", "positive"), "low": ("low", "negative")}.get(direction, ()):
                for hp in self._indicates.get((loinc_curie(lab.loinc), d), []):
                    t = self.index.phenotype_index.get(hp)
                    if t is not None and t not in weights:
                        weights[t] = 0.9
                        case.observed.append(Finding(hp, None, 0.9, "labs"))
                        notes.append(f"{lab.name or lab.loinc} {lab.value:g} is {direction}: adds {hp}")
        excluded = [
            t for t in self.index.phenotype_ids([self.resolve(f.id) or "" for f in case.excluded]) if t not in weights
        ]
        genes: list[int] = []
        if use_genes:
            for g in case.genes:
                genes += self.index.disease_genes.get(g, [])
        for bad, why in case.unknown_ids.items():
            notes.append(f"ignored {bad}: {why}")
        notes += case.extra.get("text_notes", [])  # linked mentions the model cannot read
        return list(weights), list(weights.values()), excluded, sorted(set(genes)), notes

    # -- ranking ----------------------------------------------------------------------------------

    def evidence(
        self, case: PatientCase, *, use_genes: bool = False
    ) -> tuple[CaseEvidence, list[int], list[int], list[str]]:
        observed, weights, excluded, genes, notes = self._inputs(case, use_genes)
        if not observed and not excluded:
            raise DataError(f"case {case.id} has no finding the KG knows; nothing to rank from", file=case.source)
        return self.extractor(observed, excluded, weights, genes, case.embeddings), observed, excluded, notes

    @torch.no_grad()
    def rank(self, case: PatientCase | str | Path, k: int = 10, *, use_genes: bool = False) -> Ranking:
        """Score every disease in the KG for ``case`` and return the ``k`` best.

        Args:
            case: A :class:`PatientCase` or a phenopacket path.
            k: How many diseases to return (all are scored).
            use_genes: Also use the case's genes (gene-aware mode).
        """
        if k < 1:
            raise ValueError(f"'k' must be at least 1 (got {k})")
        # The ranking's case gets the lab findings and id notes; the caller's case stays as it was.
        case = copy.copy(self.load_case(case))
        case.observed, case.excluded, case.unknown_ids = (
            list(case.observed),
            list(case.excluded),
            dict(case.unknown_ids),
        )
        ev, observed, excluded, notes = self.evidence(case, use_genes=use_genes)
        att = self.model.attribute(ev)
        scores = att.score.numpy()
        order = np.argsort(-scores, kind="stable")[:k]
        probs, other = self.model.probabilities(torch.from_numpy(scores))
        probs, other = probs.numpy(), float(other)
        if probs[order[0]] < WEAK_EVIDENCE:
            notes.append(
                f"weak evidence: the best-ranked disease has probability {probs[order[0]]:.2f}"
                + (f", and {other:.2f} that the disease is not in the KG" if other >= 0.005 else "")
                + "; treat this differential as a list to consider, not an answer"
            )
        top = [
            RankedDisease(
                r + 1,
                self.index.diseases[i],
                self.index.disease_names[i],
                float(scores[i]),
                float(probs[i]),
                self.index.members[i],
            )
            for r, i in enumerate(order)
        ]
        return Ranking(case, top, scores, observed, excluded, att, notes, use_genes, self.index.disease_index, other)

    @torch.no_grad()
    def scores(self, cases: list[PatientCase], *, use_genes: bool = False, batch_size: int = 16) -> np.ndarray:
        """Scores of every disease for many cases, batched: ``(len(cases), num_diseases)``."""
        out = []
        for i in range(0, len(cases), batch_size):
            evs = [self.evidence(c, use_genes=use_genes)[0] for c in cases[i : i + batch_size]]
            out.append(self.model(CaseEvidence.batch(evs)).numpy())
        return np.concatenate(out) if out else np.zeros((0, self.index.num_diseases))

    # -- explanations and drugs ---------------------------------------------------------------------

    def explain(self, result: Ranking, top: int = 3, **kwargs: Any):  # noqa: ANN201 - Explanation
        """KG evidence for the ``top`` diseases of ``result`` (see :mod:`kgdx.reasoning.explain`)."""
        from kgdx.reasoning.explain import explain

        return explain(self, result, top=top, **kwargs)

    def suggest_drugs(self, case: PatientCase | str | Path | Ranking, k: int = 10, **kwargs: Any):  # noqa: ANN201
        """Treatments of the likely diseases, checked against the KG's safety edges (see
        :mod:`kgdx.reasoning.drugs`)."""
        from kgdx.reasoning.drugs import suggest_drugs

        result = case if isinstance(case, Ranking) else self.rank(case, k=max(k, 5))
        return suggest_drugs(self, result, k=k, **kwargs)

    def diagnose(
        self,
        case: PatientCase | str | Path,
        *,
        k: int = 5,
        explain: int = 3,
        drugs: int = 5,
        use_genes: bool = False,
        safety: str = "remove",
    ) -> Diagnosis:
        """Rank, explain the ``explain`` best diseases and suggest up to ``drugs`` drugs: the whole
        answer the CLI, the HTTP API and the notebooks show.

        Args:
            case: A :class:`PatientCase` or a phenopacket path.
            k: How many diseases to list.
            explain: How many of them to explain with KG paths (0: none).
            drugs: How many drugs to suggest (0: none).
            use_genes: Also use the case's genes (gene-aware mode).
            safety: ``remove`` unsafe drugs, or ``flag`` them with the KG path that is the reason.
        """
        ranking = self.rank(case, k=k, use_genes=use_genes)
        explanation = self.explain(ranking, top=min(explain, k)) if explain else None
        suggestions = self.suggest_drugs(ranking, k=drugs, safety=safety) if drugs else []
        check = getattr(self.store, "incomplete_load_warning", None)  # Neo4j: was the KG fully loaded?
        warning = check() if callable(check) else None
        return Diagnosis(ranking, explanation, suggestions, [warning] if warning else [])
