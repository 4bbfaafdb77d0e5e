"""The read-only Cypher path against a battery of 250+ statements (kgdx.kg.cypher_battery), each
through the CLI, Python and HTTP, on the real Neo4j: 0 escapes, 0 database changes, and every
valid read works. A canary file catches any file read that gets through."""

from __future__ import annotations

import os

import pytest
from fastapi.testclient import TestClient

from benchmarks.lib.battery import GRACE_S, cli_entry, http_entry, make_canary, python_entry, run_battery
from kgdx.errors import StoreError
from kgdx.settings import get_settings

pytestmark = pytest.mark.neo4j


@pytest.fixture
def battery_env(tmp_path, monkeypatch, neo4j_driver, tiny_records):
    """The tiny KG in the real Neo4j, a Neo4jStore, an API client with a key, and a canary file."""
    from kgdx.app import api
    from kgdx.app.api_keys import add_key
    from kgdx.kg.neo4j_store import Neo4jStore
    from kgdx.kg.schema import core_schema

    settings = get_settings()
    user, password = settings.neo4j_auth()
    monkeypatch.setenv("KGDX_NEO4J_PASSWORD", password)  # KGDX_HOME moves below; the password stays
    monkeypatch.setenv("KGDX_HOME", str(tmp_path / "home"))
    get_settings.cache_clear()
    try:
        store = Neo4jStore.from_settings(core_schema())
    except StoreError as e:
        pytest.skip(f"Neo4j not reachable: {e}")
    if store.get_meta("snapshot") and not (
        os.environ.get("CI") == "true" or os.environ.get("KGDX_TEST_ALLOW_CLEAR") == "1"
    ):
        store.close()
        pytest.skip("the Neo4j database holds a loaded KG; set KGDX_TEST_ALLOW_CLEAR=1 to let the tests wipe it")
    store.clear()
    store.write(tiny_records)
    _, key = add_key("battery")
    api.limiter.enabled = False
    canary, line = make_canary(tmp_path)
    yield store, TestClient(api.app), key, canary, line
    api.limiter.enabled = True
    store.close()
    get_settings.cache_clear()


@pytest.mark.slow
def test_battery_has_no_escape_on_any_entry_point(battery_env, neo4j_driver):
    store, client, key, canary, line = battery_env
    entries = {"python": python_entry(store), "cli": cli_entry(), "http": http_entry(client, key)}
    report = run_battery(entries, neo4j_driver, canary, line, timeout=2.0)
    summary = report.summary()
    assert report.statements >= 200 and summary["entry_points"] == ["cli", "http", "python"]
    assert summary["escapes"] == 0, summary["escape_details"]
    assert summary["failed_reads"] == 0, summary["failed_read_details"]
    assert not report.database_changed
    assert report.leftover_transactions == 0 and not report.bystander_killed
    # the caps held for every bounded statement on every entry point (the same grace as an escape:
    # the CLI opens a fresh driver per statement, and CI's two cores are shared)
    assert summary["max_seconds_bounded"] < 2.0 + GRACE_S


def test_a_timed_out_query_is_an_error_and_caps_cut_big_results(battery_env):
    store, *_ = battery_env
    with pytest.raises(StoreError, match="timeout"):
        store.cypher(
            "UNWIND range(1, 1000000) AS x MATCH (a), (b) WITH x, a, b WHERE x < 0 RETURN count(*)", timeout=0.5
        )
    r = store.cypher("UNWIND range(1, 100000) AS i RETURN i, '" + "x" * 100 + "' AS pad", max_bytes=50_000)
    assert r.truncated and r.truncated_by == "bytes" and 0 < len(r.rows) < 500
    r = store.cypher("RETURN '" + "y" * 10_000 + "' AS one", max_bytes=1_000)
    assert r.truncated_by == "bytes" and r.rows == []  # one row over the cap is cut too
    with pytest.raises(StoreError, match="memory"):
        store.cypher(
            "UNWIND range(1, 1000000) AS i WITH collect(toString(i) + '" + "x" * 600 + "') AS c RETURN size(c)"
        )
    for bad in ({"max_rows": -1}, {"timeout": 0}, {"max_rows": 10**9}, {"timeout": 10**6}, {"max_bytes": 0}):
        with pytest.raises(StoreError):
            store.cypher("RETURN 1", **bad)
    assert store.cypher("RETURN 1 AS one").rows == [[1]]  # and the server still answers


def test_parameters_the_driver_cannot_send_are_one_error(battery_env):
    store, *_ = battery_env
    for params in ({"x": 2**70}, {"x": {1, 2}}, {"x": object()}):
        with pytest.raises(StoreError):
            store.cypher("RETURN $x AS x", params)
    with pytest.raises(StoreError, match="mapping"):
        store.cypher("RETURN 1", ["not", "a", "mapping"])  # type: ignore[arg-type]
