"""OBO-Graph JSON → OboTerm, on a tiny file laid out like mondo.json (ROBOT's output)."""

from __future__ import annotations

import bz2
import json

import pytest

from kgdx.errors import DataError
from kgdx.ingest.obograph import contract_iri, read_obograph, read_obograph_header, read_obograph_terms

OBO = "http://purl.obolibrary.org/obo/"
OIO = "http://www.geneontology.org/formats/oboInOwl#"

MONDO_JSON = {
    "graphs": [
        {
            "id": "http://purl.obolibrary.org/obo/mondo.owl",
            "meta": {
                "basicPropertyValues": [
                    {"pred": "http://purl.org/dc/elements/1.1/title", "val": "Mondo Disease Ontology"},
                    {"pred": "http://www.w3.org/2002/07/owl#versionInfo", "val": "2024-01-03"},
                ],
                "version": "http://purl.obolibrary.org/obo/mondo/releases/2024-01-03/mondo.owl",
            },
            "nodes": [
                {"id": f"{OBO}MONDO_0000001", "lbl": "disease", "type": "CLASS"},
                {
                    "id": f"{OBO}MONDO_0005180",
                    "lbl": "Parkinson disease",
                    "type": "CLASS",
                    "meta": {
                        "definition": {
                            "val": "A progressive degenerative disorder of the central nervous system.",
                            "xrefs": ["https://orcid.org/0000-0002-6601-2165"],
                        },
                        "subsets": [f"{OBO}mondo#gard_rare"],
                        "xrefs": [{"val": "DOID:14330"}, {"val": "OMIM:168600"}, {"val": "UMLS:C0030567"}],
                        "synonyms": [
                            {"pred": "hasExactSynonym", "val": "Parkinson's disease", "xrefs": ["NCIT:C26845"]},
                            {"pred": "hasRelatedSynonym", "val": "paralysis agitans", "xrefs": []},
                        ],
                        "basicPropertyValues": [
                            {
                                "pred": "http://www.w3.org/2004/02/skos/core#exactMatch",
                                "val": "http://www.orpha.net/ORDO/Orphanet_2828",
                            },
                            {"pred": f"{OIO}hasOBONamespace", "val": "mondo"},
                            {"pred": f"{OIO}hasAlternativeId", "val": "MONDO:0000829"},
                        ],
                    },
                },
                {
                    "id": f"{OBO}MONDO_0001234",
                    "lbl": "obsolete parkinsonism",
                    "type": "CLASS",
                    "meta": {
                        "deprecated": True,
                        "basicPropertyValues": [
                            {"pred": f"{OBO}IAO_0100001", "val": f"{OBO}MONDO_0005180"},
                            {"pred": f"{OIO}consider", "val": "MONDO:0000001"},
                        ],
                    },
                },
                {"id": f"{OBO}RO_0002573", "lbl": "has modifier", "type": "PROPERTY"},
                {"id": "http://identifiers.org/hgnc/7132"},
            ],
            "edges": [
                {"sub": f"{OBO}MONDO_0005180", "pred": "is_a", "obj": f"{OBO}MONDO_0000001"},
                {"sub": f"{OBO}MONDO_0005180", "pred": f"{OBO}RO_0004003", "obj": "http://identifiers.org/hgnc/7132"},
            ],
            "logicalDefinitionAxioms": [],
        }
    ]
}


def write(tmp_path, doc, name="mondo.json"):
    p = tmp_path / name
    p.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    return p


def test_contract_iri():
    assert contract_iri(f"{OBO}MONDO_0005180") == "MONDO:0005180"
    assert contract_iri(f"{OBO}CHEBI_6375") == "CHEBI:6375"
    assert contract_iri("http://www.orpha.net/ORDO/Orphanet_2828") == "Orphanet:2828"
    assert contract_iri("http://identifiers.org/omim/168600") == "omim:168600"
    assert contract_iri("MONDO:0005180") == "MONDO:0005180"
    assert contract_iri(f"{OBO}mondo#gard_rare") == f"{OBO}mondo#gard_rare"


