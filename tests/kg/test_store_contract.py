"""The store contract: every operation and named query, on both stores, with the same answers.

Tests that take the ``store`` fixture run once on the in-memory store and once on the real
Neo4j server (marked ``neo4j``). ``test_both_stores_agree`` then compares every named query
between the two directly.
"""

from __future__ import annotations

import pytest

from kgdx.errors import RecordError, StoreError
from kgdx.kg.records import Edge, Node
from kgdx.kg.testing import tiny_kg_records

TINY_COUNTS = {
    "nodes": {"Disease": 4, "Drug": 4, "DrugClass": 2, "Gene": 1, "LabTest": 1, "Phenotype": 11},
    "relationships": {
        "ASSOCIATED_WITH": 1,
        "CONTRAINDICATED_IN": 1,
        "EXCLUDES_PHENOTYPE": 1,
        "HAS_PHENOTYPE": 12,
        "INDICATES": 1,
        "INTERACTS_WITH": 3,
        "IN_CLASS": 1,
        "IS_A": 12,
        "TREATS": 2,
    },
}


def test_counts(store):
    c = store.counts().to_dict()
    assert c["nodes"] == TINY_COUNTS["nodes"]
    assert c["relationships"] == TINY_COUNTS["relationships"]
    assert c["total_nodes"] == 23 and c["total_relationships"] == 34


def test_write_is_idempotent(store):
    report = store.write(tiny_kg_records())
    assert (report.nodes, report.edges) == (23, 34)
    assert store.counts().to_dict()["relationships"] == TINY_COUNTS["relationships"]
    assert store.counts().total_nodes == 23


def test_rewrite_merges_properties(store):
    store.write(
        [
            Node("Phenotype", "HP:0012735", {"name": "Cough", "definition": "Sudden expulsion of air."}),
            Edge("HAS_PHENOTYPE", "MONDO:0005249", "HP:0012735", {"source": "second source", "frequency": 0.9}),
        ]
    )
    n = store.node("HP:0012735")
    assert n.props == {"name": "Cough", "definition": "Sudden expulsion of air."}
    [nb] = [nb for nb in store.disease_phenotypes("MONDO:0005249") if nb.node.id == "HP:0012735"]
    assert nb.edge.props == {"source": "second source", "frequency": 0.9}


def test_bad_record_writes_nothing(store):
    before = store.counts().to_dict()
    bad = [
        Node("Phenotype", "HP:0099999", {"name": "new"}),
        Edge("HAS_PHENOTYPE", "MONDO:0005249", "HP:0099999", {"source": "x"}),
        Edge("HAS_PHENOTYPE", "HP:0012735", "MONDO:0005249", {"source": "x"}),
    ]  # wrong direction
    with pytest.raises(RecordError, match="cannot join Phenotype to Disease"):
        store.write(bad)
    with pytest.raises(RecordError, match="neither in this load nor in the store"):
        store.write([Edge("TREATS", "DRUGBANK:DB00682", "MONDO:0000001", {"source": "x"})])
    assert store.counts().to_dict() == before
    assert store.node("HP:0099999") is None


def test_node_by_id_and_alt_id(store):
    assert store.node("HP:0002090").props["name"] == "Pneumonia"
    assert store.node("HP:0006520").id == "HP:0002090"  # an alternative id
    assert store.node("HP:0000000") is None


def test_lookup(store):
    assert [n.id for n in store.lookup("ground glass opacity")] == ["HP:0025179"]
    assert [n.id for n in store.lookup("  PNEUMONIA ")] == ["MONDO:0005249", "HP:0002090"]
    ids = [(n.type, n.id) for n in store.lookup("pneumonia")]
    assert ids == [("Disease", "MONDO:0005249"), ("Phenotype", "HP:0002090")]
    assert [n.id for n in store.lookup("pneumonia", types=["Phenotype"])] == ["HP:0002090"]
    assert [n.id for n in store.lookup("HP:0006520")] == ["HP:0002090"]
    assert store.lookup("no such thing") == []
    # Lucene syntax and punctuation are plain text here, in both stores.
    for text in ('"', "!!!", "cough OR pneumonia", "pneumon*", "(cough)", 'cough"', "\\"):
        assert store.lookup(text) == [], text


