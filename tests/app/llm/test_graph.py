"""The Neo4jGraph-compatible view: domain schema only, read-only queries."""

from __future__ import annotations

import os

import pytest

pytest.importorskip("langchain_neo4j")

from kgdx.app.llm.graph import SCHEMA_GUIDE, KgdxGraph
from kgdx.errors import ConfigError, ReadOnlyQueryError, StoreError
from kgdx.kg.schema import core_schema


def test_the_schema_shows_domain_types_only(tiny_store):
    g = KgdxGraph(tiny_store)
    assert "KgdxNode" not in g.schema and "KgdxMeta" not in g.schema
    assert "(:Drug)-[:TREATS]->(:Disease)" in g.schema and "HAS_PHENOTYPE {source: STRING, frequency: FLOAT" in g.schema
    # types the KG holds no instance of (patients live in cases, not in the KG) are left out
    assert "Patient" not in g.schema and "Patient" in KgdxGraph(schema=core_schema()).schema
    assert g.schema.endswith(SCHEMA_GUIDE) and g.get_schema == g.schema
    rels = g.get_structured_schema["relationships"]
    assert {"start": "Gene", "type": "ASSOCIATED_WITH", "end": "Disease"} in rels
    assert set(g.structured_schema["node_props"]) == {
        "Anatomy",
        "Disease",
        "Drug",
        "DrugClass",
        "Gene",
        "LabTest",
        "Phenotype",
    } - {"Anatomy"}


def test_it_is_a_langchain_graph_store_and_read_only(tiny_store):
    from langchain_neo4j.graphs.graph_store import GraphStore

    g = KgdxGraph(tiny_store)
    assert isinstance(g, GraphStore)
    with pytest.raises(ReadOnlyQueryError, match="read-only"):
        g.add_graph_documents([])
    with pytest.raises(ConfigError, match="needs the Neo4j store"):
        g.query("MATCH (n) RETURN n LIMIT 1")
    with pytest.raises(ValueError, match="give a 'store' or a 'schema'"):
        KgdxGraph()


@pytest.mark.neo4j
def test_text_to_cypher_through_the_guard(neo4j_driver, tiny_records):
    """GraphCypherQAChain over the view on the real server: reads answer, writes are refused."""
    from langchain_core.language_models.fake_chat_models import FakeListChatModel
    from langchain_neo4j import GraphCypherQAChain

    from kgdx.kg.neo4j_store import Neo4jStore
    from kgdx.settings import Settings

    try:
        store = Neo4jStore.from_settings(core_schema(), Settings())
    except StoreError as e:
        pytest.skip(f"Neo4j not reachable: {e}")
    if store.get_meta("snapshot") and not (
        os.environ.get("CI") == "true" or os.environ.get("KGDX_TEST_ALLOW_CLEAR") == "1"
    ):
        store.close()
        pytest.skip("the Neo4j database holds a loaded KG; set KGDX_TEST_ALLOW_CLEAR=1 to let the tests wipe it")
    store.clear()
    store.write(tiny_records)
    try:
        g = KgdxGraph(store)
        assert "KgdxNode" not in g.schema and "(:Drug)-[:TREATS]->(:Disease)" in g.schema
        model = FakeListChatModel(
            responses=[
                "MATCH (d:Drug)-[:TREATS]->(:Disease {id: 'MONDO:0100096'}) RETURN d.name AS drug",
                "Nirmatrelvir treats COVID-19.",
            ]
        )
        chain = GraphCypherQAChain.from_llm(
            model, graph=g, allow_dangerous_requests=True, return_intermediate_steps=True
        )
        out = chain.invoke({"query": "What treats COVID-19?"})
        assert out["intermediate_steps"][1]["context"] == [{"drug": "Nirmatrelvir"}]
        writer = GraphCypherQAChain.from_llm(
            FakeListChatModel(responses=["MATCH (d:Drug) DETACH DELETE d"]), graph=g, allow_dangerous_requests=True
        )
        with pytest.raises(ReadOnlyQueryError):
            writer.invoke({"query": "Delete every drug."})
        assert g.query("MATCH (d:Drug) RETURN count(d) AS n") == [{"n": 4}]
    finally:
        store.close()
