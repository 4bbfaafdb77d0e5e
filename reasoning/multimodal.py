"""A patient-in-KG case from CT, report, notes and labs, through the encoders.

What each modality becomes:

* **CT volume** → the CT encoder with a *trained* finding head (``KGDX_CT_MODEL``, see
  :mod:`kgdx.encoders.train_ct_head`) → one probability per finding of
  :data:`kgdx.encoders.ct_findings.CT_FINDINGS`. A finding at or above ``ct_threshold`` joins the case as
  an observed :class:`~kgdx.ingest.case.Finding` with ``origin="ct"`` and ``probability`` = the head's
  output, which the EvidenceGNN uses as the weight of the patient's edge to that phenotype.
* **Report and notes** → :func:`kgdx.reasoning.case_builder.add_text`, the concept linker over the KG's
  phenotypes: affirmed mentions are observed, negated ones excluded, hedged ones observed at half
  weight. Of a report only the radiologist's own sections are linked (``findings`` and
  ``impression``; the indication says why the scan was asked for, not what it showed), and only
  *Phenotypic abnormality* terms are kept (the linker's vocabulary already is; the check also
  covers a linker built otherwise).
* **Labs** stay on the case as :class:`~kgdx.ingest.case.LabResult`; the Diagnoser maps abnormal ones
  to phenotypes through the KG's ``INDICATES`` edges when it ranks (``origin="labs"``).

Alongside, :class:`PatientEmbedding` holds the encoder features the learned fusion baselines
use: the CT scan embedding, the report's MiniLM embedding and the lab vector (values scaled to
their reference range, with a presence mask).

Example:
    >>> from reasoning import Diagnoser
    >>> from kgdx.reasoning.multimodal import MultimodalCaseBuilder
    >>> dx = Diagnoser.from_pretrained()                                        # doctest: +SKIP
    >>> mm = MultimodalCaseBuilder(dx, ct_model="runs/ct-head/encoder.pt")      # doctest: +SKIP
    >>> built = mm.build("case.json", ct="ct.nii.gz", report="report.txt")      # doctest: +SKIP
    >>> dx.rank(built.case, k=5)                                                # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

import numpy as np

from kgdx.errors import ConfigError, DataError
from kgdx.files import read_text
from kgdx.ingest.case import Finding, LabResult, PatientCase, loinc_curie
from kgdx.reasoning.index import PHENOTYPIC_ABNORMALITY

if TYPE_CHECKING:
    import torch

    from kgdx.encoders.ct_encoder import CTEncoder
    from kgdx.encoders.linking import LinkedConcept
    from kgdx.encoders.text import TextEncoder
    from kgdx.ingest.volume import Volume
    from kgdx.reasoning.diagnoser import Diagnoser

__all__ = [
    "PatientEmbedding",
    "MultimodalCase",
    "MultimodalCaseBuilder",
    "add_ct_findings",
    "add_labs",
    "lab_vector",
    "report_for_linking",
    "select_modalities",
    "PHENOTYPIC_ABNORMALITY",
    "REPORT_SECTIONS",
]

#: Root of the HPO terms that are findings (not modifiers, modes of inheritance, ...).
#: Report sections that state what the scan showed.
REPORT_SECTIONS = ("findings", "impression")

CTInput = Union[str, Path, "Volume", "torch.Tensor"]


@dataclass
class PatientEmbedding:
    """The patient's encoder features, for learned fusion.

    Attributes:
        ct: ``(D_ct,)`` CT scan embedding (the fused CLS), or ``None`` without a CT.
        ct_findings: ``(F,)`` finding-head probabilities in the head's order, or ``None``.
        report: ``(384,)`` MiniLM embedding of the report, or ``None`` without one.
        labs: ``(T,)`` lab values scaled to their reference range (``low → −1``, ``high → +1``;
            a positive qualitative test is 2), 0 where missing.
        labs_present: ``(T,)`` True where the test was measured.
    """

    ct: np.ndarray | None = None
    ct_findings: np.ndarray | None = None
    report: np.ndarray | None = None
    labs: np.ndarray | None = None
    labs_present: np.ndarray | None = None


@dataclass
class MultimodalCase:
    """A built case: the :class:`PatientCase` the Diagnoser ranks, and what the encoders said."""

    case: PatientCase
    embedding: PatientEmbedding
    ct_probabilities: dict[str, float] = field(default_factory=dict)
    mentions: list[LinkedConcept] = field(default_factory=list)


def add_ct_findings(case: PatientCase, probabilities: dict[str, float], *, threshold: float = 0.5,
                    exclude_below: float | None = None) -> list[Finding]:
    """Add CT-head findings to ``case``: each finding with probability ≥ ``threshold`` becomes an
    observed finding (``origin="ct"``, ``probability`` = the head's output), unless the case already
    has it. With ``exclude_below``, a finding the head is that sure is absent becomes an excluded
    one, unless the case already says anything about it. The same rule as
    :func:`kgdx.reasoning.case_builder.add_ct`, for probabilities computed in a batch.

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


def add_labs(case: PatientCase, labs: str | Path | Iterable[Any]) -> list[LabResult]:
    """Add lab results to ``case``: a lab table (CSV, :func:`kgdx.ingest.labs.read_lab_table`) or
    results (:class:`kgdx.ingest.labs.LabResult` or :class:`kgdx.ingest.case.LabResult`). Unmeasured rows are
    skipped. Codes are stored as ``LOINC:<code>``, the KG's form."""
    if isinstance(labs, (str, Path)):
        from kgdx.ingest.labs import read_lab_table

        labs = read_lab_table(labs)
    added = []
    for r in labs:
        if r.value is None:
            continue
        lab = LabResult(loinc_curie(r.loinc), float(r.value), r.unit, r.ref_low, r.ref_high, getattr(r, "label", None) or getattr(r, "name", None))
        case.labs.append(lab)
        added.append(lab)
    return added


def select_modalities(case: PatientCase, origins: Iterable[str], *, labs: bool = True) -> PatientCase:
    """A copy of ``case`` with only the findings whose ``origin`` is in ``origins`` (e.g.
    ``{"phenopacket", "report"}``) and, unless ``labs``, no lab results, for ablations by modality.
    Lab-derived findings (``origin="labs"``) are added again by the Diagnoser when ``labs``."""
    keep = set(origins)
    return replace(case, observed=[f for f in case.observed if f.origin in keep],
                   excluded=[f for f in case.excluded if f.origin in keep],
                   labs=list(case.labs) if labs else [], unknown_ids=dict(case.unknown_ids), extra=dict(case.extra))


def _scaled(value: float, low: float | None, high: float | None) -> float:
    if low is not None and high is not None and high <= low:  # qualitative test, range [0, 0]
        return 2.0 if value > high else 0.0
    if low is None and high is None:
        return 0.0
    from kgdx.ingest.labs import scale_to_reference

    return scale_to_reference(value, low, high)


def lab_vector(labs: Sequence[LabResult], tests: Sequence[str],
               ranges: dict[str, tuple[float | None, float | None]] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Lab values over ``tests`` (``LOINC:`` ids) scaled to their reference range, and a presence mask.

    The last value of a test wins. A row's own range is used, else ``ranges[test]``.

    Returns:
        ``values (T,)`` float32 and ``present (T,)`` bool.
    """
    index = {t: i for i, t in enumerate(tests)}
    values = np.zeros(len(tests), np.float32)
    present = np.zeros(len(tests), bool)
    for lab in labs:
        code = loinc_curie(lab.loinc)
        i = index.get(code)
        if i is None:
            continue
        lo, hi = lab.ref_low, lab.ref_high
        if lo is None and hi is None and ranges:
            lo, hi = ranges.get(code, (None, None))
        values[i] = _scaled(lab.value, lo, hi)
        present[i] = True
    return values, present


def report_for_linking(text: str, sections: Sequence[str] | None = REPORT_SECTIONS) -> str:
    """The part of a report to link: its ``sections`` with their headings, or the whole text when
    ``sections`` is ``None`` or the report has none of them (e.g. a report without headings)."""
    if sections is None:
        return text
    from kgdx.ingest.reports import parse_report

    rep = parse_report(text)
    kept = [s for s in rep.sections if s.name in sections]
    if not kept:
        return text
    return "\n\n".join(f"{s.name.upper()}:\n{s.text}" for s in kept)


class MultimodalCaseBuilder:
    """Builds patient-in-KG cases from CT, report, notes and labs (see the module docstring).

    Encoders load on first use, once per builder.

    Args:
        dx: The diagnoser whose KG the findings must belong to.
        ct_model: A CT encoder checkpoint with a trained finding head (name or path), or a loaded
            :class:`~kgdx.encoders.ct_encoder.CTEncoder`; default ``KGDX_CT_MODEL``.
        link_embeddings: Let the concept linker match paraphrases with MiniLM too (as
            :func:`kgdx.reasoning.case_builder.add_text`, off by default: dictionary matching).
        ct_threshold: Head probability from which a CT finding is observed.
        ct_exclude_below: Head probability under which a CT finding is excluded (default: never).
        report_sections: Report sections to link (``None``: all).
        embed: Compute :class:`PatientEmbedding` (needs the text encoder for reports).
    """

    def __init__(self, dx: Diagnoser, *, ct_model: str | Path | CTEncoder | None = None, link_embeddings: bool = False,
                 ct_threshold: float = 0.5, ct_exclude_below: float | None = None,
                 report_sections: Sequence[str] | None = REPORT_SECTIONS, embed: bool = True) -> None:
        if not 0.0 <= ct_threshold <= 1.0:
            raise ValueError(f"'ct_threshold' must be in [0, 1] (got {ct_threshold})")
        self.dx = dx
        self._ct_model = ct_model
        self._ct: CTEncoder | None = None
        self.link_embeddings = link_embeddings
        self.ct_threshold = ct_threshold
        self.ct_exclude_below = ct_exclude_below
        self.report_sections = tuple(report_sections) if report_sections is not None else None
        self.embed = embed
        labs = sorted(dx.store.iter_nodes("LabTest"), key=lambda n: n.id)
        self.lab_tests: tuple[str, ...] = tuple(n.id for n in labs)
        self.lab_ranges = {n.id: (n.props.get("ref_low"), n.props.get("ref_high")) for n in labs}
        findings = dx.index.phenotypic_abnormalities()  # None: a KG without the HPO root keeps every phenotype
        self._findings = None if findings is None else set(findings.tolist())

    def __repr__(self) -> str:
        ct = self._ct_model if not hasattr(self._ct_model, "cfg") else type(self._ct_model).__name__
        return (f"MultimodalCaseBuilder(ct_model={ct!r}, ct_threshold={self.ct_threshold}, "
                f"link_embeddings={self.link_embeddings}, report_sections={self.report_sections}, "
                f"lab_tests={len(self.lab_tests)})")

    # -- encoders --------------------------------------------------------------------------------

    @property
    def ct_encoder(self) -> CTEncoder:
        """The CT encoder with its finding head.

        Raises:
            ConfigError: if no checkpoint is given or configured, or it has no finding head.
        """
        if self._ct is None:
            model = self._ct_model or os.environ.get("KGDX_CT_MODEL")
            if not model:
                raise ConfigError("a CT needs a CT encoder checkpoint trained with a finding head: pass ct_model or set "
                                  "KGDX_CT_MODEL (train one with `python -m kgdx.encoders.train_ct_head`)")
            if isinstance(model, (str, Path)):
                from kgdx.reasoning.case_builder import ct_model_for

                model = ct_model_for(self.dx, model)
            elif getattr(model, "finding_head", None) is None:
                raise ConfigError(f"the CT checkpoint {self._ct_model or os.environ.get('KGDX_CT_MODEL')!r} has no finding head")
            self._ct = model.eval()
        return self._ct

    @property
    def text_encoder(self) -> TextEncoder:
        """MiniLM, shared with the concept linker when it uses embeddings."""
        from kgdx.reasoning.case_builder import linker_for

        if self.link_embeddings:
            return linker_for(self.dx, embeddings=True).text_encoder
        if not hasattr(self, "_text"):
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
                x = torch.stack([tensor(c) for c in cts[i:i + batch_size]])  # (b, S, C, H, W)
                out = enc(x)
                embs.append(out.scan_embedding.float().numpy())
                probs += [dict(zip(enc.findings, p.tolist())) for p in out.finding_probs.float()]
        return (np.concatenate(embs) if embs else np.zeros((0, enc.embed_dim), np.float32)), probs

    def encode_reports(self, texts: Sequence[str], *, batch_size: int = 32) -> np.ndarray:
        """MiniLM embeddings ``(N, 384)`` of reports: the mean of the embeddings of the linked
        sections (each fits MiniLM's 128 tokens, which a whole report does not), L2-normalised."""
        chunks, owner = [], []
        for i, t in enumerate(texts):
            parts = [p for p in report_for_linking(t, self.report_sections).split("\n\n") if p.strip()] or [t]
            chunks += parts
            owner += [i] * len(parts)
        emb = self.text_encoder.encode(chunks, batch_size=batch_size) if chunks else np.zeros((0, 384), np.float32)
        out = np.zeros((len(texts), emb.shape[1]), np.float32)
        np.add.at(out, np.asarray(owner, np.int64), emb)
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)

    # -- cases -----------------------------------------------------------------------------------

    def _keep_findings(self, case: PatientCase, n_obs: int, n_exc: int) -> None:
        """Drop linked terms after the first ``n_obs``/``n_exc`` that are not phenotypic abnormalities."""
        if self._findings is None:
            return
        ix = self.dx.index

        def ok(f: Finding) -> bool:
            t = ix.term_index.get(self.dx.resolve(f.id) or "")
            return t is None or t in self._findings  # unknown ids stay, for the Diagnoser to report

        case.observed[n_obs:] = [f for f in case.observed[n_obs:] if ok(f)]
        case.excluded[n_exc:] = [f for f in case.excluded[n_exc:] if ok(f)]

    def link_text(self, case: PatientCase, text: str, *, kind: str = "note") -> list[LinkedConcept]:
        """Link a note or a report into ``case`` through :func:`kgdx.reasoning.case_builder.add_text`."""
        from kgdx.reasoning.case_builder import add_text

        n_obs, n_exc = len(case.observed), len(case.excluded)
        linked = report_for_linking(text, self.report_sections) if kind == "report" else text
        mentions = add_text(self.dx, case, linked, kind=kind, embeddings=self.link_embeddings, report_sections=None)
        self._keep_findings(case, n_obs, n_exc)
        case.texts[kind] = text
        return mentions

    def _start(self, case: PatientCase | str | Path | None, source: Any) -> PatientCase:
        if case is None:
            name = Path(str(source)).stem if isinstance(source, (str, Path)) else "case"
            return PatientCase(id=name, source=str(source) if isinstance(source, (str, Path)) else None)
        return self.dx.load_case(case)

    def build(self, case: PatientCase | str | Path | None = None, *, ct: CTInput | None = None,
              report: str | Path | None = None, notes: Sequence[str | Path] = (),
              labs: str | Path | Iterable[Any] | None = None) -> MultimodalCase:
        """One case from any mix of a phenopacket (or a case), a CT, a report, notes and labs.

        ``report`` and ``notes`` are file paths or text (a string with a line break, or that is not
        an existing file, is text).
        """
        return self.build_many([case], cts=[ct], reports=[report], notes=[notes], labs=[labs])[0]

    def build_many(self, cases: Sequence[PatientCase | str | Path | None], *, cts: Sequence[CTInput | None] | None = None,
                   reports: Sequence[str | Path | None] | None = None,
                   notes: Sequence[Sequence[str | Path]] | None = None,
                   labs: Sequence[str | Path | Iterable[Any] | None] | None = None,
                   progress: bool = False) -> list[MultimodalCase]:
        """Build many cases, running the encoders in batches.

        Without ``cts`` / ``reports``, each case's own ``files["ct"]`` and ``texts["report"]`` (or
        ``files["report"]``) are used, which is how a synthetic-cohort case comes.
        """
        n = len(cases)
        for name, arg in (("cts", cts), ("reports", reports), ("notes", notes), ("labs", labs)):
            if arg is not None and len(arg) != n:
                raise ValueError(f"'{name}' has {len(arg)} entries for {n} cases")
        built: list[PatientCase] = []
        ct_in: list[CTInput | None] = []
        rep_in: list[str | None] = []
        for i, c in enumerate(cases):
            ct = cts[i] if cts is not None else None
            rep = reports[i] if reports is not None else None
            case = self._start(c, ct if ct is not None and c is None else rep)
            if cts is None:
                ct = case.files.get("ct")
            if reports is None:
                rep = case.texts.get("report") or case.files.get("report")
            ct_in.append(ct)
            rep_in.append(_text(rep, "report", case) if rep is not None else None)
            if labs is not None and labs[i] is not None:
                add_labs(case, labs[i])
            built.append(case)

        # CT, in batches
        ct_idx = [i for i, c in enumerate(ct_in) if c is not None]
        embs: dict[int, np.ndarray] = {}
        probs: dict[int, dict[str, float]] = {}
        if ct_idx:
            e, p = self.encode_ct([ct_in[i] for i in ct_idx])
            for j, i in enumerate(ct_idx):
                embs[i], probs[i] = e[j], p[j]
                if isinstance(ct_in[i], (str, Path)):
                    built[i].files["ct"] = str(ct_in[i])
        # Report embeddings, in batches
        rep_idx = [i for i, r in enumerate(rep_in) if r is not None]
        rep_emb: dict[int, np.ndarray] = {}
        if self.embed and rep_idx:
            r = self.encode_reports([rep_in[i] for i in rep_idx])
            rep_emb = {i: r[j] for j, i in enumerate(rep_idx)}

        from kgdx.progress import progress as bar

        out: list[MultimodalCase] = []
        with bar("building cases", n, enabled=progress) as advance:
            for i, case in enumerate(built):
                mentions: list[LinkedConcept] = []
                if rep_in[i] is not None:
                    mentions += self.link_text(case, rep_in[i], kind="report")
                for note in (notes[i] if notes is not None else ()):
                    mentions += self.link_text(case, _text(note, "note", case), kind="note")
                if i in probs:
                    add_ct_findings(case, probs[i], threshold=self.ct_threshold, exclude_below=self.ct_exclude_below)
                emb = PatientEmbedding()
                if i in embs:
                    emb.ct = embs[i]
                    emb.ct_findings = np.array(list(probs[i].values()), np.float32)
                emb.report = rep_emb.get(i)
                emb.labs, emb.labs_present = lab_vector(case.labs, self.lab_tests, self.lab_ranges)
                out.append(MultimodalCase(case, emb, probs.get(i, {}), mentions))
                advance(1)
        return out


def _text(value: str | Path, kind: str, case: PatientCase) -> str:
    """``value`` as text: read it when it names a file."""
    looks_like_path = "\n" not in value and len(value) < 4096 if isinstance(value, str) else True
    if looks_like_path and isinstance(value, str) and not Path(value).is_file():
        if Path(value).suffix.lower() in (".txt", ".md", ".text"):
            raise DataError(f"no such {kind} file", file=value)
        looks_like_path = False
    if looks_like_path:
        text = read_text(value, what=kind)
        case.files[kind] = str(value)
        return text
    return value