def test_neighbours(store):
    out = store.neighbours("HP:0002090", direction="out")
    assert [(nb.edge.type, nb.node.id) for nb in out] == [("IS_A", "HP:0002088")]
    inn = store.neighbours("HP:0002090", direction="in")
    assert [(nb.edge.type, nb.node.id) for nb in inn] == [
        ("HAS_PHENOTYPE", "MONDO:0005249"),
        ("HAS_PHENOTYPE", "OMIM:219700"),
    ]
    both = store.neighbours("HP:0002090", node_types=["Disease"])
    assert [nb.node.id for nb in both] == ["MONDO:0005249", "OMIM:219700"]
    assert store.neighbours("HP:0000000") == []


def test_disease_phenotypes(store):
    got = [(nb.node.id, nb.edge.props["frequency"]) for nb in store.disease_phenotypes("MONDO:0100096")]
    assert got == [("HP:0001945", 0.7), ("HP:0012735", 0.6), ("HP:0025179", 0.8)]


def test_phenotype_diseases(store):
    assert [nb.node.id for nb in store.phenotype_diseases("HP:0012735")] == [
        "MONDO:0005249",
        "MONDO:0008903",
        "MONDO:0100096",
        "OMIM:219700",
    ]


def test_drug_queries(store):
    assert [nb.node.id for nb in store.drug_indications("DRUGBANK:DB01211")] == ["MONDO:0005249"]
    [ci] = store.drug_contraindications("DRUGBANK:DB00682")
    assert ci.node.id == "HP:0002105" and ci.edge.props["severity"] == "relative"


def test_interactions(store):
    got = store.interactions(["DRUGBANK:DB00682", "DRUGBANK:DB01211", "DRUGBANK:DB00277"])
    assert [(e.src, e.dst, e.props["severity"]) for e in got] == [
        ("DRUGBANK:DB00277", "DRUGBANK:DB01211", "major"),
        ("DRUGBANK:DB00682", "DRUGBANK:DB01211", "major"),  # stored once, ordered by id
    ]
    assert store.interactions(["DRUGBANK:DB00682"]) == []


def test_evidence_paths(store):
    paths = store.evidence_paths(["HP:0025179", "HP:0002088"], "MONDO:0100096", max_hops=2)
    assert [p.ids for p in paths] == [
        ("HP:0025179", "MONDO:0100096"),
        ("HP:0002088", "HP:0025179", "MONDO:0100096"),
    ]
    first = paths[0]
    assert first.edges[0].type == "HAS_PHENOTYPE" and first.edges[0].src == "MONDO:0100096"
    assert first.edges[0].props["frequency"] == 0.8
    three = store.evidence_paths(["HP:0002088"], "MONDO:0100096", max_hops=3, rel_types=["IS_A", "HAS_PHENOTYPE"])
    assert ("HP:0002088", "HP:0025179", "MONDO:0100096") in [p.ids for p in three]
    assert all(len(set(p.ids)) == len(p.ids) for p in three)
    assert store.evidence_paths(["HP:0002105"], "MONDO:0100096", max_hops=1) == []
    with pytest.raises(StoreError, match="max_hops"):
        store.evidence_paths(["HP:0002105"], "MONDO:0100096", max_hops=9)


def test_subgraph(store):
    nodes, edges = store.subgraph(["MONDO:0100096"], hops=1)
    assert [n.id for n in nodes] == [
        "DRUGBANK:DB15661",
        "HP:0001945",
        "HP:0012735",
        "HP:0025179",
        "MONDO:0005249",
        "MONDO:0100096",
    ]
    assert ("DRUGBANK:DB15661", "TREATS", "MONDO:0100096") in [(e.src, e.type, e.dst) for e in edges]
    nodes2, edges2 = store.subgraph(["MONDO:0100096"], hops=1, rel_types=["HAS_PHENOTYPE"])
    assert [n.id for n in nodes2] == ["HP:0001945", "HP:0012735", "HP:0025179", "MONDO:0100096"]
    assert {e.type for e in edges2} == {"HAS_PHENOTYPE"}
    assert store.subgraph(["MONDO:0100096"], hops=0)[0][0].id == "MONDO:0100096"


