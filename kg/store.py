"""The store interface that the in-memory and Neo4j stores share.

Both stores take the same validated records and answer the same named queries with the same
results, so code above them (the CLI, the reasoning, the API) never needs to know which it has.
A contract test suite runs every operation against both.

Writes follow one rule in both stores: a node is identified by its id and an edge by
(src, type, dst) (unordered for symmetric types); writing a record again merges its properties,
later values winning (Cypher ``SET n += props``). So every load is idempotent.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from kgdx.errors import RecordError, StoreError
from kgdx.kg.records import Edge, Node, validate_records
from kgdx.kg.schema import Schema
from kgdx.kg.vocab import RelType

__all__ = ["KGStore", "Neighbour", "Path", "Counts", "WriteReport", "Direction", "normalise"]

Direction = Literal["out", "in", "both"]

#: Relationship types that evidence paths follow by default.
EVIDENCE_TYPES = (
    RelType.HAS_PHENOTYPE,
    RelType.IS_A,
    RelType.INDICATES,
    RelType.ASSOCIATED_WITH,
    RelType.HAS_FINDING,
    RelType.HAS_LAB_RESULT,
)

#: How many paths a path query may enumerate before it refuses (it would explode on hubs).
MAX_PATHS = 20_000


def too_many_paths() -> StoreError:
    """The error a path query raises when it would enumerate more than :data:`MAX_PATHS` paths."""
    return StoreError(f"more than {MAX_PATHS} paths match; lower 'max_hops' or narrow 'rel_types'")


def normalise(text: str) -> str:
    """The form names and synonyms are matched in: stripped and lower-cased."""
    return text.strip().lower()


@dataclass(frozen=True)
class Neighbour:
    """One step from a node: the edge taken (in its stored direction) and the node reached."""

    edge: Edge
    node: Node


@dataclass(frozen=True)
class Path:
    """A path from a concept to a target, as alternating nodes and edges.

    ``nodes[0]`` is the concept the path starts from and ``nodes[-1]`` the target; each edge keeps
    its stored direction, so an edge may point against the path.
    """

    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(n.id for n in self.nodes)

    def sort_key(self) -> tuple:
        return (len(self.edges), self.ids, tuple(e.type for e in self.edges))


@dataclass
class Counts:
    """Node counts per label and relationship counts per type (zero counts omitted)."""

    nodes: dict[str, int] = field(default_factory=dict)
    relationships: dict[str, int] = field(default_factory=dict)

    @property
    def total_nodes(self) -> int:
        return sum(self.nodes.values())

    @property
    def total_relationships(self) -> int:
        return sum(self.relationships.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "nodes": dict(sorted(self.nodes.items())),
            "relationships": dict(sorted(self.relationships.items())),
            "total_nodes": self.total_nodes,
            "total_relationships": self.total_relationships,
        }


@dataclass
class WriteReport:
    """What a write did: distinct records written and how long it took."""

    nodes: int = 0
    edges: int = 0
    seconds: float = 0.0

    @property
    def edges_per_second(self) -> float:
        return self.edges / self.seconds if self.seconds else float("inf")


def _merge_nodes(nodes: Iterable[Node]) -> dict[str, Node]:
    out: dict[str, Node] = {}
    for n in nodes:
        prev = out.get(n.id)
        out[n.id] = n if prev is None else Node(n.type, n.id, {**prev.props, **n.props}, prev.origin)
    return out


def _merge_edges(edges: Iterable[Edge]) -> dict[tuple[str, str, str], Edge]:
    out: dict[tuple[str, str, str], Edge] = {}
    for e in edges:
        prev = out.get(e.key)
        out[e.key] = e if prev is None else Edge(e.type, e.src, e.dst, {**prev.props, **e.props}, prev.origin)
    return out


class KGStore(ABC):
    """A knowledge graph store: validated writes, counts, exports and the named queries.

    Args:
        schema: The schema records are validated against.
    """

    def __init__(self, schema: Schema) -> None:
        self._schema = schema

    @property
    def schema(self) -> Schema:
        return self._schema

    # -- writing -------------------------------------------------------------------------------

    def prepare(self, records: Iterable[Node | Edge], schema: Schema | None = None) -> tuple[list[Node], list[Edge]]:
        """Validate every record, merge duplicates and check that every edge's ends exist.

        Nothing is written here, so a bad record anywhere in the input stops the whole load
        before its first write. ``schema`` validates against an extended schema before the
        store is migrated to it (a module being planned).

        Raises:
            RecordError: for the first record that breaks the schema, naming it, its file and
                line; or for an edge whose end is neither in ``records`` nor in the store.
        """
        schema = schema or self._schema
        nodes: list[Node] = []
        edges: list[Edge] = []
        for r in validate_records(records, schema):
            (nodes if isinstance(r, Node) else edges).append(r)
        merged_nodes = _merge_nodes(nodes)
        merged_edges = _merge_edges(edges)
        ends = {i for e in merged_edges.values() for i in (e.src, e.dst)} - merged_nodes.keys()
        missing = ends - self.existing_ids(ends) if ends else set()
        if missing:
            bad = next(e for e in merged_edges.values() if e.src in missing or e.dst in missing)
            which = bad.src if bad.src in missing else bad.dst
            o = bad.origin
            raise RecordError(
                f"edge ({bad.src})-[{bad.type}]->({bad.dst}) refers to {which!r}, which is neither "
                f"in this load nor in the store ({len(missing)} missing ids in all)",
                record=bad,
                file=o.file if o else None,
                line=o.line if o else None,
                field="src" if which == bad.src else "dst",
            )
        return list(merged_nodes.values()), list(merged_edges.values())

    def write(self, records: Iterable[Node | Edge], *, progress: bool = False) -> WriteReport:
        """Validate all ``records`` (see :meth:`prepare`), then write them idempotently."""
        start = time.perf_counter()
        nodes, edges = self.prepare(records)
        self._write(nodes, edges, progress=progress)
        return WriteReport(len(nodes), len(edges), time.perf_counter() - start)

    @abstractmethod
    def _write(self, nodes: Sequence[Node], edges: Sequence[Edge], *, progress: bool) -> None:
        """Write validated, merged records: nodes first, then edges."""

    @abstractmethod
    def existing_ids(self, ids: Collection[str]) -> set[str]:
        """The subset of ``ids`` that are nodes in the store."""

    @abstractmethod
    def delete(self, node_ids: Collection[str] = (), edge_keys: Collection[tuple[str, str, str]] = ()) -> None:
        """Delete edges by (src, type, dst) key, then nodes by id with their remaining edges."""

    @abstractmethod
    def replace_properties(self, node_id: str, props: dict[str, Any]) -> None:
        """Set a node's properties to exactly ``props`` (dropping any others)."""

    @abstractmethod
    def clear(self) -> None:
        """Remove every node and edge (the schema stays)."""

    def migrate(self, schema: Schema) -> None:
        """Switch to another schema (a module was applied or removed); stores add or drop what
        it implies (Neo4j: constraints and indexes)."""
        self._schema = schema

    # -- reading -------------------------------------------------------------------------------

    @abstractmethod
    def counts(self) -> Counts:
        """Node counts per label and relationship counts per type."""

    @abstractmethod
    def iter_nodes(self, type: str | None = None) -> Iterator[Node]:
        """Every node (of one type), in no particular order."""

    @abstractmethod
    def iter_edges(self, type: str | None = None) -> Iterator[Edge]:
        """Every edge (of one type), in its stored direction, in no particular order."""

    # -- named queries (each has a Cypher twin in kgdx.kg.queries) --------------------------------

    @abstractmethod
    def node(self, node_id: str) -> Node | None:
        """The node with this id, or the one that lists it among its ``alt_ids``."""

    @abstractmethod
    def lookup(self, text: str, *, types: Collection[str] | None = None, limit: int = 20) -> list[Node]:
        """Nodes whose id, name or a synonym equals ``text`` (names compared by :func:`normalise`)."""

    @abstractmethod
    def neighbours(
        self,
        node_id: str,
        *,
        rel_types: Collection[str] | None = None,
        direction: Direction = "both",
        node_types: Collection[str] | None = None,
    ) -> list[Neighbour]:
        """Edges at a node and the nodes they reach, filtered by type and direction."""

    def disease_phenotypes(self, disease_id: str) -> list[Neighbour]:
        """The phenotypes of a disease, with frequency, onset, evidence and source on the edge."""
        return self.neighbours(disease_id, rel_types=[RelType.HAS_PHENOTYPE], direction="out")

    def phenotype_diseases(self, phenotype_id: str) -> list[Neighbour]:
        """The diseases annotated with a phenotype."""
        return self.neighbours(phenotype_id, rel_types=[RelType.HAS_PHENOTYPE], direction="in")

    def drug_indications(self, drug_id: str) -> list[Neighbour]:
        """The diseases a drug treats."""
        return self.neighbours(drug_id, rel_types=[RelType.TREATS], direction="out")

    def drug_contraindications(self, drug_id: str) -> list[Neighbour]:
        """The conditions (diseases or phenotypes) a drug is contraindicated in."""
        return self.neighbours(drug_id, rel_types=[RelType.CONTRAINDICATED_IN], direction="out")

    @abstractmethod
    def equivalence_class(self, disease_id: str) -> list[Node]:
        """The disease's equivalence class: the disease and every node reachable from it over
        ``EQUIVALENT_TO`` edges (either direction), sorted by id. Just the disease when it has no
        equivalent; empty when ``disease_id`` is not a node. No alternative-id lookup.

        Example:
            >>> [n.id for n in store.equivalence_class("ORPHA:905")]  # doctest: +SKIP
            ['MONDO:0010200', 'OMIM:277900', 'ORPHA:905']
        """

    @abstractmethod
    def interactions(self, drug_ids: Collection[str]) -> list[Edge]:
        """The ``INTERACTS_WITH`` edges among a list of drugs, sorted."""

    @abstractmethod
    def evidence_paths(
        self,
        concept_ids: Collection[str],
        target_id: str,
        *,
        max_hops: int = 3,
        rel_types: Collection[str] = EVIDENCE_TYPES,
        limit: int = 100,
    ) -> list[Path]:
        """Simple paths of 1..``max_hops`` edges of ``rel_types`` from a concept to the target.

        Edges are followed in either direction; no node repeats. Paths come shortest first, then
        by node ids, and at most ``limit`` of them.

        Raises:
            StoreError: if more than ``MAX_PATHS`` paths exist (narrow the types or hops).
        """

    @abstractmethod
    def subgraph(
        self, seed_ids: Collection[str], *, hops: int = 1, rel_types: Collection[str] | None = None
    ) -> tuple[list[Node], list[Edge]]:
        """The nodes within ``hops`` of the seeds (edges of ``rel_types``, either direction) and
        the edges among them, sorted."""

    # -- helpers shared by the implementations ---------------------------------------------------

    @staticmethod
    def _check_hops(max_hops: int) -> int:
        if not isinstance(max_hops, int) or not 1 <= max_hops <= 5:
            raise StoreError(f"'max_hops' must be an integer from 1 to 5 (got {max_hops!r})")
        return max_hops

    @staticmethod
    def _check_subgraph_hops(hops: int) -> None:
        if not isinstance(hops, int) or hops < 0:
            raise StoreError(f"'hops' must be a non-negative integer (got {hops!r})")

    @staticmethod
    def _finish_lookup(found: Iterable[Node], types: Collection[str] | None, limit: int) -> list[Node]:
        if types is not None:
            found = [n for n in found if n.type in types]
        return sorted(found, key=lambda n: (n.type, n.id))[:limit]

    @staticmethod
    def _sorted_neighbours(items: Iterable[Neighbour]) -> list[Neighbour]:
        return sorted(items, key=lambda nb: (nb.node.id, nb.edge.type, nb.edge.src, nb.edge.dst))

    @staticmethod
    def _sorted_edges(items: Iterable[Edge]) -> list[Edge]:
        return sorted(items, key=lambda e: (e.src, e.type, e.dst))

    @staticmethod
    def _finish_paths(paths: list[Path], limit: int) -> list[Path]:
        if len(paths) > MAX_PATHS:
            raise too_many_paths()
        return sorted(paths, key=Path.sort_key)[:limit]

    def summary(self) -> dict[str, Any]:
        """Counts plus the schema's name, version and applied modules."""
        return {
            "schema": {
                "name": self._schema.name,
                "version": self._schema.version,
                "modules": list(self._schema.modules),
            },
            **self.counts().to_dict(),
        }


def group_by_type(records: Iterable[Node] | Iterable[Edge]) -> dict[str, list]:
    """Records grouped by their ``type``, for per-label / per-type batched writes."""
    out: dict[str, list] = defaultdict(list)
    for r in records:
        out[r.type].append(r)
    return out
