"""RDF in the kgdx vocabulary → records (kgdx.ingest.rdf), on hand-written Turtle."""

from __future__ import annotations

import pytest

from kgdx.errors import DataError
from kgdx.ingest.rdf import read_rdf
from kgdx.kg.memory_store import MemoryStore
from kgdx.kg.schema import core_schema

PREFIXES = """\
@prefix rdf: <http://www.w3.org/1999/02/22-rdf-syntax-ns#> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
@prefix skos: <http://www.w3.org/2004/02/skos/core#> .
@prefix kgdx: <https://kgdx.dev/schema/> .
@prefix obo: <http://purl.obolibrary.org/obo/> .
"""

GOOD = (
    PREFIXES
    + """
obo:MONDO_0005180 a kgdx:Disease ;
    rdfs:label "Parkinson disease" ;
    kgdx:name "Parkinson disease" ;
    kgdx:synonyms ( "paralysis agitans" "PD" ) ;
    kgdx:xrefs "OMIM:168600", "DOID:14330" ;
    skos:exactMatch <https://omim.org/entry/168600> .

obo:HP_0001337 a kgdx:Phenotype ; kgdx:name "Tremor" ; kgdx:ic 2.5 .
<https://go.drugbank.com/drugs/DB01235> a kgdx:Drug ; kgdx:name "Levodopa" .
<http://example.org/thing> a <http://example.org/Class> .
obo:UBERON_0002038 a kgdx:Organ ; kgdx:name "substantia nigra" .

obo:MONDO_0005180 kgdx:HAS_PHENOTYPE obo:HP_0001337 .
[] a rdf:Statement ;
    rdf:subject obo:MONDO_0005180 ; rdf:predicate kgdx:HAS_PHENOTYPE ; rdf:object obo:HP_0001337 ;
    kgdx:source "HPO phenotype.hpoa" ; kgdx:frequency "0.895"^^xsd:double ; kgdx:evidence "PCS" .

<https://go.drugbank.com/drugs/DB01235> kgdx:TREATS obo:MONDO_0005180 .
<https://kgdx.dev/edge/t1> a rdf:Statement ;
    rdf:subject <https://go.drugbank.com/drugs/DB01235> ; rdf:predicate kgdx:TREATS ;
    rdf:object obo:MONDO_0005180 ; kgdx:source "AAN guideline 2021" ; kgdx:line 1 .

<https://kgdx.dev/edge/t2> a rdf:Statement ;
    rdf:subject <https://go.drugbank.com/drugs/DB01235> ; rdf:predicate kgdx:TREATS ;
    rdf:object obo:HP_0001337 ; kgdx:source "never asserted" .
"""
)


def write(tmp_path, text, name="kg.ttl"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_good_input_exact_records(tmp_path):
    kg = read_rdf(write(tmp_path, GOOD), core_schema())
    assert [(n.type, n.id, n.props) for n in kg.nodes] == [
        ("Drug", "DRUGBANK:DB01235", {"name": "Levodopa"}),
        ("Phenotype", "HP:0001337", {"name": "Tremor", "ic": 2.5}),  # xsd:decimal → float
        (
            "Disease",
            "MONDO:0005180",
            {
                "name": "Parkinson disease",
                "synonyms": ["paralysis agitans", "PD"],
                "xrefs": ["DOID:14330", "OMIM:168600"],
            },
        ),  # repeated values: sorted
    ]
    assert [(e.type, e.src, e.dst, e.props) for e in kg.edges] == [
        (
            "HAS_PHENOTYPE",
            "MONDO:0005180",
            "HP:0001337",
            {"source": "HPO phenotype.hpoa", "frequency": 0.895, "evidence": "PCS"},
        ),
        ("TREATS", "DRUGBANK:DB01235", "MONDO:0005180", {"source": "AAN guideline 2021", "line": 1}),
    ]
    assert kg.nodes[0].origin.file.endswith("kg.ttl")
    MemoryStore(core_schema()).write(kg)


def test_what_is_outside_the_vocabulary_is_counted(tmp_path):
    report = read_rdf(write(tmp_path, GOOD), core_schema()).report
    assert report.skipped["rdf:type kgdx class outside the schema"] == 1
    assert report.skipped["predicate outside the kgdx vocabulary"] == 1
    assert report.skipped["statement about a triple that is not asserted"] == 1
    assert report.records == {"Disease": 1, "Drug": 1, "Phenotype": 1, "HAS_PHENOTYPE": 1, "TREATS": 1}


def test_syntax_error_names_the_line(tmp_path):
    p = write(tmp_path, PREFIXES + '\nobo:HP_0001337 a kgdx:Phenotype ;\n    kgdx:name "Tremor\n    .\n')
    with pytest.raises(DataError, match="invalid turtle") as e:
        read_rdf(p, core_schema())
    assert e.value.file == str(p) and e.value.line == 9


@pytest.mark.parametrize(
    "body, message, field",
    [
        ('<http://example.org/d1> a kgdx:Disease ; kgdx:name "x" .', "matches none of its id prefixes", "id"),
        ('obo:HP_0001337 a kgdx:Phenotype ; kgdx:name "Tremor", "Shaking" .', "has 2 values", "name"),
        ('obo:HP_0001337 a kgdx:Phenotype ; kgdx:name "Tremor" ; kgdx:ic "high" .', "expected a number", "ic"),
        ('obo:HP_0001337 a kgdx:Phenotype ; kgdx:name "Tremor" ; kgdx:colour "red" .', "unknown property", "colour"),
    ],
)
def test_vocabulary_errors_are_data_errors_or_counted(tmp_path, body, message, field):
    p = write(tmp_path, PREFIXES + body + "\n")
    with pytest.raises(DataError, match=message) as e:
        read_rdf(p, core_schema())
    assert e.value.file == str(p) and e.value.field == field
    lenient = read_rdf(p, core_schema(), strict=False)
    assert sum(lenient.report.skipped.values()) >= 1


def test_rdf_xml(tmp_path):
    xml = """<?xml version="1.0" encoding="utf-8"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:kgdx="https://kgdx.dev/schema/">
  <rdf:Description rdf:about="http://purl.obolibrary.org/obo/HP_0001337">
    <rdf:type rdf:resource="https://kgdx.dev/schema/Phenotype"/>
    <kgdx:name>Tremor</kgdx:name>
  </rdf:Description>
</rdf:RDF>
"""
    kg = read_rdf(write(tmp_path, xml, "kg.rdf"), core_schema())
    assert [(n.id, n.props) for n in kg.nodes] == [("HP:0001337", {"name": "Tremor"})]
    broken = write(tmp_path, xml.replace("</kgdx:name>", "</kgdx:nam>"), "broken.rdf")
    with pytest.raises(DataError, match="invalid xml") as e:
        read_rdf(broken, core_schema())
    assert e.value.line == 5


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_rdf(tmp_path / "nope.ttl", core_schema())
