"""The LangChain tools and the path retriever on the tiny KG."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("langchain_core")

from kgdx.app.llm.case_input import CaseInput, parse_case_text
from kgdx.app.llm.retriever import KGPathRetriever
from kgdx.app.llm.tools import KgdxToolkit
from kgdx.errors import DataError

CASE = {"observed": ["HP:0025179", "HP:0001945", "HP:0012735"], "excluded": ["HP:0002105"]}


@pytest.fixture(scope="module")
def tools(tiny_dx):
    return {t.name: t for t in KgdxToolkit(tiny_dx).get_tools()}


def test_the_toolkit_has_five_tools(tools, tiny_dx):
    assert sorted(tools) == ["kgdx_cypher", "kgdx_diagnose", "kgdx_explain", "kgdx_lookup", "kgdx_suggest_drugs"]
    assert "observed" in tools["kgdx_diagnose"].args and "disease_id" in tools["kgdx_explain"].args
    assert repr(KgdxToolkit(tiny_dx)).endswith("cypher=no)")


def test_diagnose(tools):
    doc = json.loads(tools["kgdx_diagnose"].invoke({**CASE, "k": 2}))
    assert [d["id"] for d in doc["diseases"]] == ["MONDO:0100096", "MONDO:0005249"]
    assert 0 < doc["diseases"][1]["probability"] < doc["diseases"][0]["probability"] < 1


def test_explain_a_disease_below_the_top(tools):
    doc = json.loads(tools["kgdx_explain"].invoke({**CASE, "disease_id": "MONDO:0005249"}))
    assert doc["id"] == "MONDO:0005249" and doc["rank"] == 2
    paths = doc["supports"] + doc["against"]
    assert paths and all(p["verified"] and p["cypher"].startswith("MATCH p = ") for p in paths)
    assert doc["paragraph"].startswith("Pneumonia (MONDO:0005249) ranks second")


def test_suggest_drugs_flags_the_unsafe(tools):
    drugs = {
        d["drug"]: d for d in json.loads(tools["kgdx_suggest_drugs"].invoke({**CASE, "drugs": ["DRUGBANK:DB00682"]}))
    }
    assert not drugs["DRUGBANK:DB15661"]["safe"]
    assert drugs["DRUGBANK:DB15661"]["issues"][0]["kind"] == "interaction"


def test_lookup(tools):
    assert json.loads(tools["kgdx_lookup"].invoke({"query": "GGO"}))[0]["id"] == "HP:0025179"


def test_user_errors_come_back_as_one_line(tools):
    # the agent sees the message and can correct itself; nothing is raised into the chain
    out = tools["kgdx_diagnose"].invoke({"observed": ["fever"]})
    assert out == "'observed' holds 'fever', which is not an HPO id like HP:0001945"
    out = tools["kgdx_explain"].invoke({**CASE, "disease_id": "MONDO:9999999"})
    assert out == "disease_id: 'MONDO:9999999' is not a disease in the KG"
    assert "needs the Neo4j store" in tools["kgdx_cypher"].invoke({"query": "MATCH (n) RETURN n LIMIT 1"})


def test_case_input_checks_up_front():
    with pytest.raises(DataError, match="give at least one of"):
        CaseInput.parse({})
    with pytest.raises(DataError, match="unknown_field"):
        CaseInput.parse({"observed": ["HP:0001945"], "unknown_field": 1})
    c = parse_case_text("Fever and cough. HP:0025179, not HP:0002105")
    assert (c.observed, c.excluded, c.note) == (["HP:0025179"], ["HP:0002105"], "Fever and cough. ,")


def test_the_retriever_returns_verified_paths_with_cypher_and_sources(tiny_dx):
    docs = KGPathRetriever(diagnoser=tiny_dx, diseases=2).invoke("HP:0025179 HP:0001945 HP:0012735 not HP:0002105")
    assert docs and {d.metadata["disease_id"] for d in docs} == {"MONDO:0100096", "MONDO:0005249"}
    for d in docs:
        m = d.metadata
        assert m["cypher"].startswith("MATCH p = ") and m["sources"] and m["claim"] in ("supports", "against")
        assert d.page_content.startswith(m["disease"])
    # every document is a path whose edges are in the KG
    for d in docs:
        ids = d.metadata["node_ids"]
        for (a, b), rel in zip(zip(ids, ids[1:]), d.metadata["relationships"]):
            ends = {nb.node.id for nb in tiny_dx.store.neighbours(a, rel_types=[rel])}
            assert b in ends
