"""EvidenceGNN: scores every disease for a patient from the messages its KG neighbourhood sends.

Each relation has its own learned message function (an MLP over the propagated evidence, see
:mod:`kgdx.reasoning.evidence`); messages are summed into each disease (``index_add``, the sum
aggregation of PyG's ``scatter``, without the 2 s that importing PyG adds to a cold start), and a
disease-level MLP adds what is pooled over the disease's own annotations. The score of disease
``d`` for a patient is::

    s(d) = ψ(x_d) + Σ_j w_j [φ_HAS(m_dj) − φ_HAS(∅_j)] + Σ_k min(0, φ_LACKS(m_dk) − φ_LACKS(∅_k)) + γ o_d

where ``φ_HAS`` / ``φ_LACKS`` are the message functions of the patient's ``HAS_FINDING`` /
``LACKS_FINDING`` edges, ``m_dj`` is the message finding ``j`` sends ``d`` and ``∅_j`` the message a disease that
shares nothing with it gets, and ``o_d`` the summed IC that the closure of the observed findings
shares with ``d`` (a fixed prior whose weight ``γ`` was set on validation). A finding the patient
lacks can only lower a disease: its message is capped at 0, and ``ψ`` reads the disease features
computed without the excluded findings (``EvidenceGNNConfig.monotone_excluded``). A finding a
disease is annotated with never argues against it: that message is floored at ``φ_HAS(∅_j)``, so
raising the finding's probability never lowers the disease (``monotone_observed``). With
``learned_prior``, ``γ ≥ 0`` is fitted with everything else instead of set by hand, and ``o_d``
weights each shared term by the probability of the likeliest finding reaching it. Only (disease,
finding) pairs that share something (or, with the opt-in ``text_neighbours`` / ``text_fit``,
are near in text embedding: :mod:`kgdx.reasoning.similar`) cost compute,
and every term is an exact, additive attribution that explanations read back. Nothing in the
model is specific to a disease: a disease added to the KG later is scored from its neighbourhood
without retraining.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import torch
from torch import nn

from kgdx.kg.vocab import RelType
from kgdx.reasoning.calibrate import top_isotonic_probabilities, top_label_probabilities
from kgdx.reasoning.evidence import (
    DISEASE_FEATURES,
    FIT_FEATURES,
    HAS_FINDING_FEATURES,
    LACKS_FINDING_FEATURES,
    NEIGHBOUR_FEATURES,
    CaseEvidence,
)

__all__ = ["EvidenceGNN", "EvidenceGNNConfig", "Attribution"]

_GENE = DISEASE_FEATURES.index("gene_match")
_HAS_TERM = HAS_FINDING_FEATURES.index("has_term")
_LACKS_FREQUENCY = LACKS_FINDING_FEATURES.index("has_term_frequency")
_EXCLUDED = [DISEASE_FEATURES.index(f) for f in ("excluded_coverage", "excluded_overlap", "log_excluded_overlap")]


@dataclass
class EvidenceGNNConfig:
    """Hyper-parameters of :class:`EvidenceGNN` (stored in checkpoints)."""

    hidden: int = 32
    layers: int = 2
    use_excluded: bool = True
    use_disease_features: bool = True
    ic_floor: float = 2.0  # shared terms less informative than this send no message (see evidence.py)
    # The closure-overlap prior added at inference: prior_weight × (observed overlap +
    # prior_excluded × excluded overlap). Both were chosen on the real-case validation split
    # (docs/reasoning.md); training fits the learned terms alone.
    prior_weight: float = 0.3
    prior_excluded: float = 1.0
    # Gene-aware mode: a disease the KG associates with one of the case's genes gains this much.
    # Simulated training cases carry no genes, so the readout ψ never sees the gene column; this
    # term is its only use. `kgdx calibrate` fits it by likelihood on real cases' genes
    # (calibrate.fit_gene_weight); the default, before fitting, ranks such diseases first.
    gene_weight: float = 100.0
    # A finding the patient lacks may lower a disease, never raise it: excluded findings' messages
    # are capped at 0, and neither the readout ψ nor the prior sees them. Off only to study the
    # case-report artefact (authors list the absent features of the disease they report), never
    # for patients.
    monotone_excluded: bool = True
    # A finding a disease is annotated with never argues against it, so raising the finding's
    # probability never lowers that disease: its message is floored at the no-match message.
    monotone_observed: bool = True
    # A finding the patient lacks also lowers each disease by a fixed, non-learned likelihood
    # ratio, log(1 − f) for a disease that has it at frequency f (at or below the term), floored
    # at log(absent_likelihood_floor) since a finding can be missed (LIRICAL's treatment of an
    # excluded finding). None: off. It holds whatever the training data rewards: on case reports
    # the learned excluded messages are clipped to zero by monotone_excluded (docs/reasoning.md).
    absent_likelihood_floor: float | None = None
    # Fit the prior's weight with the other parameters (starting from prior_weight) instead of
    # setting it by hand: the term is then part of training, not added afterwards.
    learned_prior: bool = False
    # Calibration, fitted on held-out training cohorts (kgdx.reasoning.calibrate): scores are
    # divided by `temperature` before the softmax, and `other_logit` (None: no such outcome) is
    # the logit of "a disease not in the KG" at that temperature.
    temperature: float = 1.0
    other_logit: float | None = None
    # Then the top outcome's probability is re-mapped by a logistic regression on its log-odds and
    # its lead over the runner-up, [weight, weight, intercept] (None: no map), the rest keeping
    # their proportions (kgdx.reasoning.calibrate.top_label_probabilities). No outcome moves.
    top_label: list[float] | None = None
    # Or, in its place, an isotonic map of the top outcome's probability: [knots, values], linear
    # between the knots (kgdx.reasoning.calibrate.top_isotonic_probabilities). None: no such map.
    top_isotonic: list[list[float]] | None = None
    # Text embeddings in the messages (kgdx.reasoning.similar; opt-in: measured below the
    # embedding-free model, docs/reasoning.md). text_neighbours: observed findings also send
    # evidence through their text-embedding neighbours (near-synonyms and siblings the IS_A
    # closure misses), with the cosine and frequency of the best one each disease has.
    # text_fit: and their fit to each disease's text profile.
    text_neighbours: bool = False
    text_fit: bool = False
    # The encoders' embeddings of the patient (PatientCase.embeddings: "ct", "report", …) that the
    # model reads, with their widths: each sends every disease one message, the patient's
    # embedding against the disease's text profile (kgdx.reasoning.similar.disease_embeddings)
    # through a learned low-rank bilinear form. Its patient side starts at zero, so a model that
    # gains the message scores as before until it is trained on cases that carry embeddings; a
    # case without one of them gets nothing from it. {}: off.
    patient_embeddings: dict[str, int] = field(default_factory=dict)
    embedding_rank: int = 16

    @property
    def uses_text(self) -> bool:
        """Whether the model reads text embeddings (the index must carry them: KGIndex.with_text)."""
        return self.text_neighbours or self.text_fit or bool(self.patient_embeddings)

    @property
    def has_finding_columns(self) -> list[int]:
        """Which of :data:`HAS_FINDING_FEATURES` the observed-finding message reads."""
        off = set() if self.text_neighbours else set(NEIGHBOUR_FEATURES)
        off |= set() if self.text_fit else set(FIT_FEATURES)
        return [i for i, f in enumerate(HAS_FINDING_FEATURES) if f not in off]


def _mlp(d_in: int, hidden: int, layers: int) -> nn.Sequential:
    mods: list[nn.Module] = []
    d = d_in
    for _ in range(layers):
        mods += [nn.Linear(d, hidden), nn.SiLU()]
        d = hidden
    mods.append(nn.Linear(d, 1))
    return nn.Sequential(*mods)


@dataclass
class Attribution:
    """A score split into the additive contributions of each finding and of the disease prior.

    ``observed[j]`` / ``excluded[k]`` are ``(num_diseases,)`` tensors: how much finding ``j`` (``k``)
    raised or lowered each disease's score relative to a disease sharing nothing with it;
    ``embedding[m]`` how much the patient's embedding ``m`` (in the order of
    ``EvidenceGNNConfig.patient_embeddings``) did, relative to the mean disease.
    """

    prior: torch.Tensor
    observed: torch.Tensor
    excluded: torch.Tensor
    embedding: torch.Tensor | None = None

    @property
    def score(self) -> torch.Tensor:
        s = self.prior + self.observed.sum(0) + self.excluded.sum(0)
        return s if self.embedding is None else s + self.embedding.sum(0)


class EvidenceGNN(nn.Module):
    """Per-relation message MLPs and a disease readout; see the module docstring.

    Args:
        config: Hyper-parameters.

    Example:
        >>> model = EvidenceGNN(EvidenceGNNConfig(hidden=16))
        >>> scores = model(evidence)  # doctest: +SKIP   # (num_cases, num_diseases)
    """

    def __init__(self, config: EvidenceGNNConfig | None = None) -> None:
        super().__init__()
        self.config = config or EvidenceGNNConfig()
        c = self.config
        if c.hidden < 1 or c.layers < 1:
            raise ValueError(f"'hidden' and 'layers' must be positive (got {c.hidden}, {c.layers})")
        # One message function per relation that joins the patient to the KG, named as in the schema.
        self.messages = nn.ModuleDict(
            {
                RelType.HAS_FINDING: _mlp(len(c.has_finding_columns), c.hidden, c.layers),
                RelType.LACKS_FINDING: _mlp(len(LACKS_FINDING_FEATURES), c.hidden, c.layers),
            }
        )
        self.psi = _mlp(len(DISEASE_FEATURES), c.hidden, c.layers)
        self._has_columns = c.has_finding_columns
        if c.learned_prior:
            self.prior_weight = nn.Parameter(torch.tensor(float(c.prior_weight)))
        if c.patient_embeddings:
            from kgdx.reasoning.similar import TEXT_WIDTH

            self.patient_query = nn.ModuleDict(
                {m: nn.Linear(width, c.embedding_rank, bias=False) for m, width in c.patient_embeddings.items()}
            )
            self.disease_key = nn.Linear(TEXT_WIDTH, c.embedding_rank, bias=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Linear):
                m.reset_parameters()
        if self.config.learned_prior:
            with torch.no_grad():
                self.prior_weight.fill_(float(self.config.prior_weight))
        if self.config.patient_embeddings:
            # A unit-scale key for a unit text profile, so the message can matter within a short
            # fine-tune; the query starts at zero (see EvidenceGNNConfig.patient_embeddings).
            nn.init.normal_(self.disease_key.weight, std=self.config.embedding_rank**-0.5)
            for q in self.patient_query.values():
                nn.init.zeros_(q.weight)

    def __repr__(self) -> str:
        c = self.config
        return (
            f"{type(self).__name__}(hidden={c.hidden}, layers={c.layers}, use_excluded={c.use_excluded}, "
            f"use_disease_features={c.use_disease_features}, text_neighbours={c.text_neighbours}, text_fit={c.text_fit}, "
            f"patient_embeddings={sorted(c.patient_embeddings)}, params={sum(p.numel() for p in self.parameters())})"
        )

    def _observed(self, ev: CaseEvidence) -> torch.Tensor:
        # (E,) message minus the finding's no-match message, weighted by the finding's probability
        phi, cols = self.messages[RelType.HAS_FINDING], self._has_columns
        delta = (phi(ev.finding_feat[:, cols]) - phi(ev.finding_none[:, cols])[ev.finding_index]).squeeze(-1)
        if self.config.monotone_observed:
            delta = torch.where(ev.finding_feat[:, _HAS_TERM] > 0, delta.clamp(min=0.0), delta)
        return delta * ev.finding_weight[ev.finding_index]

    def _excluded(self, ev: CaseEvidence) -> torch.Tensor:
        phi = self.messages[RelType.LACKS_FINDING]
        delta = (phi(ev.lacking_feat) - phi(ev.lacking_none)[ev.lacking_index]).squeeze(-1)
        if self.config.monotone_excluded:
            delta = delta.clamp(max=0.0)
        floor = self.config.absent_likelihood_floor
        if floor is not None:
            delta = delta + torch.log((1.0 - ev.lacking_feat[:, _LACKS_FREQUENCY]).clamp(min=floor))
        return delta

    def _prior(self, ev: CaseEvidence) -> torch.Tensor:
        c = self.config
        gene = ev.disease_feat[:, _GENE] * c.gene_weight
        if c.learned_prior:
            weight = self.prior_weight.clamp(min=0.0)  # more shared findings never lower a disease
        elif self.training or not c.prior_weight:
            return gene
        else:
            weight = c.prior_weight
        excluded = 0.0 if c.monotone_excluded else c.prior_excluded * ev.overlap[:, 1]
        return gene + weight * (ev.overlap[:, 0] + excluded)

    def _psi(self, ev: CaseEvidence) -> torch.Tensor:
        x = ev.disease_feat.clone()
        x[:, _GENE] = 0.0  # see EvidenceGNNConfig.gene_weight
        if self.config.monotone_excluded:
            x[:, _EXCLUDED] = 0.0  # as for a patient with no excluded findings
        return self.psi(x).squeeze(-1)

    def _embedding(self, ev: CaseEvidence) -> torch.Tensor | None:
        """``(modalities, num_cases × num_diseases)``: each patient embedding's message, the
        projected unit embedding against each disease's projected text profile, centred over the
        diseases (the message says which diseases the embedding favours, not how many there are);
        ``None`` for a model without them."""
        c = self.config
        if not c.patient_embeddings:
            return None
        if ev.patient_embedding is None or ev.disease_text is None:
            raise ValueError("this model reads patient embeddings: build the evidence with EvidenceExtractor.for_model")
        key = self.disease_key(ev.disease_text)  # (D, r)
        out, start = [], 0
        for m, width in c.patient_embeddings.items():
            # Unit length first: encoders differ in scale (ct-tiny's LayerNorm'd CLS has norm ≈ 8,
            # MiniLM's 1), and a case without the embedding (zeros) stays at zero.
            x = torch.nn.functional.normalize(ev.patient_embedding[:, start : start + width], dim=1)
            s = self.patient_query[m](x) @ key.T  # (B, D)
            out.append((s - s.mean(1, keepdim=True)).reshape(-1))
            start += width
        return torch.stack(out)

    def forward(self, ev: CaseEvidence) -> torch.Tensor:
        """Scores, ``(num_cases, num_diseases)``."""
        n = ev.num_cases * ev.num_diseases
        out = self._psi(ev) if self.config.use_disease_features else torch.zeros(n)
        out = out + self._prior(ev)
        emb = self._embedding(ev)
        if emb is not None:
            out = out + emb.sum(0)
        if len(ev.finding_disease):
            out = out.index_add(0, ev.finding_disease, self._observed(ev))
        if self.config.use_excluded and len(ev.lacking_disease):
            out = out.index_add(0, ev.lacking_disease, self._excluded(ev))
        return out.view(ev.num_cases, ev.num_diseases)

    @torch.no_grad()
    def attribute(self, ev: CaseEvidence) -> Attribution:
        """The additive contributions behind :meth:`forward` for one case."""
        if ev.num_cases != 1:
            raise ValueError(f"attribute() takes one case (got a batch of {ev.num_cases})")
        D = ev.num_diseases
        prior = self._psi(ev) if self.config.use_disease_features else torch.zeros(D)
        prior = prior + self._prior(ev)
        obs = torch.zeros(len(ev.finding_none), D)
        if len(ev.finding_disease):
            obs.index_put_((ev.finding_index, ev.finding_disease), self._observed(ev), accumulate=True)
        exc = torch.zeros(len(ev.lacking_none), D)
        if self.config.use_excluded and len(ev.lacking_disease):
            exc.index_put_((ev.lacking_index, ev.lacking_disease), self._excluded(ev), accumulate=True)
        return Attribution(prior, obs, exc, self._embedding(ev))

    def with_patient_embeddings(self, widths: dict[str, int], rank: int | None = None) -> EvidenceGNN:
        """A copy that also reads the patient's encoder embeddings ``{name: width}`` and scores
        exactly as this model until it is trained on cases that carry them (fine-tuning)."""
        c = replace(self.config, patient_embeddings=dict(widths), embedding_rank=rank or self.config.embedding_rank)
        out = EvidenceGNN(c)
        own = {k: v for k, v in self.state_dict().items() if not k.startswith(("patient_query.", "disease_key."))}
        out.load_state_dict(own, strict=False)
        return out.train(self.training)

    def probabilities(self, scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Calibrated probabilities of each disease and of "a disease not in the KG".

        Args:
            scores: ``(..., num_diseases)`` scores from :meth:`forward`.

        Returns:
            ``(probabilities of each disease, probability that it is none of them)``; the second is 0
            for a model without a fitted ``other_logit``. Their order is the order of ``scores``.
        """
        c = self.config
        logits = scores / c.temperature
        if c.other_logit is not None:
            logits = torch.cat([logits, torch.full((*logits.shape[:-1], 1), float(c.other_logit))], -1)
        if c.top_isotonic is not None:
            p = top_isotonic_probabilities(logits, c.top_isotonic)
        elif c.top_label is not None:
            p = top_label_probabilities(logits, c.top_label)
        else:
            p = torch.softmax(logits, -1)
        if c.other_logit is None:
            return p, torch.zeros(logits.shape[:-1])
        return p[..., :-1], p[..., -1]

    def config_dict(self) -> dict:
        return asdict(self.config)
