"""The HTTP API on the tiny KG."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from kgdx.reasoning.checkpoint import load_checkpoint
from kgdx.reasoning.diagnoser import Diagnoser


@pytest.fixture
def client(tiny_store, tiny_trained, monkeypatch, tmp_path):
    """A client of the API on the tiny KG, holding a valid API key."""
    from kgdx.app import api
    from kgdx.app.api_keys import add_key
    from kgdx.settings import get_settings

    monkeypatch.setenv("KGDX_HOME", str(tmp_path / "home"))
    get_settings.cache_clear()
    _, key = add_key("tests")
    model, _ = load_checkpoint(tiny_trained[0] / "best.pt")
    dx = Diagnoser(tiny_store, model)
    monkeypatch.setattr(api, "_diagnoser", lambda: dx)
    api._case_builder.cache_clear()
    api.limiter.reset()
    yield TestClient(api.app, headers={"Authorization": f"Bearer {key}"})
    get_settings.cache_clear()


def test_kg_endpoints(client):
    assert client.get("/kg/stats").json()["total_nodes"] == 23
    assert client.get("/kg/nodes/HP:0006520").json()["id"] == "HP:0002090"
    assert client.get("/kg/nodes/HP:0000000").status_code == 404
    assert client.get("/kg/lookup", params={"q": "GGO"}).json()[0]["id"] == "HP:0025179"
    nbs = client.get(
        "/kg/nodes/MONDO:0100096/neighbours", params={"rel_type": "HAS_PHENOTYPE", "direction": "out"}
    ).json()
    assert len(nbs) == 3 and all("source" in nb["edge"] for nb in nbs)
    inter = client.get("/kg/drugs/interactions", params={"ids": ["DRUGBANK:DB00682", "DRUGBANK:DB01211"]}).json()
    assert inter[0]["severity"] == "major"


def test_diagnose(client):
    r = client.post(
        "/diagnose",
        json={
            "observed": ["HP:0025179", "HP:0001945"],
            "excluded": ["HP:0002105"],
            "drugs": ["DRUGBANK:DB00682"],
            "k": 2,
        },
    )
    assert r.status_code == 200, r.text
    doc = r.json()
    assert len(doc["diseases"]) == 2 and doc["explanation"]["validity"] == 1.0
    assert all(d["safe"] for d in doc["drugs"])


def test_bad_input_is_400(client):
    r = client.post("/diagnose", json={"observed": ["HP:9999999"]})
    assert r.status_code == 400 and r.json()["error"] == "DataError"
