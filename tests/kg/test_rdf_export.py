"""RDF export (kgdx.kg.rdf): shape of the output, prefixes, and export → import round trips."""

from __future__ import annotations

import os

import pytest
from rdflib import RDF, Graph, Literal, URIRef
from rdflib.compare import isomorphic

from kgdx.errors import SchemaError
from kgdx.ingest.rdf import read_rdf
from kgdx.kg.memory_store import MemoryStore
from kgdx.kg.rdf import KGDX, check_prefixes, curie_to_iri, edge_iri, iri_to_curie, to_rdf, to_rdf_graph
from kgdx.kg.records import Edge, Node
from kgdx.kg.schema import Schema, core_schema

OBO = "http://purl.obolibrary.org/obo/"

# Values that break naive writers: quotes, backslashes, newlines, unicode, list order, floats.
EXTRAS = [
    Node(
        "Disease",
        "MONDO:0005180",
        {
            "name": 'Parkinson "idiopathic" disease',
            "synonyms": ["paralysis agitans", "PD; idiopathic", "Parkinson's disease"],  # not sorted
            "definition": "Line one,\nline two\twith a tab and a back\\slash — ünïcödé",
            "xrefs": ["OMIM:168600", "DOID:14330"],
        },
    ),
    Node("Phenotype", "HP:0001337", {"name": "Tremor", "ic": 0.1 + 0.2, "alt_ids": ["HP:0001338"]}),
    Node("Patient", "PATIENT:case-1.a", {"name": "case 1", "sex": "FEMALE", "age_years": 71.5}),
    Edge(
        "HAS_PHENOTYPE",
        "MONDO:0005180",
        "HP:0001337",
        {
            "source": "HPO phenotype.hpoa 2024-04-26: PMID:123;PMID:456",
            "frequency": 1e-05,
            "onset": "HP:0003596",
            "evidence": "PCS",
        },
    ),
    Edge("HAS_FINDING", "PATIENT:case-1.a", "HP:0001337", {"source": "report", "probability": 0.895}),
]


@pytest.fixture
def kg(memory_store):
    memory_store.write(EXTRAS)
    return memory_store


def snapshot(store):
    nodes = sorted((n.type, n.id, repr(sorted(n.props.items()))) for n in store.iter_nodes())
    edges = sorted((e.type, e.src, e.dst, repr(sorted(e.props.items()))) for e in store.iter_edges())
    return nodes, edges


def reimport(path, schema):
    store = MemoryStore(schema)
    store.write(read_rdf(path, schema))
    return store


def test_curie_iri_round_trip():
    schema = core_schema()
    assert curie_to_iri("MONDO:0005180", schema) == f"{OBO}MONDO_0005180"
    assert curie_to_iri("ORPHA:2828", schema) == "http://www.orpha.net/ORDO/Orphanet_2828"
    assert curie_to_iri("LOINC:1988-5", schema) == "https://loinc.org/1988-5"
    for curie in ("MONDO:0005180", "NCBIGene:1080", "ATC:J01FA", "PATIENT:case-1.a", "DRUGBANK:DB01211"):
        assert iri_to_curie(curie_to_iri(curie, schema), schema) == curie
    assert iri_to_curie("http://example.org/x", schema) is None


def test_turtle_round_trip_gives_the_same_graph(kg, tmp_path):
    path = to_rdf(kg, tmp_path / "kg.ttl")
    back = reimport(path, kg.schema)
    assert snapshot(back) == snapshot(kg)
    pd = back.node("MONDO:0005180")
    assert pd.props["synonyms"] == ["paralysis agitans", "PD; idiopathic", "Parkinson's disease"]  # order kept
    assert back.node("HP:0001337").props["ic"] == 0.1 + 0.2  # 0.30000000000000004, exactly
    assert back.counts().to_dict() == kg.counts().to_dict()


