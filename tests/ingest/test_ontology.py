"""MONDO, DOID and ChEBI (.obo and OBO-Graph .json) → Disease/Drug records, and the xref index."""

from __future__ import annotations

import json

import pytest

from kgdx.errors import DataError
from kgdx.ingest.ontology import chebi_records, doid_records, mondo_records, normalise_xref, xref_index
from kgdx.kg.memory_store import MemoryStore
from kgdx.kg.records import Edge, Node
from kgdx.kg.schema import core_schema

MONDO_OBO = """\
format-version: 1.2
data-version: releases/2024-01-03
subsetdef: gard_rare "GARD rare disease"
ontology: mondo
property_value: owl:versionInfo "2024-01-03" xsd:string

[Term]
id: MONDO:0000001
name: disease
def: "A disposition to undergo pathological processes." [OGMS:0000031]

[Term]
id: MONDO:0005180
name: Parkinson disease
def: "A progressive degenerative disorder of the central nervous system." [https://orcid.org/0000-0002-6601-2165]
subset: gard_rare {source="GARD:7309"}
synonym: "Parkinson's disease" EXACT [NCIT:C26845]
synonym: "paralysis agitans" RELATED []
xref: DOID:14330 {source="MONDO:equivalentTo"}
xref: GARD:7309 {source="MONDO:equivalentTo"}
xref: OMIM:168600 {source="MONDO:equivalentTo"}
xref: Orphanet:2828 {source="MONDO:equivalentTo"}
xref: UMLS:C0030567 {source="MONDO:equivalentTo"}
xref: OMIM:605909 {source="MONDO:mondoIsBroaderThanSource"}
is_a: MONDO:0000001 {source="DOID:14330"} ! disease

[Term]
id: MONDO:0011764
name: Parkinson disease 6, autosomal recessive early-onset
xref: OMIM:605909 {source="MONDO:equivalentTo"}
xref: OMIMPS:168600 {source="MONDO:equivalentTo"}
is_a: MONDO:0005180 ! Parkinson disease
is_a: MONDO:0001234 ! obsolete parkinsonism

[Term]
id: MONDO:0021095
name: duplicate claim
xref: OMIM:605909 {source="MONDO:equivalentTo"}
is_a: MONDO:0000001 ! disease

[Term]
id: MONDO:0001234
name: obsolete parkinsonism
is_obsolete: true
replaced_by: MONDO:0005180

[Term]
id: MONDO:0009999
name: obsolete thing
is_obsolete: true
consider: MONDO:0000001

[Typedef]
id: has_modifier
name: has modifier
"""

DOID_OBO = """\
format-version: 1.2
data-version: doid/releases/2024-01-31/doid-non-classified.obo
ontology: doid/doid-non-classified

[Term]
id: DOID:4
name: disease

[Term]
id: DOID:14330
name: Parkinson's disease
def: "A synucleinopathy that has_material_basis_in degeneration of the central nervous system." [url:http\\://en.wikipedia.org/wiki/Parkinson%27s_disease]
alt_id: DOID:14332
synonym: "paralysis agitans" EXACT []
xref: GARD:7309
xref: ICD10CM:G20
xref: MESH:D010300
xref: OMIM:168600
xref: ORDO:2828
xref: UMLS_CUI:C0030567
is_a: DOID:4 ! disease
"""

CHEBI_OBO = """\
format-version: 1.2
data-version: 231
ontology: chebi

[Term]
id: CHEBI:6375
name: levodopa
subset: 3_STAR
def: "An optically active form of dopa having L-configuration." []
synonym: "L-dopa" RELATED [ChemIDplus]
synonym: "levodopa" EXACT [ChEBI]
xref: CAS:59-92-7 "CAS Registry Number"
xref: DrugBank:DB01235 "DrugBank"
xref: KEGG:D00059 "KEGG DRUG"
is_a: CHEBI:15765
relationship: RO:0000087 CHEBI:35624

[Term]
id: CHEBI:15765
name: L-dopa zwitterion
xref: KEGG:C00355 "KEGG COMPOUND"

[Term]
id: CHEBI:4000
name: obsolete entity
is_obsolete: true
replaced_by: CHEBI:6375
"""


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def validates(records):
    MemoryStore(core_schema()).write(records)


def test_mondo_obo_records(tmp_path):
    p = write(tmp_path, "mondo.obo", MONDO_OBO)
    mondo = mondo_records(p)
    nodes = {n.id: n for n in mondo.nodes}
    assert set(nodes) == {"MONDO:0000001", "MONDO:0005180", "MONDO:0011764", "MONDO:0021095"}
    pd = nodes["MONDO:0005180"]
    assert pd.type == "Disease"
    # Only the exact (equivalentTo) xrefs in our vocabularies; GARD/UMLS are outside the schema and
    # OMIM:605909 is a broader-than mapping.
    assert pd.props == {
        "name": "Parkinson disease",
        "synonyms": ["Parkinson's disease", "paralysis agitans"],
        "definition": "A progressive degenerative disorder of the central nervous system.",
        "xrefs": ["DOID:14330", "OMIM:168600", "ORPHA:2828"],
    }
    assert nodes["MONDO:0011764"].props["xrefs"] == ["OMIM:605909"]  # OMIMPS: is not an OMIM entry
    source = "MONDO mondo.obo 2024-01-03"
    assert [(e.src, e.dst, e.props) for e in mondo.edges] == [
        ("MONDO:0005180", "MONDO:0000001", {"source": source}),
        ("MONDO:0011764", "MONDO:0005180", {"source": source}),  # and its obsolete parent's replacement
        ("MONDO:0021095", "MONDO:0000001", {"source": source}),
    ]
    assert pd.origin.file == str(p) and MONDO_OBO.splitlines()[pd.origin.line - 1] == "[Term]"
    assert MONDO_OBO.splitlines()[pd.origin.line] == "id: MONDO:0005180"
    validates(mondo)


