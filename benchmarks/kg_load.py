"""KG platform benchmark: bulk load into Neo4j vs a naive loader, in-memory build, query latency.

On a generated KG (default 100k nodes, 1M relationships; deterministic), in one run:

- Neo4j load rate (relationships/s) of the batched ``UNWIND … MERGE`` loader, against a naive
  loader that sends one ``MERGE`` per row in its own transaction, run on a slice (default 20k
  rows) and extrapolated; the ratio of the two rates;
- the in-memory build rate (records/s) and the peak memory it added;
- p50/p95 latency of each named query on both stores.

The Neo4j database at KGDX_NEO4J_URI is wiped. Run::

    kgdx neo4j start
    python -m benchmarks.kg_load            # full size (about 3-4 minutes on 2 cores)
    python -m benchmarks.kg_load --nodes 10000 --edges 100000 --naive-rows 2000   # quick
"""

from __future__ import annotations

import argparse
import gc
import random
import time
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]

from benchmarks._common import latencies_ms, peak_rss_mb, rss_mb, write_results
from kgdx.kg.memory_store import MemoryStore
from kgdx.kg.neo4j_store import Neo4jStore
from kgdx.kg.records import Edge, Node
from kgdx.kg.schema import core_schema

# Share of nodes and relationships per type, shaped like the default KG plus drugs and genes.
NODE_MIX = {"Phenotype": 0.45, "Disease": 0.30, "Gene": 0.12, "Drug": 0.10, "LabTest": 0.03}
EDGE_MIX = {
    "HAS_PHENOTYPE": 0.70,
    "IS_A": 0.08,
    "ASSOCIATED_WITH": 0.10,
    "TREATS": 0.06,
    "INTERACTS_WITH": 0.04,
    "INDICATES": 0.02,
}
ENDS = {
    "HAS_PHENOTYPE": ("Disease", "Phenotype"),
    "IS_A": ("Phenotype", "Phenotype"),
    "ASSOCIATED_WITH": ("Gene", "Disease"),
    "TREATS": ("Drug", "Disease"),
    "INTERACTS_WITH": ("Drug", "Drug"),
    "INDICATES": ("LabTest", "Phenotype"),
}


def _id(label: str, i: int) -> str:
    return {
        "Phenotype": f"HP:{i:07d}",
        "Disease": f"OMIM:{100000 + i:06d}",
        "Gene": f"NCBIGene:{i + 1}",
        "Drug": f"DRUGBANK:DB{i:05d}",
        "LabTest": f"LOINC:{i + 1}-0",
    }[label]


def generate(n_nodes: int, n_edges: int, seed: int = 0) -> tuple[list[Node], list[Edge]]:
    """A deterministic KG of about ``n_nodes`` nodes and exactly ``n_edges`` distinct edges."""
    rng = random.Random(seed)
    counts = {t: max(2, int(n_nodes * share)) for t, share in NODE_MIX.items()}
    nodes = [
        Node(
            t,
            _id(t, i),
            {"name": f"{t} {i}", **({"symbol": f"G{i}"} if t == "Gene" else {"synonyms": [f"{t.lower()} {i}"]})},
        )
        for t, n in counts.items()
        for i in range(n)
    ]
    edges: list[Edge] = []
    seen: set[tuple[str, str, str]] = set()
    for rel, share in EDGE_MIX.items():
        want = int(n_edges * share) if rel != "INDICATES" else n_edges - len(edges)
        s_t, d_t = ENDS[rel]
        made = 0
        while made < want:
            a, b = rng.randrange(counts[s_t]), rng.randrange(counts[d_t])
            if s_t == d_t and a == b:
                continue
            src, dst = _id(s_t, a), _id(d_t, b)
            if rel == "INTERACTS_WITH" and dst < src:
                src, dst = dst, src
            if (src, rel, dst) in seen:
                continue
            seen.add((src, rel, dst))
            props = {"source": "generated"}
            if rel == "HAS_PHENOTYPE":
                props["frequency"] = round(rng.random(), 3)
            elif rel == "INTERACTS_WITH":
                props |= {"severity": "moderate", "mechanism": "generated"}
            elif rel == "INDICATES":
                props["direction"] = "high"
            edges.append(Edge(rel, src, dst, props))
            made += 1
    return nodes, edges


