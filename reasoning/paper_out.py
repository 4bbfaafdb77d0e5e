"""Real training cases seen as a new patient sees the KG: without their own paper's annotations.

Phenopacket Store takes its cases from published papers, and HPO curated many diseases'
annotations from the same papers (``phenotype.hpoa`` cites them, and the KG keeps the citation in
each ``HAS_PHENOTYPE`` edge's ``source``). For such a case the gold disease is annotated with the
patient's own findings, so a model trained on it can learn that the right disease shares the
patient's exact terms. A new patient's disease was annotated from other people, and shares fewer.
On dev the shipped model ranks 60% of the first kind first and 32% of the second.

:class:`PaperHoldout` removes that shortcut from training. For a case from paper ``X`` whose gold
disease has annotations that cite only ``X``, the gold's profile is rebuilt without them (its other
annotations stay, the frequencies the KG gives are kept) and the case's messages to the gold are
recomputed on that profile; every other disease's messages are unchanged. Evaluation and the
shipped model's KG are untouched: this only changes what a training case looks like.

``kgdx train --leave-paper-out`` turns it on. Measured over two seeds (``benchmarks/paper_out.py``,
docs/reasoning.md) it raises top-1 but not the independent split, and costs the calibration
target, so the shipped recipe leaves it off. :func:`benchmarks._common.paper_out` uses the same
class to rank dev cases as new patients.
"""

from __future__ import annotations

import dataclasses
import re
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import torch

from kgdx.kg.store import KGStore
from kgdx.kg.vocab import RelType
from kgdx.reasoning.evidence import CaseEvidence, EvidenceExtractor
from kgdx.reasoning.index import DEFAULT_FREQUENCY, KGIndex, annotation_edges, annotation_profiles

__all__ = ["PaperHoldout", "case_paper"]

_PMID_SOURCE = re.compile(r"PMID:(\d+)")
_PMID_FILE = re.compile(r"PMID_(\d+)")


def case_paper(source: str | Path | None) -> str | None:
    """The PubMed id in a Phenopacket Store file name (``PMID_12345678_…``), or ``None``."""
    m = _PMID_FILE.search(Path(source).name) if source else None
    return m.group(1) if m else None


class PaperHoldout:
    """Per-case evidence with the gold disease's own-paper annotations taken away.

    Args:
        store: The KG whose ``HAS_PHENOTYPE`` sources name the papers.
        index: ``store``'s index.
        extractor: The extractor the model trains with (its messages for every other disease).
    """

    def __init__(self, store: KGStore, index: KGIndex, extractor: EvidenceExtractor) -> None:
        if extractor.uses_text or extractor.patient_embeddings:
            raise ValueError("leave-paper-out training supports the embedding-free model only")
        self.index, self.extractor = index, extractor
        # (disease id, phenotype id) → the PubMed ids of each edge stating it (empty: not a paper)
        self._cites: dict[tuple[str, str], list[frozenset[str]]] = defaultdict(list)
        for e in store.iter_edges(RelType.HAS_PHENOTYPE):
            self._cites[(e.src, e.dst)].append(frozenset(_PMID_SOURCE.findall(e.props.get("source") or "")))
        self._rows: dict[int, list[tuple[str, str, float]]] = defaultdict(list)
        for src, phenotype, f in annotation_edges(store):
            d = index.disease_index.get(src)
            if d is not None and phenotype in index.phenotype_index:
                self._rows[d].append((src, phenotype, DEFAULT_FREQUENCY if f is None else max(float(f), 1e-3)))
        self._cache: dict[tuple[int, str], EvidenceExtractor | None] = {}

    def _only_from(self, src: str, phenotype: str, paper: str) -> bool:
        cites = self._cites.get((src, phenotype), ())
        return bool(cites) and all(c and c <= {paper} for c in cites)

    def dropped(self, disease: int, paper: str) -> list[str]:
        """The phenotype ids whose annotation to ``disease`` (index) cites ``paper`` alone."""
        kept = {p for s, p, _ in self._rows[disease] if not self._only_from(s, p, paper)}
        return sorted({p for s, p, _ in self._rows[disease] if self._only_from(s, p, paper)} - kept)

    def _gold_extractor(self, disease: int, paper: str) -> EvidenceExtractor | None:
        """An extractor over a one-disease index: ``disease`` without ``paper``'s annotations
        (``None`` when the paper gave it none)."""
        key = (disease, paper)
        if key not in self._cache:
            ix = self.index
            rows = self._rows[disease]
            keep = [(p, f) for s, p, f in rows if not self._only_from(s, p, paper)]
            if len(keep) == len(rows):
                self._cache[key] = None
            else:
                terms = [ix.phenotype_index[p] for p, _ in keep]
                annotations, profile = annotation_profiles(
                    [0] * len(keep), terms, [f for _, f in keep], ix.ancestors, 1
                )
                one = dataclasses.replace(
                    ix,
                    diseases=[ix.diseases[disease]],
                    disease_names=ix.disease_names[disease : disease + 1],
                    members=[ix.members[disease]],
                    annotations=annotations,
                    profile=profile,
                    excludes=ix.excludes[disease].tocsc(),
                    disease_genes={},
                    similar=None,
                    text_embedding=None,
                )
                one.__dict__["_descendants"] = ix._descendants  # shared, not rebuilt
                self._cache[key] = EvidenceExtractor(one, ic_floor=self.extractor.ic_floor)
        return self._cache[key]

    def __call__(
        self,
        observed: list[int],
        excluded: list[int],
        gold: int | None,
        paper: str | None,
        weights: list[float] | None = None,
    ) -> CaseEvidence:
        """The case's evidence, with ``gold``'s messages computed without ``paper``'s annotations
        (as the extractor's when either is unknown or the paper gave the gold none)."""
        ev = self.extractor(observed, excluded, weights)
        one = self._gold_extractor(gold, paper) if gold is not None and paper else None
        if one is None:
            return ev
        g = one(observed, excluded, weights)

        def splice(disease: torch.Tensor, index: torch.Tensor, feat: torch.Tensor, new: tuple) -> tuple:
            keep = disease != gold
            nd, ni, nf = new
            return (
                torch.cat([disease[keep], torch.full_like(nd, gold)]),
                torch.cat([index[keep], ni]),
                torch.cat([feat[keep], nf]),
            )

        ev.finding_disease, ev.finding_index, ev.finding_feat = splice(
            ev.finding_disease, ev.finding_index, ev.finding_feat, (g.finding_disease, g.finding_index, g.finding_feat)
        )
        ev.lacking_disease, ev.lacking_index, ev.lacking_feat = splice(
            ev.lacking_disease, ev.lacking_index, ev.lacking_feat, (g.lacking_disease, g.lacking_index, g.lacking_feat)
        )
        ev.disease_feat[gold] = g.disease_feat[0]
        ev.overlap[gold] = g.overlap[0]
        return ev

    def for_case(self, gold: int | None, paper: str | None) -> Callable[..., CaseEvidence]:
        """An extractor for one case (the :class:`EvidenceExtractor` call signature), so that a
        :class:`~kgdx.reasoning.diagnoser.Diagnoser` ranks it as if ``paper`` had never been curated."""

        def extract(observed, excluded=(), weights=None, gene_diseases=None, embeddings=None) -> CaseEvidence:  # noqa: ANN001
            if gene_diseases or embeddings:
                raise ValueError("leave-paper-out evidence is phenotype-only: no genes, no encoder embeddings")
            return self(observed, excluded, gold, paper, weights)

        return extract