def test_mondo_report_obsolete_and_counts(tmp_path):
    mondo = mondo_records(write(tmp_path, "mondo.obo", MONDO_OBO))
    r = mondo.report
    assert r.version == "2024-01-03" and r.release_date == "2024-01-03"
    assert r.replaced_by == {"MONDO:0001234": "MONDO:0005180"}
    assert mondo.aliases == {"MONDO:0001234": "MONDO:0005180"}
    d = r.to_dict()
    assert d["replaced_by"] == {"MONDO:0001234": "MONDO:0005180"}
    assert d["records"] == {"Disease": 4, "IS_A": 3}
    assert d["mapped"]["obsolete term → replaced_by"] == 1
    assert d["mapped"]["is_a to an obsolete or alt id → current term"] == 1
    assert d["skipped"]["obsolete term without a live replacement"] == 1
    assert d["skipped"]["xref not marked as exact"] == 1
    assert set(d["files"]) == {"mondo.obo"}


def test_xref_index_maps_omim_orpha_doid_and_drops_ambiguous(tmp_path):
    mondo = mondo_records(write(tmp_path, "mondo.obo", MONDO_OBO))
    index = xref_index(mondo, report=mondo.report)
    assert index == {"DOID:14330": "MONDO:0005180", "OMIM:168600": "MONDO:0005180", "ORPHA:2828": "MONDO:0005180"}
    # OMIM:605909 is claimed exactly by MONDO:0011764 and MONDO:0021095: never guessed.
    assert mondo.report.skipped["xref claimed by several MONDO terms"] == 1


def test_mondo_json_gives_the_same_records(tmp_path):
    obo = "http://purl.obolibrary.org/obo/"
    exact = "http://www.w3.org/2004/02/skos/core#exactMatch"
    doc = {
        "graphs": [
            {
                "id": f"{obo}mondo.owl",
                "meta": {"version": f"{obo}mondo/releases/2024-01-03/mondo.owl"},
                "nodes": [
                    {
                        "id": f"{obo}MONDO_0000001",
                        "lbl": "disease",
                        "type": "CLASS",
                        "meta": {"definition": {"val": "A disposition to undergo pathological processes."}},
                    },
                    {
                        "id": f"{obo}MONDO_0005180",
                        "lbl": "Parkinson disease",
                        "type": "CLASS",
                        "meta": {
                            "definition": {"val": "A progressive degenerative disorder of the central nervous system."},
                            "synonyms": [
                                {"pred": "hasExactSynonym", "val": "Parkinson's disease"},
                                {"pred": "hasRelatedSynonym", "val": "paralysis agitans"},
                            ],
                            "xrefs": [
                                {"val": "DOID:14330"},
                                {"val": "OMIM:168600"},
                                {"val": "Orphanet:2828"},
                                {"val": "OMIM:605909"},
                            ],
                            "basicPropertyValues": [
                                {"pred": exact, "val": f"{obo}DOID_14330"},
                                {"pred": exact, "val": "https://omim.org/entry/168600"},
                                {"pred": exact, "val": "http://www.orpha.net/ORDO/Orphanet_2828"},
                            ],
                        },
                    },
                    {
                        "id": f"{obo}MONDO_0001234",
                        "lbl": "obsolete parkinsonism",
                        "type": "CLASS",
                        "meta": {
                            "deprecated": True,
                            "basicPropertyValues": [{"pred": f"{obo}IAO_0100001", "val": f"{obo}MONDO_0005180"}],
                        },
                    },
                ],
                "edges": [{"sub": f"{obo}MONDO_0005180", "pred": "is_a", "obj": f"{obo}MONDO_0000001"}],
            }
        ]
    }
    p = write(tmp_path, "mondo.json", json.dumps(doc, indent=2))
    mondo = mondo_records(p)
    nodes = {n.id: n for n in mondo.nodes}
    assert set(nodes) == {"MONDO:0000001", "MONDO:0005180"}
    assert nodes["MONDO:0005180"].props["xrefs"] == ["DOID:14330", "OMIM:168600", "ORPHA:2828"]
    assert nodes["MONDO:0005180"].props["synonyms"] == ["Parkinson's disease", "paralysis agitans"]
    assert [(e.src, e.dst, e.props["source"]) for e in mondo.edges] == [
        ("MONDO:0005180", "MONDO:0000001", "MONDO mondo.json 2024-01-03")
    ]
    assert mondo.report.replaced_by == {"MONDO:0001234": "MONDO:0005180"}
    assert p.read_text().splitlines()[nodes["MONDO:0005180"].origin.line].strip().startswith('"id"')
    validates(mondo)