def test_iter_and_delete(store):
    assert sorted(n.id for n in store.iter_nodes("Drug")) == [
        "DRUGBANK:DB00277",
        "DRUGBANK:DB00682",
        "DRUGBANK:DB01211",
        "DRUGBANK:DB15661",
    ]
    assert len(list(store.iter_edges("HAS_PHENOTYPE"))) == 12
    store.delete(edge_keys=[("DRUGBANK:DB01211", "TREATS", "MONDO:0005249")], node_ids=["DRUGBANK:DB15661"])
    c = store.counts().to_dict()
    assert "TREATS" not in c["relationships"]  # one deleted by key, one with its drug
    assert c["relationships"]["INTERACTS_WITH"] == 2  # the deleted drug's edges went with it
    assert store.node("DRUGBANK:DB15661") is None


def test_clear(store):
    store.clear()
    assert store.counts().total_nodes == 0


#: Cystic fibrosis under three ids, plus a twin that must not join (two OMIM ids in one class is
#: what the build refuses, but the query itself just follows the edges).
_EQUIVALENCES = [
    Node("Disease", "ORPHA:586", {"name": "Cystic fibrosis"}),
    Node("Disease", "MONDO:0009061", {"name": "cystic fibrosis"}),
    Node("Disease", "DECIPHER:99", {"name": "Unrelated syndrome"}),
    Edge("EQUIVALENT_TO", "OMIM:219700", "ORPHA:586", {"source": "test", "via": "MONDO:0009061"}),
    Edge("EQUIVALENT_TO", "ORPHA:586", "MONDO:0009061", {"source": "test"}),
]


def test_equivalence_class(store):
    assert [n.id for n in store.equivalence_class("OMIM:219700")] == ["OMIM:219700"]
    store.write(_EQUIVALENCES)
    members = ["MONDO:0009061", "OMIM:219700", "ORPHA:586"]
    for member in members:
        got = store.equivalence_class(member)
        assert [n.id for n in got] == members
        assert got[1].props == {"name": "Cystic fibrosis"}
    # Symmetric: stored once per unordered pair, whichever way it was written.
    [e] = [nb.edge for nb in store.neighbours("OMIM:219700", rel_types=["EQUIVALENT_TO"])]
    assert (e.src, e.dst, e.props) == ("OMIM:219700", "ORPHA:586", {"source": "test", "via": "MONDO:0009061"})
    assert [n.id for n in store.equivalence_class("DECIPHER:99")] == ["DECIPHER:99"]
    assert store.equivalence_class("ORPHA:999999") == []
    # A cycle of edges still gives each member once.
    store.write([Edge("EQUIVALENT_TO", "MONDO:0009061", "OMIM:219700", {"source": "test"})])
    assert [n.id for n in store.equivalence_class("ORPHA:586")] == members


def test_equivalence_classes_from_edges(store):
    from kgdx.kg.equivalence import equivalence_classes

    store.write(_EQUIVALENCES)
    classes = equivalence_classes(store.iter_edges("EQUIVALENT_TO"))
    assert classes == {i: ("MONDO:0009061", "OMIM:219700", "ORPHA:586") for i in classes}
    assert set(classes) == {"MONDO:0009061", "OMIM:219700", "ORPHA:586"}


NAMED_QUERIES = [
    ("node", ("HP:0006520",), {}),
    ("lookup", ("cough",), {}),
    ("neighbours", ("MONDO:0005249",), {}),
    ("neighbours", ("HP:0002086",), {"direction": "in", "rel_types": ["IS_A"]}),
    ("disease_phenotypes", ("OMIM:219700",), {}),
    ("phenotype_diseases", ("HP:0002202",), {}),
    ("drug_indications", ("DRUGBANK:DB15661",), {}),
    ("drug_contraindications", ("DRUGBANK:DB00682",), {}),
    ("interactions", (["DRUGBANK:DB00682", "DRUGBANK:DB15661", "DRUGBANK:DB01211"],), {}),
    ("evidence_paths", (["HP:0002086", "HP:0001945"], "MONDO:0005249"), {"max_hops": 3}),
    ("subgraph", (["HP:0002202"],), {"hops": 2}),
    ("equivalence_class", ("OMIM:219700",), {}),
]


@pytest.mark.neo4j
@pytest.mark.parametrize(
    ("name", "args", "kwargs"), NAMED_QUERIES, ids=[f"{q[0]}-{i}" for i, q in enumerate(NAMED_QUERIES)]
)
def test_both_stores_agree(memory_store, neo4j_store, name, args, kwargs):
    mem = getattr(memory_store, name)(*args, **kwargs)
    neo = getattr(neo4j_store, name)(*args, **kwargs)
    assert neo == mem
    assert mem  # every query in the list has an answer on the tiny KG
