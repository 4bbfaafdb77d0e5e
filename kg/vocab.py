"""The graph's shared vocabulary: the core schema's node labels, relationship types and edge
triples, as names code can use instead of bare strings.

They are the names of ``kg/schemas/core.yaml`` (a test checks that the two agree), and the same
names run through every layer: the adapters' records, the stores, PyG's ``HeteroData`` (whose
edge types are these ``(source, relationship, target)`` triples), the reasoning index and model.
Both enums are ``str``, so ``NodeLabel.PHENOTYPE == "Phenotype"`` and either can be passed where a
type name is expected. Modules add types of their own; those stay strings from their schema.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["NodeLabel", "RelType", "EdgeTriple", "CORE_TRIPLES"]

#: An edge type in PyG's form: ``(source label, relationship type, target label)``.
EdgeTriple = tuple[str, str, str]


class NodeLabel(StrEnum):
    """Node labels of the core schema."""

    DISEASE = "Disease"
    PHENOTYPE = "Phenotype"
    GENE = "Gene"
    DRUG = "Drug"
    DRUG_CLASS = "DrugClass"
    LAB_TEST = "LabTest"
    ANATOMY = "Anatomy"
    PATIENT = "Patient"


class RelType(StrEnum):
    """Relationship types of the core schema."""

    IS_A = "IS_A"
    HAS_PHENOTYPE = "HAS_PHENOTYPE"
    EXCLUDES_PHENOTYPE = "EXCLUDES_PHENOTYPE"
    ASSOCIATED_WITH = "ASSOCIATED_WITH"
    TREATS = "TREATS"
    CONTRAINDICATED_IN = "CONTRAINDICATED_IN"
    INTERACTS_WITH = "INTERACTS_WITH"
    EQUIVALENT_TO = "EQUIVALENT_TO"
    IN_CLASS = "IN_CLASS"
    INDICATES = "INDICATES"
    LOCATED_IN = "LOCATED_IN"
    HAS_FINDING = "HAS_FINDING"
    LACKS_FINDING = "LACKS_FINDING"
    HAS_LAB_RESULT = "HAS_LAB_RESULT"
    TAKES = "TAKES"
    HAS_CONDITION = "HAS_CONDITION"


N, R = NodeLabel, RelType

#: Every edge triple the core schema allows, in PyG's ``(src, rel, dst)`` form.
CORE_TRIPLES: tuple[EdgeTriple, ...] = (
    (N.PHENOTYPE, R.IS_A, N.PHENOTYPE),
    (N.DISEASE, R.IS_A, N.DISEASE),
    (N.ANATOMY, R.IS_A, N.ANATOMY),
    (N.DRUG_CLASS, R.IS_A, N.DRUG_CLASS),
    (N.DISEASE, R.HAS_PHENOTYPE, N.PHENOTYPE),
    (N.DISEASE, R.EXCLUDES_PHENOTYPE, N.PHENOTYPE),
    (N.GENE, R.ASSOCIATED_WITH, N.DISEASE),
    (N.DRUG, R.TREATS, N.DISEASE),
    (N.DRUG, R.CONTRAINDICATED_IN, N.DISEASE),
    (N.DRUG, R.CONTRAINDICATED_IN, N.PHENOTYPE),
    (N.DRUG, R.INTERACTS_WITH, N.DRUG),
    (N.DISEASE, R.EQUIVALENT_TO, N.DISEASE),
    (N.DRUG, R.IN_CLASS, N.DRUG_CLASS),
    (N.LAB_TEST, R.INDICATES, N.PHENOTYPE),
    (N.PHENOTYPE, R.LOCATED_IN, N.ANATOMY),
    (N.DISEASE, R.LOCATED_IN, N.ANATOMY),
    (N.PATIENT, R.HAS_FINDING, N.PHENOTYPE),
    (N.PATIENT, R.LACKS_FINDING, N.PHENOTYPE),
    (N.PATIENT, R.HAS_LAB_RESULT, N.LAB_TEST),
    (N.PATIENT, R.TAKES, N.DRUG),
    (N.PATIENT, R.HAS_CONDITION, N.DISEASE),
)
del N, R
