"""Building a patient case from what a clinician has: a phenopacket, HPO lists, a note, a radiology
report, a CT volume, lab results and current drugs.

What each input becomes, on the :class:`~kgdx.ingest.case.PatientCase` the Diagnoser ranks:

* **Phenopacket / HPO ids** → observed and excluded findings (``origin="phenopacket"`` or
  ``"request"``).
* **Note and report** → the concept linker (:mod:`kgdx.encoders.linking`) over the KG's
  phenotypes: affirmed mentions become observed findings, negated ones excluded findings, hedged
  ones observed findings at half weight. Of a report only the radiologist's own sections are
  linked (``findings`` and ``impression``): the indication says why the scan was asked for, not
  what it showed. Only *Phenotypic abnormality* terms are kept: HPO's modifiers ("Acute",
  "Apical") are not findings.
* **CT volume** → the CT encoder with a *trained* finding head (``KGDX_CT_MODEL``, trained
  with ``kgdx train-ct-head``; an untrained head's probabilities would
  mean nothing) → one probability per finding, and the scan embedding. A finding at or above
  ``ct_threshold`` is observed with ``probability`` = the head's output, which the model uses as
  the weight of the patient's edge to that phenotype.
* **Labs** stay on the case; the Diagnoser maps abnormal ones to phenotypes through the KG's
  ``INDICATES`` edges when it ranks.

The CT's scan embedding is kept on ``case.embeddings["ct"]`` (``(D,)`` float32, the fused scan
CLS of the encoder: 64-d for ``ct-tiny``; see docs/encoders.md, "The embedding path"); with
``embed=True`` the report's MiniLM embedding is kept too (``"report"``, 384-d).

Example:
    >>> from kgdx import CaseBuilder, Diagnoser, open_kg                       # doctest: +SKIP
    >>> dx = Diagnoser.from_pretrained(store=open_kg())                        # doctest: +SKIP
    >>> case = CaseBuilder(dx).build("case.json", note="Dry cough, no fever.")  # doctest: +SKIP
    >>> dx.rank(case, k=5)                                                     # doctest: +SKIP
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

import numpy as np

from kgdx.errors import ConfigError, DataError
from kgdx.files import read_text
from kgdx.ingest.case import Finding, PatientCase, loinc_curie
from kgdx.ingest.labs import LabResult
from kgdx.kg.vocab import NodeLabel

if TYPE_CHECKING:
    import torch

    from kgdx.encoders.ct_encoder import CTEncoder
    from kgdx.encoders.linking import ConceptLinker, LinkedConcept
    from kgdx.encoders.text import TextEncoder
    from kgdx.ingest.volume import Volume
    from kgdx.reasoning.diagnoser import Diagnoser

__all__ = ["CaseBuilder", "add_ct_findings", "add_labs", "report_for_linking", "REPORT_SECTIONS"]

#: Report sections that state what the scan showed.
REPORT_SECTIONS = ("findings", "impression")
#: The weight of a hedged ("possible pneumonia") mention.
UNCERTAIN_WEIGHT = 0.5
#: A medicine stopped later in its sentence is not a current drug.
_STOPPED = re.compile(
    r"\b(?:(?:and|was|were|then|but|been|later)\s+(?:stopped|discontinued|withdrawn|ceased)"
    r"|(?:after|on|since)\s+(?:stopping|discontinuing|withdrawing)(?:\s+it)?)\b",
    re.I,
)
_SENTENCE_END = re.compile(r"[.;]\s")

CTInput = Union[str, Path, "Volume", "torch.Tensor"]  # noqa: UP007 - forward references
TextInput = str | Path


def add_ct_findings(
    case: PatientCase, probabilities: dict[str, float], *, threshold: float = 0.5, exclude_below: float | None = None
) -> list[Finding]:
    """Add CT-head findings to ``case``: each finding with probability ≥ ``threshold`` becomes an
    observed finding (``origin="ct"``, ``probability`` = the head's output), unless the case already
    has it. With ``exclude_below``, a finding the head is that sure is absent becomes an excluded
    one, unless the case already says anything about it.

    Returns:
        The findings added.
    """
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"'threshold' must be in [0, 1] (got {threshold})")
    if exclude_below is not None and not 0.0 <= exclude_below < threshold:
        raise ValueError(f"'exclude_below' must be in [0, threshold) (got {exclude_below}, threshold {threshold})")
    observed = {f.id for f in case.observed}
    known = observed | {f.id for f in case.excluded}
    added = []
    for hp, p in probabilities.items():
        if p >= threshold and hp not in observed:
            f = Finding(hp, None, float(p), "ct")
            case.observed.append(f)
            added.append(f)
        elif exclude_below is not None and p < exclude_below and hp not in known:
            f = Finding(hp, None, float(1.0 - p), "ct")
            case.excluded.append(f)
            added.append(f)
    case.extra["ct_probabilities"] = {k: round(float(v), 6) for k, v in probabilities.items()}
    return added


def add_labs(case: PatientCase, labs: str | Path | Iterable[LabResult]) -> list[LabResult]:
    """Add lab results to ``case``: a lab table (CSV, :func:`kgdx.ingest.labs.read_lab_table`) or
    :class:`~kgdx.ingest.labs.LabResult` records. Unmeasured rows are skipped. Codes are stored as
    ``LOINC:<code>``, the KG's form."""
    if isinstance(labs, (str, Path)):
        from kgdx.ingest.labs import read_lab_table

        labs = read_lab_table(labs)
    added = [r.with_loinc(loinc_curie(r.loinc)) for r in labs if r.value is not None]
    case.labs += added
    return added


def report_for_linking(text: str, sections: Sequence[str] | None = REPORT_SECTIONS) -> str:
    """The part of a report to link: its ``sections`` with their headings, or the whole text when
    ``sections`` is ``None`` or the report has none of them (e.g. a report without headings)."""
    if sections is None:
        return text
    from kgdx.ingest.reports import parse_report

    kept = [s for s in parse_report(text).sections if s.name in sections]
    if not kept:
        return text
    return "\n\n".join(f"{s.name.upper()}:\n{s.text}" for s in kept)


class CaseBuilder:
    """Builds cases for a Diagnoser's KG (see the module docstring). Encoders load on first use,
    once per builder.

    Args:
        dx: The diagnoser whose KG the findings must belong to.
        ct_model: A CT encoder checkpoint with a trained finding head (name or path), or a loaded
            :class:`~kgdx.encoders.ct_encoder.CTEncoder`; default ``KGDX_CT_MODEL``.
        link_embeddings: Let the concept linker match paraphrases with MiniLM too (the
            vocabulary's embeddings take minutes once, then are cached under ``KGDX_HOME/cache``).
            Off by default: dictionary matching.
        ct_threshold: Head probability from which a CT finding is observed.
        ct_exclude_below: Head probability under which a CT finding is excluded (default: never).
        report_sections: Report sections to link (``None``: all of it).
    """

    def __init__(
        self,
        dx: Diagnoser,
        *,
        ct_model: str | Path | CTEncoder | None = None,
        link_embeddings: bool = False,
        ct_threshold: float = 0.5,
        ct_exclude_below: float | None = None,
        report_sections: Sequence[str] | None = REPORT_SECTIONS,
    ) -> None:
        if not 0.0 <= ct_threshold <= 1.0:
            raise ValueError(f"'ct_threshold' must be in [0, 1] (got {ct_threshold})")
        self.dx = dx
        self.ct_model = ct_model
        self.link_embeddings = link_embeddings
        self.ct_threshold = ct_threshold
        self.ct_exclude_below = ct_exclude_below
        self.report_sections = tuple(report_sections) if report_sections is not None else None
        self._linker: ConceptLinker | None = None
        self._drug_linker: ConceptLinker | None = None
        self._condition_linker: ConceptLinker | None = None
        self._ct: CTEncoder | None = None
        self._text: TextEncoder | None = None
        findings = dx.index.phenotypic_abnormalities()  # None: a KG without the HPO root keeps every phenotype
        self._findings = None if findings is None else set(findings.tolist())
        if self._findings is not None:  # drug exposures are medication history, not abnormalities, yet findings
            ix = dx.index.phenotype_index
            self._findings |= {ix[hp] for _, hp in _exposure_rules() if hp in ix}

    def __repr__(self) -> str:
        ct = self.ct_model if not hasattr(self.ct_model, "cfg") else type(self.ct_model).__name__
        return (
            f"CaseBuilder(ct_model={ct!r}, ct_threshold={self.ct_threshold}, "
            f"link_embeddings={self.link_embeddings}, report_sections={self.report_sections})"
        )

    # -- encoders --------------------------------------------------------------------------------

    @property
    def linker(self) -> ConceptLinker:
        """A concept linker over the KG's phenotypic abnormalities and phenotype-like module types."""
        if self._linker is None:
            from kgdx.encoders.clinical_vocab import ClinicalVocabulary
            from kgdx.encoders.ct_findings import CT_FINDINGS
            from kgdx.encoders.linking import ConceptLinker
            from kgdx.reasoning.index import phenotype_like_relations
            from kgdx.settings import get_settings

            dx, ix = self.dx, self.dx.index
            keep = None if self._findings is None else {ix.phenotypes[t] for t in self._findings}
            shorthand = {f.hpo_id: f.shorthand for f in CT_FINDINGS}
            nodes = []
            for n in dx.store.iter_nodes(NodeLabel.PHENOTYPE):
                if keep is None or n.id in keep:
                    if shorthand.get(n.id):
                        n.props["synonyms"] = [*n.props.get("synonyms", []), *shorthand[n.id]]
                    nodes.append(n)
            types = sorted({t for _, t in phenotype_like_relations(dx.store.schema)})
            nodes += [n for t in types for n in dx.store.iter_nodes(t)]
            encoder = self.text_encoder if self.link_embeddings else None
            self._linker = ConceptLinker(
                nodes,
                text_encoder=encoder,
                cache_dir=get_settings().cache_dir / "linker",
                vocabulary=ClinicalVocabulary.load(),
            )
        return self._linker

    @property
    def ct_encoder(self) -> CTEncoder:
        """The CT encoder with its finding head.

        Raises:
            ConfigError: if no checkpoint is given or configured, or it has no finding head.
        """
        if self._ct is None:
            from kgdx.settings import get_settings

            model = self.ct_model or get_settings().ct_model
            if not model:
                raise ConfigError(
                    "a CT needs a CT encoder checkpoint trained with a finding head: pass ct_model or "
                    "set KGDX_CT_MODEL (train one with `kgdx train-ct-head`, or use the shipped "
                    "'ct-tiny-phantom', trained on synthetic phantoms only, which misses the tumours of "
                    "the two real CTs it was tried on); an untrained head's probabilities would mean nothing"
                )
            if isinstance(model, (str, Path)):
                from kgdx.encoders.factory import load_checkpoint

                model = load_checkpoint(model)
            if getattr(model, "finding_head", None) is None:
                raise ConfigError(f"the CT checkpoint {self.ct_model or get_settings().ct_model!r} has no finding head")
            self._ct = model.eval()
        return self._ct

    @property
    def text_encoder(self) -> TextEncoder:
        """MiniLM, shared by the linker (with ``link_embeddings``) and the report embeddings."""
        if self._text is None:
            from kgdx.encoders.text import TextEncoder

            self._text = TextEncoder()
        return self._text

    def encode_ct(self, cts: Sequence[CTInput], *, batch_size: int = 8) -> tuple[np.ndarray, list[dict[str, float]]]:
        """Scan embeddings ``(N, D)`` and finding probabilities of CT volumes: paths, volumes or
        tensors already preprocessed to ``(S, C, H, W)`` by the encoder's preprocessing."""
        import torch

        from kgdx.encoders.preprocess import CTPreprocessor
        from kgdx.ingest.volume import Volume, read_volume

        enc = self.ct_encoder
        pre = CTPreprocessor(enc.cfg.preprocess)

        def tensor(x: CTInput) -> torch.Tensor:
            if isinstance(x, torch.Tensor):
                return x.float()
            return pre(x if isinstance(x, Volume) else read_volume(x))

        embs, probs = [], []
        with torch.inference_mode():
            for i in range(0, len(cts), batch_size):
                out = enc(torch.stack([tensor(c) for c in cts[i : i + batch_size]]))  # (b, S, C, H, W)
                embs.append(out.scan_embedding.float().numpy())
                probs += [dict(zip(enc.findings, p.tolist())) for p in out.finding_probs.float()]
        return (np.concatenate(embs) if embs else np.zeros((0, enc.embed_dim), np.float32)), probs

    def encode_reports(self, texts: Sequence[str], *, batch_size: int = 32) -> np.ndarray:
        """MiniLM embeddings ``(N, 384)`` of reports: the mean of the embeddings of the linked
        sections (each fits MiniLM's 128 tokens, which a whole report does not), L2-normalised."""
        return self._mean_embeddings(
            [[p for p in report_for_linking(t, self.report_sections).split("\n\n") if p.strip()] or [t] for t in texts],
            batch_size,
        )

    def encode_notes(self, texts: Sequence[str], *, batch_size: int = 32) -> np.ndarray:
        """MiniLM embeddings ``(N, 384)`` of clinical notes: the mean of the embeddings of their
        paragraphs, a long one cut at sentence ends into pieces of at most 60 words (MiniLM reads
        128 tokens), L2-normalised."""
        return self._mean_embeddings([_pieces(t) or [t] for t in texts], batch_size)

    def _mean_embeddings(self, chunked: Sequence[Sequence[str]], batch_size: int) -> np.ndarray:
        chunks = [c for parts in chunked for c in parts]
        owner = [i for i, parts in enumerate(chunked) for _ in parts]
        emb = self.text_encoder.encode(chunks, batch_size=batch_size) if chunks else np.zeros((0, 384), np.float32)
        out = np.zeros((len(chunked), emb.shape[1]), np.float32)
        np.add.at(out, np.asarray(owner, np.int64), emb)
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)

    # -- adding to a case ------------------------------------------------------------------------

    def _as_phenotypes(self, concept_id: str, node_type: str) -> list[str]:
        """The phenotype ids a linked concept stands for: itself, or (for a module type such as an
        imaging finding) the phenotypes its bridge relationships point to."""
        if node_type == NodeLabel.PHENOTYPE:
            return [concept_id]
        from kgdx.reasoning.index import phenotype_bridges

        rels = phenotype_bridges(self.dx.store.schema).get(node_type, [])
        return [nb.node.id for nb in self.dx.store.neighbours(concept_id, rel_types=rels, direction="out")]

    def _is_finding(self, hp: str) -> bool:
        t = self.dx.index.phenotype_index.get(self.dx.resolve(hp) or "")
        return self._findings is None or t is None or t in self._findings  # unknown ids stay, to be reported

    def add_text(self, case: PatientCase, text: str, *, kind: str = "note") -> list[LinkedConcept]:
        """Link ``text`` (a ``note`` or a ``report``) into ``case``'s findings; returns the mentions.

        How each assertion is used: ``present`` and ``historical`` mentions are observed,
        ``uncertain`` ones observed at half weight, ``absent`` and ``normal`` (a normal exam) ones
        excluded; someone else's (``family``) are not the patient's. Every mention, used or not,
        is listed with the reason on ``case.extra["text_findings"]``, and each one the model
        cannot use also gets a line in ``case.extra["text_notes"]``, which the ranking's notes
        repeat, so nothing linked is dropped silently. A note also brings its medications,
        known conditions and orthostatic blood pressures (see :meth:`add_note_facts`).
        """
        if not text or not text.strip():
            raise DataError(f"the {kind} is empty", file=case.files.get(kind))
        if kind == "report":
            from kgdx.ingest.reports import parse_report

            to_link = report_for_linking(text, self.report_sections)
            mentions = self.linker.link_report(parse_report(to_link, source=case.files.get(kind)))
        else:
            mentions = self.linker.link(text)
        have = {f.id for f in case.observed} | {f.id for f in case.excluded}
        listed = case.extra.setdefault("text_findings", [])
        notes = case.extra.setdefault("text_notes", [])
        rows: dict[str, list[dict]] = {}  # the rows of this text's mentions by finding id
        for m in mentions:
            row = {"source": kind, **m.to_dict()}
            listed.append(row)
            if m.experiencer != "patient":
                row["use"] = "not used: family history"
                continue
            targets = self._as_phenotypes(m.concept_id, m.node_type)
            if not targets:
                row["use"] = f"not used: this {m.node_type} has no phenotype the model can read (reported only)"
                notes.append(f"{kind}: '{m.text}' → {m.label} ({m.concept_id}, {m.assertion}) {row['use']}")
                continue
            uses = []
            for hp in targets:
                if not self._is_finding(hp):
                    uses.append(f"{hp} not used: not a phenotypic abnormality")
                    continue
                rows.setdefault(hp, []).append(row)
                if hp in have:
                    if m.status in ("present", "historical") and _take_back(case.excluded, hp):
                        # "no prior slowness ... bradykinesia": what the patient shows outweighs a denial
                        case.observed.append(Finding(hp, m.label, min(1.0, m.score), kind))
                        uses.append(f"{hp} observed (outweighs an earlier denial)")
                    else:
                        uses.append(f"{hp} already on the case")
                    continue
                have.add(hp)
                if m.status in ("absent", "normal"):
                    case.excluded.append(Finding(hp, m.label, 1.0, kind))
                    uses.append(f"{hp} excluded")
                else:
                    weight = UNCERTAIN_WEIGHT if m.status == "uncertain" else 1.0
                    case.observed.append(Finding(hp, m.label, weight * min(1.0, m.score), kind))
                    uses.append(f"{hp} observed" + (" (hedged, half weight)" if m.status == "uncertain" else ""))
            row["use"] = "; ".join(uses)
        self._most_specific(case, rows)
        case.texts[kind] = text
        if kind == "note":
            self.add_note_facts(case, text)
        return mentions

    def _most_specific(self, case: PatientCase, rows: dict[str, list[dict]]) -> None:
        """Keep the most specific of related findings linked from text, as HPO annotation does.

        An observed finding with a more specific observed one ("tremor", then "hand tremor") adds
        nothing the specific one does not send, so it is dropped. An excluded finding that is an
        ancestor of an observed one ("no tremor" beside "rest tremor of the left hand") contradicts
        it, and what the patient shows wins. Findings from other sources are never dropped.
        """
        ix = self.dx.index
        where = {f.id: ix.phenotype_index.get(f.id) for f in (*case.observed, *case.excluded)}
        below: dict[int, float] = {}  # strict ancestors of the observed findings: their best probability
        for f in case.observed:
            t = where[f.id]
            for a in ix.ancestors_of(t) if t is not None else ():
                if a != t:
                    below[int(a)] = max(below.get(int(a), 0.0), f.probability)

        def dropped(f: Finding, needs: float, why: str) -> bool:
            if f.id not in rows or below.get(where[f.id], -1.0) < needs:
                return False
            for row in rows[f.id]:
                row["use"] = f"{f.id} not used: {why}"
            case.extra["text_notes"].append(f"'{f.label}' ({f.id}) not used: {why}")
            return True

        # A hedged specific finding ("possible rest tremor") does not replace a certain general one;
        # any specific one contradicts the general one's denial.
        case.observed = [
            f for f in case.observed if not dropped(f, f.probability, "a more specific finding is observed")
        ]
        case.excluded = [f for f in case.excluded if not dropped(f, 0.0, "a more specific form of it is observed")]

    # -- what a note says besides findings ----------------------------------------------------------

    @property
    def drug_linker(self) -> ConceptLinker:
        """A dictionary linker over the KG's drugs, with every name the ``drug-named-entity-recognition``
        table (20k drugs, brands and synonyms, with DrugBank ids) gives for them."""
        if self._drug_linker is None:
            from kgdx.encoders.clinical_vocab import ClinicalVocabulary
            from kgdx.encoders.linking import ConceptLinker

            names = _drug_names()
            nodes = []
            for n in self.dx.store.iter_nodes(NodeLabel.DRUG):
                extra = names.get(n.id.removeprefix("DRUGBANK:"), [])
                n.props["synonyms"] = [*n.props.get("synonyms", []), *extra]
                nodes.append(n)
            self._drug_linker = ConceptLinker(nodes, vocabulary=ClinicalVocabulary.load())
        return self._drug_linker

    @property
    def condition_linker(self) -> ConceptLinker:
        """A dictionary linker over the KG's diseases, for the conditions a note says the patient has."""
        if self._condition_linker is None:
            from kgdx.encoders.linking import ConceptLinker

            self._condition_linker = ConceptLinker(self.dx.store.iter_nodes(NodeLabel.DISEASE))
        return self._condition_linker

    def add_note_facts(self, case: PatientCase, text: str) -> None:
        """Add what a note says besides findings: current drugs (``case.drugs``), known conditions
        (``case.conditions``), the patient's age (``case.age_years``, unless the case has one),
        drug exposures that are findings, orthostatic hypotension from
        lying and standing blood pressures, and findings read from numbers by published cut-offs
        (MoCA/MMSE, QTc, supine hypertension, ALT/AST; see
        :func:`kgdx.ingest.vitals.measured_findings`). Each is listed on
        ``case.extra["text_findings"]``.

        Only affirmed drugs are current: a stopped (``historical``), planned or hedged
        (``uncertain``) or denied one is listed but not taken. Conditions come from affirmed or
        historical mentions outside the impression and plan, which are the clinician's
        differential, not facts.
        """
        from kgdx.ingest.vitals import measured_findings, orthostatic_readings, stated_age

        listed = case.extra.setdefault("text_findings", [])
        age = stated_age(text)
        if age is not None:
            known = case.age_years is not None  # a phenopacket's age is recorded data: it wins
            if not known:
                case.age_years = age.years
            listed.append(
                {
                    "source": "note",
                    "text": age.text,
                    "span": list(age.span),
                    "id": "age",
                    "label": f"{age.years:g} years",
                    "method": "stated-age",
                    "assertion": "present",
                    "use": "not used: the case already has an age" if known else "the patient's age (drug safety)",
                }
            )
        mentions = [m for m in self.drug_linker.link(text) if m.experiencer == "patient"]
        # "X was started for Y and stopped after 6 weeks": the stop can lie further from the drug
        # than a backward trigger reaches, but not past the next drug or the end of the sentence.
        ends = [m.span[0] for m in mentions[1:]] + [len(text)]
        mentions = [
            replace(m, status="historical", trigger=stop.group(0))
            if m.status == "present" and (stop := _STOPPED.search(_SENTENCE_END.split(text[m.span[1] : end], 1)[0]))
            else m
            for m, end in zip(mentions, ends[: len(mentions)], strict=True)
        ]
        # The last mention of a drug decides: "started haloperidol ... haloperidol was stopped".
        last: dict[str, LinkedConcept] = {m.concept_id: m for m in mentions}
        for m in mentions:
            current = last[m.concept_id].status == "present"
            if current and m.concept_id not in case.drugs:
                case.drugs.append(m.concept_id)
            use = "current drug" if current else f"not a current drug ({last[m.concept_id].assertion})"
            listed.append({"source": "note", **m.to_dict(), "use": use})
        for m in self.condition_linker.link(text):
            if (
                m.experiencer != "patient"
                or m.status not in ("present", "historical")
                or _in_assessment(text, m.span[0])
            ):
                continue
            if m.concept_id not in case.conditions:
                case.conditions.append(m.concept_id)
                listed.append({"source": "note", **m.to_dict(), "use": "known condition (drug safety only)"})
        have = {f.id for f in case.observed} | {f.id for f in case.excluded}
        for hp in self._exposures(case.drugs):
            if hp not in have:
                have.add(hp)
                case.observed.append(Finding(hp, None, 1.0, "drug"))
                listed.append(
                    {
                        "source": "note",
                        "id": hp,
                        "assertion": "present",
                        "method": "drug-exposure",
                        "use": f"{hp} observed: a current drug is in its class",
                    }
                )
        for r in [*(o.finding for o in orthostatic_readings(text)), *measured_findings(text)]:
            row = {
                "source": "note",
                "text": r.text,
                "span": list(r.span),
                "id": r.id,
                "method": r.method,
                "assertion": "present" if r.present else "absent",
            }
            listed.append(row)
            if r.id in have or self.dx.index.phenotype_index.get(r.id) is None:
                row["use"] = "already on the case" if r.id in have else "not used: not in the KG"
                continue
            have.add(r.id)
            (case.observed if r.present else case.excluded).append(Finding(r.id, r.label, 1.0, "note"))
            row["use"] = f"{r.id} {'observed' if r.present else 'excluded'}: {r.why}"

    def _exposures(self, drugs: Sequence[str]) -> list[str]:
        """Exposure phenotypes of the current drugs (``vocab/drug_exposures.tsv``: ATC prefix or id)."""
        rules = _exposure_rules()
        out = []
        for d in drugs:
            node = self.dx.store.node(d)  # None: a drug id the KG does not know
            atc = (node.props.get("atc_codes") or []) if node is not None else []
            keys = [d, *(f"ATC:{c}" for c in atc)]
            for key, hp in rules:
                if any(k == key or (key.startswith("ATC:") and k.startswith(key)) for k in keys) and hp not in out:
                    out.append(hp)
        return out

    def add_ct(self, case: PatientCase, ct: CTInput) -> dict[str, float]:
        """Add the CT finding head's findings for a volume; returns every finding's probability."""
        emb, probs = self.encode_ct([ct])
        self._add_ct(case, ct, emb[0], probs[0])
        return probs[0]

    def _add_ct(self, case: PatientCase, ct: CTInput, embedding: np.ndarray, probs: dict[str, float]) -> None:
        add_ct_findings(case, probs, threshold=self.ct_threshold, exclude_below=self.ct_exclude_below)
        case.embeddings["ct"] = embedding
        if isinstance(ct, (str, Path)):
            case.files["ct"] = str(ct)

    # -- whole cases -----------------------------------------------------------------------------

    def build(
        self,
        case: PatientCase | str | Path | None = None,
        *,
        observed: Iterable[str] = (),
        excluded: Iterable[str] = (),
        drugs: Iterable[str] = (),
        conditions: Iterable[str] = (),
        note: TextInput | None = None,
        report: TextInput | None = None,
        ct: CTInput | None = None,
        labs: str | Path | Iterable[LabResult] | None = None,
        embed: bool | None = None,
    ) -> PatientCase:
        """One case from any mix of a phenopacket (path or case), HPO ids, drugs, conditions, a
        note, a report, a CT and labs.

        ``note`` and ``report`` are text, or a :class:`~pathlib.Path` to read it from (a ``str``
        is always text, never opened as a file). ``observed``/``excluded`` ids get
        ``origin="request"`` and go in first, so text repeating them adds nothing. ``embed``
        keeps the report's embedding on ``case.embeddings`` (default: when the diagnoser's model
        reads it, ``EvidenceGNNConfig.patient_embeddings``), and likewise the notes' (all of a
        case's notes as one text); the CT's is always kept.
        """
        start = self._start(case, (note, report, ct))
        start.observed += [Finding(i, origin="request") for i in observed]
        start.excluded += [Finding(i, origin="request") for i in excluded]
        start.drugs += list(drugs)
        start.conditions += list(conditions)
        return self.build_many(
            [start], cts=[ct], reports=[report], notes=[[note] if note is not None else []], labs=[labs], embed=embed
        )[0]

    def build_many(
        self,
        cases: Sequence[PatientCase | str | Path | None],
        *,
        cts: Sequence[CTInput | None] | None = None,
        reports: Sequence[TextInput | None] | None = None,
        notes: Sequence[Sequence[TextInput]] | None = None,
        labs: Sequence[str | Path | Iterable[LabResult] | None] | None = None,
        embed: bool | None = None,
        progress: bool = False,
    ) -> list[PatientCase]:
        """Build many cases, running the encoders in batches.

        Without ``cts`` / ``reports``, each case's own ``files["ct"]`` and ``texts["report"]`` (or
        ``files["report"]``) are used, which is how a synthetic-cohort case comes. Texts are as in
        :meth:`build`: a ``str`` is text, a :class:`~pathlib.Path` a file.
        """
        from kgdx.progress import progress as bar

        n = len(cases)
        for name, arg in (("cts", cts), ("reports", reports), ("notes", notes), ("labs", labs)):
            if arg is not None and len(arg) != n:
                raise ValueError(f"'{name}' has {len(arg)} entries for {n} cases")
        built, ct_in, rep_in = [], [], []
        for i, c in enumerate(cases):
            ct = cts[i] if cts is not None else None
            rep = reports[i] if reports is not None else None
            first_note = next(iter(notes[i]), None) if notes is not None else None
            case = self._start(c, (first_note, rep, ct))
            if cts is None:
                ct = case.files.get("ct")
            if reports is None:
                rep = case.texts.get("report") or (Path(case.files["report"]) if "report" in case.files else None)
            ct_in.append(ct)
            rep_in.append(_text(rep, "report", case) if rep is not None else None)
            if labs is not None and labs[i] is not None:
                add_labs(case, labs[i])
            built.append(case)

        ct_idx = [i for i, c in enumerate(ct_in) if c is not None]
        ct_out: dict[int, tuple[np.ndarray, dict[str, float]]] = {}
        if ct_idx:
            e, p = self.encode_ct([ct_in[i] for i in ct_idx])
            ct_out = {i: (e[j], p[j]) for j, i in enumerate(ct_idx)}
        reads = self.dx.model.config.patient_embeddings
        rep_idx = [i for i, r in enumerate(rep_in) if r is not None]
        if (embed if embed is not None else "report" in reads) and rep_idx:
            r = self.encode_reports([rep_in[i] for i in rep_idx])
            for j, i in enumerate(rep_idx):
                built[i].embeddings["report"] = r[j]
        note_in = {i: "\n\n".join(_text(t, "note", built[i]) for t in ns) for i, ns in enumerate(notes or ()) if ns}
        if (embed if embed is not None else "note" in reads) and note_in:
            r = self.encode_notes(list(note_in.values()))
            for j, i in enumerate(note_in):
                built[i].embeddings["note"] = r[j]

        with bar("building cases", n, enabled=progress) as advance:
            for i, case in enumerate(built):
                if rep_in[i] is not None:
                    self.add_text(case, rep_in[i], kind="report")
                for note in notes[i] if notes is not None else ():
                    self.add_text(case, _text(note, "note", case), kind="note")
                if i in ct_out:
                    self._add_ct(case, ct_in[i], *ct_out[i])
                advance(1)
        return built

    def _start(self, case: PatientCase | str | Path | None, inputs: Sequence[Any]) -> PatientCase:
        """The case to add to: the given one, or a new one named after the first input file."""
        if case is not None:
            return self.dx.load_case(case)
        for x in inputs:
            if isinstance(x, Path):
                return PatientCase(id=x.stem, source=str(x))
        return PatientCase(id="case")


