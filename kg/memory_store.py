"""The embedded default store: the KG in memory as a networkx multigraph.

It needs no server, so the demo, the notebooks and the tests run anywhere. A built KG is saved to
and loaded from an on-disk snapshot (:mod:`kgdx.kg.snapshot`) so it is built once. A store
loaded from a snapshot without validation answers point reads from the snapshot's node and edge
tables and builds the networkx graph only when a write or a whole-graph query first needs it, so
that a cold ``kgdx diagnose`` does not pay, in time or memory, for a graph it barely reads.
"""

from __future__ import annotations

import pathlib
from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

import networkx as nx

from kgdx.kg.records import Edge, Node
from kgdx.kg.schema import Schema
from kgdx.kg.store import (
    EVIDENCE_TYPES,
    MAX_PATHS,
    Counts,
    Direction,
    KGStore,
    Neighbour,
    Path,
    normalise,
    too_many_paths,
)
from kgdx.kg.vocab import RelType

if TYPE_CHECKING:
    from kgdx.kg.snapshot import EdgeColumns, NodeColumns

__all__ = ["MemoryStore"]


def _copy(props: dict) -> dict:
    """A copy of a property map that shares no list with the store."""
    return {k: list(v) if isinstance(v, list) else v for k, v in props.items()}


def _add_names(names: defaultdict[str, set[str]], node_id: str, props: dict) -> None:
    for text in (props.get("name"), *props.get("synonyms", ())):
        if isinstance(text, str):
            names[normalise(text)].add(node_id)


