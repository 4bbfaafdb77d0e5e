"""The diagnosis benchmark's new-patient view: a case ranked without its own paper's annotations."""

from __future__ import annotations

import numpy as np
import torch

from benchmarks._common import paper_out
from kgdx.ingest.case import Finding, PatientCase
from kgdx.reasoning.diagnoser import Diagnoser
from kgdx.reasoning.model import EvidenceGNN, EvidenceGNNConfig
from tests.reasoning.test_paper_out import CF, _store


def test_the_scorer_drops_only_the_cases_own_paper_and_restores_the_diagnoser():
    torch.manual_seed(0)
    dx = Diagnoser(_store(), EvidenceGNN(EvidenceGNNConfig(hidden=8, ic_floor=0.0)).eval())
    extractor = dx.extractor
    score = paper_out(dx)
    findings = [Finding("HP:0012735"), Finding("HP:0002202"), Finding("HP:0001945")]

    def case(name: str) -> PatientCase:
        return PatientCase(name, observed=findings, diagnoses=[CF], source=f"train/CFTR/{name}.json")

    g = dx.index.disease_index[CF]
    as_is = dx.rank(case("PMID_111_proband"), k=1).scores
    new = score(case("PMID_111_proband"))
    assert new[g] != as_is[g]
    assert np.allclose(np.delete(new, g), np.delete(as_is, g))
    assert np.array_equal(score(case("PMID_999_proband")), as_is)  # another paper: nothing to drop
    assert dx.extractor is extractor