def _text(value: TextInput, kind: str, case: PatientCase) -> str:
    """``value`` as text: read when it is a :class:`~pathlib.Path`; a ``str`` is the text itself."""
    if isinstance(value, Path):
        text = read_text(value, what=kind)
        case.files[kind] = str(value)
        return text
    return value


_SENTENCE = re.compile(r"(?<=[.;!?])\s+")


def _pieces(text: str, words: int = 60) -> list[str]:
    """``text``'s paragraphs, a longer one cut at sentence ends into pieces of at most ``words``
    words (a single longer sentence stays whole)."""
    out = []
    for para in re.split(r"\n\s*\n", text):
        piece: list[str] = []
        for sentence in _SENTENCE.split(para.strip()):
            if piece and len(" ".join(piece + [sentence]).split()) > words:
                out.append(" ".join(piece))
                piece = []
            if sentence:
                piece.append(sentence)
        if piece:
            out.append(" ".join(piece))
    return out


def _in_assessment(text: str, pos: int) -> bool:
    """Whether ``pos`` is on an impression, assessment, differential or plan line: the clinician's
    working diagnoses there are what kgdx ranks, not conditions the patient is known to have."""
    line = text[text.rfind("\n", 0, pos) + 1 : pos].lstrip().lower()
    return line.startswith(("impression", "assessment", "differential", "plan", "ddx", "diagnosis"))


@lru_cache(maxsize=1)
def _drug_names() -> dict[str, list[str]]:
    """DrugBank id (``DB00502``) → the names the ``drug-named-entity-recognition`` table knows
    (generic, brand, synonyms), read from the package's own offline data."""
    from drug_named_entity_recognition import drugs_finder

    canon = drugs_finder.drug_canonical_to_data
    out: dict[str, list[str]] = {}
    for variant, names in drugs_finder.drug_variant_to_canonical.items():
        for c in names:
            db = canon.get(c, {}).get("drugbank_id")
            if db and len(variant) > 3:
                out.setdefault(db, []).append(variant)
    return out


def _take_back(findings: list[Finding], hp: str) -> bool:
    """Remove ``hp`` from ``findings`` if a note or report put it there; whether it did."""
    for k, f in enumerate(findings):
        if f.id == hp and f.origin in ("note", "report"):
            del findings[k]
            return True
    return False


@lru_cache(maxsize=1)
def _exposure_rules() -> list[tuple[str, str]]:
    from kgdx.encoders.clinical_vocab import VOCAB_DIR, _rows

    return [(k, hp) for _, (k, hp) in _rows(VOCAB_DIR / "drug_exposures.tsv", (2, 2))]
