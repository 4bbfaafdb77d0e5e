"""Fixtures: the tiny KG, its index and a model trained on it for a few seconds."""

from __future__ import annotations

import pytest
import torch

from kg.memory_store import MemoryStore
from kg.schema import core_schema
from kg.testing import tiny_kg_records
from reasoning.index import KGIndex
from reasoning.model import EvidenceGNNConfig
from reasoning.train import TrainConfig, train


@pytest.fixture(scope="session")
def tiny_store():
    store = MemoryStore(core_schema())
    store.write(tiny_kg_records())
    return store


@pytest.fixture(scope="session")
def tiny_index(tiny_store):
    return KGIndex.from_store(tiny_store)


@pytest.fixture(scope="session")
def tiny_trained(tiny_store, tmp_path_factory):
    """A model trained on the tiny KG (about a second), its checkpoint and the training summary."""
    out = tmp_path_factory.mktemp("train")
    torch.manual_seed(0)
    cfg = TrainConfig(steps=60, batch_size=16, eval_every=30, val_cases=40, warmup=5,
                      model=EvidenceGNNConfig(hidden=8, ic_floor=0.0))
    summary = train(tiny_store, cfg, out, progress=False)
    return out, summary


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models run faster on one thread, above all on a CPU shared with other jobs."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
