"""What a generated explanation may claim: the facts behind one diagnosis, each with its Cypher.

A :class:`Grounding` collects, from a :class:`~kgdx.reasoning.results.Diagnosis`, every fact that
a verified KG path or a KG-checked drug suggestion backs: which findings argue for or against each
ranked disease, which the patient lacks or does not report, the disease's annotated phenotypes and
their frequencies, the treatments, contraindications and interactions. Generated text is held to
these facts (:mod:`kgdx.app.llm.verifier`) and nothing else, so a claim that is true in the world
but not shown by a path is still flagged: the reader can only check what the KG shows.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from kgdx.kg.vocab import NodeLabel, RelType

if TYPE_CHECKING:
    from kgdx.reasoning.explain import EvidencePath
    from kgdx.reasoning.results import Diagnosis, RankedDisease

__all__ = ["Fact", "DiseaseGrounding", "Grounding"]

Polarity = Literal["supports", "against"]


@dataclass(frozen=True)
class Fact:
    """One backed statement, with the Cypher that returns its path and the path as text."""

    relation: str
    subject: str
    object: str
    cypher: str
    text: str


@dataclass
class DiseaseGrounding:
    """The facts about one ranked disease.

    Attributes:
        disease: The ranked disease (its ``members`` are every id of it).
        patient_has: Patient finding → the polarities of the paths that start at it.
        patient_side: Polarity → the patient's findings on those paths and their ancestors up to
            the term shared with the disease (the patient has these, by ``IS_A``).
        disease_side: Polarity → the disease's terms on the paths (what the disease has or lacks).
        lacks: Excluded finding → polarity of its path.
        not_reported: Frequent features of the disease that the patient does not report.
        frequencies: Phenotype → the frequencies the disease's ``HAS_PHENOTYPE`` edges on the paths give.
        genes: Genes on verified gene paths.
        treatments: Drugs with a ``TREATS`` edge to the disease (any of its ids).
    """

    disease: RankedDisease
    paths: list[EvidencePath] = field(default_factory=list)
    patient_has: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    patient_side: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    disease_side: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    lacks: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    not_reported: set[str] = field(default_factory=set)
    frequencies: dict[str, set[float]] = field(default_factory=lambda: defaultdict(set))
    genes: set[str] = field(default_factory=set)
    treatments: set[str] = field(default_factory=set)

    @property
    def ids(self) -> set[str]:
        return set(self.disease.members or (self.disease.id,))

    def path_for(self, node_id: str, claim: str | None = None) -> EvidencePath | None:
        """A verified path of this disease through ``node_id`` (with ``claim``, if given)."""
        for p in self.paths:
            if (claim is None or p.claim == claim) and any(n.id == node_id for n in p.nodes):
                return p
        return None


@dataclass
class Grounding:
    """Every fact one diagnosis backs, per ranked disease and for its drug suggestions.

    Only *verified* paths count: one that failed its check in the store backs nothing.
    """

    diseases: dict[str, DiseaseGrounding]
    observed: set[str]
    excluded: set[str]
    current_drugs: set[str]
    #: ``(drug, disease id)`` → the Cypher of the ``TREATS`` edge and its line of therapy.
    treats: dict[tuple[str, str], tuple[str, int | None]]
    #: ``(drug, condition id)`` → the Cypher of the ``CONTRAINDICATED_IN`` edge.
    contraindications: dict[tuple[str, str], str]
    #: ``frozenset({drug, drug})`` → the Cypher of the ``INTERACTS_WITH`` edge.
    interactions: dict[frozenset[str], str]
    #: Suggested drugs that carry no safety issue.
    safe_drugs: set[str]

    @classmethod
    def from_diagnosis(cls, diagnosis: Diagnosis) -> Grounding:
        ranking = diagnosis.ranking
        case = ranking.case
        diseases: dict[str, DiseaseGrounding] = {r.id: DiseaseGrounding(r) for r in ranking.top}
        if diagnosis.explanation is not None:
            for d in diagnosis.explanation.diseases:
                g = diseases.setdefault(d.disease.id, DiseaseGrounding(d.disease))
                for p in d.paths:
                    if p.verified:
                        _add_path(g, p)
        treats: dict[tuple[str, str], tuple[str, int | None]] = {}
        contra: dict[tuple[str, str], str] = {}
        inter: dict[frozenset[str], str] = {}
        safe: set[str] = set()
        for s in diagnosis.drugs:
            if s.safe:
                safe.add(s.drug)
            for t in s.treats:
                treats[(s.drug, t["disease"])] = (t["cypher"], t["line"])
                for g in diseases.values():
                    if t["disease"] in g.ids:
                        g.treatments.add(s.drug)
            for issue in s.issues:
                for e in issue.edges:
                    if e.type == RelType.CONTRAINDICATED_IN:
                        contra[(e.src, e.dst)] = issue.cypher
                    elif e.type == RelType.INTERACTS_WITH:
                        inter[frozenset((e.src, e.dst))] = issue.cypher
        return cls(
            diseases,
            {f.id for f in case.observed},
            {f.id for f in case.excluded},
            set(case.drugs),
            treats,
            contra,
            inter,
            safe,
        )

    def disease_of(self, ids: set[str]) -> DiseaseGrounding | None:
        """The ranked disease any of ``ids`` names (any of its equivalent ids), if one does."""
        for g in self.diseases.values():
            if g.ids & ids:
                return g
        return None


def _add_path(g: DiseaseGrounding, p: EvidencePath) -> None:
    g.paths.append(p)
    start = p.nodes[0].id
    # Up to the term where the path turns (its first backward edge), the nodes are the patient's
    # finding and its ancestors; after it, the disease's own terms.
    up = next((i for i, fwd in enumerate(p.forward) if not fwd), len(p.forward))
    terms = [n for n in p.nodes if n.type not in (NodeLabel.DISEASE, NodeLabel.GENE)]
    if p.kind in ("observed", "contradicted"):
        g.patient_side[p.claim].update(n.id for n in p.nodes[: up + 1] if n in terms)
        g.disease_side[p.claim].update(n.id for n in p.nodes[up:] if n in terms)
    elif p.kind != "gene":
        g.disease_side[p.claim].update(n.id for n in terms if n.id != start or p.kind == "expected-absent")
    for e in p.edges:
        if e.type == RelType.HAS_PHENOTYPE and "frequency" in e.props:
            g.frequencies[e.dst].add(float(e.props["frequency"]))
    if p.kind in ("observed", "contradicted"):
        g.patient_has[start].add(p.claim)
    elif p.kind == "excluded":
        g.lacks[start].add(p.claim)
    elif p.kind == "expected-absent":
        g.not_reported.add(p.nodes[-1].id)
    elif p.kind == "gene":
        g.genes.add(start)