def test_terms_exact(tmp_path):
    terms = {t.id: t for t in read_obograph_terms(write(tmp_path, MONDO_JSON))}
    assert set(terms) == {"MONDO:0000001", "MONDO:0005180", "MONDO:0001234"}  # no PROPERTY, no bare ref
    pd = terms["MONDO:0005180"]
    assert pd.name == "Parkinson disease"
    assert pd.definition == "A progressive degenerative disorder of the central nervous system."
    assert pd.synonyms == ["Parkinson's disease", "paralysis agitans"]
    assert pd.exact_synonyms == ["Parkinson's disease"]
    assert pd.xrefs == ["DOID:14330", "OMIM:168600", "UMLS:C0030567"]
    assert pd.is_a == ["MONDO:0000001"]
    assert pd.alt_ids == ["MONDO:0000829"]
    assert pd.tags["property_value"] == ["skos:exactMatch Orphanet:2828"]
    assert pd.tags["relationship"] == ["RO:0004003 hgnc:7132"]
    assert pd.tags["namespace"] == ["mondo"]
    assert not pd.obsolete
    old = terms["MONDO:0001234"]
    assert old.obsolete and old.replaced_by == ["MONDO:0005180"] and old.consider == ["MONDO:0000001"]


def test_lines_point_at_the_node(tmp_path):
    p = write(tmp_path, MONDO_JSON)
    lines = p.read_text().splitlines()
    for t in read_obograph_terms(p):
        assert lines[t.line - 1].strip() == "{", t.id
        assert t.id.split(":")[1] in lines[t.line], t.id


def test_header(tmp_path):
    header = read_obograph_header(write(tmp_path, MONDO_JSON))
    assert header == {
        "ontology": "http://purl.obolibrary.org/obo/mondo.owl",
        "data-version": "http://purl.obolibrary.org/obo/mondo/releases/2024-01-03/mondo.owl",
        "title": "Mondo Disease Ontology",
        "version-info": "2024-01-03",
    }


def test_compressed_and_subclassof(tmp_path):
    doc = {
        "graphs": [
            {
                "nodes": [
                    {"id": "CHEBI:1", "lbl": "a", "type": "CLASS"},
                    {"id": "CHEBI:2", "lbl": "b", "type": "CLASS"},
                ],
                "edges": [
                    {"sub": "CHEBI:2", "pred": "http://www.w3.org/2000/01/rdf-schema#subClassOf", "obj": "CHEBI:1"}
                ],
            }
        ]
    }
    p = tmp_path / "chebi.json.bz2"
    p.write_bytes(bz2.compress(json.dumps(doc).encode()))
    terms = {t.id: t for t in read_obograph(p).terms}
    assert terms["CHEBI:2"].is_a == ["CHEBI:1"]


def test_duplicate_nodes_merge(tmp_path):
    doc = {
        "graphs": [
            {"nodes": [{"id": "DOID:4", "type": "CLASS", "meta": {"xrefs": [{"val": "MESH:D004194"}]}}]},
            {
                "nodes": [
                    {
                        "id": "DOID:4",
                        "lbl": "disease",
                        "type": "CLASS",
                        "meta": {"xrefs": [{"val": "MESH:D004194"}, {"val": "NCI:C2991"}]},
                    }
                ]
            },
        ]
    }
    [term] = read_obograph_terms(write(tmp_path, doc))
    assert term.name == "disease" and term.xrefs == ["MESH:D004194", "NCI:C2991"]


@pytest.mark.parametrize(
    "doc, line, field",
    [
        ({"graphs": [{"nodes": [{"lbl": "no id", "type": "CLASS"}]}]}, 5, "id"),
        ({"graphs": [{"nodes": [{"id": "DOID:4", "type": "CLASS", "meta": {"synonyms": "x"}}]}]}, 5, "meta.synonyms"),
        (
            {"graphs": [{"nodes": [{"id": "DOID:4", "type": "CLASS", "meta": {"deprecated": "yes"}}]}]},
            5,
            "meta.deprecated",
        ),
        ({"graphs": [{"edges": [{"sub": "DOID:4", "pred": "is_a"}]}]}, 5, "obj"),
        ({"graphs": {"nodes": []}}, 2, "graphs"),
    ],
)
def test_malformed_elements_name_file_line_field(tmp_path, doc, line, field):
    p = write(tmp_path, doc)
    with pytest.raises(DataError) as e:
        read_obograph(p)
    assert e.value.file == str(p) and e.value.line == line and e.value.field == field


def test_invalid_json_names_line(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text('{"graphs": [{"nodes": [\n  {"id": "DOID:4"},\n  {"id": "DOID:5" "lbl": "x"}\n]}]}\n')
    with pytest.raises(DataError, match="invalid JSON") as e:
        read_obograph(p)
    assert e.value.line == 3


def test_not_an_obograph(tmp_path):
    with pytest.raises(DataError, match="no 'graphs'"):
        read_obograph(write(tmp_path, {"nodes": []}))
