"""On-disk snapshots of a KG, so the default KG is built once and loaded in seconds.

A snapshot is a folder::

    schema.yaml              the schema the KG was validated against (core + modules)
    manifest.json            sources (name, version, release date, file hashes), counts, build info
    nodes/<Label>.parquet    one row per node: id plus one typed column per schema property
    edges/<TYPE>.parquet     one row per edge: src, dst plus one typed column per property
    cache/                   derived on first load, safe to delete: uncompressed Arrow copies of
                             the tables to memory-map (tables/), the phenotype index (index-*.npz)

Every file is plain Parquet with columns named after schema properties, so pandas, polars or
DuckDB read it directly. Saving writes a sibling temporary folder and swaps it in at the end, so
a failed build leaves the previous snapshot untouched.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from kgdx.errors import DataError
from kgdx.kg.memory_store import MemoryStore
from kgdx.kg.records import Edge, Node
from kgdx.kg.schema import PropertySpec, Schema
from kgdx.kg.store import group_by_type

__all__ = ["save_snapshot", "load_snapshot", "read_manifest", "snapshot_records", "EdgeColumns", "NodeColumns"]

_ARROW = {
    "str": pa.string(),
    "int": pa.int64(),
    "float": pa.float64(),
    "bool": pa.bool_(),
    "str_list": pa.list_(pa.string()),
    "int_list": pa.list_(pa.int64()),
    "float_list": pa.list_(pa.float64()),
}


def _table(key_cols: dict[str, list[str]], specs: dict[str, PropertySpec], props: list[dict[str, Any]]) -> pa.Table:
    cols = {k: pa.array(v, pa.string()) for k, v in key_cols.items()}
    for name, spec in specs.items():
        cols[name] = pa.array([p.get(name) for p in props], _ARROW[spec.type])
    return pa.table(cols)


def save_snapshot(store: MemoryStore, path: str | Path, manifest: dict[str, Any] | None = None) -> Path:
    """Write ``store`` as a snapshot folder at ``path``, replacing any previous one atomically.

    Returns:
        The snapshot folder.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        schema = store.schema
        (tmp / "nodes").mkdir()
        (tmp / "edges").mkdir()
        (tmp / "schema.yaml").write_text(schema.to_yaml(), encoding="utf-8")
        for label, nodes in sorted(group_by_type(store.iter_nodes()).items()):
            nodes.sort(key=lambda n: n.id)
            t = _table({"id": [n.id for n in nodes]}, schema.node_types[label].properties, [n.props for n in nodes])
            pq.write_table(t, tmp / "nodes" / f"{label}.parquet")
        for rel, edges in sorted(group_by_type(store.iter_edges()).items()):
            edges.sort(key=lambda e: (e.src, e.dst))
            t = _table(
                {"src": [e.src for e in edges], "dst": [e.dst for e in edges]},
                schema.relationship_types[rel].properties,
                [e.props for e in edges],
            )
            pq.write_table(t, tmp / "edges" / f"{rel}.parquet")
        info = {
            **(manifest or {}),
            "counts": store.counts().to_dict(),
            "schema": {"name": schema.name, "version": schema.version, "modules": list(schema.modules)},
        }
        (tmp / "manifest.json").write_text(json.dumps(info, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        old = None
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def read_manifest(path: str | Path) -> dict[str, Any]:
    """The manifest of a snapshot folder."""
    f = Path(path) / "manifest.json"
    try:
        return json.loads(f.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError("no KG snapshot here (run `kgdx kg build`)", file=f) from None
    except json.JSONDecodeError as e:
        raise DataError(f"corrupt manifest: {e}", file=f, line=e.lineno) from None


def _rows(table: pa.Table, keys: tuple[str, ...]) -> Iterator[tuple[list[str], dict[str, Any]]]:
    data = table.to_pydict()
    names = [c for c in table.column_names if c not in keys]
    for i in range(table.num_rows):
        yield [data[k][i] for k in keys], {c: data[c][i] for c in names if data[c][i] is not None}


def _schema(path: Path) -> Schema:
    if not (path / "schema.yaml").is_file():
        raise DataError("no KG snapshot here (run `kgdx kg build`)", file=path)
    return Schema.from_yaml(path / "schema.yaml")


def _nodes(path: Path) -> Iterator[Node]:
    for f in sorted((path / "nodes").glob("*.parquet")):
        label = f.stem
        for (node_id,), props in _rows(_read(f), ("id",)):
            yield Node(label, node_id, props)


def snapshot_records(path: str | Path) -> tuple[Schema, Iterator[Node | Edge]]:
    """The schema of a snapshot and an iterator over its records (nodes first)."""
    path = Path(path)
    schema = _schema(path)

    def records() -> Iterator[Node | Edge]:
        yield from _nodes(path)
        for f in sorted((path / "edges").glob("*.parquet")):
            rel = f.stem
            for (src, dst), props in _rows(_read(f), ("src", "dst")):
                yield Edge(rel, src, dst, props)

    return schema, records()


def _read(f: Path) -> pa.Table:
    try:
        return pq.read_table(f)
    except (pa.ArrowInvalid, OSError) as e:
        raise DataError(f"corrupt snapshot file: {e}", file=f) from None


def _props(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if v is not None}


def _mapped(f: Path) -> pa.Table:
    """``f``'s table, memory-mapped from an uncompressed Arrow copy in the snapshot's cache.

    Parquet is compressed, so reading it decodes every column into memory: about 100 MB for the
    default KG, of which a cold ``kgdx diagnose`` reads a few pages. The Arrow copy
    (``cache/tables/``, written on the first load, keyed on the Parquet file's size and time) is
    mapped instead, and only the pages read count. A snapshot folder that cannot be written to,
    or a damaged copy, falls back to reading the Parquet file.
    """
    st = f.stat()
    folder = f.parent.parent / "cache" / "tables"
    name = f"{f.parent.name}-{f.stem}"
    cache = folder / f"{name}-{st.st_size}-{st.st_mtime_ns}.arrow"
    if not cache.is_file():
        table = _read(f)
        tmp = None
        try:
            folder.mkdir(parents=True, exist_ok=True)
            for old in folder.glob(f"{name}-*.arrow"):  # copies of earlier versions of the file
                if old != cache:
                    old.unlink(missing_ok=True)
            fd, tmp = tempfile.mkstemp(suffix=".tmp", dir=folder)
            os.close(fd)
            os.chmod(tmp, 0o644)  # readable like the snapshot itself, by whoever may read that
            with pa.OSFile(tmp, "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
                writer.write_table(table)
            os.replace(tmp, cache)
        except OSError:  # a folder nobody may write to, a full disk: read the Parquet file this time
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
            return table
    try:
        return pa.ipc.open_file(pa.memory_map(str(cache), "r")).read_all()
    except (pa.ArrowInvalid, OSError):
        with contextlib.suppress(OSError):
            cache.unlink()  # a damaged copy: the next load writes a new one
        return _read(f)


class NodeColumns:
    """The snapshot's nodes as its Parquet tables, found by id; a node's record is made on request.

    As Python objects, the default KG's 38k nodes with their names, synonyms and cross-references
    take about 100 MB and half a second to load, and a cold ``kgdx diagnose`` reads a few dozen of
    them. A store loaded from a snapshot keeps them in this form until a write needs them in its
    graph (see :class:`~kgdx.kg.memory_store.MemoryStore`).
    """

    def __init__(self, tables: dict[str, pa.Table]) -> None:
        self._tables = {label: t.drop_columns(["id"]) for label, t in tables.items()}
        self._ids = {label: t.column("id").to_pylist() for label, t in tables.items()}
        self._where = {i: (label, row) for label, ids in self._ids.items() for row, i in enumerate(ids)}

    def __len__(self) -> int:
        return len(self._where)

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._where

    def node(self, node_id: str) -> Node:
        """The node ``node_id`` with a fresh property map (``KeyError`` if there is none)."""
        label, row = self._where[node_id]
        return Node(label, node_id, _props(self._tables[label].slice(row, 1).to_pylist()[0]))

    def nodes(self, type: str | None = None) -> Iterator[Node]:
        """Every node (of one type), in stored order."""
        for label, t in self._tables.items():
            if type is None or label == type:
                yield from (Node(label, i, _props(r)) for i, r in zip(self._ids[label], t.to_pylist()))

    def counts(self) -> dict[str, int]:
        """Nodes per type."""
        return {label: t.num_rows for label, t in self._tables.items()}

    def column(self, name: str) -> Iterator[tuple[str, Any]]:
        """``(node id, value)`` of one property over every node that has it (names, alt ids)."""
        for label, t in self._tables.items():
            if name in t.column_names:
                yield from ((i, v) for i, v in zip(self._ids[label], t.column(name).to_pylist()) if v is not None)


#: Up to this many rows, edge properties are read by zero-copy slices (:meth:`EdgeColumns._props_of`).
_FEW_ROWS = 1000


class EdgeColumns:
    """One relationship type's edges as the snapshot stores them, searchable by either end.

    Putting the default KG's 300k edges into a networkx graph takes seconds, and a cold
    ``kgdx diagnose`` reads a few hundred of them. So a store loaded from a snapshot keeps each
    type's edges in this form, answers point reads (neighbours of one node, one type's edges)
    from it, and moves them into its graph only when a write or a whole-graph query needs them
    there (see :class:`~kgdx.kg.memory_store.MemoryStore`).
    """

    def __init__(self, table: pa.Table) -> None:
        # Fixed-width unicode arrays: numpy sorts and binary-searches them in C.
        src = table.column("src").to_numpy(zero_copy_only=False).astype(str)
        self._dst = table.column("dst").to_numpy(zero_copy_only=False).astype(str)
        self._props = table.drop_columns(["src", "dst"])
        self._src = src
        # A snapshot stores each type's edges sorted by src (save_snapshot), so that order is
        # usually the identity and needs no copy; ``None`` stands for it.
        self._by_src = None if len(src) < 2 or bool(np.all(src[:-1] <= src[1:])) else np.argsort(src, kind="stable")
        self._src_sorted = src if self._by_src is None else src[self._by_src]
        self._by_dst: np.ndarray | None = None  # built on the first lookup by dst
        self._dst_sorted: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self._src)

    def _props_of(self, rows: np.ndarray) -> list[dict[str, Any]]:
        if len(rows) <= _FEW_ROWS:
            # Zero-copy slices read only these rows' pages: ``take`` on the memory-mapped columns
            # touched whole buffers, about 40 MB of a cold ``kgdx diagnose``'s peak.
            part = (
                pa.concat_tables([self._props.slice(int(r), 1) for r in rows]) if len(rows) else self._props.slice(0, 0)
            )
        else:
            part = self._props.take(rows)
        return [{k: v for k, v in r.items() if v is not None} for r in part.to_pylist()]

    @staticmethod
    def _rows(keys: np.ndarray, order: np.ndarray | None, node_id: str) -> np.ndarray:
        lo, hi = np.searchsorted(keys, node_id, "left"), np.searchsorted(keys, node_id, "right")
        return np.arange(lo, hi) if order is None else order[lo:hi]

    def out(self, node_id: str) -> list[tuple[str, dict[str, Any]]]:
        """``(dst, props)`` of each edge from ``node_id``; fresh property maps."""
        rows = self._rows(self._src_sorted, self._by_src, node_id)
        return list(zip(self._dst[rows].tolist(), self._props_of(rows)))

    def into(self, node_id: str) -> list[tuple[str, dict[str, Any]]]:
        """``(src, props)`` of each edge to ``node_id``; fresh property maps."""
        if self._by_dst is None:
            self._by_dst = np.argsort(self._dst, kind="stable")
            self._dst_sorted = self._dst[self._by_dst]
        rows = self._rows(self._dst_sorted, self._by_dst, node_id)
        return list(zip(self._src[rows].tolist(), self._props_of(rows)))

    def __iter__(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """``(src, dst, props)`` of every edge, in stored order."""
        props = self._props_of(np.arange(len(self)))
        return iter(zip(self._src.tolist(), self._dst.tolist(), props))


def load_snapshot(path: str | Path, *, validate: bool = True) -> MemoryStore:
    """Load a snapshot folder into a :class:`MemoryStore`.

    Args:
        path: The snapshot folder.
        validate: Check every record against the snapshot's schema (slower; off only for
            snapshots this process wrote itself). Unvalidated, the edges stay in
            :class:`EdgeColumns` until something needs them in the graph, which is what makes a
            cold start fast.
    """
    path = Path(path)
    if validate:
        schema, records = snapshot_records(path)
        store = MemoryStore(schema)
        store.write(records)
    else:
        store = MemoryStore(_schema(path))
        store._load(
            NodeColumns({f.stem: _mapped(f) for f in sorted((path / "nodes").glob("*.parquet"))}),
            {f.stem: EdgeColumns(_mapped(f)) for f in sorted((path / "edges").glob("*.parquet"))},
        )
    store._loaded_from(path.resolve())
    return store
