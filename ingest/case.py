"""One patient case, whatever it was read from: a phenopacket, a report, a note, a CT, labs.

Every reader fills the same :class:`PatientCase`, and the reasoning takes only that. Observed and
excluded phenotypes are kept apart; ids the KG does not know are reported, not dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kgdx.ingest.labs import LabResult

__all__ = ["Finding", "PatientCase", "loinc_curie"]


@dataclass(frozen=True)
class Finding:
    """A phenotype observed in, or excluded from, the patient.

    Attributes:
        id: The HPO id (current after mapping).
        label: The label the source gave, if any.
        probability: Confidence that the finding holds (1.0 for curated cases; a CT head or a
            text linker gives less).
        origin: Where it came from: ``phenopacket``, ``report``, ``note``, ``ct``, ``labs``, or
            ``drug`` (an exposure phenotype put there by a current medication).
        original_id: The id as written in the source, when it was mapped from an obsolete one.
    """

    id: str
    label: str | None = None
    probability: float = 1.0
    origin: str = "phenopacket"
    original_id: str | None = None


def loinc_curie(code: str) -> str:
    """A LOINC code as the KG's id: ``"1988-5"`` and ``"LOINC:1988-5"`` both give ``"LOINC:1988-5"``."""
    return code if code.startswith("LOINC:") else f"LOINC:{code}"


@dataclass
class PatientCase:
    """Everything kgdx knows about one patient.

    Attributes:
        id: Case id.
        observed: Phenotypes present.
        excluded: Phenotypes looked for and absent.
        sex: ``MALE``, ``FEMALE``, ``OTHER_SEX`` or ``UNKNOWN_SEX``.
        age_years: Age at the last encounter, if known.
        labs: Lab results.
        drugs: Current medications (DrugBank CURIEs).
        conditions: Known conditions (Disease CURIEs), e.g. comorbidities.
        genes: Causal or candidate genes (symbols or CURIEs), used only in gene-aware mode.
        diagnoses: The known diagnosis (Disease CURIEs), for evaluation; never an input.
        files: Paths to linked data (``ct``, ``report``, ``note``).
        texts: Free text by kind (``report``, ``note``).
        unknown_ids: Ids in the source that no ontology release knows, with the reason.
        source: The file the case was read from.
        embeddings: Encoder embeddings by input (``ct``, ``report``), when a case builder kept them.
        extra: Anything else an input brings (e.g. ``ct_probabilities``).
    """

    id: str
    observed: list[Finding] = field(default_factory=list)
    excluded: list[Finding] = field(default_factory=list)
    sex: str = "UNKNOWN_SEX"
    age_years: float | None = None
    labs: list[LabResult] = field(default_factory=list)
    drugs: list[str] = field(default_factory=list)
    conditions: list[str] = field(default_factory=list)
    genes: list[str] = field(default_factory=list)
    diagnoses: list[str] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)
    unknown_ids: dict[str, str] = field(default_factory=dict)
    source: str | None = None
    embeddings: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def observed_ids(self) -> list[str]:
        return [f.id for f in self.observed]

    @property
    def excluded_ids(self) -> list[str]:
        return [f.id for f in self.excluded]

    def summary(self) -> str:
        return (
            f"{self.id}: {len(self.observed)} observed, {len(self.excluded)} excluded phenotypes, "
            f"{len(self.labs)} labs, {len(self.drugs)} drugs"
        )
