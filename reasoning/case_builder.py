"""Building a case from what a clinician has: a phenopacket, report and note text, a CT volume.

Text goes through the concept linker (:mod:`kgdx.encoders.linking`) over the KG's phenotype nodes:
affirmed mentions become observed findings, negated ones excluded findings, and uncertain ones
observed findings at half weight. A CT volume goes through the CT encoder's finding head, whose
probabilities become weighted findings; that needs a checkpoint trained with a finding head
(``KGDX_CT_MODEL``), since an untrained head's probabilities mean nothing.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from kgdx.errors import ConfigError, DataError
from kgdx.files import read_text
from kgdx.ingest.case import Finding, PatientCase

if TYPE_CHECKING:
    from kgdx.encoders.ct_encoder import CTEncoder
    from kgdx.encoders.linking import ConceptLinker, LinkedConcept
    from kgdx.reasoning.diagnoser import Diagnoser

__all__ = ["build_case", "add_text", "add_ct", "ct_model_for", "linker_for"]

UNCERTAIN_WEIGHT = 0.5


def linker_for(dx: Diagnoser, *, embeddings: bool = False) -> ConceptLinker:
    """A concept linker over the KG's phenotypes (and phenotype-like module types), built once per
    diagnoser.

    Dictionary matching (labels and synonyms) by default; with ``embeddings`` the MiniLM text
    encoder also matches paraphrases (the vocabulary's embeddings take minutes once, then are
    cached under ``KGDX_HOME/cache``).
    """
    linkers = dx._linkers
    if embeddings not in linkers:
        from kgdx.encoders.linking import ConceptLinker
        from kgdx.settings import get_settings

        from kgdx.reasoning.index import phenotype_like_relations

        encoder = None
        if embeddings:
            from kgdx.encoders.text import TextEncoder

            encoder = TextEncoder()
        # Phenotypic abnormalities only: HPO's modifier, course and inheritance terms ("Acute",
        # "Apical", "Mild") are not findings, and linked alone they would be noise.
        ix = dx.index
        findings = ix.phenotypic_abnormalities()
        keep = None if findings is None else {ix.terms[t] for t in findings}
        types = sorted({t for _, t in phenotype_like_relations(dx.store.schema)})
        from kgdx.encoders.ct_findings import CT_FINDINGS

        shorthand = {f.hpo_id: f.shorthand for f in CT_FINDINGS}
        nodes = []
        for n in dx.store.iter_nodes("Phenotype"):
            if keep is None or n.id in keep:
                if shorthand.get(n.id):
                    n.props["synonyms"] = [*n.props.get("synonyms", []), *shorthand[n.id]]
                nodes.append(n)
        nodes += [n for t in types for n in dx.store.iter_nodes(t)]
        linkers[embeddings] = ConceptLinker(nodes, text_encoder=encoder, cache_dir=get_settings().home_dir / "cache" / "linker")
    return linkers[embeddings]


def _as_phenotypes(dx: Diagnoser, concept_id: str, node_type: str) -> list[str]:
    """The phenotype ids a linked concept stands for: itself, or (for a module type such as an
    imaging finding) the phenotypes its bridge relationships point to."""
    if node_type == "Phenotype":
        return [concept_id]
    from kgdx.reasoning.index import phenotype_bridges

    rels = phenotype_bridges(dx.store.schema).get(node_type, [])
    return [nb.node.id for nb in dx.store.neighbours(concept_id, rel_types=rels, direction="out")]


def add_text(dx: Diagnoser, case: PatientCase, text: str, *, kind: str = "note", embeddings: bool = False,
             report_sections: Sequence[str] | None = ("findings", "impression")) -> list[LinkedConcept]:
    """Link ``text`` (a ``note`` or a ``report``) into ``case``'s findings; returns the mentions.

    For a report only ``report_sections`` are linked (``None``: all of it): an indication says why
    the scan was done, not what it shows.
    """
    if not text or not text.strip():
        raise DataError(f"the {kind} is empty", file=case.files.get(kind))
    linker = linker_for(dx, embeddings=embeddings)
    if kind == "report":
        from kgdx.ingest.reports import parse_report
        from kgdx.reasoning.multimodal import report_for_linking

        text_to_link = report_for_linking(text, report_sections)
        mentions = linker.link_report(parse_report(text_to_link, source=case.files.get(kind)))
    else:
        mentions = linker.link(text)
    have = {f.id for f in case.observed} | {f.id for f in case.excluded}
    for m in mentions:
        if m.experiencer != "patient":
            continue
        for hp in _as_phenotypes(dx, m.concept_id, m.node_type):
            if hp in have:
                continue
            have.add(hp)
            if m.status == "absent":
                case.excluded.append(Finding(hp, m.label, 1.0, kind))
            else:
                weight = UNCERTAIN_WEIGHT if m.status == "uncertain" else 1.0
                case.observed.append(Finding(hp, m.label, weight * min(1.0, m.score), kind))
    case.texts[kind] = text
    return mentions


def ct_model_for(dx: Diagnoser, checkpoint: str | Path) -> CTEncoder:
    """The CT encoder saved at ``checkpoint``, with its finding head; loaded once per Diagnoser.

    Raises:
        ConfigError: if the checkpoint has no finding head.
    """
    key = str(checkpoint)
    if key not in dx._ct_models:
        from kgdx.encoders.factory import load_checkpoint

        encoder = load_checkpoint(checkpoint)
        if getattr(encoder, "finding_head", None) is None:
            raise ConfigError(f"the CT checkpoint {checkpoint!r} has no finding head")
        dx._ct_models[key] = encoder
    return dx._ct_models[key]


def add_ct(dx: Diagnoser, case: PatientCase, path: str | Path, *, model: str | None = None,
           threshold: float = 0.5) -> dict[str, float]:
    """Add the CT finding head's findings for a volume; returns every finding's probability.

    Raises:
        ConfigError: if no CT checkpoint with a finding head is configured.
    """
    model = model or os.environ.get("KGDX_CT_MODEL")
    if not model:
        raise ConfigError("--ct needs a CT encoder checkpoint trained with a finding head: set KGDX_CT_MODEL "
                          "(see docs/encoders.md); an untrained head's probabilities would mean nothing")
    from kgdx.ingest.volume import read_volume
    from kgdx.reasoning.multimodal import add_ct_findings

    _, probs_list = ct_model_for(dx, model).embed(read_volume(path))
    probs = probs_list[0]
    add_ct_findings(case, probs, threshold=threshold)
    case.files["ct"] = str(path)
    return probs


def build_case(dx: Diagnoser, phenopacket: str | Path | None = None, *, ct: str | Path | None = None,
               report: str | Path | None = None, note: str | Path | None = None) -> PatientCase:
    """A case from any mix of a phenopacket, a CT volume, a report and a note."""
    if phenopacket is not None:
        case = dx.load_case(phenopacket)
    else:
        first = next(Path(p) for p in (note, report, ct) if p is not None)
        case = PatientCase(id=first.stem, source=str(first))
    for kind, path in (("report", report), ("note", note)):
        if path is not None:
            case.files[kind] = str(path)
            add_text(dx, case, read_text(path, what=kind), kind=kind)
    if ct is not None:
        add_ct(dx, case, ct)
    return case
