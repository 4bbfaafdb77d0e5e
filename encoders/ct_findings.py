"""The CT findings the finding head predicts: HPO phenotype terms, in head-output order.

This is the one place the list lives; the reasoning package imports :data:`CT_FINDINGS` to join a
scan's finding probabilities to KG phenotype nodes, so the order here is the order of the head's
logits, and a checkpoint records the ids it was trained with.

Each id was checked against the installed HPO (hpo3) to exist and not be obsolete
(``tests/encoders/test_ct_findings.py`` re-checks it). "Lung mass" is HPO's *Pulmonary mass*
(HP:0033821).

This module imports nothing heavy, so ``kg`` and ``reasoning`` can use it without torch.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["CTFinding", "CT_FINDINGS", "CT_FINDING_IDS", "finding_index"]


class CTFinding(NamedTuple):
    """An HPO term the CT finding head scores, with the short forms radiology reports use for it
    (Fleischner Society glossary usage), which HPO's labels and synonyms lack."""

    hpo_id: str
    name: str
    shorthand: tuple[str, ...] = ()


#: The CT finding terms, in the order of the finding head's outputs.
CT_FINDINGS: tuple[CTFinding, ...] = (
    CTFinding("HP:0025179", "Ground-glass opacification", ("ground-glass opacity", "ground glass opacity", "GGO")),
    CTFinding("HP:0032177", "Parenchymal consolidation", ("consolidation", "airspace consolidation")),
    CTFinding("HP:0033608", "Pulmonary nodule", ("nodule", "lung nodule", "solid nodule", "part-solid nodule")),
    CTFinding("HP:0033821", "Pulmonary mass", ("mass", "lung mass")),
    CTFinding("HP:0002097", "Emphysema", ("centrilobular emphysema", "paraseptal emphysema")),
    CTFinding("HP:0025175", "Honeycomb lung", ("honeycombing",)),
    CTFinding("HP:0025390", "Reticular pattern on pulmonary HRCT", ("reticulation", "reticular opacity")),
    CTFinding("HP:0032174", "Tree-in-bud pattern", ("tree-in-bud", "tree-in-bud opacity", "tree-in-bud nodularity")),
    CTFinding("HP:0033655", "Pulmonary cavity", ("cavity", "cavitation", "cavitary lesion")),
    CTFinding("HP:0002202", "Pleural effusion", ("effusion", "pleural fluid")),
    CTFinding(
        "HP:0100721", "Mediastinal lymphadenopathy", ("mediastinal adenopathy", "enlarged mediastinal lymph node")
    ),
    CTFinding("HP:0002110", "Bronchiectasis", ()),
    CTFinding("HP:0002107", "Pneumothorax", ()),
    CTFinding("HP:6000317", "Mosaic attenuation pattern in lung", ("mosaic attenuation", "mosaic perfusion")),
    CTFinding("HP:0033662", "Air bronchogram", ()),
    CTFinding("HP:0030879", "Interlobular septal thickening", ("septal thickening",)),
)

#: Just the ids, in head order.
CT_FINDING_IDS: tuple[str, ...] = tuple(f.hpo_id for f in CT_FINDINGS)


def finding_index(hpo_id: str) -> int:
    """The head output index of ``hpo_id``.

    Raises:
        KeyError: naming the id and the known ones when it is not a CT finding.
    """
    try:
        return CT_FINDING_IDS.index(hpo_id)
    except ValueError:
        raise KeyError(f"{hpo_id!r} is not a CT finding; known: {list(CT_FINDING_IDS)}") from None
