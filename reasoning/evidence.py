"""Patient-conditioned message passing over the KG: the evidence each finding sends each disease.

The patient joins the KG through ``HAS_FINDING`` / ``LACKS_FINDING`` edges to phenotypes. One
round of propagation per relation then carries each finding's signal to the diseases:

* ``HAS_FINDING`` → ``IS_A``* (up the transitive closure) → ``HAS_PHENOTYPE`` (reversed, with the
  annotation frequency propagated up the disease's profile). A disease receives, per observed
  finding, the information content of the most specific term it shares with the finding (the
  Resnik match), the frequency there, whether it has the finding itself (or something more
  specific), and whether a ``EXCLUDES_PHENOTYPE`` edge contradicts it.
* With the index's text embeddings (:mod:`kgdx.reasoning.similar`), ``HAS_FINDING`` →
  ``SIMILAR_TO`` (a near-synonym or sibling outside the finding's lineage) → ``HAS_PHENOTYPE``
  (reversed): the cosine similarity of the best such neighbour the disease has, and its frequency.
  And the finding's fit to each disease's text profile (its phenotypes' embeddings, weighted by
  frequency × IC): the cosine above the finding's ``TEXT_FIT_DISEASES``-th best disease, so
  only the diseases it fits best get an edge, and the rest the no-match message.
* ``LACKS_FINDING`` → ``HAS_PHENOTYPE`` / ``EXCLUDES_PHENOTYPE`` (reversed). A disease receives,
  per excluded finding, its frequency in the disease and whether the disease is known to lack it.
* Per disease, pooled over its own annotations: the share of its (frequency × IC) profile the
  patient's observed findings reach (in either direction of the hierarchy), the share the
  excluded findings reach, the summed IC of the terms it shares with the closure of the observed
  (and of the excluded) findings, its number of annotations, and a gene match in gene-aware mode.

Only (disease, finding) pairs that actually share something become edges, so a case costs
milliseconds over all diseases. :class:`~kgdx.reasoning.model.EvidenceGNN` reads these messages out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from kgdx.errors import DataError
from kgdx.reasoning.index import KGIndex

__all__ = [
    "CaseEvidence",
    "EvidenceExtractor",
    "HAS_FINDING_FEATURES",
    "LACKS_FINDING_FEATURES",
    "DISEASE_FEATURES",
    "NEIGHBOUR_FEATURES",
    "FIT_FEATURES",
]

HAS_FINDING_FEATURES = (
    "match_ic_ratio",
    "match_ic",
    "match_frequency",
    "has_term_frequency",
    "has_term",
    "contradicted",
    "term_ic",
    "term_background",
    "similar_cosine",
    "similar_frequency",
    "text_fit",
)
#: The HAS_FINDING features from text embeddings (zero without them): a model reads the
#: neighbour pair only with ``text_neighbours`` and the fit only with ``text_fit``.
NEIGHBOUR_FEATURES = ("similar_cosine", "similar_frequency")
FIT_FEATURES = ("text_fit",)
#: Per finding, the diseases whose text profile it fits best get a ``text_fit`` edge.
TEXT_FIT_DISEASES = 200
LACKS_FINDING_FEATURES = ("has_term_frequency", "has_term", "known_absent", "term_ic", "term_background")
DISEASE_FEATURES = (
    "log_annotations",
    "observed_coverage",
    "excluded_coverage",
    "observed_overlap",
    "log_observed_overlap",
    "excluded_overlap",
    "log_excluded_overlap",
    "gene_match",
)


@dataclass
class CaseEvidence:
    """The messages for one case (or a batch of cases stacked, see :meth:`batch`).

    Observed-finding edges ``(finding_disease[e], finding_index[e])`` carry ``finding_feat[e]``; each channel
    (finding) also has ``finding_none[c]``, the message a disease sharing nothing with it would get,
    and a weight (the finding's probability). The same holds for excluded findings (``exc_*``).
    ``disease_feat`` is ``(num_diseases, len(DISEASE_FEATURES))``; ``overlap`` is
    ``(num_diseases, 2)``: the summed IC of the terms the observed (excluded) findings' closure
    shares with each disease's profile (each observed term weighted by the probability of the
    likeliest finding that reaches it). For a model that reads the patient's encoder embeddings,
    ``patient_embedding`` is ``(num_cases, Σ widths)``, the case's embeddings side by side in the
    model's order (zeros for one the case lacks), and ``disease_text`` the ``(num_diseases, 384)``
    text profiles they are compared with (shared by every case of the index, not copied).
    """

    finding_disease: torch.Tensor
    finding_index: torch.Tensor
    finding_feat: torch.Tensor
    finding_none: torch.Tensor
    finding_weight: torch.Tensor
    lacking_disease: torch.Tensor
    lacking_index: torch.Tensor
    lacking_feat: torch.Tensor
    lacking_none: torch.Tensor
    disease_feat: torch.Tensor
    overlap: torch.Tensor
    num_diseases: int
    num_cases: int = 1
    patient_embedding: torch.Tensor | None = None
    disease_text: torch.Tensor | None = None

    @staticmethod
    def batch(items: list[CaseEvidence]) -> CaseEvidence:
        """Stack cases: disease indices become ``case * num_diseases + disease``."""
        D = items[0].num_diseases
        oo = eo = 0
        unstacked = ("num_diseases", "num_cases", "patient_embedding", "disease_text")
        parts: dict[str, list[torch.Tensor]] = {k: [] for k in CaseEvidence.__dataclass_fields__ if k not in unstacked}
        for b, it in enumerate(items):
            parts["finding_disease"].append(it.finding_disease + b * D)
            parts["finding_index"].append(it.finding_index + oo)
            parts["lacking_disease"].append(it.lacking_disease + b * D)
            parts["lacking_index"].append(it.lacking_index + eo)
            for k in (
                "finding_feat",
                "finding_none",
                "finding_weight",
                "lacking_feat",
                "lacking_none",
                "disease_feat",
                "overlap",
            ):
                parts[k].append(getattr(it, k))
            oo += len(it.finding_none)
            eo += len(it.lacking_none)
        embedded = items[0].patient_embedding is not None
        if any((it.patient_embedding is not None) != embedded for it in items):
            raise ValueError("cannot batch evidence with and without patient embeddings")
        return CaseEvidence(
            **{k: torch.cat(v) for k, v in parts.items()},
            num_diseases=D,
            num_cases=len(items),
            patient_embedding=torch.cat([it.patient_embedding for it in items]) if embedded else None,
            disease_text=items[0].disease_text,
        )


class EvidenceExtractor:
    """Computes :class:`CaseEvidence` for cases over one :class:`KGIndex`.

    Args:
        index: The KG index.
        ic_floor: Shared ancestors less informative than this are not evidence (they match
            nearly every disease); keeps the edge count per finding small.
        text_neighbours: Also send messages through the index's text-embedding neighbours
            (``index.similar``, see :meth:`KGIndex.with_text`).
        text_fit: Also send each finding's fit to the text profile of the diseases it fits best
            (``index.text_embedding``).
        patient_embeddings: The case embeddings to pass on, with their widths
            (``EvidenceGNNConfig.patient_embeddings``), and the diseases' text profiles with them.
    """

    def __init__(
        self,
        index: KGIndex,
        ic_floor: float = 1.0,
        *,
        text_neighbours: bool = False,
        text_fit: bool = False,
        patient_embeddings: dict[str, int] | None = None,
    ) -> None:
        self.patient_embeddings = dict(patient_embeddings or {})
        if (text_neighbours or text_fit or self.patient_embeddings) and index.text_embedding is None:
            raise ValueError("text features need the index's text embeddings: call index.with_text(store) first")
        if self.patient_embeddings:
            from kgdx.reasoning.similar import TEXT_WIDTH

            if index.text_embedding.shape[1] != TEXT_WIDTH:
                raise ValueError(
                    f"patient embeddings are compared with {TEXT_WIDTH}-d text profiles; the index's text embeddings "
                    f"are {index.text_embedding.shape[1]}-d"
                )
        self.index = index
        self.ic_floor = ic_floor
        self.similar = index.similar if text_neighbours else None
        self._disease_text = self._phenotype_text = self._disease_profile = None
        if text_fit or self.patient_embeddings:
            from kgdx.reasoning.similar import disease_embeddings

            self._phenotype_text = np.asarray(index.text_embedding, np.float32)
            profile = disease_embeddings(index, self._phenotype_text)
            self._disease_text = profile if text_fit else None
            self._disease_profile = torch.from_numpy(profile) if self.patient_embeddings else None
        self._zeros = np.zeros(index.num_diseases, np.float32)  # the text features when off (read-only)
        ann = index.annotations
        self._n_ann = np.diff(ann.indptr).astype(np.float32)
        weighted = ann.multiply(index.ic[None, :]).tocsr()
        self._weighted = weighted
        self._weighted_total = np.asarray(weighted.sum(1)).ravel() + 1e-6
        self._reach = index.profile.tocsr(copy=True)
        self._reach.data[:] = 1.0

    @classmethod
    def for_model(cls, index: KGIndex, config) -> EvidenceExtractor:  # noqa: ANN001 - EvidenceGNNConfig
        """The extractor whose messages a model with ``config`` reads."""
        return cls(
            index,
            ic_floor=config.ic_floor,
            text_neighbours=config.text_neighbours,
            text_fit=config.text_fit,
            patient_embeddings=config.patient_embeddings,
        )

    @property
    def uses_text(self) -> bool:
        """Whether messages also travel through text embeddings (neighbours or fit)."""
        return self.similar is not None or self._disease_text is not None

    def __repr__(self) -> str:
        return (
            f"EvidenceExtractor(phenotypes={self.index.num_phenotypes}, diseases={self.index.num_diseases}, "
            f"ic_floor={self.ic_floor}, text_neighbours={self.similar is not None}, "
            f"text_fit={self._disease_text is not None}, patient_embeddings={sorted(self.patient_embeddings)})"
        )

    def _patient_embedding(self, embeddings: dict[str, np.ndarray] | None) -> torch.Tensor | None:
        """The case's embeddings side by side in the model's order, zeros for one it lacks."""
        if not self.patient_embeddings:
            return None
        embeddings = embeddings or {}
        parts = []
        for m, width in self.patient_embeddings.items():
            e = embeddings.get(m)
            if e is None:
                parts.append(np.zeros(width, np.float32))
                continue
            e = np.asarray(e, np.float32).reshape(-1)
            if e.shape[0] != width:
                raise DataError(
                    f"the model reads {width}-d {m!r} embeddings; this case's is {e.shape[0]}-d",
                    field=f"embeddings.{m}",
                )
            parts.append(e)
        return torch.from_numpy(np.concatenate(parts))[None]

    def _similar_match(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        """Per disease, the cosine similarity of the most similar neighbour of ``t`` that its
        profile reaches, and the frequency there (zeros without neighbours)."""
        s = self.similar
        if s is None:
            return self._zeros, self._zeros
        cos, freq = np.zeros_like(self._zeros), np.zeros_like(self._zeros)
        lo, hi = s.indptr[t], s.indptr[t + 1]
        for a, c in sorted(zip(s.indices[lo:hi], s.data[lo:hi]), key=lambda x: x[1]):  # best last
            rows, f = self.index.rows_reaching(int(a))
            cos[rows] = c
            freq[rows] = f
        return cos, freq

    def _text_fit(self, t: int) -> np.ndarray:
        """Per disease, how much better finding ``t`` fits its text profile than it fits the
        ``TEXT_FIT_DISEASES``-th best disease (0 for that one and all below)."""
        D = self.index.num_diseases
        if self._disease_text is None:
            return self._zeros
        cos = self._disease_text @ self._phenotype_text[t]
        n = min(TEXT_FIT_DISEASES, D - 1)
        cut = np.partition(cos, D - 1 - n)[D - 1 - n]
        return np.maximum(cos - cut, 0.0).astype(np.float32)

    def _best_match(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        """Per disease, the IC of the most specific term it shares with ``t`` (at least
        ``ic_floor``) and the annotation frequency there: walk ``t``'s ancestors from general to
        specific and let the more informative overwrite."""
        ix = self.index
        anc = ix.ancestors_of(t)
        anc = anc[ix.ic[anc] >= self.ic_floor]
        best_ic = np.zeros(ix.num_diseases, np.float32)
        best_f = np.zeros(ix.num_diseases, np.float32)
        for a in anc[np.argsort(ix.ic[anc], kind="stable")]:
            rows, freq = ix.rows_reaching(a)
            best_ic[rows] = ix.ic[a]
            best_f[rows] = freq
        return best_ic, best_f

    def __call__(
        self,
        observed: list[int],
        excluded: list[int] = (),
        weights: list[float] | None = None,
        gene_diseases: list[int] | None = None,
        embeddings: dict[str, np.ndarray] | None = None,
    ) -> CaseEvidence:
        """Messages for one case.

        Args:
            observed: Term indices of observed findings.
            excluded: Term indices of excluded findings.
            weights: Probability of each observed finding (default 1).
            gene_diseases: Disease indices associated with the case's genes (gene-aware mode).
            embeddings: The case's encoder embeddings (``PatientCase.embeddings``); only those
                in ``patient_embeddings`` are read.
        """
        ix = self.index
        D = ix.num_diseases
        ic, bg = ix.ic, ix.background
        exc_csc = ix.excludes

        od, oc, of = [], [], []
        for j, t in enumerate(observed):
            best_ic, best_f = self._best_match(t)
            has_f = np.zeros(D, np.float32)
            rows, freq = ix.rows_reaching(t)
            has_f[rows] = freq
            contra = np.zeros(D, np.float32)
            for a in ix.ancestors_of(t):
                lo, hi = exc_csc.indptr[a], exc_csc.indptr[a + 1]
                contra[exc_csc.indices[lo:hi]] = 1.0
            sim_cos, sim_f = self._similar_match(t)
            fit = self._text_fit(t)
            closure = (best_ic > 0) | (contra > 0)
            best_f[~closure] = 0.0  # an IC-0 root "match" is no match: neighbour-only edges carry none
            d = np.flatnonzero(closure | (sim_cos > 0) | (fit > 0))
            t_ic = max(float(ic[t]), 1e-3)
            feats = np.stack(
                [
                    best_ic[d] / t_ic,
                    best_ic[d],
                    best_f[d],
                    has_f[d],
                    (has_f[d] > 0),
                    contra[d],
                    np.full(len(d), ic[t]),
                    np.full(len(d), bg[t]),
                    sim_cos[d],
                    sim_f[d],
                    fit[d],
                ],
                1,
            )
            od.append(d)
            oc.append(np.full(len(d), j))
            of.append(feats)
        finding_none = np.array([[0, 0, 0, 0, 0, 0, ic[t], bg[t], 0, 0, 0] for t in observed], np.float32).reshape(
            -1, len(HAS_FINDING_FEATURES)
        )

        xd, xc, xf = [], [], []
        for k, t in enumerate(excluded):
            has_f = np.zeros(D, np.float32)
            rows, freq = ix.rows_reaching(t)
            has_f[rows] = freq
            absent = np.zeros(D, np.float32)
            lo, hi = exc_csc.indptr[t], exc_csc.indptr[t + 1]
            absent[exc_csc.indices[lo:hi]] = 1.0
            d = np.flatnonzero((has_f > 0) | (absent > 0))
            xd.append(d)
            xc.append(np.full(len(d), k))
            xf.append(
                np.stack([has_f[d], (has_f[d] > 0), absent[d], np.full(len(d), ic[t]), np.full(len(d), bg[t])], 1)
            )
        lacking_none = np.array([[0, 0, 0, ic[t], bg[t]] for t in excluded], np.float32).reshape(
            -1, len(LACKS_FINDING_FEATURES)
        )

        # Shared-closure overlap: the IC of every term both the patient's findings (with their
        # ancestors) and the disease's profile reach, for observed and for excluded findings.
        obs_closure = ix.closure(observed)
        exc_closure = np.setdiff1d(ix.closure(excluded), obs_closure)
        obs_total, exc_total = float(ic[obs_closure].sum()) or 1.0, float(ic[exc_closure].sum()) or 1.0
        v = np.zeros(ix.num_phenotypes, np.float32)
        v[obs_closure] = ic[obs_closure]
        obs_overlap = self._reach @ v
        # The same, each shared term weighted by the probability of the likeliest finding that
        # reaches it: the overlap prior's input, so a finding at p=0.05 adds little through it.
        w = np.ones(len(observed), np.float32) if weights is None else np.asarray(weights, np.float32)
        if (w < 1).any():
            reach_w = np.zeros(ix.num_phenotypes, np.float32)
            for t, wt in zip(observed, w):
                a = ix.ancestors_of(t)
                reach_w[a] = np.maximum(reach_w[a], wt)
            weighted_overlap = self._reach @ (v * reach_w)
        else:
            weighted_overlap = obs_overlap
        v[:] = 0
        v[exc_closure] = ic[exc_closure]
        exc_overlap = self._reach @ v

        reached = np.zeros(ix.num_phenotypes, np.float32)
        reached[obs_closure] = 1.0
        for t in observed:
            reached[ix.descendants_of(t)] = 1.0
        xmark = np.zeros(ix.num_phenotypes, np.float32)
        if len(excluded):
            xmark[list(excluded)] = 1.0
        gene = np.zeros(D, np.float32)
        if gene_diseases:
            gene[list(gene_diseases)] = 1.0
        disease = np.stack(
            [
                np.log1p(self._n_ann),
                (self._weighted @ reached) / self._weighted_total,
                (self._weighted @ xmark) / self._weighted_total,
                obs_overlap / obs_total,
                np.log1p(obs_overlap),
                exc_overlap / exc_total,
                np.log1p(exc_overlap),
                gene,
            ],
            1,
        )

        def cat(parts: list[np.ndarray], dtype: torch.dtype, width: int | None = None) -> torch.Tensor:
            if not parts:
                return torch.zeros((0, width) if width else (0,), dtype=dtype)
            return torch.from_numpy(np.concatenate(parts).astype(np.float32 if dtype == torch.float else np.int64))

        return CaseEvidence(
            finding_disease=cat(od, torch.long),
            finding_index=cat(oc, torch.long),
            finding_feat=cat(of, torch.float, len(HAS_FINDING_FEATURES)),
            finding_none=torch.from_numpy(finding_none),
            finding_weight=torch.from_numpy(w),
            lacking_disease=cat(xd, torch.long),
            lacking_index=cat(xc, torch.long),
            lacking_feat=cat(xf, torch.float, len(LACKS_FINDING_FEATURES)),
            lacking_none=torch.from_numpy(lacking_none),
            disease_feat=torch.from_numpy(disease.astype(np.float32)),
            overlap=torch.from_numpy(np.stack([weighted_overlap, exc_overlap], 1).astype(np.float32)),
            num_diseases=D,
            patient_embedding=self._patient_embedding(embeddings),
            disease_text=self._disease_profile,
        )
