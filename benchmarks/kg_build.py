"""Default-KG benchmark: build time and peak memory in memory, then the full load into Neo4j.

Builds the default KG exactly as ``kgdx kg build`` does (installed HPO releases + built-in
curated modules), saves the snapshot to a temporary folder, then loads every node and
relationship into the Neo4j at KGDX_NEO4J_URI (wiped first) as ``kgdx kg load`` does.
Targets on the 2-core reference machine: build ≤ 30 s, full load ≤ 60 s. Run::

    kgdx neo4j start
    python -m benchmarks.kg_build [--no-neo4j]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]

from benchmarks._common import peak_rss_mb, rss_mb, write_results
from kgdx.app.build import build_default_kg


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--no-neo4j", action="store_true", help="measure the in-memory build only")
    ap.add_argument("--batch-size", type=int, default=10_000)
    ap.add_argument("--out", help="JSON results path (default benchmarks/results/kg_build.json)")
    args = ap.parse_args()

    base = rss_mb()
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        result = build_default_kg(Path(tmp) / "kg", progress=True)
        build_s = time.perf_counter() - t
    counts = result.store.counts()
    out = {
        "data": {
            "kind": "default KG (installed HPO releases + built-in modules)",
            "sources": [
                {"name": s["name"], "version": s["version"], "release_date": s["release_date"]}
                for s in result.manifest["sources"]
            ],
            "counts": counts.to_dict(),
        },
        "build": {
            "seconds": round(build_s, 1),
            "peak_rss_mb": round(peak_rss_mb()),
            "added_rss_mb": round(rss_mb() - base),
            "target_seconds": 30,
        },
    }
    print(
        f"build: {build_s:.1f} s, {counts.total_nodes:,} nodes, {counts.total_relationships:,} relationships, "
        f"peak RSS {out['build']['peak_rss_mb']:,} MB"
    )

    if not args.no_neo4j:
        from kgdx.kg.neo4j_store import Neo4jStore

        with Neo4jStore.from_settings(result.store.schema) as neo:
            neo.batch_size = args.batch_size
            neo.clear()
            t = time.perf_counter()
            neo.ensure_schema()
            rep = neo.write([*result.store.iter_nodes(), *result.store.iter_edges()], progress=True)
            load_s = time.perf_counter() - t
            assert neo.counts() == counts, "Neo4j counts differ from the in-memory KG"
        out["neo4j_load"] = {
            "seconds": round(load_s, 1),
            "relationships_per_s": round(rep.edges / load_s),
            "nodes": rep.nodes,
            "relationships": rep.edges,
            "batch_size": args.batch_size,
            "target_seconds": 60,
        }
        print(f"Neo4j load: {load_s:.1f} s, {rep.edges / load_s:,.0f} relationships/s (counts equal the in-memory KG)")
    print(f"wrote {write_results('kg_build', out, args.out)}")


if __name__ == "__main__":
    main()
