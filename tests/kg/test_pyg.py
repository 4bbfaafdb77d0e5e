"""PyG export: schema names as types, stable indices, every schema triple present."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from kgdx.kg.pyg import to_hetero_data  # noqa: E402


def test_hetero_data_from_tiny_kg(memory_store):
    data, maps = to_hetero_data(memory_store)
    schema = memory_store.schema
    assert set(data.node_types) == set(schema.node_types)
    assert set(data.edge_types) == set(schema.edge_triples)
    assert data["Phenotype"].num_nodes == 11 and data["Patient"].num_nodes == 0
    assert list(maps["Disease"].ids) == sorted(maps["Disease"].ids)
    ei = data["Disease", "HAS_PHENOTYPE", "Phenotype"].edge_index
    assert ei.shape == (2, 12) and ei.dtype == torch.long
    attr = data["Disease", "HAS_PHENOTYPE", "Phenotype"].edge_attr
    assert data["Disease", "HAS_PHENOTYPE", "Phenotype"].edge_attr_names == ["frequency"]
    covid, ggo = maps["Disease"].index("MONDO:0100096"), maps["Phenotype"].index("HP:0025179")
    col = [(int(a), int(b)) for a, b in ei.t()].index((covid, ggo))
    assert attr[col, 0].item() == pytest.approx(0.8)
    assert data["Drug", "TREATS", "Disease"].edge_index.shape == (2, 2)
    assert data["Patient", "HAS_FINDING", "Phenotype"].edge_index.shape == (2, 0)
    assert "HP:0002090" in maps["Phenotype"] and maps["Phenotype"].get("HP:9999999") is None


def test_features_hook_and_determinism(memory_store):
    def feats(node_type, nodes):
        return torch.arange(len(nodes), dtype=torch.float).unsqueeze(1)

    a, _ = to_hetero_data(memory_store, features=feats)
    b, _ = to_hetero_data(memory_store, features=feats)
    assert a["Disease"].x.shape == (4, 1)
    for t in a.edge_types:
        assert torch.equal(a[t].edge_index, b[t].edge_index)


def test_missing_numeric_property_is_nan(memory_store):
    from kgdx.kg.records import Edge

    memory_store.write([Edge("HAS_PHENOTYPE", "OMIM:219700", "HP:0001945", {"source": "no frequency"})])
    data, maps = to_hetero_data(memory_store)
    es = data["Disease", "HAS_PHENOTYPE", "Phenotype"]
    pairs = [(int(a), int(b)) for a, b in es.edge_index.t()]
    i = pairs.index((maps["Disease"].index("OMIM:219700"), maps["Phenotype"].index("HP:0001945")))
    assert math.isnan(es.edge_attr[i, 0].item())
