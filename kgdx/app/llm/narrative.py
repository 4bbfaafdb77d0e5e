"""The deterministic renderer: one clinician-readable paragraph per explained disease, from
templates, with no model and no network. It is the default wherever kgdx writes an explanation
as prose, and it says only what the verified paths and checked drug suggestions say, so the
verifier (:mod:`kgdx.app.llm.verifier`) passes every sentence of it (a test holds it to that).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kgdx.kg.vocab import RelType

if TYPE_CHECKING:
    from kgdx.kg.store import KGStore
    from kgdx.reasoning.drugs import DrugSuggestion
    from kgdx.reasoning.explain import EvidencePath
    from kgdx.reasoning.results import Diagnosis, RankedDisease

__all__ = ["Paragraph", "template_paragraphs", "ordinal", "display_name"]

_ORDINALS = {1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth"}


@dataclass(frozen=True)
class Paragraph:
    """The prose explanation of one ranked disease."""

    disease: RankedDisease
    text: str


def ordinal(n: int) -> str:
    """``1`` → ``"first"``; past five, ``"6th"``."""
    return _ORDINALS.get(n) or f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def display_name(name: str) -> str:
    """A node name as it reads mid-sentence: ``"Air bronchogram"`` → ``"air bronchogram"``, while
    acronyms and gene symbols (``"CFTR"``, ``"COVID-19"``) keep their capitals."""
    return name[:1].lower() + name[1:] if name[1:2].islower() else name


def _frequency(p: EvidencePath) -> str:
    """`` in 60% of cases`` from the path's ``HAS_PHENOTYPE`` edge, or nothing without a frequency."""
    f = next(
        (e.props["frequency"] for e in p.edges if e.type == RelType.HAS_PHENOTYPE and "frequency" in e.props), None
    )
    return f" in {float(f):.0%} of cases" if f is not None else ""


def _annotated(p: EvidencePath) -> str:
    """The disease's own annotated term on a path: the node its ``HAS_PHENOTYPE`` edge reaches."""
    e = next((e for e in p.edges if e.type == RelType.HAS_PHENOTYPE), None)
    node = next((n for n in p.nodes if e is not None and n.id == e.dst), p.nodes[-1])
    return display_name(node.name)


def _sentence(p: EvidencePath, name: str) -> str:
    lead = "In its favour" if p.claim == "supports" else "Against it"
    start = display_name(p.nodes[0].name)
    freq = _frequency(p)
    if p.kind == "gene":
        return (
            f"{lead}, the patient's gene {p.nodes[0].props.get('symbol', p.nodes[0].name)} is associated with {name}."
        )
    if p.kind == "expected-absent":
        return f"{lead}, the patient does not report {_annotated(p)}, which {name} has{freq}."
    excludes = any(e.type == RelType.EXCLUDES_PHENOTYPE for e in p.edges)
    if p.kind == "excluded":
        if excludes:
            return f"{lead}, the patient does not have {start}, which {name} is known to lack."
        return f"{lead}, the patient does not have {start}, although {name} has {_annotated(p)}{freq}."
    # observed or contradicted: the patient's finding, IS_A up to a shared term, then down to the
    # disease's annotated term (or to the term the disease excludes).
    up = next((i for i, fwd in enumerate(p.forward) if not fwd), len(p.forward))
    shared = display_name(p.nodes[up].name)
    kind_of = f", a kind of {shared}," if up else ","
    if excludes:
        return f"{lead}, the patient has {start}{kind_of} which {name} is known to lack."
    annotated = _annotated(p)
    if annotated == shared:
        return f"{lead}, the patient has {start}{kind_of} which {name} has{freq}."
    if not up:  # the disease's term is below the patient's finding
        return f"{lead}, the patient has {start}; {name} has {annotated} (a kind of {start}){freq}."
    return f"{lead}, the patient has {start}{kind_of} and {name} has {annotated} (also a kind of {shared}){freq}."


def _drug_sentences(
    r: RankedDisease, drugs: list[DrugSuggestion], current: set[str], name_of: Callable[[str], str]
) -> list[str]:
    ids = set(r.members or (r.id,))
    mine = [s for s in drugs if any(t["disease"] in ids for t in s.treats)]
    out = []
    safe = []
    for s in mine:
        if s.safe:
            line = next(t["line"] for t in s.treats if t["disease"] in ids)
            safe.append(f"{s.name} (line {line})" if line else s.name)
    if safe:
        out.append(f"The KG lists as its treatments: {', '.join(safe)}.")
    for s in mine:
        for issue in s.issues:
            e = issue.edges[0]
            if e.type == RelType.CONTRAINDICATED_IN:
                out.append(
                    f"{_capital(s.name)} treats it but is contraindicated ({issue.severity}) in "
                    f"{display_name(name_of(e.dst))}, which this patient has."
                )
            else:
                other = e.dst if e.src == s.drug else e.src
                whose = "which the patient takes" if other in current else "another suggestion"
                out.append(
                    f"{_capital(s.name)} treats it but interacts ({issue.severity}) with {name_of(other)}, {whose}."
                )
    return out


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def template_paragraphs(diagnosis: Diagnosis, store: KGStore | None = None) -> list[Paragraph]:
    """One paragraph per explained disease (every ranked one if there is no explanation).

    Args:
        diagnosis: What :meth:`~kgdx.reasoning.Diagnoser.diagnose` returned.
        store: The KG, to name the conditions and drugs that safety flags point at (their ids
            are written without it).

    Example:
        >>> for p in template_paragraphs(dx.diagnose(case)):   # doctest: +SKIP
        ...     print(p.text)
    """
    expl = diagnosis.explanation
    items = [(d.disease, d.paths) for d in expl.diseases] if expl is not None else []
    items = items or [(r, []) for r in diagnosis.ranking.top]

    def name_of(node_id: str) -> str:
        node = store.node(node_id) if store is not None else None
        return node.name if node is not None else node_id

    out = []
    for r, paths in items:
        name = r.name
        text = [
            f"{name[:1].upper() + name[1:]} ({r.id}) ranks {ordinal(r.rank)}, with probability {r.probability:.2f}."
        ]
        text += [_sentence(p, name) for p in paths if p.verified]
        text += _drug_sentences(r, diagnosis.drugs, set(diagnosis.ranking.case.drugs), name_of)
        out.append(Paragraph(r, " ".join(text)))
    return out