QUERIES = {
    "node": lambda s, ids: s.node(ids["Phenotype"]),
    "lookup": lambda s, ids: s.lookup("Disease 7"),
    "neighbours": lambda s, ids: s.neighbours(ids["Disease"]),
    "disease_phenotypes": lambda s, ids: s.disease_phenotypes(ids["Disease"]),
    "phenotype_diseases": lambda s, ids: s.phenotype_diseases(ids["Phenotype"]),
    "drug_indications": lambda s, ids: s.drug_indications(ids["Drug"]),
    "interactions": lambda s, ids: s.interactions(ids["drugs"]),
    "evidence_paths": lambda s, ids: s.evidence_paths(ids["concepts"], ids["Disease"], max_hops=2),
    "subgraph": lambda s, ids: s.subgraph([ids["Disease"]], hops=1),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nodes", type=int, default=100_000)
    ap.add_argument("--edges", type=int, default=1_000_000)
    ap.add_argument("--naive-rows", type=int, default=20_000, help="rows the naive loader writes (extrapolated)")
    ap.add_argument("--batch-size", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=200, help="calls per named query for the latency figures")
    ap.add_argument("--out", help="JSON results path (default benchmarks/results/kg_load.json)")
    args = ap.parse_args()

    t = time.perf_counter()
    nodes, edges = generate(args.nodes, args.edges)
    print(f"generated {len(nodes):,} nodes and {len(edges):,} relationships in {time.perf_counter() - t:.1f} s")
    schema = core_schema()

    # In-memory build: validation + merge + networkx, as `kgdx kg build` does it.
    gc.collect()
    base = rss_mb()
    mem = MemoryStore(schema)
    rep = mem.write([*nodes, *edges])
    mem_rate = (rep.nodes + rep.edges) / rep.seconds
    memory = {
        "seconds": round(rep.seconds, 2),
        "records_per_s": round(mem_rate),
        "relationships_per_s": round(rep.edges / rep.seconds),
        "peak_rss_mb": round(peak_rss_mb()),
        "added_rss_mb": round(rss_mb() - base),
    }
    print(f"in-memory build: {rep.seconds:.1f} s, {mem_rate:,.0f} records/s, peak RSS {memory['peak_rss_mb']:,} MB")

    neo = Neo4jStore.from_settings(schema)
    neo.batch_size = args.batch_size
    neo.clear()
    neo.ensure_schema()
    # Naive baseline first, on a slice of the relationships whose end nodes are loaded.
    neo.write(nodes)
    naive_slice = edges[: args.naive_rows]
    t = time.perf_counter()
    neo.write_naive(naive_slice)
    naive_s = time.perf_counter() - t
    naive_rate = len(naive_slice) / naive_s
    print(
        f"naive loader: {len(naive_slice):,} rows in {naive_s:.1f} s = {naive_rate:,.0f} relationships/s "
        f"(extrapolated to {len(edges):,}: {len(edges) / naive_rate / 60:.1f} min)"
    )
    neo.clear()

    t = time.perf_counter()
    neo.write([*nodes, *edges], progress=True)
    bulk_s = time.perf_counter() - t
    bulk_rate = len(edges) / bulk_s
    counts = neo.counts()
    assert counts.total_relationships == len(edges) and counts.total_nodes == len(nodes), counts
    print(
        f"bulk loader: {len(nodes):,} nodes + {len(edges):,} relationships in {bulk_s:.1f} s = "
        f"{bulk_rate:,.0f} relationships/s ({bulk_rate / naive_rate:.0f}x the naive loader)"
    )

    rng = random.Random(1)
    ids = {
        "Phenotype": _id("Phenotype", 17),
        "Disease": _id("Disease", 42),
        "Drug": _id("Drug", 5),
        "drugs": [_id("Drug", rng.randrange(100)) for _ in range(20)],
    }
    ids["concepts"] = [nb.node.id for nb in mem.disease_phenotypes(ids["Disease"])][:3] + [_id("Phenotype", 3)]
    latency = {}
    for name, q in QUERIES.items():
        latency[name] = {
            "memory": latencies_ms(lambda q=q: q(mem, ids), args.repeat),
            "neo4j": latencies_ms(lambda q=q: q(neo, ids), args.repeat),
        }
        assert q(mem, ids) == q(neo, ids), name
        print(
            f"  {name:20s} memory p50 {latency[name]['memory']['p50']:8.3f} ms p95 {latency[name]['memory']['p95']:8.3f}"
            f" | neo4j p50 {latency[name]['neo4j']['p50']:8.3f} ms p95 {latency[name]['neo4j']['p95']:8.3f}"
        )
    neo.clear()
    neo.close()

    results = {
        "data": {
            "kind": "generated (benchmarks/kg_load.py:generate, seed 0)",
            "nodes": len(nodes),
            "relationships": len(edges),
        },
        "neo4j_load": {
            "bulk_seconds": round(bulk_s, 1),
            "bulk_relationships_per_s": round(bulk_rate),
            "naive_rows": len(naive_slice),
            "naive_seconds": round(naive_s, 1),
            "naive_relationships_per_s": round(naive_rate),
            "naive_extrapolated_seconds": round(len(edges) / naive_rate),
            "speedup": round(bulk_rate / naive_rate, 1),
            "batch_size": args.batch_size,
            "targets": {"speedup": 20, "relationships_per_s": 20_000},
        },
        "memory_build": memory,
        "query_latency_ms": latency,
    }
    print(f"wrote {write_results('kg_load', results, args.out)}")


if __name__ == "__main__":
    main()
