"""Neo4j-only behaviour, against the real server: the read-only Cypher path, constraints,
migrations and loads that are interrupted and run again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

import kgdx.kg.queries as Q
from kgdx.errors import ReadOnlyQueryError, StoreError
from kgdx.kg.records import Edge, Node
from kgdx.kg.schema import Schema, core_schema

pytestmark = pytest.mark.neo4j

# Every statement here must be refused on the read-only path and change nothing.
FORBIDDEN = [
    "CREATE (n:Evil) RETURN n",
    "MERGE (n:KgdxNode {id: 'HP:0000001'})",
    "MATCH (n) DETACH DELETE n",
    "MATCH (n:Phenotype) SET n.name = 'changed'",
    "MATCH (n:Phenotype) REMOVE n.name",
    "MATCH (n:Phenotype) SET n:Evil",
    "FOREACH (x IN [1] | CREATE (:Evil))",
    "CREATE INDEX evil FOR (n:Phenotype) ON (n.evil)",
    "DROP CONSTRAINT kgdx_phenotype_id",
    "CREATE CONSTRAINT evil FOR (n:Evil) REQUIRE n.id IS UNIQUE",
    "CREATE DATABASE evil",
    "STOP DATABASE neo4j",
    "CREATE USER evil SET PASSWORD 'a-long-password'",
    "SHOW USERS",
    "TERMINATE TRANSACTIONS 'neo4j-transaction-1'",
    "LOAD CSV FROM 'file:///etc/passwd' AS row RETURN row",
    "LOAD CSV WITH HEADERS FROM 'file:///etc/hosts' AS row CREATE (:Evil {x: row})",
    "MATCH (n:Phenotype) CALL (n) { SET n.evil = 1 } IN TRANSACTIONS",
    "CALL { MATCH (n) RETURN count(n) AS c } IN TRANSACTIONS RETURN c",
    "CALL db.createLabel('Evil')",
    "CALL db.createProperty('evil')",
    "CALL db.createRelationshipType('EVIL')",
    "CALL db.clearQueryCaches()",
]
# These need APOC; they run when the server has it (the harness launcher loads APOC core).
FORBIDDEN_APOC = [
    "CALL apoc.create.node(['Evil'], {})",
    "CALL apoc.cypher.doIt('CREATE (n:Evil) RETURN n', {})",
    "CALL apoc.periodic.iterate('MATCH (n) RETURN n', 'SET n.evil = 1', {})",
    "CALL apoc.load.json('file:///etc/hosts')",
]


def _fingerprint(store) -> str:
    labels = store._read("CALL db.labels() YIELD label RETURN collect(label) AS l")[0]["l"]
    names = store._read("MATCH (n:Phenotype) RETURN collect(n.name + coalesce(toString(n.evil), '')) AS n")[0]["n"]
    constraints = store._read("SHOW CONSTRAINTS YIELD name RETURN collect(name) AS c")[0]["c"]
    return json.dumps([store.counts().to_dict(), sorted(labels), sorted(names), sorted(constraints)])


def test_write_statements_are_refused_and_change_nothing(neo4j_store):
    has_apoc = bool(
        neo4j_store._read("SHOW PROCEDURES YIELD name WHERE name STARTS WITH 'apoc.' RETURN count(*) AS n")[0]["n"]
    )
    before = _fingerprint(neo4j_store)
    for query in FORBIDDEN + (FORBIDDEN_APOC if has_apoc else []):
        with pytest.raises(ReadOnlyQueryError, match="read-only Cypher path refuses"):
            neo4j_store.cypher(query, timeout=10)
        assert _fingerprint(neo4j_store) == before, query
    assert "Evil" not in before


def test_read_queries_run_with_row_cap(neo4j_store):
    r = neo4j_store.cypher("MATCH (p:Phenotype) RETURN p.id AS id ORDER BY id", max_rows=3)
    assert r.columns == ["id"]
    assert r.rows == [["HP:0000118"], ["HP:0001945"], ["HP:0002086"]]
    assert r.truncated
    r = neo4j_store.cypher(
        "MATCH (d:Disease {id: $id})-[:HAS_PHENOTYPE]->(p) RETURN d, count(p) AS n", {"id": "MONDO:0100096"}
    )
    assert r.rows[0][0]["labels"] == ["Disease"] and r.rows[0][0]["id"] == "MONDO:0100096"
    assert r.rows[0][1] == 3 and not r.truncated


def test_timeout_and_bad_syntax(neo4j_store):
    with pytest.raises(StoreError, match="timeout"):
        neo4j_store.cypher("UNWIND range(1, 1000000000) AS x WITH x WHERE x < 0 RETURN count(x)", timeout=0.5)
    with pytest.raises(StoreError, match="invalid query"):
        neo4j_store.cypher("MATCH (n RETURN n")
    with pytest.raises(StoreError, match="empty"):
        neo4j_store.cypher("  ")


def test_constraints_and_indexes_follow_the_schema(neo4j_store):
    names = {r["name"] for r in neo4j_store._read("SHOW CONSTRAINTS YIELD name RETURN name")}
    assert {f"kgdx_{label.lower()}_id" for label in core_schema().node_types} <= names
    indexes = {r["name"] for r in neo4j_store._read("SHOW INDEXES YIELD name RETURN name")}
    assert {"kgdx_node_id", "kgdx_node_lookup", "kgdx_phenotype_text", "kgdx_disease_name"} <= indexes
    hits = neo4j_store._read(
        "CALL db.index.fulltext.queryNodes('kgdx_phenotype_text', 'glass') YIELD node RETURN node.id AS id"
    )
    assert [h["id"] for h in hits] == ["HP:0025179"]


def test_migration_adds_constraints_for_new_types(neo4j_store):
    module = Schema.from_dict(
        {
            "name": "demo",
            "version": "1",
            "node_types": {
                "Assessment": {
                    "id_prefixes": ["DEMOA"],
                    "id_pattern": r"^DEMOA:\d+$",
                    "properties": {"name": {"type": "str", "required": True}},
                }
            },
            "relationship_types": {"ASSESSED_BY": {"source": ["Disease"], "target": ["Assessment"]}},
        },
        partial=True,
    )
    neo4j_store.migrate(core_schema().merge(module))
    names = {r["name"] for r in neo4j_store._read("SHOW CONSTRAINTS YIELD name RETURN name")}
    assert "kgdx_assessment_id" in names
    neo4j_store.write(
        [
            Node("Assessment", "DEMOA:1", {"name": "scale"}),
            Edge("ASSESSED_BY", "MONDO:0005249", "DEMOA:1", {"source": "test"}),
        ]
    )
    assert neo4j_store.counts().relationships["ASSESSED_BY"] == 1
    neo4j_store.clear()
    neo4j_store._autocommit("DROP CONSTRAINT kgdx_assessment_id IF EXISTS")


def test_lookup_uses_the_index_and_scans_without_it(neo4j_store):
    rows = neo4j_store._read(Q.LOOKUP, text="Cough", norm="cough", phrase=Q.lucene_phrase("Cough"))
    assert [r["props"]["id"] for r in rows] == ["HP:0012735"]
    neo4j_store._autocommit(f"DROP INDEX {Q.LOOKUP_INDEX}")
    try:
        assert [n.id for n in neo4j_store.lookup("Cough")] == ["HP:0012735"]
    finally:
        neo4j_store.ensure_schema()
    assert [n.id for n in neo4j_store.lookup("cough")] == ["HP:0012735"]


def _generated(n_nodes: int, n_edges: int) -> list:
    nodes = [Node("Phenotype", f"HP:{i:07d}", {"name": f"term {i}"}) for i in range(n_nodes)]
    edges = [
        Edge("IS_A", f"HP:{i:07d}", f"HP:{(i * 7919 + k) % n_nodes:07d}", {"source": "generated"})
        for i in range(1, n_nodes)
        for k in range(n_edges // n_nodes + 1)
    ]
    edges = [e for e in edges if e.src != e.dst][:n_edges]
    return nodes + edges


def test_interrupted_load_then_rerun_gives_exact_counts(empty_neo4j, monkeypatch):
    records = _generated(3000, 12000)
    expected = empty_neo4j.prepare(records)
    empty_neo4j.batch_size = 1000
    calls = {"n": 0}
    real = empty_neo4j._write_tx

    def drop_after_some(query, **params):
        calls["n"] += 1
        if calls["n"] == 8:
            raise StoreError("Neo4j write failed: connection dropped")
        return real(query, **params)

    monkeypatch.setattr(empty_neo4j, "_write_tx", drop_after_some)
    with pytest.raises(StoreError, match="connection dropped"):
        empty_neo4j.write(records)
    partial = empty_neo4j.counts()
    assert 0 < partial.total_nodes + partial.total_relationships < 3000 + len(expected[1])
    monkeypatch.setattr(empty_neo4j, "_write_tx", real)
    empty_neo4j.write(records)
    empty_neo4j.write(records)  # and once more: still no duplicates
    c = empty_neo4j.counts()
    assert c.nodes == {"Phenotype": 3000}
    assert c.relationships == {"IS_A": len(expected[1])}


_LOADER = """
import sys
from kgdx.kg.neo4j_store import Neo4jStore
from kgdx.kg.schema import core_schema
sys.path.insert(0, {tests!r})
from test_neo4j_store import _generated
store = Neo4jStore.from_settings(core_schema())
store.batch_size = 500
store.write(_generated(4000, 40000))
"""


def test_killed_load_then_rerun_gives_exact_counts(empty_neo4j):
    code = _LOADER.format(tests=os.path.dirname(__file__))
    proc = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.time() + 120
    try:
        while time.time() < deadline:  # kill it mid-way, after the first edges are committed
            if empty_neo4j.counts().relationships.get("IS_A", 0) > 0:
                break
            if proc.poll() is not None:
                pytest.fail("the loader finished before it could be killed")
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    partial = empty_neo4j.counts().relationships.get("IS_A", 0)
    records = _generated(4000, 40000)
    n_edges = len(empty_neo4j.prepare(records)[1])
    assert 0 < partial < n_edges
    empty_neo4j.write(records)
    c = empty_neo4j.counts()
    assert c.nodes == {"Phenotype": 4000}
    assert c.relationships == {"IS_A": n_edges}


def test_explanations_are_verified_by_their_own_cypher(neo4j_store, tiny_trained):
    """On Neo4j, "verified" means the path's own Cypher returned it; a path that is not in the
    database is not verified, however its edges look."""
    from kgdx.ingest.case import Finding, PatientCase
    from kgdx.reasoning.checkpoint import load_checkpoint
    from kgdx.reasoning.diagnoser import Diagnoser

    model, _ = load_checkpoint(tiny_trained[0] / "best.pt")
    dx = Diagnoser(neo4j_store, model)
    case = PatientCase("p1", observed=[Finding("HP:0025179"), Finding("HP:0001945"), Finding("HP:0012735")])
    e = dx.explain(dx.rank(case, k=3), top=3)
    paths = [p for d in e.diseases for p in d.paths]
    assert paths and e.validity == 1.0 and e.verify(neo4j_store) == 1.0
    p = paths[0]
    p.nodes[-1] = p.nodes[-1].__class__(p.nodes[-1].type, "MONDO:0000000", {"name": "not in the KG"})
    assert e.verify(neo4j_store) < 1.0
