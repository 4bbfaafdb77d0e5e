"""Patients simulated from the KG: the training data of the phenotype model.

The knowledge lives in the KG, so training cases are drawn from it, never from real case
reports. For a disease, each annotated phenotype is present with its annotated frequency (scaled
by how completely the case was examined), possibly reported imprecisely as a parent term, plus
unrelated noise terms. Excluded findings are what a clinician records as pertinent negatives:
features of the suspected disease, and of its differential, that were looked for and absent, plus
a few unrelated ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from kgdx.reasoning.index import KGIndex

__all__ = ["SimulationConfig", "SimulatedCase", "CaseSimulator"]


@dataclass
class SimulationConfig:
    """How simulated cases are drawn. Defaults are the ones the shipped model was trained with."""

    completeness: tuple[float, float] = (0.4, 1.0)  # frequency scale per case, uniform in range
    imprecision: float = 0.25  # chance a present term is reported as a parent term
    min_parent_ic: float = 2.0  # never generalise to a parent less informative than this
    specificity: float = 0.0  # chance a present term is reported as a more specific child term
    noise_terms: float = 1.0  # Poisson mean of unrelated observed terms
    negatives_rate: tuple[float, float] = (0.0, 0.8)  # chance an absent disease term is recorded as excluded
    differential_negatives: float = 0.5  # chance the case also excludes terms of a related disease
    noise_excluded: float = 1.0  # Poisson mean of unrelated excluded terms
    max_observed: int = 40
    gene_rate: float = 0.0  # chance the case carries one of the disease's genes (gene-aware training)


@dataclass
class SimulatedCase:
    disease: int
    observed: list[int]
    excluded: list[int]
    gene_diseases: list[int] = field(default_factory=list)


class CaseSimulator:
    """Draws :class:`SimulatedCase` from a :class:`KGIndex`.

    Args:
        index: The KG index.
        config: Simulation settings.
        diseases: Disease indices to draw from (default: every disease with annotations).
        seed: Random seed; the same seed gives the same cases.
    """

    def __init__(
        self, index: KGIndex, config: SimulationConfig | None = None, diseases: np.ndarray | None = None, seed: int = 0
    ) -> None:
        self.index = index
        self.config = config or SimulationConfig()
        ann = index.annotations
        self._ann = ann
        n_ann = np.diff(ann.indptr)
        self.diseases = np.flatnonzero(n_ann > 0) if diseases is None else np.asarray(diseases)
        if len(self.diseases) == 0:
            raise ValueError("no disease with phenotype annotations to simulate from")
        self.rng = np.random.default_rng(seed)
        findings = index.phenotypic_abnormalities()
        mask = np.zeros(index.num_phenotypes, bool)
        mask[findings if findings is not None else slice(None)] = True
        p = index.background * mask
        self._noise_cdf = np.cumsum(p / p.sum()) if p.sum() > 0 else None
        self._term_diseases = index.profile  # CSC: column t lists diseases with t in their profile
        self._children: dict[int, list[int]] = {}
        for child, parents in index.parents.items():
            for p in parents:
                self._children.setdefault(p, []).append(child)
        self._genes_of: dict[int, list[str]] = {}
        for gene, ds in sorted(index.disease_genes.items()):
            for d in ds:
                self._genes_of.setdefault(d, []).append(gene)

    def _noise(self, n: int) -> list[int]:
        if self._noise_cdf is None or n == 0:
            return []
        return np.searchsorted(self._noise_cdf, self.rng.random(n)).clip(0, self.index.num_phenotypes - 1).tolist()

    def _terms(self, d: int) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = self._ann.indptr[d], self._ann.indptr[d + 1]
        return self._ann.indices[lo:hi], self._ann.data[lo:hi]

    def sample(self, disease: int | None = None) -> SimulatedCase:
        """One case of ``disease`` (or of a disease drawn uniformly)."""
        c, rng, ix = self.config, self.rng, self.index
        d = int(rng.choice(self.diseases)) if disease is None else int(disease)
        terms, freqs = self._terms(d)
        present = rng.random(len(terms)) < freqs * rng.uniform(*c.completeness)
        if not present.any():
            present[rng.integers(len(terms))] = True
        observed: list[int] = []
        for t in terms[present].tolist():
            parents = ix.parents.get(t)
            roll = rng.random()
            if parents and roll < c.imprecision:
                p = int(rng.choice(parents))
                if ix.ic[p] >= c.min_parent_ic:
                    t = p
            elif roll < c.imprecision + c.specificity and self._children.get(t):
                t = int(rng.choice(self._children[t]))
            observed.append(t)
        observed += self._noise(rng.poisson(c.noise_terms))
        observed = list(dict.fromkeys(observed))[: c.max_observed]

        rate = rng.uniform(*c.negatives_rate)
        excluded = [t for t in terms[~present].tolist() if rng.random() < rate]
        if rng.random() < c.differential_negatives:
            other = self._related(d, terms)
            if other is not None:
                o_terms, _ = self._terms(other)
                excluded += [t for t in o_terms.tolist() if rng.random() < rate / 2]
        excluded += self._noise(rng.poisson(c.noise_excluded))
        seen = set(observed)
        excluded = [t for t in dict.fromkeys(excluded) if t not in seen]

        gene_diseases: list[int] = []
        if c.gene_rate and d in self._genes_of and rng.random() < c.gene_rate:
            gene = self._genes_of[d][int(rng.integers(len(self._genes_of[d])))]
            gene_diseases = sorted(set(ix.disease_genes[gene]))
        return SimulatedCase(d, observed, excluded, gene_diseases)

    def _related(self, d: int, terms: np.ndarray) -> int | None:
        """A disease sharing an informative term with ``d`` (its differential)."""
        if len(terms) == 0:
            return None
        t = int(self.rng.choice(terms))
        col = self._term_diseases
        rows = col.indices[col.indptr[t] : col.indptr[t + 1]]
        rows = rows[rows != d]
        return int(self.rng.choice(rows)) if len(rows) else None
