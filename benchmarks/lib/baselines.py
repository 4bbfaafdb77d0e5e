"""Non-learned phenotype-similarity baselines, run beside the model in the same benchmark.

* :class:`ICOverlap`: the summed information content of the terms a patient's findings and a
  disease's annotations share, both taken with all their ancestors.
* :class:`ResnikBMA`: best-match average of Resnik similarity (the IC of the most informative
  common ancestor), patient → disease, disease → patient, or both averaged (symmetric), as in
  Phenomizer.

Both ignore excluded findings, as they were published.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from kgdx.reasoning.index import KGIndex

__all__ = ["ICOverlap", "ResnikBMA"]


class ICOverlap:
    """Σ IC over the shared ancestor closure of patient and disease."""

    name = "IC overlap"

    def __init__(self, index: KGIndex) -> None:
        self.index = index
        self._reach = index.profile.copy().tocsr()
        self._reach.data[:] = 1.0

    def scores(self, observed: list[int]) -> np.ndarray:
        closure = self.index.closure(observed)
        v = np.zeros(self.index.num_phenotypes, np.float64)
        v[closure] = self.index.ic[closure]
        return self._reach @ v


class ResnikBMA:
    """Resnik best-match average over the whole ontology (no IC floor)."""

    def __init__(self, index: KGIndex, direction: Literal["symmetric", "patient", "disease"] = "symmetric") -> None:
        self.index = index
        self.direction = direction
        self.name = f"Resnik BMA ({direction})"
        ann = index.annotations.tocsr()
        self._ann01 = ann.copy()
        self._ann01.data[:] = 1.0
        self._n_ann = np.maximum(np.diff(ann.indptr), 1)
        anc = index.ancestors  # CSC: column t lists t and its ancestors
        self._col_starts = anc.indptr[:-1]
        self._anc_rows = anc.indices

    def _patient_to_disease(self, observed: list[int]) -> np.ndarray:
        ix = self.index
        total = np.zeros(ix.num_diseases)
        for t in observed:
            anc = ix.ancestors_of(t)
            best = np.zeros(ix.num_diseases)
            for a in anc[np.argsort(ix.ic[anc], kind="stable")]:
                rows, _ = ix.rows_reaching(a)
                best[rows] = ix.ic[a]
            total += best
        return total / max(len(observed), 1)

    def _disease_to_patient(self, observed: list[int]) -> np.ndarray:
        ix = self.index
        closure = ix.closure(observed)
        val = np.zeros(ix.num_phenotypes)
        val[closure] = ix.ic[closure]
        # For every term: the best IC among its ancestors that the patient also reaches.
        best_per_term = np.maximum.reduceat(val[self._anc_rows], self._col_starts)
        return (self._ann01 @ best_per_term) / self._n_ann

    def scores(self, observed: list[int]) -> np.ndarray:
        if not observed:
            return np.zeros(self.index.num_diseases)
        if self.direction == "patient":
            return self._patient_to_disease(observed)
        if self.direction == "disease":
            return self._disease_to_patient(observed)
        return 0.5 * (self._patient_to_disease(observed) + self._disease_to_patient(observed))
