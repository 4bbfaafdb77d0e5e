"""Hetionet JSON (the hetionet-v1.0.json layout) → records through the bundled mapping file."""

from __future__ import annotations

import bz2
import json

import pytest

from kgdx.errors import DataError
from kgdx.ingest.hetionet import read_hetionet
from kgdx.kg.memory_store import MemoryStore
from kgdx.kg.schema import core_schema

LICENSE = "CC BY 4.0"


def hetionet_doc():
    return {
        "metanode_kinds": ["Anatomy", "Compound", "Disease", "Gene", "Side Effect", "Symptom"],
        "metaedge_tuples": [
            ["Compound", "Disease", "treats", "both"],
            ["Disease", "Gene", "associates", "both"],
            ["Disease", "Anatomy", "localizes", "both"],
            ["Disease", "Symptom", "presents", "both"],
            ["Compound", "Side Effect", "causes", "both"],
            ["Compound", "Disease", "palliates", "both"],
        ],
        "kind_to_abbrev": {
            "Compound": "C",
            "Disease": "D",
            "Gene": "G",
            "Anatomy": "A",
            "Symptom": "S",
            "Side Effect": "SE",
            "treats": "t",
            "associates": "a",
            "localizes": "l",
            "presents": "p",
            "causes": "c",
            "palliates": "p",
        },
        "nodes": [
            {
                "kind": "Compound",
                "identifier": "DB01235",
                "name": "Levodopa",
                "data": {
                    "source": "DrugBank",
                    "license": "CC BY-NC 4.0",
                    "url": "http://www.drugbank.ca/drugs/DB01235",
                },
            },
            {
                "kind": "Disease",
                "identifier": "DOID:14330",
                "name": "Parkinson's disease",
                "data": {
                    "source": "Disease Ontology",
                    "license": "CC BY 3.0",
                    "url": "http://purl.obolibrary.org/obo/DOID_14330",
                },
            },
            {
                "kind": "Gene",
                "identifier": 6622,
                "name": "SNCA",
                "data": {
                    "description": "synuclein alpha",
                    "source": "Entrez Gene",
                    "license": "CC0 1.0",
                    "url": "http://identifiers.org/ncbigene/6622",
                    "chromosome": "4",
                },
            },
            {
                "kind": "Anatomy",
                "identifier": "UBERON:0002038",
                "name": "substantia nigra",
                "data": {"source": "Uberon", "license": "CC BY 3.0", "mesh_id": "D013378", "bto_id": "BTO:0001316"},
            },
            {
                "kind": "Symptom",
                "identifier": "D014202",
                "name": "Tremor",
                "data": {"source": "MeSH", "license": "CC0 1.0", "url": "http://identifiers.org/mesh/D014202"},
            },
            {
                "kind": "Symptom",
                "identifier": "D004409",
                "name": "Dyskinesia, Drug-Induced",
                "data": {"source": "MeSH"},
            },
            {
                "kind": "Side Effect",
                "identifier": "C0013384",
                "name": "Dyskinesia",
                "data": {"source": "UMLS via SIDER 4.1"},
            },
        ],
        "edges": [
            {
                "source_id": ["Compound", "DB01235"],
                "target_id": ["Disease", "DOID:14330"],
                "kind": "treats",
                "direction": "both",
                "data": {"source": "PharmacotherapyDB", "unbiased": False, "license": LICENSE},
            },
            {
                "source_id": ["Disease", "DOID:14330"],
                "target_id": ["Gene", 6622],
                "kind": "associates",
                "direction": "both",
                "data": {"sources": ["DisGeNET", "DOAF", "GWAS Catalog"], "unbiased": False},
            },
            {
                "source_id": ["Disease", "DOID:14330"],
                "target_id": ["Anatomy", "UBERON:0002038"],
                "kind": "localizes",
                "direction": "both",
                "data": {"source": "MEDLINE", "cooccurrence": 2130, "unbiased": False},
            },
            {
                "source_id": ["Disease", "DOID:14330"],
                "target_id": ["Symptom", "D014202"],
                "kind": "presents",
                "direction": "both",
                "data": {"source": "MEDLINE", "unbiased": False},
            },
            {
                "source_id": ["Disease", "DOID:14330"],
                "target_id": ["Symptom", "D004409"],
                "kind": "presents",
                "direction": "both",
                "data": {"source": "MEDLINE", "unbiased": False},
            },
            {
                "source_id": ["Compound", "DB01235"],
                "target_id": ["Side Effect", "C0013384"],
                "kind": "causes",
                "direction": "both",
                "data": {"source": "SIDER 4.1", "unbiased": False},
            },
            {
                "source_id": ["Compound", "DB01235"],
                "target_id": ["Disease", "DOID:14330"],
                "kind": "palliates",
                "direction": "both",
                "data": {"source": "PharmacotherapyDB"},
            },
            {
                "source_id": ["Gene", 6622],
                "target_id": ["Gene", 7157],
                "kind": "interacts",
                "direction": "both",
                "data": {"sources": ["II_literature"], "unbiased": False},
            },
        ],
    }


def write(tmp_path, doc, name="hetionet-v1.0.json"):
    p = tmp_path / name
    p.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    return p


