"""Export a KG to a PyG ``HeteroData`` with stable id ↔ index maps.

Node types and edge triples come from the schema, so the tensors use exactly the names of the
YAML and of Neo4j (``("Drug", "TREATS", "Disease")``), and every triple the schema allows is
present even when it has no edges, so models see the same metadata on every KG built from the
same schema. Indices are positions in the sorted id list of each type, so the same KG always
gives the same tensors.

torch and torch-geometric are imported here only when called (``pip install "kgdx[ml]"``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kgdx.errors import ModelError
from kgdx.kg.records import Node
from kgdx.kg.store import KGStore

if TYPE_CHECKING:
    import torch
    from torch_geometric.data import HeteroData

__all__ = ["IdMap", "to_hetero_data", "NUMERIC_EDGE_PROPERTIES"]

#: Edge properties exported as ``edge_attr`` columns when a relationship type declares them
#: (missing values are NaN, so a model can tell "unknown" from zero).
NUMERIC_EDGE_PROPERTIES = ("frequency", "probability", "value")

FeatureHook = Callable[[str, Sequence[Node]], "torch.Tensor"]


@dataclass(frozen=True)
class IdMap:
    """The ids of one node type in index order, and the inverse map."""

    ids: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {i: k for k, i in enumerate(self.ids)})

    def __len__(self) -> int:
        return len(self.ids)

    def index(self, node_id: str) -> int:
        """The row of ``node_id``; ``KeyError`` if it is not in the graph."""
        return self._index[node_id]  # type: ignore[attr-defined]

    def get(self, node_id: str, default: int | None = None) -> int | None:
        return self._index.get(node_id, default)  # type: ignore[attr-defined]

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._index  # type: ignore[attr-defined]


def _torch() -> tuple[Any, Any]:
    try:
        import torch
        from torch_geometric.data import HeteroData
    except ImportError:
        raise ModelError('PyG export needs torch and torch-geometric: pip install "kgdx[ml]"') from None
    return torch, HeteroData


def to_hetero_data(store: KGStore, *, features: FeatureHook | None = None) -> tuple[HeteroData, dict[str, IdMap]]:
    """The KG as a ``HeteroData`` plus an :class:`IdMap` per node type.

    Args:
        store: Any KG store.
        features: Optional hook ``(node_type, nodes) -> Tensor[num_nodes, dim]`` for ``x``.

    Returns:
        ``(data, id_maps)``. ``data[t].num_nodes`` is set for every node type;
        ``data[s, r, t].edge_index`` is ``(2, E)`` long; relationship types with numeric
        properties get ``edge_attr`` ``(E, P)`` float with NaN for missing values, and
        ``edge_attr_names`` lists the columns.
    """
    torch, HeteroData = _torch()
    schema = store.schema
    nodes: dict[str, list[Node]] = {t: [] for t in schema.node_types}
    for n in store.iter_nodes():
        nodes[n.type].append(n)
    data = HeteroData()
    maps: dict[str, IdMap] = {}
    for t in sorted(nodes):
        ns = sorted(nodes[t], key=lambda n: n.id)
        maps[t] = IdMap(tuple(n.id for n in ns))
        data[t].num_nodes = len(ns)
        if features is not None and ns:
            x = features(t, ns)
            if x.shape[0] != len(ns):
                raise ModelError(f"feature hook returned {x.shape[0]} rows for {len(ns)} {t} nodes")
            data[t].x = x

    rows: dict[tuple[str, str, str], list[tuple[int, int, list[float]]]] = {t: [] for t in schema.edge_triples}
    attrs = {
        rel: [p for p in NUMERIC_EDGE_PROPERTIES if p in rt.properties] for rel, rt in schema.relationship_types.items()
    }
    for e in store.iter_edges():
        s, d = schema.node_type_of(e.src).label, schema.node_type_of(e.dst).label
        values = [float(e.props[p]) if e.props.get(p) is not None else math.nan for p in attrs[e.type]]
        rows[(s, e.type, d)].append((maps[s].index(e.src), maps[d].index(e.dst), values))
    for triple, items in rows.items():
        items.sort()
        es = data[triple]
        es.edge_index = torch.tensor([[a for a, _, _ in items], [b for _, b, _ in items]], dtype=torch.long).reshape(
            2, -1
        )
        names = attrs[triple[1]]
        if names:
            es.edge_attr = torch.tensor([v for _, _, v in items], dtype=torch.float).reshape(-1, len(names))
            es.edge_attr_names = list(names)
    return data, maps
