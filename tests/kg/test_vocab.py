"""The shared vocabulary agrees with kg/schemas/core.yaml, and the PyG export uses its triples."""

from __future__ import annotations

from kgdx.kg.schema import core_schema
from kgdx.kg.vocab import CORE_TRIPLES, NodeLabel, RelType


def test_vocabulary_is_the_core_schema():
    schema = core_schema()
    assert {str(n) for n in NodeLabel} == set(schema.node_types)
    assert {str(r) for r in RelType} == set(schema.relationship_types)
    allowed = {(s, r, t) for r, rt in schema.relationship_types.items() for s, t in rt.pairs}
    assert set(CORE_TRIPLES) == allowed and len(CORE_TRIPLES) == len(allowed)


def test_names_are_plain_strings():
    assert NodeLabel.PHENOTYPE == "Phenotype" and f"{RelType.HAS_FINDING}" == "HAS_FINDING"
    assert {NodeLabel.DISEASE: 1}["Disease"] == 1


def test_pyg_edge_types_are_vocabulary_triples(tiny_store):
    import pytest

    pytest.importorskip("torch_geometric")
    from kgdx.kg.pyg import to_hetero_data

    data, _ = to_hetero_data(tiny_store)
    node_types, edge_types = data.metadata()
    assert set(node_types) <= {str(n) for n in NodeLabel}
    assert set(edge_types) <= set(CORE_TRIPLES)
