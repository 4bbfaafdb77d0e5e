"""Fixtures for the KG tests: the tiny KG in memory and in the real Neo4j."""

from __future__ import annotations

import os

import pytest

from kgdx.errors import StoreError
from kgdx.kg.memory_store import MemoryStore
from kgdx.kg.schema import core_schema
from kgdx.settings import Settings


@pytest.fixture
def memory_store(tiny_records):
    store = MemoryStore(core_schema())
    store.write(tiny_records)
    return store


def _connect(schema=None):
    from kgdx.kg.neo4j_store import Neo4jStore

    settings = Settings()
    try:
        return Neo4jStore.from_settings(schema or core_schema(), settings)
    except StoreError as e:
        pytest.skip(f"Neo4j not reachable at {settings.neo4j_uri} (start it with `kgdx neo4j start`): {e}")


@pytest.fixture
def empty_neo4j():
    """A Neo4jStore on the configured server, emptied first.

    Refuses (skips) to wipe a database that holds a KG loaded with `kgdx kg load`, unless under
    CI or KGDX_TEST_ALLOW_CLEAR=1: point KGDX_NEO4J_URI at a scratch server to run these tests.
    """
    store = _connect()
    if store.get_meta("snapshot") and not (
        os.environ.get("CI") == "true" or os.environ.get("KGDX_TEST_ALLOW_CLEAR") == "1"
    ):
        store.close()
        pytest.skip("the Neo4j database holds a loaded KG; set KGDX_TEST_ALLOW_CLEAR=1 to let the tests wipe it")
    store.clear()
    yield store
    store.close()


@pytest.fixture
def neo4j_store(empty_neo4j, tiny_records):
    empty_neo4j.write(tiny_records)
    return empty_neo4j


@pytest.fixture
def snapshot_store(memory_store, tmp_path):
    """The tiny KG loaded back from a snapshot as ``kgdx diagnose`` loads it: unvalidated, its
    edges held as columns until a write or a whole-graph query moves them into the graph."""
    from kgdx.kg.snapshot import load_snapshot, save_snapshot

    return load_snapshot(save_snapshot(memory_store, tmp_path / "snapshot"), validate=False)


@pytest.fixture(params=["memory", "snapshot", pytest.param("neo4j", marks=pytest.mark.neo4j)])
def store(request):
    """The tiny KG in each store in turn: every test using it is a contract test."""
    return request.getfixturevalue(f"{request.param}_store")