@pytest.mark.filterwarnings("ignore:ConjunctiveGraph is deprecated:DeprecationWarning")  # rdflib's JSON-LD parser
@pytest.mark.parametrize("fmt, suffix", [("xml", "rdf"), ("nt", "nt"), ("json-ld", "jsonld")])
def test_other_formats_round_trip(kg, tmp_path, fmt, suffix):
    path = to_rdf(kg, tmp_path / f"kg.{suffix}", format=fmt)
    assert snapshot(reimport(path, kg.schema)) == snapshot(kg)


def test_streamed_turtle_equals_the_rdflib_graph(kg, tmp_path):
    streamed = Graph().parse(to_rdf(kg, tmp_path / "kg.ttl"), format="turtle")
    assert isomorphic(streamed, to_rdf_graph(kg))


def test_shape_of_nodes_and_edges(kg, tmp_path):
    g = Graph().parse(to_rdf(kg, tmp_path / "kg.ttl"), format="turtle")
    pd, tremor = URIRef(f"{OBO}MONDO_0005180"), URIRef(f"{OBO}HP_0001337")
    assert (pd, RDF.type, KGDX.Disease) in g
    assert (pd, KGDX.name, Literal('Parkinson "idiopathic" disease')) in g
    assert (pd, KGDX.HAS_PHENOTYPE, tremor) in g  # the plain triple, for SPARQL paths
    st = URIRef(edge_iri(Edge("HAS_PHENOTYPE", "MONDO:0005180", "HP:0001337")))
    assert str(st) == "https://kgdx.dev/edge/MONDO:0005180/HAS_PHENOTYPE/HP:0001337"
    assert set(g.predicate_objects(st)) >= {
        (RDF.type, RDF.Statement),
        (RDF.subject, pd),
        (RDF.predicate, KGDX.HAS_PHENOTYPE),
        (RDF.object, tremor),
        (KGDX.source, Literal("HPO phenotype.hpoa 2024-04-26: PMID:123;PMID:456")),
    }
    freq = g.value(st, KGDX.frequency)
    assert freq.datatype == URIRef("http://www.w3.org/2001/XMLSchema#double") and freq.toPython() == 1e-05
    treats = URIRef(edge_iri(Edge("TREATS", "DRUGBANK:DB01211", "MONDO:0005249")))
    assert g.value(treats, KGDX.line).toPython() == 1
    text = (tmp_path / "kg.ttl").read_text()
    assert "@prefix MONDO: <http://purl.obolibrary.org/obo/MONDO_> ." in text
    assert "MONDO:0005180 a kgdx:Disease ;" in text


def test_symmetric_edges_are_written_once(kg, tmp_path):
    g = Graph().parse(to_rdf(kg, tmp_path / "kg.ttl"), format="turtle")
    assert len(list(g.subject_objects(KGDX.INTERACTS_WITH))) == 3


def test_missing_iri_base_is_a_schema_error_naming_the_prefix(tmp_path):
    data = core_schema().to_dict()
    del data["prefixes"]["UBERON"]
    schema = Schema.from_dict(data)
    with pytest.raises(SchemaError, match="'UBERON'") as e:
        check_prefixes(schema)
    assert e.value.field == "prefixes.UBERON"
    store = MemoryStore(schema)
    with pytest.raises(SchemaError, match="'UBERON'"):
        to_rdf(store, tmp_path / "kg.ttl")
    assert not (tmp_path / "kg.ttl").exists()


def test_export_of_an_empty_store_reads_back_empty(tmp_path):
    store = MemoryStore(core_schema())
    kg = read_rdf(to_rdf(store, tmp_path / "empty.ttl"), store.schema)
    assert kg.nodes == [] and kg.edges == []


def test_control_characters_survive_turtle(tmp_path):
    store = MemoryStore(core_schema())
    store.write([Node("Phenotype", "HP:0001337", {"name": "Tremor\x07\x7f", "synonyms": ['a\\"b', ""]})])
    back = reimport(to_rdf(store, tmp_path / "kg.ttl"), store.schema)
    assert snapshot(back) == snapshot(store)
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "kg.ttl").stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's private 0600