class MemoryStore(KGStore):
    """A :class:`~kgdx.kg.store.KGStore` over a ``networkx.MultiDiGraph``.

    Nodes carry ``type`` and ``props``; each edge's key is its relationship type, so there is at
    most one edge per (src, type, dst) and rewriting an edge merges into it.

    Example:
        >>> from kgdx.kg.schema import core_schema
        >>> store = MemoryStore(core_schema())
        >>> _ = store.write([Node("Phenotype", "HP:0002090", {"name": "Pneumonia"})])
        >>> store.lookup("pneumonia")[0].id
        'HP:0002090'
    """

    def __init__(self, schema: Schema) -> None:
        super().__init__(schema)
        self._g = nx.MultiDiGraph()
        self._name_ids: defaultdict[str, set[str]] | None = defaultdict(set)  # None: not built yet
        self._alt: dict[str, str] = {}
        self._version = 0  # bumped by every change, so a cache of what was loaded can tell it is stale
        self._origin: tuple[pathlib.Path, int] | None = None
        # Nodes and edges loaded from a snapshot and not yet in the graph (see NodeColumns and
        # EdgeColumns, by type). While any are here the graph is empty, so each record lives in
        # exactly one place.
        self._nodes: NodeColumns | None = None
        self._columns: dict[str, EdgeColumns] = {}

    @property
    def snapshot_path(self) -> pathlib.Path | None:
        """The snapshot folder this store was loaded from, while nothing has changed it since."""
        if self._origin is not None and self._origin[1] == self._version:
            return self._origin[0]
        return None

    def _loaded_from(self, path: pathlib.Path) -> None:
        self._origin = (path, self._version)

    def _load(self, nodes: NodeColumns, columns: dict[str, EdgeColumns]) -> None:
        """Fill an empty store from a snapshot's tables: nodes and each type's edges stay as
        columns; only the obsolete-id map is built now (the name index on the first lookup)."""
        if self._g.number_of_nodes() or self._nodes is not None:
            raise RuntimeError("a snapshot is loaded only into an empty store")
        self._version += 1
        self._nodes, self._columns = nodes, dict(columns)
        self._name_ids = None
        self._alt = {alt: i for i, alts in nodes.column("alt_ids") for alt in alts}

    def _thaw(self) -> None:
        """Move the nodes and edges held as columns into the graph, for a write or a whole-graph
        query.

        This changes the store, so, like a write, it must not run beside reads in other threads
        (the HTTP API only reads nodes, neighbours and counts, which never thaw)."""
        if self._nodes is not None:
            nodes, self._nodes = self._nodes, None
            self._g.add_nodes_from((n.id, {"type": n.type, "props": n.props}) for n in nodes.nodes())
        if self._columns:
            columns, self._columns = self._columns, {}
            self._g.add_edges_from(
                (src, dst, rel, {"props": props}) for rel, edges in columns.items() for src, dst, props in edges
            )

    def _has(self, node_id: str) -> bool:
        return node_id in self._g or (self._nodes is not None and node_id in self._nodes)

    @property
    def _names(self) -> defaultdict[str, set[str]]:
        """Normalised name or synonym -> node ids; built on first use after a snapshot load."""
        if self._name_ids is None:  # built aside and then set, so a reader in another thread sees all or none
            names: defaultdict[str, set[str]] = defaultdict(set)
            for n in self.iter_nodes():
                _add_names(names, n.id, n.props)
            self._name_ids = names
        return self._name_ids

    def materialize(self) -> None:
        """Move a snapshot's columns into the graph now, so that every later read is a dictionary
        lookup: for a long-lived process (the HTTP API), where requests matter and a cold start
        does not. On the default KG it takes about 6 s and 300 MB, and makes a ``/diagnose`` with
        explanations and drug suggestions twice as fast (``benchmarks/security.py``). Not safe
        beside reads in other threads: call it before the store is shared."""
        self._thaw()

    @property
    def graph(self) -> nx.MultiDiGraph:
        """The underlying networkx graph (read it; write through :meth:`write`)."""
        self._thaw()
        return self._g

    # -- writing -------------------------------------------------------------------------------

    def _index(self, node_id: str, props: dict) -> None:
        _add_names(self._names, node_id, props)
        for alt in props.get("alt_ids", ()):
            self._alt[alt] = node_id

    def _unindex(self, node_id: str, props: dict) -> None:
        for text in (props.get("name"), *props.get("synonyms", ())):
            if isinstance(text, str):
                ids = self._names.get(normalise(text))
                if ids is not None:
                    ids.discard(node_id)
                    if not ids:
                        del self._names[normalise(text)]
        for alt in props.get("alt_ids", ()):
            if self._alt.get(alt) == node_id:
                del self._alt[alt]

    def _write(self, nodes: Sequence[Node], edges: Sequence[Edge], *, progress: bool) -> None:
        self._thaw()
        g = self._g
        self._version += 1
        for n in nodes:
            attrs = g.nodes.get(n.id)
            if attrs is None:
                g.add_node(n.id, type=n.type, props=_copy(n.props))
            else:
                self._unindex(n.id, attrs["props"])
                attrs["props"].update(_copy(n.props))
            self._index(n.id, g.nodes[n.id]["props"])
        for e in edges:
            data = g.get_edge_data(e.src, e.dst, key=e.type)
            if data is None:
                g.add_edge(e.src, e.dst, key=e.type, props=_copy(e.props))
            else:
                data["props"].update(_copy(e.props))

    def existing_ids(self, ids: Collection[str]) -> set[str]:
        return {i for i in ids if self._has(i)}

    def delete(self, node_ids: Collection[str] = (), edge_keys: Collection[tuple[str, str, str]] = ()) -> None:
        self._thaw()
        self._version += 1
        for src, rel, dst in edge_keys:
            if self._g.has_edge(src, dst, key=rel):
                self._g.remove_edge(src, dst, key=rel)
        for i in node_ids:
            if i in self._g:
                self._unindex(i, self._g.nodes[i]["props"])
                self._g.remove_node(i)

    def replace_properties(self, node_id: str, props: dict) -> None:
        self._thaw()
        self._version += 1
        attrs = self._g.nodes[node_id]
        self._unindex(node_id, attrs["props"])
        attrs["props"] = _copy(props)
        self._index(node_id, attrs["props"])

    def clear(self) -> None:
        self._version += 1
        self._columns.clear()
        self._nodes = None
        self._g.clear()
        self._name_ids = defaultdict(set)
        self._alt.clear()

    # -- reading -------------------------------------------------------------------------------

    def counts(self) -> Counts:
        nodes: dict[str, int] = defaultdict(int)
        rels: dict[str, int] = defaultdict(int)
        for _, t in self._g.nodes(data="type"):
            nodes[t] += 1
        for _, _, k in self._g.edges(keys=True):
            rels[k] += 1
        for k, edges in self._columns.items():
            rels[k] += len(edges)
        for t, n in (self._nodes.counts() if self._nodes is not None else {}).items():
            nodes[t] += n
        return Counts(dict(nodes), dict(rels))

    def _node(self, node_id: str) -> Node:
        if self._nodes is not None and node_id in self._nodes:
            return self._nodes.node(node_id)
        a = self._g.nodes[node_id]
        return Node(a["type"], node_id, _copy(a["props"]))

    def iter_nodes(self, type: str | None = None) -> Iterator[Node]:
        if self._nodes is not None:
            yield from self._nodes.nodes(type)
        for i, a in self._g.nodes(data=True):
            if type is None or a["type"] == type:
                yield Node(a["type"], i, _copy(a["props"]))

    def iter_edges(self, type: str | None = None) -> Iterator[Edge]:
        for k, edges in list(self._columns.items()):
            if type is None or k == type:
                for s, d, p in edges:
                    yield Edge(k, s, d, p)
        for s, d, k, p in self._g.edges(keys=True, data="props"):
            if type is None or k == type:
                yield Edge(k, s, d, _copy(p))

    # -- named queries ---------------------------------------------------------------------------

    def node(self, node_id: str) -> Node | None:
        if self._has(node_id):
            return self._node(node_id)
        alt = self._alt.get(node_id)
        return self._node(alt) if alt is not None else None

    def lookup(self, text: str, *, types: Collection[str] | None = None, limit: int = 20) -> list[Node]:
        ids = set(self._names.get(normalise(text), ()))
        if self._has(text):
            ids.add(text)
        if text in self._alt:
            ids.add(self._alt[text])
        found = [self._node(i) for i in ids]
        return self._finish_lookup(found, types, limit)

    def _search_candidates(self, text: str) -> Iterable[Node]:
        """Nodes with a name or synonym that contains a query word, or (when none does) a word
        within typo distance of one."""
        from difflib import get_close_matches

        from kgdx.kg.name_search import FUZZY_CUTOFF, query_words

        words = query_words(text)
        if not words:
            return []
        keys = [k for k in self._names if all(w in k for w in words)]
        if not keys:
            vocab = {w for k in self._names for w in query_words(k)}
            close = [set(get_close_matches(w, vocab, n=20, cutoff=FUZZY_CUTOFF)) for w in words]
            keys = [k for k in self._names if all(c & set(query_words(k)) for c in close)]
        ids = {i for k in keys for i in self._names[k]}
        return [self._node(i) for i in sorted(ids)]

    def _steps(
        self, node_id: str, direction: Direction, rel_types: Collection[str] | None = None
    ) -> Iterator[tuple[Edge, str]]:
        """Each stored edge at ``node_id`` in the given direction (of the given types, if any),
        and the node it reaches."""
        g = self._g
        wanted = (lambda k: True) if rel_types is None else (lambda k: k in rel_types)
        if node_id in g:
            if direction in ("out", "both"):
                for _, d, k, p in g.out_edges(node_id, keys=True, data="props"):
                    if wanted(k):
                        yield Edge(k, node_id, d, p), d
            if direction in ("in", "both"):
                for s, _, k, p in g.in_edges(node_id, keys=True, data="props"):
                    if wanted(k):
                        yield Edge(k, s, node_id, p), s
        for k, edges in self._columns.items():
            if wanted(k):
                if direction in ("out", "both"):
                    for d, p in edges.out(node_id):
                        yield Edge(k, node_id, d, p), d
                if direction in ("in", "both"):
                    for s, p in edges.into(node_id):
                        yield Edge(k, s, node_id, p), s

    def neighbours(
        self,
        node_id: str,
        *,
        rel_types: Collection[str] | None = None,
        direction: Direction = "both",
        node_types: Collection[str] | None = None,
    ) -> list[Neighbour]:
        if not self._has(node_id):
            return []
        out = []
        for edge, other in self._steps(node_id, direction, rel_types):
            node = self._node(other)
            if node_types is not None and node.type not in node_types:
                continue
            out.append(Neighbour(Edge(edge.type, edge.src, edge.dst, _copy(edge.props)), node))
        return self._sorted_neighbours(out)

    def equivalence_class(self, disease_id: str) -> list[Node]:
        if not self._has(disease_id):
            return []
        seen, todo = {disease_id}, [disease_id]
        while todo:
            for _, other in self._steps(todo.pop(), "both", [RelType.EQUIVALENT_TO]):
                if other not in seen:
                    seen.add(other)
                    todo.append(other)
        return sorted((self._node(i) for i in seen), key=lambda n: n.id)

    def interactions(self, drug_ids: Collection[str]) -> list[Edge]:
        wanted = set(drug_ids)
        out = []
        for d in wanted:
            if self._has(d):
                for edge, other in self._steps(d, "out", [RelType.INTERACTS_WITH]):
                    if other in wanted:
                        out.append(Edge(edge.type, d, other, _copy(edge.props)))
        return self._sorted_edges(out)

    def evidence_paths(
        self,
        concept_ids: Collection[str],
        target_id: str,
        *,
        max_hops: int = 3,
        rel_types: Collection[str] = EVIDENCE_TYPES,
        limit: int = 100,
    ) -> list[Path]:
        self._check_hops(max_hops)
        self._thaw()  # a traversal of many nodes: the graph answers each step faster
        concepts, types = set(concept_ids), set(rel_types)
        if target_id not in self._g:
            return []
        found: list[tuple[list[str], list[Edge]]] = []
        # Depth-first from the target over simple paths; a path is kept each time it reaches a concept.
        stack: list[tuple[list[str], list[Edge]]] = [([target_id], [])]
        while stack:
            ids, edges = stack.pop()
            for edge, other in self._steps(ids[-1], "both"):
                if edge.type not in types or other in ids:
                    continue
                nids, nedges = ids + [other], edges + [edge]
                if other in concepts:
                    found.append((nids, nedges))
                    if len(found) > MAX_PATHS:
                        raise too_many_paths()
                if len(nedges) < max_hops:
                    stack.append((nids, nedges))
        paths = [
            Path(
                tuple(self._node(i) for i in reversed(ids)),
                tuple(Edge(e.type, e.src, e.dst, _copy(e.props)) for e in reversed(edges)),
            )
            for ids, edges in found
        ]
        return self._finish_paths(paths, limit)

    def subgraph(
        self, seed_ids: Collection[str], *, hops: int = 1, rel_types: Collection[str] | None = None
    ) -> tuple[list[Node], list[Edge]]:
        self._check_subgraph_hops(hops)
        self._thaw()
        seen = {i for i in seed_ids if i in self._g}
        frontier = set(seen)
        for _ in range(hops):
            nxt = set()
            for i in frontier:
                for edge, other in self._steps(i, "both"):
                    if (rel_types is None or edge.type in rel_types) and other not in seen:
                        nxt.add(other)
            seen |= nxt
            frontier = nxt
        nodes = sorted((self._node(i) for i in seen), key=lambda n: n.id)
        edges = [
            Edge(k, s, d, _copy(p))
            for s, d, k, p in self._g.subgraph(seen).edges(keys=True, data="props")
            if rel_types is None or k in rel_types
        ]
        return nodes, self._sorted_edges(edges)
