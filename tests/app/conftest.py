"""A KGDX_HOME holding the tiny KG as its default snapshot, and a model trained on it."""

from __future__ import annotations

import pytest

from kg.memory_store import MemoryStore
from kg.schema import core_schema
from kg.snapshot import save_snapshot
from kg.testing import tiny_kg_records
from kgdx.settings import get_settings
from reasoning.model import EvidenceGNNConfig
from reasoning.train import TrainConfig, train


@pytest.fixture(scope="session")
def tiny_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("kgdx_home")
    store = MemoryStore(core_schema())
    store.write(tiny_kg_records())
    save_snapshot(store, home / "kg" / "default", {"sources": [{"name": "tiny test KG"}], "modules": []})
    cfg = TrainConfig(steps=60, batch_size=16, eval_every=60, val_cases=20, warmup=5,
                      model=EvidenceGNNConfig(hidden=8, ic_floor=0.0))
    train(store, cfg, home / "run", progress=False)
    return home


@pytest.fixture
def env(tiny_home, monkeypatch):
    monkeypatch.setenv("KGDX_HOME", str(tiny_home))
    get_settings.cache_clear()
    yield tiny_home
    get_settings.cache_clear()