def test_doid_records(tmp_path):
    doid = doid_records(write(tmp_path, "doid.obo", DOID_OBO))
    nodes = {n.id: n for n in doid.nodes}
    assert nodes["DOID:14330"].props == {
        "name": "Parkinson's disease",
        "synonyms": ["paralysis agitans"],
        "definition": "A synucleinopathy that has_material_basis_in degeneration of the central nervous system.",
        "xrefs": ["OMIM:168600", "ORPHA:2828"],
    }
    assert [(e.type, e.src, e.dst, e.props["source"]) for e in doid.edges] == [
        ("IS_A", "DOID:14330", "DOID:4", "DOID doid.obo 2024-01-31")
    ]
    assert doid.aliases == {"DOID:14332": "DOID:14330"}
    assert doid.report.skipped["xref outside the schema's vocabularies for this type"] == 4
    validates(doid)


def test_chebi_records_keep_drugs_with_drugbank(tmp_path):
    p = write(tmp_path, "chebi.obo", CHEBI_OBO)
    chebi = chebi_records(p)
    assert [(n.type, n.id, n.props) for n in chebi.nodes] == [
        ("Drug", "CHEBI:6375", {"name": "levodopa", "synonyms": ["L-dopa"], "xrefs": ["DRUGBANK:DB01235"]})
    ]
    assert chebi.edges == []
    assert chebi.report.version == "231"
    assert chebi.report.skipped["ChEBI entity without a DrugBank xref"] == 1
    assert chebi.report.replaced_by == {"CHEBI:4000": "CHEBI:6375"}
    validates(chebi)
    everything = chebi_records(p, drugbank_only=False)
    assert [n.id for n in everything.nodes] == ["CHEBI:6375", "CHEBI:15765"]
    validates(everything)


def test_normalise_xref():
    assert normalise_xref("Orphanet:2828") == "ORPHA:2828"
    assert normalise_xref("ORDO:2828") == "ORPHA:2828"
    assert normalise_xref("MIM:168600") == "OMIM:168600"
    assert normalise_xref("DrugBank:DB01235") == "DRUGBANK:DB01235"
    assert normalise_xref("http://purl.obolibrary.org/obo/DOID_14330") == "DOID:14330"
    assert normalise_xref("http://identifiers.org/omim/168600") == "OMIM:168600"
    assert normalise_xref("https://omim.org/entry/168600") == "OMIM:168600"
    for unmappable in ("UMLS:C0030567", "OMIMPS:168600", "OMIM:PS168600", "OMIM:12", "MESH:D010300", "nonsense"):
        assert normalise_xref(unmappable) is None, unmappable


def test_xref_index_of_plain_records():
    records = [
        Node("Disease", "MONDO:0005180", {"name": "PD", "xrefs": ["OMIM:168600", "DECIPHER:12"]}),
        Node("Disease", "OMIM:168600", {"name": "PD", "xrefs": ["MONDO:0005180"]}),
        Edge("IS_A", "MONDO:0005180", "MONDO:0000001", {"source": "x"}),
    ]
    assert xref_index(records) == {"DECIPHER:12": "MONDO:0005180", "OMIM:168600": "MONDO:0005180"}


def test_malformed_obo_line_names_file_and_line(tmp_path):
    p = write(tmp_path, "mondo.obo", MONDO_OBO.replace("name: Parkinson disease\n", "name Parkinson disease\n"))
    with pytest.raises(DataError) as e:
        mondo_records(p)
    assert e.value.file == str(p) and e.value.line == 14


def test_unknown_format(tmp_path):
    with pytest.raises(DataError, match="unknown ontology format"):
        mondo_records(write(tmp_path, "mondo.owl", "<rdf:RDF/>"))


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="cannot read"):
        doid_records(tmp_path / "doid.obo")
    with pytest.raises(DataError, match="cannot read"):
        mondo_records(tmp_path / "mondo.json")


def test_a_term_obsolete_in_either_stanza_is_obsolete(tmp_path):
    """A term repeated without its deprecation (an import stub, say) stays obsolete: it must not
    come back as a live node, whichever stanza comes first."""
    stub = "[Term]\nid: MONDO:0001234\nname: obsolete parkinsonism\n\n"
    after = MONDO_OBO.replace("[Typedef]", stub + "[Typedef]")
    before = MONDO_OBO.replace("[Term]\nid: MONDO:0000001", stub + "[Term]\nid: MONDO:0000001", 1)
    for text in (after, before):
        mondo = mondo_records(write(tmp_path, "mondo.obo", text))
        assert "MONDO:0001234" not in {n.id for n in mondo.nodes}
        assert mondo.aliases == {"MONDO:0001234": "MONDO:0005180"}
        assert mondo.report.to_dict()["mapped"]["duplicate stanza merged"] == 1
