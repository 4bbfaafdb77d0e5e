"""networkx export and import (kgdx.kg.nx_export)."""

from __future__ import annotations

import networkx as nx
import pytest

from kgdx.errors import DataError, RecordError
from kgdx.kg.memory_store import MemoryStore
from kgdx.kg.nx_export import from_networkx, to_networkx
from kgdx.kg.records import Edge, Node
from kgdx.kg.schema import core_schema


def snapshot(store):
    nodes = sorted((n.type, n.id, repr(sorted(n.props.items()))) for n in store.iter_nodes())
    edges = sorted((e.type, e.src, e.dst, repr(sorted(e.props.items()))) for e in store.iter_edges())
    return nodes, edges


def test_shape(memory_store):
    g = to_networkx(memory_store)
    assert isinstance(g, nx.MultiDiGraph)
    assert g.number_of_nodes() == memory_store.counts().total_nodes
    assert g.number_of_edges() == memory_store.counts().total_relationships
    assert g.nodes["HP:0002090"] == {
        "type": "Phenotype",
        "name": "Pneumonia",
        "synonyms": ["Lung infection"],
        "alt_ids": ["HP:0006520"],
    }
    assert g.edges["MONDO:0100096", "HP:0025179", "HAS_PHENOTYPE"] == {"source": "kgdx test fixture", "frequency": 0.8}
    assert g.graph == {"schema": "core", "schema_version": "1.0.0", "modules": []}


def test_round_trip(memory_store):
    back = MemoryStore(core_schema())
    back.write(from_networkx(to_networkx(memory_store)))
    assert snapshot(back) == snapshot(memory_store)


def test_export_does_not_alias_the_store(memory_store):
    g = to_networkx(memory_store)
    g.nodes["HP:0002090"]["synonyms"].append("changed")
    assert memory_store.node("HP:0002090").props["synonyms"] == ["Lung infection"]


def test_parallel_edges_of_different_types_are_kept():
    store = MemoryStore(core_schema())
    store.write(
        [
            Node("Disease", "MONDO:0005180", {"name": "PD"}),
            Node("Phenotype", "HP:0001337", {"name": "Tremor"}),
            Node("Anatomy", "UBERON:0002038", {"name": "substantia nigra"}),
            Edge("HAS_PHENOTYPE", "MONDO:0005180", "HP:0001337", {"source": "a"}),
            Edge("LOCATED_IN", "HP:0001337", "UBERON:0002038", {"source": "b"}),
            Edge("LOCATED_IN", "MONDO:0005180", "UBERON:0002038", {"source": "c"}),
        ]
    )
    g = to_networkx(store)
    assert sorted(g.edges(keys=True)) == [
        ("HP:0001337", "UBERON:0002038", "LOCATED_IN"),
        ("MONDO:0005180", "HP:0001337", "HAS_PHENOTYPE"),
        ("MONDO:0005180", "UBERON:0002038", "LOCATED_IN"),
    ]


def test_from_a_simple_digraph_with_type_attributes():
    g = nx.DiGraph()
    g.add_node("HP:0001337", type="Phenotype", name="Tremor")
    g.add_node("HP:0001336", type="Phenotype", name="Involuntary movements")
    g.add_edge("HP:0001337", "HP:0001336", type="IS_A", source="HPO")
    records = list(from_networkx(g))
    assert records[-1] == Edge("IS_A", "HP:0001337", "HP:0001336", {"source": "HPO"})
    MemoryStore(core_schema()).write(records)


def test_bad_graphs():
    g = nx.MultiDiGraph()
    g.add_node("HP:0001337", name="Tremor")
    with pytest.raises(DataError, match="no 'type'"):
        list(from_networkx(g))
    with pytest.raises(DataError, match="directed"):
        list(from_networkx(nx.Graph()))
    g = nx.DiGraph()
    g.add_node("HP:0001337", type="Phenotype", name="Tremor")
    g.add_node("HP:0001336", type="Phenotype", name="Involuntary movements")
    g.add_edge("HP:0001337", "HP:0001336", source="HPO")
    with pytest.raises(DataError, match="no relationship type"):
        list(from_networkx(g))
    g = nx.MultiDiGraph()
    g.add_node("HP:0001337", type="Phenotype", name="Tremor")
    g.add_node("HP:0001336", type="Phenotype", name="Involuntary movements")
    g.add_edge("HP:0001337", "HP:0001336", key="IS_A")  # no provenance
    with pytest.raises(RecordError, match="source"):
        MemoryStore(core_schema()).write(from_networkx(g))
