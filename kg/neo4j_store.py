"""The KG in Neo4j, through the official driver.

Writes are batched ``UNWIND … MERGE`` statements, one managed transaction per batch, retried by
the driver on transient errors; since every statement merges, a load that was interrupted and is
run again ends with exact counts and no duplicates. User Cypher runs on a separate read-only path
(:meth:`Neo4jStore.cypher`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import neo4j
from neo4j.exceptions import AuthError, ClientError, Neo4jError, ServiceUnavailable, TransientError
from neo4j.graph import Node as GraphNode
from neo4j.graph import Path as GraphPath
from neo4j.graph import Relationship as GraphRelationship

from kgdx.errors import ReadOnlyQueryError, StoreError
from kgdx.kg import queries as Q
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
    group_by_type,
    normalise,
    too_many_paths,
)
from kgdx.progress import progress as _progress

__all__ = ["Neo4jStore", "CypherResult"]


@dataclass
class CypherResult:
    """Rows of a user query: column names, JSON-ready rows and whether the row cap cut it short."""

    columns: list[str]
    rows: list[list[Any]]
    truncated: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"columns": self.columns, "rows": self.rows, "truncated": self.truncated}


def _plain(value: Any) -> Any:
    """A driver value as plain JSON-ready Python."""
    if isinstance(value, GraphNode):
        return {
            "labels": sorted(lab for lab in value.labels if lab != Q.NODE),
            **{k: _plain(v) for k, v in value.items()},
        }
    if isinstance(value, GraphRelationship):
        return {
            "type": value.type,
            "src": value.start_node.get("id") if value.start_node else None,
            "dst": value.end_node.get("id") if value.end_node else None,
            **{k: _plain(v) for k, v in value.items()},
        }
    if isinstance(value, GraphPath):
        return {"nodes": [_plain(n) for n in value.nodes], "relationships": [_plain(r) for r in value.relationships]}
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)  # temporal and spatial values


class Neo4jStore(KGStore):
    """A :class:`~kgdx.kg.store.KGStore` in a Neo4j 5 database.

    Args:
        schema: The schema records are validated against; its constraints and indexes are
            created on first use (:meth:`ensure_schema`).
        uri: Bolt or neo4j URI, e.g. ``bolt://127.0.0.1:7687``.
        auth: (user, password), or ``None`` for a server without auth.
        database: The database to use.
        batch_size: Rows per write transaction.

    Example:
        >>> store = Neo4jStore(core_schema(), "bolt://127.0.0.1:7687", ("neo4j", "pw"))  # doctest: +SKIP
        >>> store.write(records)  # doctest: +SKIP
    """

    def __init__(
        self,
        schema: Schema,
        uri: str,
        auth: tuple[str, str] | None = None,
        *,
        database: str = "neo4j",
        batch_size: int = 10_000,
    ) -> None:
        super().__init__(schema)
        if batch_size < 1:
            raise ValueError(f"'batch_size' must be positive (got {batch_size})")
        self.uri = uri
        self.database = database
        self.batch_size = batch_size
        try:
            # Server notifications ("label does not exist yet" …) are noise for kgdx's own queries.
            self._driver = neo4j.GraphDatabase.driver(
                uri, auth=auth, notifications_min_severity=neo4j.NotificationMinimumSeverity.OFF
            )
            self._driver.verify_connectivity()
        except (ServiceUnavailable, OSError, ValueError) as e:
            raise StoreError(f"cannot reach Neo4j at {uri} ({e}); start one with `kgdx neo4j start`") from None
        except AuthError as e:
            raise StoreError(f"Neo4j at {uri} refused the credentials: {e.message}") from None
        self._schema_ready = False

    @classmethod
    def from_settings(cls, schema: Schema, settings: Any | None = None) -> Neo4jStore:
        """A store for the server that ``KGDX_NEO4J_*`` settings point at."""
        if settings is None:
            from kgdx.settings import get_settings  # app settings; kg itself does not depend on them

            settings = get_settings()
        return cls(
            schema,
            settings.neo4j_uri,
            (settings.neo4j_user, settings.neo4j_password),
            database=settings.neo4j_database,
            batch_size=settings.batch_size,
        )

    def close(self) -> None:
        self._driver.close()

    def __enter__(self) -> Neo4jStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- low-level ---------------------------------------------------------------------------

    def _read(self, query: str, **params: Any) -> list[dict[str, Any]]:
        try:
            records, _, _ = self._driver.execute_query(
                query, params, database_=self.database, routing_=neo4j.RoutingControl.READ
            )
        except Neo4jError as e:
            raise StoreError(f"Neo4j query failed: {e.message}") from e
        return [r.data() for r in records]

    def _write_tx(self, query: str, **params: Any) -> None:
        def work(tx: neo4j.ManagedTransaction) -> None:
            tx.run(query, params).consume()

        try:
            with self._driver.session(database=self.database) as s:
                s.execute_write(work)
        except Neo4jError as e:
            raise StoreError(f"Neo4j write failed: {e.message}") from e

    def _autocommit(self, query: str, **params: Any) -> None:
        # Auto-commit statements (schema commands, CALL … IN TRANSACTIONS) get no driver retry,
        # so transient errors such as deadlocks with another client are retried here.
        for attempt in range(6):
            try:
                with self._driver.session(database=self.database) as s:
                    s.run(query, params).consume()
                return
            except TransientError as e:
                if attempt == 5:
                    raise StoreError(f"Neo4j statement failed after retries: {e.message}") from e
                time.sleep(0.2 * 2**attempt)
            except Neo4jError as e:
                raise StoreError(f"Neo4j statement failed: {e.message}") from e

    def _label(self, labels: Sequence[str]) -> str:
        for label in labels:
            if label != Q.NODE:
                return label
        raise StoreError(f"node without a schema label: {list(labels)}")

    def _node(self, labels: Sequence[str], props: Mapping[str, Any]) -> Node:
        props = dict(props)
        node_id = props.pop("id")
        return Node(self._label(labels), node_id, props)

    # -- schema ----------------------------------------------------------------------------------

    def ensure_schema(self) -> None:
        """Create the constraints and indexes the schema implies (idempotent) and wait for them."""
        for stmt in Q.schema_statements(self._schema):
            self._autocommit(stmt)
        self._autocommit(Q.AWAIT_INDEXES, seconds=300)
        self._schema_ready = True

    def migrate(self, schema: Schema) -> None:
        dropped = sorted(set(self._schema.node_types) - set(schema.node_types))
        for label in dropped:
            names = [r["name"] for r in self._read(Q.OWNED_INDEXES, label=label)]
            for stmt in Q.drop_statements([label]) + [f"DROP INDEX {n} IF EXISTS" for n in names]:
                self._autocommit(stmt)
        super().migrate(schema)
        self.ensure_schema()

    def get_meta(self, key: str) -> Any:
        """A JSON value kgdx keeps in the database (e.g. the applied modules), or ``None``."""
        rows = self._read(Q.META_GET, key=key)
        return json.loads(rows[0]["value"]) if rows else None

    def set_meta(self, key: str, value: Any) -> None:
        if value is None:
            self._write_tx(Q.META_DELETE, key=key)
        else:
            self._write_tx(Q.META_SET, key=key, value=json.dumps(value, sort_keys=True))

    # -- writing -------------------------------------------------------------------------------

    def _write(self, nodes: Sequence[Node], edges: Sequence[Edge], *, progress: bool) -> None:
        if not self._schema_ready:
            self.ensure_schema()
        jobs: list[tuple[str, str, list[dict]]] = []
        for label, group in sorted(group_by_type(nodes).items()):
            jobs.append((f"nodes {label}", Q.merge_nodes(label), [{"id": n.id, "props": n.props} for n in group]))
        by_ends: dict[tuple[str, str, str], list[dict]] = {}
        for e in edges:
            key = (e.type, self._schema.node_type_of(e.src).label, self._schema.node_type_of(e.dst).label)
            by_ends.setdefault(key, []).append({"src": e.src, "dst": e.dst, "props": e.props})
        for (rel, s, d), rows in sorted(by_ends.items()):
            jobs.append((f"{rel} {s}->{d}", Q.merge_edges(rel, s, d), rows))
        total = sum(len(rows) for _, _, rows in jobs)
        with _progress("writing to Neo4j", total, enabled=progress and total > self.batch_size) as advance:
            for _, query, rows in jobs:
                for i in range(0, len(rows), self.batch_size):
                    batch = rows[i : i + self.batch_size]
                    self._write_tx(query, rows=batch)
                    advance(len(batch))

    def write_naive(self, edges: Sequence[Edge]) -> None:
        """Write edges one ``MERGE`` statement and one transaction each (benchmark baseline)."""
        with self._driver.session(database=self.database) as s:
            for e in edges:
                q = Q.naive_merge_edge(
                    e.type, self._schema.node_type_of(e.src).label, self._schema.node_type_of(e.dst).label
                )
                s.execute_write(lambda tx, q=q, e=e: tx.run(q, src=e.src, dst=e.dst, props=e.props).consume())

    def existing_ids(self, ids: Collection[str]) -> set[str]:
        ids = list(ids)
        out: set[str] = set()
        for i in range(0, len(ids), 50_000):
            out.update(r["id"] for r in self._read(Q.EXISTING_IDS, ids=ids[i : i + 50_000]))
        return out

    def delete(self, node_ids: Collection[str] = (), edge_keys: Collection[tuple[str, str, str]] = ()) -> None:
        rows = [{"src": s, "type": t, "dst": d} for s, t, d in edge_keys]
        for i in range(0, len(rows), self.batch_size):
            self._write_tx(Q.DELETE_EDGES, rows=rows[i : i + self.batch_size])
        ids = list(node_ids)
        for i in range(0, len(ids), self.batch_size):
            self._write_tx(Q.DELETE_NODES, ids=ids[i : i + self.batch_size])

    def replace_properties(self, node_id: str, props: dict[str, Any]) -> None:
        self._write_tx(Q.REPLACE_PROPERTIES, id=node_id, props=props)

    def clear(self) -> None:
        self._autocommit(Q.CLEAR)

    # -- reading -------------------------------------------------------------------------------

    def counts(self) -> Counts:
        nodes = {lab: self._read(Q.count_nodes(lab))[0]["n"] for lab in self._schema.node_types}
        rels = {t: self._read(Q.count_edges(t))[0]["n"] for t in self._schema.relationship_types}
        return Counts({k: v for k, v in nodes.items() if v}, {k: v for k, v in rels.items() if v})

    def _stream(self, query: str) -> Iterator[neo4j.Record]:
        with self._driver.session(database=self.database, default_access_mode=neo4j.READ_ACCESS) as s:
            yield from s.run(query)

    def iter_nodes(self, type: str | None = None) -> Iterator[Node]:
        for label in [type] if type else sorted(self._schema.node_types):
            for r in self._stream(Q.scan_nodes(label)):
                props = dict(r["props"])
                props.pop("id", None)
                yield Node(label, r["id"], props)

    def iter_edges(self, type: str | None = None) -> Iterator[Edge]:
        for rel in [type] if type else sorted(self._schema.relationship_types):
            for r in self._stream(Q.scan_edges(rel)):
                yield Edge(rel, r["src"], r["dst"], dict(r["props"]))

    # -- named queries ---------------------------------------------------------------------------

    def node(self, node_id: str) -> Node | None:
        rows = self._read(Q.NODE_BY_ID, id=node_id)
        if not rows:
            labels = [lab for lab, nt in self._schema.node_types.items() if "alt_ids" in nt.properties]
            rows = self._read(Q.node_by_alt_id(labels), id=node_id) if labels else []
        if not rows:
            return None
        return min((self._node(r["labels"], r["props"]) for r in rows), key=lambda n: n.id)

    def lookup(self, text: str, *, types: Collection[str] | None = None, limit: int = 20) -> list[Node]:
        phrase = Q.lucene_phrase(text)
        params = {"text": text, "norm": normalise(text), "phrase": phrase}
        try:
            rows = self._read(Q.LOOKUP if phrase is not None else Q.LOOKUP_SCAN, **params)
        except StoreError as e:
            # A database kgdx has not written to yet has no lookup index: scan instead.
            if Q.LOOKUP_INDEX not in str(e):
                raise
            rows = self._read(Q.LOOKUP_SCAN, **params)
        found = [self._node(r["labels"], r["props"]) for r in rows]
        return self._finish_lookup(found, types, limit)

    def neighbours(
        self,
        node_id: str,
        *,
        rel_types: Collection[str] | None = None,
        direction: Direction = "both",
        node_types: Collection[str] | None = None,
    ) -> list[Neighbour]:
        if direction not in ("out", "in", "both"):
            raise StoreError(f"'direction' must be 'out', 'in' or 'both' (got {direction!r})")
        rows = self._read(
            Q.neighbours(direction),
            id=node_id,
            types=None if rel_types is None else list(rel_types),
            labels=None if node_types is None else list(node_types),
        )
        return self._sorted_neighbours(
            Neighbour(Edge(r["type"], r["src"], r["dst"], r["rprops"]), self._node(r["labels"], r["props"]))
            for r in rows
        )

    def equivalence_class(self, disease_id: str) -> list[Node]:
        rows = self._read(Q.EQUIVALENCE_CLASS, id=disease_id)
        return sorted((self._node(r["labels"], r["props"]) for r in rows), key=lambda n: n.id)

    def interactions(self, drug_ids: Collection[str]) -> list[Edge]:
        rows = self._read(Q.INTERACTIONS, ids=list(drug_ids))
        return self._sorted_edges(Edge(r["type"], r["src"], r["dst"], r["rprops"]) for r in rows)

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
        rows = self._read(
            Q.evidence_paths(max_hops),
            target=target_id,
            concepts=list(concept_ids),
            types=list(rel_types),
            cap=MAX_PATHS + 1,
        )
        if len(rows) > MAX_PATHS:
            raise too_many_paths()
        paths = []
        for r in rows:
            nodes = [self._node(n["labels"], n["props"]) for n in reversed(r["nodes"])]
            edges = [Edge(e["type"], e["src"], e["dst"], e["props"]) for e in reversed(r["rels"])]
            paths.append(Path(tuple(nodes), tuple(edges)))
        return self._finish_paths(paths, limit)

    def subgraph(
        self, seed_ids: Collection[str], *, hops: int = 1, rel_types: Collection[str] | None = None
    ) -> tuple[list[Node], list[Edge]]:
        self._check_subgraph_hops(hops)
        types = None if rel_types is None else list(rel_types)
        seen = self.existing_ids(seed_ids)
        frontier = set(seen)
        for _ in range(hops):
            if not frontier:
                break
            reached = {r["id"] for r in self._read(Q.EXPAND, ids=sorted(frontier), types=types)}
            frontier = reached - seen
            seen |= frontier
        ids = sorted(seen)
        nodes = sorted(
            (self._node(r["labels"], r["props"]) for r in self._read(Q.NODES_BY_IDS, ids=ids)), key=lambda n: n.id
        )
        edges = [
            Edge(r["type"], r["src"], r["dst"], r["rprops"]) for r in self._read(Q.INDUCED_EDGES, ids=ids, types=types)
        ]
        return nodes, self._sorted_edges(edges)

    # -- the read-only user path -----------------------------------------------------------------

    def cypher(
        self,
        query: str,
        params: Mapping[str, Any] | None = None,
        *,
        timeout: float = 30.0,
        max_rows: int = 1000,
    ) -> CypherResult:
        """Run a user's query read-only, with a timeout and a row cap.

        Three guards, so that nothing a user types can change the database: the query is first
        planned with EXPLAIN and refused unless Neo4j classes it as read-only and its plan uses no
        forbidden operator or procedure; it then runs in a READ-mode transaction with a server-side
        timeout; and that transaction is always rolled back, never committed.

        Raises:
            ReadOnlyQueryError: for a write, schema, admin or otherwise forbidden statement.
            StoreError: for a syntax error, a timeout or an unreachable server.
        """
        if not query or not query.strip():
            raise StoreError("the query is empty")
        params = dict(params or {})
        try:
            with self._driver.session(database=self.database, default_access_mode=neo4j.READ_ACCESS) as s:
                summary = s.run(Q.explain(query), params).consume()
        except ClientError as e:
            code = e.code or ""
            if "Forbidden" in code or "AccessMode" in code or "AdministrationCommand" in code:
                raise ReadOnlyQueryError(f"the read-only Cypher path refuses this query: {e.message}") from None
            raise StoreError(f"invalid query: {e.message}") from None
        except Neo4jError as e:
            raise StoreError(f"query failed: {e.message}") from None
        _check_read_only(summary)
        try:
            with self._driver.session(database=self.database, default_access_mode=neo4j.READ_ACCESS) as s:
                tx = s.begin_transaction(timeout=timeout)
                try:
                    result = tx.run(query, params)
                    columns = list(result.keys())
                    rows: list[list[Any]] = []
                    truncated = False
                    for record in result:
                        if len(rows) == max_rows:
                            truncated = True
                            break
                        rows.append([_plain(v) for v in record.values()])
                finally:
                    tx.rollback()
        except ClientError as e:
            code = e.code or ""
            if "TransactionTimedOut" in code or "Timeout" in code:
                raise StoreError(f"the query ran past its {timeout:g} s timeout") from None
            if "Forbidden" in code or "AccessMode" in code or "WriteOnReadOnlyAccessDbException" in code:
                raise ReadOnlyQueryError(f"refused: {e.message}") from None
            raise StoreError(f"query failed: {e.message}") from None
        except Neo4jError as e:
            if "TransactionTimedOut" in (e.code or ""):
                raise StoreError(f"the query ran past its {timeout:g} s timeout") from None
            raise StoreError(f"query failed: {e.message}") from None
        return CypherResult(columns, rows, truncated)


def _walk(plan: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    yield plan
    for child in plan.get("children", ()):
        yield from _walk(child)


def _check_read_only(summary: neo4j.ResultSummary) -> None:
    """Refuse a planned query unless it is read-only and uses nothing forbidden."""
    kind = summary.query_type
    if kind != "r":
        what = {"w": "writes", "rw": "reads and writes", "s": "is a schema or administration command"}.get(
            kind or "", f"is of type {kind!r}"
        )
        raise ReadOnlyQueryError(f"the read-only Cypher path refuses this query: it {what}")
    plan = summary.plan or {}
    for op in _walk(plan):
        name = str(op.get("operatorType", ""))
        base = name.split("@")[0]
        if base in Q.FORBIDDEN_OPERATORS:
            raise ReadOnlyQueryError(f"the read-only Cypher path refuses the operator {base}")
        if base == "ProcedureCall":
            details = str(op.get("args", {}).get("Details", ""))
            for bad in Q.FORBIDDEN_PROCEDURES:
                if bad.lower() in details.lower():
                    raise ReadOnlyQueryError(f"the read-only Cypher path refuses the procedure call {details!r}")
