"""Snapshots: a documented Parquet layout, lossless round trips, atomic replacement."""

from __future__ import annotations

import os
import shutil

import pyarrow.parquet as pq
import pytest

from kgdx.errors import DataError
from kgdx.kg.records import Edge
from kgdx.kg.snapshot import load_snapshot, read_manifest, save_snapshot


def test_round_trip(memory_store, tmp_path):
    path = save_snapshot(memory_store, tmp_path / "snap", {"sources": [{"name": "tiny"}]})
    assert sorted(p.name for p in path.iterdir()) == ["edges", "manifest.json", "nodes", "schema.yaml"]
    t = pq.read_table(path / "nodes" / "Phenotype.parquet")
    assert t.column_names[:3] == ["id", "name", "synonyms"] and t.num_rows == 11
    e = pq.read_table(path / "edges" / "HAS_PHENOTYPE.parquet").to_pydict()
    assert e["src"][0] == "MONDO:0005249" and "frequency" in e
    back = load_snapshot(path)
    assert back.counts() == memory_store.counts()
    key = lambda r: (r.type, getattr(r, "id", None) or (r.src, r.dst))  # noqa: E731
    assert sorted(back.iter_nodes(), key=key) == sorted(memory_store.iter_nodes(), key=key)
    assert sorted(back.iter_edges(), key=key) == sorted(memory_store.iter_edges(), key=key)
    m = read_manifest(path)
    assert m["sources"] == [{"name": "tiny"}] and m["counts"]["total_relationships"] == 34


def test_unvalidated_load_answers_from_columns_until_a_write(memory_store, tmp_path):
    back = load_snapshot(save_snapshot(memory_store, tmp_path / "snap"), validate=False)
    assert back.counts() == memory_store.counts()
    for node in memory_store.iter_nodes():
        for direction in ("out", "in", "both"):
            assert back.neighbours(node.id, direction=direction) == memory_store.neighbours(
                node.id, direction=direction
            )
    drugs = [n.id for n in memory_store.iter_nodes("Drug")]
    assert back.interactions(drugs) == memory_store.interactions(drugs)
    assert back.node("HP:0002090") == memory_store.node("HP:0002090")
    assert back.lookup("lung infection") == memory_store.lookup("lung infection")
    assert back._columns and back._nodes is not None, "point reads must not move records into the graph"
    assert back.snapshot_path is not None
    new = Edge("IS_A", "HP:0002090", "HP:0000118", {"source": "test"})
    back.write([new])
    memory_store.write([new])
    assert not back._columns and back._nodes is None and back.snapshot_path is None
    key = lambda e: (e.type, e.src, e.dst)  # noqa: E731
    assert sorted(back.iter_edges(), key=key) == sorted(memory_store.iter_edges(), key=key)


def test_failed_save_leaves_previous_snapshot(memory_store, tmp_path, monkeypatch):
    path = save_snapshot(memory_store, tmp_path / "snap")
    before = (path / "manifest.json").read_text()
    import kgdx.kg.snapshot as snap

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(snap.pq, "write_table", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        save_snapshot(memory_store, path, {"new": True})
    assert (path / "manifest.json").read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["snap"]  # no temporary folder left behind


def test_missing_and_corrupt(tmp_path, memory_store):
    with pytest.raises(DataError, match="kgdx kg build"):
        load_snapshot(tmp_path)
    path = save_snapshot(memory_store, tmp_path / "snap")
    (path / "nodes" / "Disease.parquet").write_bytes(b"not parquet")
    with pytest.raises(DataError, match="Disease.parquet: corrupt snapshot file"):
        load_snapshot(path)
    (path / "manifest.json").write_text("{")
    with pytest.raises(DataError, match="corrupt manifest"):
        read_manifest(path)


def test_unvalidated_load_maps_an_arrow_copy_and_survives_a_damaged_one(memory_store, tmp_path):
    path = save_snapshot(memory_store, tmp_path / "snap")
    key = lambda r: (r.type, getattr(r, "id", None) or (r.src, r.dst))  # noqa: E731
    want = (sorted(memory_store.iter_nodes(), key=key), sorted(memory_store.iter_edges(), key=key))
    first = load_snapshot(path, validate=False)
    copies = sorted((path / "cache" / "tables").glob("*.arrow"))
    assert len(copies) == len(list(path.glob("*/*.parquet")))
    assert (sorted(first.iter_nodes(), key=key), sorted(first.iter_edges(), key=key)) == want
    parquet = next(path.glob("nodes/*.parquet"))
    os.utime(parquet, ns=(parquet.stat().st_atime_ns, parquet.stat().st_mtime_ns + 10**9))  # the file changed
    load_snapshot(path, validate=False)
    fresh = sorted((path / "cache" / "tables").glob("*.arrow"))
    assert len(fresh) == len(copies) and fresh != copies  # its copy was replaced, not added to
    copies = fresh
    copies[0].write_bytes(copies[0].read_bytes()[:20])  # a torn copy: the Parquet file is read instead
    again = load_snapshot(path, validate=False)
    assert (sorted(again.iter_nodes(), key=key), sorted(again.iter_edges(), key=key)) == want
    shutil.rmtree(path / "cache")
    (path / "cache").write_text("not a folder")  # nowhere to cache (as a read-only folder): all is read
    ro = load_snapshot(path, validate=False)
    assert sorted(ro.iter_edges(), key=key) == want[1]


def test_edge_columns_read_few_rows_by_slices_and_many_by_take():
    """A few rows (a cold ``kgdx diagnose`` reads a node's edges) are read by zero-copy slices,
    across chunk boundaries and in the order asked; the answer is the same as ``take``'s."""
    import numpy as np
    import pyarrow as pa

    from kgdx.kg import snapshot

    n = 3000
    table = pa.table(
        {
            "src": [f"S{i:05d}" for i in range(n)],
            "dst": [f"D{i % 7}" for i in range(n)],
            "frequency": [None if i % 3 else i / n for i in range(n)],
        }
    )
    cols = snapshot.EdgeColumns(pa.concat_tables([table.slice(0, 1000), table.slice(1000)]))  # two chunks
    want = lambda rows: [  # noqa: E731
        {k: v for k, v in r.items() if v is not None} for r in table.drop_columns(["src", "dst"]).take(rows).to_pylist()
    ]
    for rows in (np.array([], dtype=int), np.array([5, 999, 1000, 2999, 3]), np.arange(n)):
        assert cols._props_of(rows) == want(rows)
    assert len(np.arange(n)) > snapshot._FEW_ROWS  # the last case takes the other path
    assert cols.out("S01000") == [("D6", {})] and cols.into("D0")[1] == ("S00007", {})