def test_records_exact(tmp_path):
    p = write(tmp_path, hetionet_doc())
    het = read_hetionet(p)
    assert [(n.type, n.id, n.props) for n in het.nodes] == [
        ("Disease", "DOID:14330", {"name": "Parkinson's disease"}),
        ("Drug", "DRUGBANK:DB01235", {"name": "Levodopa"}),
        ("Gene", "NCBIGene:6622", {"name": "SNCA", "symbol": "SNCA"}),
        ("Anatomy", "UBERON:0002038", {"name": "substantia nigra"}),
    ]
    assert [(e.type, e.src, e.dst, e.props) for e in het.edges] == [
        (
            "ASSOCIATED_WITH",
            "NCBIGene:6622",
            "DOID:14330",
            {"source": "Hetionet v1.0 associates (DisGeNET, DOAF, GWAS Catalog)"},
        ),
        ("LOCATED_IN", "DOID:14330", "UBERON:0002038", {"source": "Hetionet v1.0 localizes (MEDLINE)"}),
        ("TREATS", "DRUGBANK:DB01235", "DOID:14330", {"source": "Hetionet v1.0 treats (PharmacotherapyDB)"}),
    ]
    lines = p.read_text().splitlines()
    treats = het.edges[-1].origin.line
    assert lines[treats - 1].strip() == "{" and '"Compound"' in lines[treats + 1]
    MemoryStore(core_schema()).write(het)


def test_report(tmp_path):
    d = read_hetionet(write(tmp_path, hetionet_doc())).report.to_dict()
    assert d["name"] == "Hetionet v1.0 (hetionet-v1.0.json)"
    assert d["skipped"] == {
        "node kind not mapped: Side Effect": 1,
        "Symptom id not in the id map": 2,
        "relation skipped: causes (side effects have no relationship type in the core schema)": 1,
        "relation skipped: palliates (palliation is symptomatic; TREATS means an indicated treatment)": 1,
        "relation not mapped: interacts": 1,
        "edge to an unmapped node": 2,
    }
    assert d["records"] == {
        "Anatomy": 1,
        "Disease": 1,
        "Drug": 1,
        "Gene": 1,
        "ASSOCIATED_WITH": 1,
        "LOCATED_IN": 1,
        "TREATS": 1,
    }


def test_symptoms_map_only_through_an_id_map(tmp_path):
    het = read_hetionet(write(tmp_path, hetionet_doc()), id_maps={"Symptom": {"D014202": "HP:0001337"}})
    presents = [e for e in het.edges if e.type == "HAS_PHENOTYPE"]
    assert [(e.src, e.dst, e.props["source"]) for e in presents] == [
        ("DOID:14330", "HP:0001337", "Hetionet v1.0 presents (MEDLINE)")
    ]
    assert "HP:0001337" not in {n.id for n in het.nodes}  # HPO owns phenotype nodes
    assert het.report.skipped["Symptom id not in the id map"] == 1
    store = MemoryStore(core_schema())
    store.write([*het.nodes, *[e for e in het.edges if e.type != "HAS_PHENOTYPE"]])


def test_compressed_file(tmp_path):
    p = tmp_path / "hetionet-v1.0.json.bz2"
    p.write_bytes(bz2.compress(json.dumps(hetionet_doc()).encode()))
    assert len(read_hetionet(p).edges) == 3


def test_malformed_node_names_file_line_field(tmp_path):
    doc = hetionet_doc()
    del doc["nodes"][2]["identifier"]
    p = write(tmp_path, doc)
    with pytest.raises(DataError) as e:
        read_hetionet(p)
    assert e.value.file == str(p) and e.value.field == "identifier"
    assert '"kind": "Gene"' in p.read_text().splitlines()[e.value.line]


def test_edge_to_a_missing_node_is_an_error_or_counted(tmp_path):
    doc = hetionet_doc()
    doc["edges"][0]["target_id"] = ["Disease", "DOID:9999"]
    p = write(tmp_path, doc)
    with pytest.raises(DataError, match="not among the nodes") as e:
        read_hetionet(p)
    assert e.value.field == "target_id" and e.value.line is not None
    het = read_hetionet(p, strict=False)
    assert het.report.skipped["edge end not among the nodes"] == 1
    assert [e.type for e in het.edges] == ["ASSOCIATED_WITH", "LOCATED_IN"]


def test_bad_identifier_for_a_mapped_kind(tmp_path):
    doc = hetionet_doc()
    doc["nodes"][0]["identifier"] = "levodopa"
    p = write(tmp_path, doc)
    with pytest.raises(DataError, match="bad Compound identifier") as e:
        read_hetionet(p)
    assert e.value.field == "identifier"
    het = read_hetionet(p, strict=False)
    assert het.report.skipped["bad Compound identifier"] == 1
    assert "TREATS" not in {e.type for e in het.edges}


def test_invalid_json_and_wrong_layout(tmp_path):
    p = tmp_path / "h.json"
    p.write_text('{"nodes": [\n{"kind": "Gene", "identifier": 1, "name": "A1BG"},\n{"kind": "Gene",,}\n]}')
    with pytest.raises(DataError, match="invalid JSON") as e:
        read_hetionet(p)
    assert e.value.line == 3
    with pytest.raises(DataError, match="no 'nodes'"):
        read_hetionet(write(tmp_path, {"graphs": []}))


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="cannot read"):
        read_hetionet(tmp_path / "hetionet-v1.0.json")
