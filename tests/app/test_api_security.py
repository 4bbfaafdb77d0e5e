"""The HTTP API's defences: API keys, rate limits, body and field limits, ceilings, logs."""

from __future__ import annotations

import json
import logging

import pytest
from fastapi.testclient import TestClient

from kgdx.app import api
from kgdx.app.api_keys import add_key, list_keys, revoke_key, verify_key
from kgdx.errors import ConfigError
from kgdx.settings import get_settings


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("KGDX_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("KGDX_API_ALLOW_LOOPBACK_WITHOUT_KEY", raising=False)
    get_settings.cache_clear()
    api.limiter.reset()
    yield tmp_path / "home"
    get_settings.cache_clear()


@pytest.fixture
def anonymous(home, tiny_store, monkeypatch):
    class _Dx:
        store = tiny_store

    monkeypatch.setattr(api, "_diagnoser", lambda: _Dx())
    return TestClient(api.app)


def test_keys_are_stored_hashed_and_private(home):
    record, key = add_key("notebook")
    text = (home / "api-keys.json").read_text()
    assert key not in text and record.sha256 in text
    assert (home / "api-keys.json").stat().st_mode & 0o777 == 0o600
    assert verify_key(key).id == record.id
    assert verify_key(key[:-1] + ("A" if key[-1] != "A" else "B")) is None
    assert verify_key("") is None and verify_key("kgdx_00000000_" + "x" * 43) is None
    with pytest.raises(ConfigError, match="already named"):
        add_key("notebook")
    revoke_key("notebook")
    assert verify_key(key) is None
    assert [k.active for k in list_keys()] == [False]
    with pytest.raises(ConfigError, match="no active API key"):
        revoke_key(record.id)


def test_every_endpoint_but_health_needs_a_key(anonymous, home):
    assert anonymous.get("/health").status_code == 200
    for method, path in [
        ("get", "/kg/stats"),
        ("get", "/kg/nodes/HP:0002090"),
        ("get", "/kg/lookup?q=cough"),
        ("post", "/diagnose"),
        ("post", "/kg/cypher"),
    ]:
        r = getattr(anonymous, method)(path)
        assert r.status_code == 401, (path, r.text)
        assert r.headers["www-authenticate"] == "Bearer" and "kgdx api keys add" in r.json()["message"]
    r = anonymous.get("/kg/stats", headers={"Authorization": "Bearer kgdx_deadbeef_" + "a" * 43})
    assert r.status_code == 401 and "invalid or revoked" in r.json()["message"]
    _, key = add_key("ok")
    assert anonymous.get("/kg/stats", headers={"X-API-Key": key}).status_code == 200
    assert anonymous.get("/kg/stats", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    revoke_key("ok")
    assert anonymous.get("/kg/stats", headers={"Authorization": f"Bearer {key}"}).status_code == 401


def test_loopback_without_a_key_only_when_opted_in(home, tiny_store, monkeypatch):
    class _Dx:
        store = tiny_store

    monkeypatch.setattr(api, "_diagnoser", lambda: _Dx())
    local = TestClient(api.app, client=("127.0.0.1", 5000))
    remote = TestClient(api.app, client=("203.0.113.9", 5000))
    assert local.get("/kg/stats").status_code == 401
    monkeypatch.setenv("KGDX_API_ALLOW_LOOPBACK_WITHOUT_KEY", "true")
    get_settings.cache_clear()
    assert local.get("/kg/stats").status_code == 200
    assert TestClient(api.app, client=("::1", 5000)).get("/kg/stats").status_code == 200
    assert remote.get("/kg/stats").status_code == 401


def test_rate_limit_per_key(anonymous, home):
    _, key = add_key("busy")
    _, other = add_key("quiet")
    limit = int(get_settings().api_rate_limit.split("/")[0])
    codes = [anonymous.get("/kg/stats", headers={"X-API-Key": key}).status_code for _ in range(limit + 1)]
    assert codes[:limit] == [200] * limit and codes[-1] == 429
    assert anonymous.get("/kg/stats", headers={"X-API-Key": other}).status_code == 200  # its own budget


def test_large_bodies_are_refused_before_reading(anonymous, home):
    _, key = add_key("k")
    headers = {"X-API-Key": key, "Content-Type": "application/json"}
    big = b'{"observed": [' + b'"HP:0000001",' * (api.MAX_BODY_BYTES // 12) + b'"HP:0000001"]}'
    r = anonymous.post("/diagnose", content=big, headers=headers)
    assert r.status_code == 413 and r.json()["error"] == "PayloadTooLarge"

    def chunks():  # no Content-Length: refused while it streams in
        for _ in range(api.MAX_BODY_BYTES // 65536 + 2):
            yield b" " * 65536

    r = anonymous.post("/diagnose", content=chunks(), headers=headers)
    assert r.status_code == 413


def test_lists_notes_and_nesting_are_bounded(anonymous, home):
    _, key = add_key("k")
    h = {"X-API-Key": key}
    r = anonymous.post("/diagnose", json={"observed": ["HP:0002090"] * (api.MAX_LIST + 1)}, headers=h)
    assert r.status_code == 422 and "observed" in r.json()["message"]
    r = anonymous.post("/diagnose", json={"note": "x" * (api.MAX_NOTE + 1)}, headers=h)
    assert r.status_code == 422 and "note" in r.json()["message"]
    r = anonymous.post("/diagnose", json={"observed": ["x" * 300]}, headers=h)
    assert r.status_code == 422
    deep = "[" * 5000 + "]" * 5000
    r = anonymous.post(
        "/diagnose", content=f'{{"phenopacket": {{"a": {deep}}}}}', headers={**h, "Content-Type": "application/json"}
    )
    assert r.status_code in (400, 422), r.text
    r = anonymous.post("/diagnose", json={"unknown_field": 1}, headers=h)
    assert r.status_code == 422


def test_cypher_caps_are_ceilings(anonymous, home):
    _, key = add_key("k")
    h = {"X-API-Key": key}
    s = get_settings()
    for field, value in [("max_rows", s.query_max_rows + 1), ("timeout_s", s.query_timeout_s + 1)]:
        r = anonymous.post("/kg/cypher", json={"query": "RETURN 1", field: value}, headers=h)
        # refused before any server is asked, whether or not Neo4j runs
        assert r.status_code == 400 and "may not exceed the server's cap" in r.json()["message"], r.text
    for field in ("max_rows", "timeout_s", "max_bytes"):
        assert anonymous.post("/kg/cypher", json={"query": "RETURN 1", field: 0}, headers=h).status_code == 422


def test_access_log_is_json_with_request_ids_and_no_patient_data(anonymous, home, caplog):
    _, key = add_key("k")
    secret_note = "Patient Jane Roe, DOB 1970-01-01, coughs"
    with caplog.at_level(logging.INFO, logger="kgdx.api.access"):
        r = anonymous.post(
            "/diagnose?name=Jane",
            json={"note": secret_note, "observed": ["HP:9999999"], "k": 0},
            headers={"X-API-Key": key, "X-Request-ID": "abc-123"},
        )
        anonymous.get("/kg/stats", headers={"X-API-Key": key})
    assert r.headers["x-request-id"] == "abc-123" and r.json()["request_id"] == "abc-123"
    lines = [json.loads(rec.getMessage()) for rec in caplog.records if rec.name == "kgdx.api.access"]
    assert lines[0]["request_id"] == "abc-123" and lines[0]["path"] == "/diagnose" and lines[0]["status"] == 422
    assert len(lines[1]["request_id"]) == 32 and lines[1]["key"] is not None
    text = caplog.text
    assert "Jane" not in text and "coughs" not in text and key not in text
