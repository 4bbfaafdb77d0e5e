"""The KG in Neo4j, through the official driver.

Writes are batched ``UNWIND … MERGE`` statements, one managed transaction per batch, retried by
the driver on transient errors; since every statement merges, a load that was interrupted and is
run again ends with exact counts and no duplicates. User Cypher runs on a separate read-only path
(:meth:`Neo4jStore.cypher`).
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import neo4j
from neo4j.exceptions import (
    AuthError,
    DriverError,
    Neo4jError,
    ServiceUnavailable,
    SessionExpired,
    TransientError,
)
from neo4j.graph import Node as GraphNode
from neo4j.graph import Path as GraphPath
from neo4j.graph import Relationship as GraphRelationship

from kgdx.errors import ReadOnlyQueryError, StoreError
from kgdx.kg import cypher_guard
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

__all__ = ["Neo4jStore", "CypherResult", "QueryLimits", "LOAD_STATE_KEY"]

#: Metadata key of the load state: ``{"state": "loading"|"complete", ...}`` (see :meth:`Neo4jStore.load_state`).
LOAD_STATE_KEY = "load_state"
#: Metadata tag of user-path transactions (visible in ``SHOW TRANSACTIONS``).
USER_QUERY_TAG = {"kgdx": "user-cypher"}
# Records the driver fetches per round trip on the user path: small, so caps act early.
#: Full-text hits that ranked search scores (names are ranked in Python, as in memory).
SEARCH_CANDIDATES = 500
_USER_FETCH_SIZE = 100
# Seconds past a user query's deadline before its connection is cut.
_DEADLINE_GRACE_S = 0.5
#: After cutting a timed-out query's connection, how long to wait for its worker to return.
_CUT_JOIN_S = 5.0
# Connection-level errors: the server went away (killed, restarted, network gone).
_LOST = (ServiceUnavailable, SessionExpired, ConnectionError)


@dataclass(frozen=True)
class QueryLimits:
    """Ceilings of the read-only path: a caller may ask for less, never for more.

    Attributes:
        timeout_s: Seconds a query may run (server-side, and checked again by the client).
        max_rows: Rows returned at most; more are cut and ``truncated`` is set.
        max_bytes: JSON size of the returned rows at most; more are cut and ``truncated`` is set.
    """

    timeout_s: float = 30.0
    max_rows: int = 1000
    max_bytes: int = 16_000_000

    def __post_init__(self) -> None:
        _positive("timeout_s", self.timeout_s)
        _positive("max_rows", self.max_rows, integer=True)
        _positive("max_bytes", self.max_bytes, integer=True)

    def narrow(self, timeout: float | None, max_rows: int | None, max_bytes: int | None) -> QueryLimits:
        """These limits lowered to what a caller asked for; asking for more than a ceiling is an error."""
        asked = {"timeout": timeout, "max_rows": max_rows, "max_bytes": max_bytes}
        ceilings = {"timeout": self.timeout_s, "max_rows": self.max_rows, "max_bytes": self.max_bytes}
        for key, value in asked.items():
            if value is None:
                continue
            _positive(key, value, integer=key != "timeout", error=StoreError)
            if value > ceilings[key]:
                raise StoreError(f"'{key}' may not exceed the server's cap of {ceilings[key]:g} (got {value:g})")
        return QueryLimits(
            timeout_s=float(timeout) if timeout is not None else self.timeout_s,
            max_rows=int(max_rows) if max_rows is not None else self.max_rows,
            max_bytes=int(max_bytes) if max_bytes is not None else self.max_bytes,
        )


def _positive(name: str, value: Any, *, integer: bool = False, error: type[Exception] = ValueError) -> None:
    kinds = (int,) if integer else (int, float)
    if (
        isinstance(value, bool)
        or not isinstance(value, kinds)
        or not value > 0
        or value != value
        or value == float("inf")
    ):
        raise error(f"'{name}' must be a positive {'integer' if integer else 'finite number'} (got {value!r})")


@dataclass
class CypherResult:
    """Rows of a user query: column names, JSON-ready rows, and whether a cap cut it short.

    Attributes:
        truncated: A cap cut the rows; ``truncated_by`` says which (``rows`` or ``bytes``).
        warnings: Notes for the user, e.g. that the KG in the database is incompletely loaded.
    """

    columns: list[str]
    rows: list[list[Any]]
    truncated: bool = False
    truncated_by: str | None = None
    warnings: list[str] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"columns": self.columns, "rows": self.rows, "truncated": self.truncated}
        if self.truncated_by:
            out["truncated_by"] = self.truncated_by
        if self.warnings:
            out["warnings"] = self.warnings
        return out


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
        limits: Ceilings of the read-only user path (:meth:`cypher`).

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
        limits: QueryLimits | None = None,
    ) -> None:
        super().__init__(schema)
        if batch_size < 1:
            raise ValueError(f"'batch_size' must be positive (got {batch_size})")
        self.uri = uri
        self.database = database
        self.batch_size = batch_size
        self.limits = limits or QueryLimits()
        try:
            # Server notifications ("label does not exist yet" …) are noise for kgdx's own queries.
            self._driver = neo4j.GraphDatabase.driver(
                uri, auth=auth, notifications_min_severity=neo4j.NotificationMinimumSeverity.OFF
            )
            self._driver.verify_connectivity()
        except (ServiceUnavailable, OSError, ValueError) as e:
            raise StoreError(f"cannot reach Neo4j at {uri} ({e}); start one with `kgdx neo4j start`") from None
        except AuthError as e:
            if auth is not None and not auth[1]:
                raise StoreError(
                    f"Neo4j at {uri} needs a password and kgdx has none: set KGDX_NEO4J_PASSWORD, or start the "
                    "local server with `kgdx neo4j start`, which keeps one in KGDX_HOME/neo4j-password"
                ) from None
            raise StoreError(
                f"Neo4j at {uri} refused the credentials: {e.message} (kgdx uses KGDX_NEO4J_PASSWORD, else the "
                "password `kgdx neo4j start` keeps in KGDX_HOME/neo4j-password)"
            ) from None
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
            settings.neo4j_auth(),
            database=settings.neo4j_database,
            batch_size=settings.batch_size,
            limits=QueryLimits(settings.query_timeout_s, settings.query_max_rows, settings.query_max_bytes),
        )

    def close(self) -> None:
        # A connection cut at a user query's deadline may fail to say goodbye; it is gone anyway.
        with contextlib.suppress(BufferError, OSError, neo4j.exceptions.DriverError):
            self._driver.close()

    def __enter__(self) -> Neo4jStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- low-level ---------------------------------------------------------------------------

    def _lost(self) -> StoreError:
        return StoreError(f"lost the connection to Neo4j at {self.uri}; rerun when it is back")

    def _read(self, query: str, **params: Any) -> list[dict[str, Any]]:
        try:
            records, _, _ = self._driver.execute_query(
                query, params, database_=self.database, routing_=neo4j.RoutingControl.READ
            )
        except Neo4jError as e:
            raise StoreError(f"Neo4j query failed: {e.message}") from e
        except _LOST:
            raise self._lost() from None
        return [r.data() for r in records]

    def _write_tx(self, query: str, **params: Any) -> None:
        def work(tx: neo4j.ManagedTransaction) -> None:
            tx.run(query, params).consume()

        try:
            with self._driver.session(database=self.database) as s:
                s.execute_write(work)
        except Neo4jError as e:
            raise StoreError(f"Neo4j write failed: {e.message}") from e
        except _LOST:
            raise self._lost() from None

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
            except _LOST:
                raise self._lost() from None

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

    def adopt_schema(self, schema: Schema) -> None:
        """Validate with ``schema`` from now on, changing nothing in the database: for the schema
        the database records, read once connected, without a second driver (unlike :meth:`migrate`,
        which makes the database follow a new schema)."""
        self._schema = schema
        self._schema_ready = False

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
        try:
            with self._driver.session(database=self.database, default_access_mode=neo4j.READ_ACCESS) as s:
                yield from s.run(query)
        except Neo4jError as e:
            raise StoreError(f"Neo4j query failed: {e.message}") from e
        except _LOST:
            raise self._lost() from None

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

    def _search_candidates(self, text: str) -> Iterable[Node]:
        """Candidates from the full-text index (names and synonyms), ranked afterwards in Python
        exactly as in memory."""
        query = Q.lucene_words(text)
        if query is None:
            return []
        try:
            rows = self._read(Q.SEARCH, lucene=query, limit=SEARCH_CANDIDATES)
        except StoreError as e:
            if Q.LOOKUP_INDEX not in str(e):
                raise
            return super()._search_candidates(text)  # no index yet: scan
        return [self._node(r["labels"], r["props"]) for r in rows]

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
        timeout: float | None = None,
        max_rows: int | None = None,
        max_bytes: int | None = None,
    ) -> CypherResult:
        """Run a user's query read-only, within the store's :class:`QueryLimits`.

        Layers, so that nothing a user types can change the database, read the server's files,
        act on other sessions or outlive its timeout:

        1. :func:`kgdx.kg.cypher_guard.check_query`: an allow-list of procedures and functions,
           refused clauses, and bounds on values that expressions build.
        2. Neo4j plans the query (EXPLAIN): it must be read-only, use no forbidden operator, and
           call only allow-listed procedures.
        3. It runs in a READ transaction with a server-side timeout, tagged ``kgdx: user-cypher``,
           that is always rolled back. Rows are read a few at a time; the row and byte caps cut
           the result, and a query still running at its deadline is an error, never a success.

        Args:
            timeout: Seconds; at most ``limits.timeout_s`` (the default).
            max_rows: At most ``limits.max_rows`` (the default).
            max_bytes: JSON size of the rows; at most ``limits.max_bytes`` (the default).

        Raises:
            ReadOnlyQueryError: for a write, schema, admin or otherwise refused statement.
            StoreError: a syntax error, a timeout, a limit above the store's cap, the server's
                per-transaction memory limit, or a lost server.
        """
        limits = self.limits.narrow(timeout, max_rows, max_bytes)
        if params is not None and not isinstance(params, Mapping):
            raise StoreError(f"'params' must be a mapping (got {type(params).__name__})")
        params = dict(params or {})
        cypher_guard.check_query(query, params)
        t0 = time.monotonic()
        deadline = t0 + limits.timeout_s
        try:
            with self._driver.session(database=self.database, default_access_mode=neo4j.READ_ACCESS) as s:
                tx = s.begin_transaction(timeout=limits.timeout_s, metadata=USER_QUERY_TAG)
                try:
                    summary = tx.run(Q.explain(query), params).consume()
                finally:
                    tx.rollback()
        except Neo4jError as e:
            raise self._user_error(e, limits, planning=True) from None
        except _LOST:
            raise self._lost() from None
        except DriverError as e:
            raise StoreError(f"query failed: {e}") from None
        except (ValueError, TypeError, OverflowError) as e:  # a parameter the driver cannot send
            raise StoreError(f"invalid parameters: {e}") from None
        _check_read_only(summary)
        box: dict[str, Any] = {"columns": [], "rows": [], "truncated_by": None}
        try:
            session = self._driver.session(
                database=self.database, default_access_mode=neo4j.READ_ACCESS, fetch_size=_USER_FETCH_SIZE
            )
        except _LOST:
            raise self._lost() from None

        def work() -> None:
            try:
                with session:
                    remaining = max(deadline - time.monotonic(), 0.001)
                    tx = session.begin_transaction(timeout=remaining, metadata=USER_QUERY_TAG)
                    try:
                        self._fetch(tx, query, params, limits, deadline, box)
                    finally:
                        with contextlib.suppress(Exception):  # a connection cut at the deadline
                            tx.rollback()
            except BaseException as e:  # handed to the caller's thread
                box["error"] = e

        # The rows are read in a worker thread, so that the deadline holds even while the driver
        # receives or decodes one huge row: at the deadline the connection is cut and the caller
        # gets the timeout error at once.
        worker = threading.Thread(target=work, name="kgdx-user-cypher", daemon=True)
        worker.start()
        worker.join(max(deadline - time.monotonic(), 0) + _DEADLINE_GRACE_S)
        if worker.is_alive():
            _cut(session)
            # Let the worker leave the driver before anyone closes it: the driver is not
            # thread-safe, and closing it while the worker still writes can fail.
            worker.join(_CUT_JOIN_S)
            raise self._timed_out(limits)
        error = box.get("error")
        if error is not None:
            try:
                raise error
            except Neo4jError as e:
                raise self._user_error(e, limits, planning=False) from None
            except _LOST:
                if time.monotonic() > deadline:
                    raise self._timed_out(limits) from None
                raise self._lost() from None
            except DriverError as e:
                raise StoreError(f"query failed: {e}") from None
            except (ValueError, TypeError, OverflowError) as e:
                raise StoreError(f"invalid parameters: {e}") from None
        # A query cut off at its deadline can still end "successfully" (a procedure that catches
        # the interruption): past the deadline it is a timeout, whatever the server said.
        if time.monotonic() > deadline:
            raise self._timed_out(limits)
        truncated_by = box["truncated_by"]
        return CypherResult(box["columns"], box["rows"], truncated_by is not None, truncated_by, self._load_warnings())

    def _fetch(
        self,
        tx: neo4j.Transaction,
        query: str,
        params: dict[str, Any],
        limits: QueryLimits,
        deadline: float,
        box: dict[str, Any],
    ) -> None:
        """Reads rows into ``box`` until the rows end or a cap or the deadline is reached."""
        result = tx.run(query, params)
        box["columns"] = list(result.keys())
        rows: list[list[Any]] = box["rows"]
        size = 2  # "[]"
        for record in result:
            if time.monotonic() > deadline:
                raise self._timed_out(limits)
            if len(rows) == limits.max_rows:
                box["truncated_by"] = "rows"
                return
            row = [_plain(v) for v in record.values()]
            size += len(json.dumps(row, default=str, ensure_ascii=False)) + 1
            if size > limits.max_bytes:
                box["truncated_by"] = "bytes"
                return
            rows.append(row)

    def _timed_out(self, limits: QueryLimits) -> StoreError:
        return StoreError(f"the query ran past its {limits.timeout_s:g} s timeout and was stopped")

    def _user_error(self, e: Neo4jError, limits: QueryLimits, *, planning: bool) -> StoreError:
        code = e.code or ""
        message = " ".join(str(e.message or e).split())
        if "TransactionTimedOut" in code or "TransactionTerminated" in code or "Terminated" in code:
            return self._timed_out(limits)
        if "MemoryPoolOutOfMemoryError" in code or "OutOfMemory" in code:
            return StoreError(
                "the query needs more memory than one transaction may use on this server "
                "(db.memory.transaction.max); narrow it, e.g. with LIMIT or fewer collected values"
            )
        if "Forbidden" in code or "AccessMode" in code or "AdministrationCommand" in code or "WriteOnReadOnly" in code:
            return ReadOnlyQueryError(f"the read-only Cypher path refuses this query: {message}")
        if "ProcedureNotFound" in code or "Unknown function" in message:
            return ReadOnlyQueryError(f"the read-only Cypher path refuses this query: {message}")
        return StoreError(f"{'invalid query' if planning else 'query failed'}: {message}")

    # -- load state ------------------------------------------------------------------------------

    def load_state(self) -> dict[str, Any] | None:
        """The state the last ``kgdx kg load`` left: ``{"state": "loading"|"complete", ...}``, or
        ``None`` for a database kgdx never loaded."""
        value = self.get_meta(LOAD_STATE_KEY)
        return value if isinstance(value, dict) else None

    def incomplete_load_warning(self) -> str | None:
        """One line if a load started and did not finish (interrupted, killed, failed), else ``None``."""
        state = self.load_state()
        if state and state.get("state") != "complete":
            return (
                f"the KG in Neo4j at {self.uri} is incomplete: a load started at {state.get('started_at', '?')} "
                "did not finish; rerun `kgdx kg load`"
            )
        return None

    def _load_warnings(self) -> list[str] | None:
        try:
            warning = self.incomplete_load_warning()
        except StoreError:
            return None
        return [warning] if warning else None


def _cut(session: neo4j.Session) -> None:
    """Shuts the socket of ``session``'s connection, so a worker blocked on it returns.

    The driver has no public way to abort a result mid-row; this reaches its connection's raw
    socket, and does nothing if a driver version keeps it elsewhere.
    """
    with contextlib.suppress(Exception):
        raw = session._connection.socket._socket  # type: ignore[attr-defined]
        raw.shutdown(socket.SHUT_RDWR)


_PROCEDURE_NAME = re.compile(r"^([\w.`]+)\s*\(")


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
            m = _PROCEDURE_NAME.match(details.strip())
            cypher_guard.check_plan_procedures([m.group(1).replace("`", "") if m else details])
