"""The KG as a plain ``networkx.MultiDiGraph``, and back.

The exported graph is flat and self-contained (unlike :class:`~kgdx.kg.memory_store.MemoryStore`'s
internal graph): node attributes are ``type`` plus the node's properties; each edge's key is its
relationship type and its attributes are its properties. ``id`` and ``type`` are reserved
property names in the schema, so nothing collides. List values are copied, so changing the
exported graph never changes the store.

Example:
    >>> g = to_networkx(store)  # doctest: +SKIP
    >>> g.nodes["MONDO:0005180"]["name"], g["MONDO:0005180"]["HP:0001300"]["HAS_PHENOTYPE"]["source"]  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import networkx as nx

from kgdx.errors import DataError
from kgdx.kg.records import Edge, Node
from kgdx.kg.store import KGStore

__all__ = ["to_networkx", "from_networkx"]


def _copy(value: Any) -> Any:
    return list(value) if isinstance(value, (list, tuple)) else value


def to_networkx(store: KGStore) -> nx.MultiDiGraph:
    """Every node and edge of ``store`` in a new ``MultiDiGraph``.

    ``graph.graph`` holds the schema's name, version and applied modules.
    """
    schema = store.schema
    g = nx.MultiDiGraph(schema=schema.name, schema_version=schema.version, modules=list(schema.modules))
    for n in sorted(store.iter_nodes(), key=lambda n: n.id):
        g.add_node(n.id, type=n.type, **{k: _copy(v) for k, v in n.props.items()})
    for e in sorted(store.iter_edges(), key=lambda e: (e.src, e.type, e.dst)):
        g.add_edge(e.src, e.dst, key=e.type, **{k: _copy(v) for k, v in e.props.items()})
    return g


def from_networkx(graph: nx.Graph) -> Iterator[Node | Edge]:
    """The records of a graph shaped like :func:`to_networkx`'s output: nodes, then edges.

    A multigraph's edge keys are the relationship types; a simple graph's edges need a ``type``
    attribute instead. Validate the records by writing them to a store.

    Raises:
        DataError: for an undirected graph, a node without a ``type`` or an edge without a
            relationship type.
    """
    if not graph.is_directed():
        raise DataError("a KG graph must be directed (edges point from src to dst)")
    for node_id, attrs in graph.nodes(data=True):
        if not isinstance(attrs.get("type"), str):
            raise DataError(f"node {node_id!r} has no 'type' attribute", field="type")
        props = {k: _copy(v) for k, v in attrs.items() if k != "type"}
        yield Node(attrs["type"], str(node_id), props)
    if graph.is_multigraph():
        edges = ((s, d, k, a) for s, d, k, a in graph.edges(keys=True, data=True))
    else:
        edges = ((s, d, a.get("type"), a) for s, d, a in graph.edges(data=True))
    for s, d, rel, attrs in edges:
        if not isinstance(rel, str):
            raise DataError(f"edge {s!r} -> {d!r} has no relationship type (edge key or 'type')", field="type")
        props = {k: _copy(v) for k, v in attrs.items() if not (k == "type" and attrs[k] == rel)}
        yield Edge(rel, str(s), str(d), props)
