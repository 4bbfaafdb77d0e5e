"""Generic hetero GNN rankers (R-GCN, HGT) on the tiny KG, with a fake text encoder (no download)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from benchmarks.lib.generic_gnn import (
    EDGE_TYPES,
    CaseGraph,
    GenericGNNConfig,
    GenericHeteroGNN,
    GenericTrainConfig,
    SubgraphBuilder,
    node_text_features,
    node_texts,
    train_generic,
)
from kgdx.reasoning.simulate import CaseSimulator, SimulationConfig


class FakeEncoder:
    """Fixed random vectors per text: deterministic, instant."""

    embed_dim = 12

    def __init__(self) -> None:
        self.calls = 0

    def encode(self, texts, *, batch_size=64, progress=False):  # noqa: ANN001, ANN201
        self.calls += 1
        out = [
            np.random.default_rng(int(hashlib.sha1(t.encode()).hexdigest()[:8], 16)).standard_normal(self.embed_dim)
            for t in texts
        ]
        return np.asarray(out, np.float32).reshape(len(texts), self.embed_dim)

    def __repr__(self) -> str:
        return "FakeEncoder(dim=12)"


@pytest.fixture(scope="module")
def features(tiny_store, tiny_index, tmp_path_factory):
    enc = FakeEncoder()
    cache = tmp_path_factory.mktemp("gnn-text")
    tx, dx = node_text_features(tiny_store, tiny_index, encoder=enc, cache_dir=cache, progress=False)
    tx2, dx2 = node_text_features(tiny_store, tiny_index, encoder=enc, cache_dir=cache, progress=False)
    assert enc.calls == 1 and len(list(cache.iterdir())) == 1  # the second call reads the cache
    assert np.allclose(tx, tx2, atol=1e-2) and np.allclose(dx, dx2, atol=1e-2)
    return tx, dx


def test_features_and_texts(tiny_store, tiny_index, features):
    tx, dx = features
    assert tx.shape == (tiny_index.num_phenotypes, 12) and dx.shape == (tiny_index.num_diseases, 12)
    assert tx.dtype == np.float32
    texts = node_texts(tiny_store, ["HP:0002090", "NOT:1"])
    assert texts == ["Pneumonia", "NOT:1"]


def test_subgraph(tiny_index):
    ix = tiny_index
    t, d = ix.phenotype_index, ix.disease_index
    b = SubgraphBuilder(ix, ancestor_hops=1)
    g = b([t["HP:0002090"]], [t["HP:0002105"]], gold=d["OMIM:219700"])
    terms = {ix.phenotypes[i] for i in g.phenotypes.tolist()}
    # findings plus one hop up: Pneumonia → Abnormal lung morphology; Hemoptysis → respiratory abnormality
    assert terms == {"HP:0002090", "HP:0002088", "HP:0002105", "HP:0002086"}
    cands = {ix.diseases[i] for i in g.diseases.tolist()}
    assert cands == {"MONDO:0005249", "OMIM:219700", "MONDO:0008903"}  # annotated with Pneumonia or Hemoptysis
    assert g.gold.tolist() == [g.diseases.tolist().index(d["OMIM:219700"])]
    assert set(g.edges) == set(EDGE_TYPES)
    for (s, _r, dst), e in g.edges.items():
        n = g.num_nodes()
        assert e.dtype == torch.long and e.shape[0] == 2
        if e.shape[1]:
            assert int(e[0].max()) < n[s] and int(e[1].max()) < n[dst]
    assert g.edges[("Patient", "HAS_FINDING", "Phenotype")].shape == (2, 1)
    assert g.edges[("Disease", "EXCLUDES_PHENOTYPE", "Phenotype")].shape == (2, 1)  # CF lacks hemoptysis
    assert torch.equal(
        g.edges[("Phenotype", "rev_IS_A", "Phenotype")], g.edges[("Phenotype", "IS_A", "Phenotype")].flip(0)
    )
    full = SubgraphBuilder(ix, ancestor_hops=None)([t["HP:0002090"]])
    assert len(full.phenotypes) == 4  # Pneumonia and its three ancestors up to the root
    assert SubgraphBuilder(ix, 0)([t["HP:0025179"]], gold=d["OMIM:219700"]).gold.tolist() == [-1]
    both = CaseGraph.batch([g, full])
    assert both.num_cases == 2 and len(both.diseases) == len(g.diseases) + len(full.diseases)
    assert both.gold.tolist() == g.gold.tolist() + [-1]
    assert both.edges[EDGE_TYPES[0]][0].tolist() == [0, 1]
    assert "ancestor_hops=1" in repr(b)
    with pytest.raises(ValueError, match="ancestor_hops"):
        SubgraphBuilder(ix, -1)
    with pytest.raises(ValueError, match="nothing to batch"):
        CaseGraph.batch([])


@pytest.mark.parametrize("arch", ["rgcn", "hgt"])
def test_train_and_rank(arch, tiny_index, features):
    tx, dx = features
    sim = CaseSimulator(tiny_index, SimulationConfig(), seed=0)
    cases = [sim.sample() for _ in range(8 * 30)]
    cfg = GenericTrainConfig(
        steps=30,
        batch_size=8,
        lr=1e-2,
        warmup=3,
        model=GenericGNNConfig(arch=arch, hidden=16, layers=2, heads=2, ancestor_hops=None),
    )
    ranker, summary = train_generic(tiny_index, tx, dx, cases, cfg, progress=False)
    assert summary["cases"] == 240 and summary["loss_last"] < summary["loss_first"]
    assert summary["train_gold_in_candidates"] > 0.9
    t = tiny_index.phenotype_index
    s = ranker.scores([t["HP:0025179"], t["HP:0001945"]], [t["HP:0002105"]])
    assert s.shape == (tiny_index.num_diseases,) and np.isfinite(s).all()
    batch = ranker.scores_batch([([t["HP:0025179"], t["HP:0001945"]], [t["HP:0002105"]]), ([t["HP:0002105"]], [])])
    assert batch.shape == (2, tiny_index.num_diseases)
    assert np.allclose(batch[0], s, atol=1e-5)  # batching does not change a case's scores
    # Lung cancer is the only disease with hemoptysis: the others are outside the subgraph, tied lowest.
    only = batch[1]
    lc = tiny_index.disease_index["MONDO:0008903"]
    assert only[lc] > np.delete(only, lc).max() and len(set(np.delete(only, lc).tolist())) == 1
    assert repr(ranker.model).startswith(f"GenericHeteroGNN(arch={arch}, hidden=16, layers=2")
    assert repr(ranker).startswith("GenericRanker(SubgraphBuilder(")
    assert not any(k.endswith("_x") for k in ranker.model.state_dict())  # feature tables are not weights
    assert ranker.scores([], []).shape == (tiny_index.num_diseases,)  # no finding: everything ties


def test_config_and_argument_checks(features):
    tx, dx = features
    with pytest.raises(ValueError, match="'arch'"):
        GenericGNNConfig(arch="gat")
    with pytest.raises(ValueError, match="divisible"):
        GenericGNNConfig(arch="hgt", hidden=15, heads=2)
    with pytest.raises(ValueError, match="positive"):
        GenericGNNConfig(hidden=0)
    with pytest.raises(ValueError, match="dropout"):
        GenericGNNConfig(dropout=1.0)
    with pytest.raises(ValueError, match="positive"):
        GenericTrainConfig(steps=0)
    with pytest.raises(ValueError, match="same width"):
        GenericHeteroGNN(GenericGNNConfig(hidden=8), tx, dx[:, :5])
    m = GenericHeteroGNN(GenericGNNConfig(hidden=8, layers=1), tx, dx)
    before = [p.clone() for p in m.parameters()]
    m.reset_parameters()
    assert any(not torch.equal(a, b) for a, b in zip(before, m.parameters()))
    assert m.config_dict()["arch"] == "rgcn"
