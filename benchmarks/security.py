"""Security figures: the read-only Cypher battery, /diagnose latency under 20 concurrent clients,
and the API's memory when sent a 50 MB body. Writes ``benchmarks/results/security.json``.

    python -m benchmarks.security [--allow-clear] [--skip-battery] [--requests 200]

- **Battery:** every statement of :mod:`kgdx.kg.cypher_battery` through the CLI, Python and HTTP
  against the Neo4j at ``KGDX_NEO4J_URI`` (the tiny KG is written into it first, so the database
  is cleared: pass ``--allow-clear``), with a canary file; escapes, failed reads, database change.
- **Materialized store:** what ``/diagnose`` does, in this process, on the KG as a snapshot
  loads it and after ``MemoryStore.materialize`` (which the API calls once); the same answer.
- **Latency:** ``kgdx api serve`` in a subprocess on a free loopback port (the default KG and
  the shipped model of ``KGDX_HOME``), 20 client threads each posting the example chest case to
  ``/diagnose`` with an API key; p50/p95 over all requests after a warm-up.
- **Cypher latency:** the p50 of one small read, opening a store per query (what each
  ``/kg/cypher`` request did before the API kept one driver) against the kept driver, and
  through ``/kg/cypher`` end to end, in the same process.
- **50 MB body:** the server's resident memory (``/proc/PID/status``) before and after a 50 MB
  ``/diagnose`` body with a Content-Length, and one sent chunked (no length), with the time to
  the 413.

Wall-clock figures depend on the machine (2 shared cores here): compare them only within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks._common import machine, write_results

ROOT = Path(__file__).resolve().parents[1]
CASE = json.loads((ROOT / "examples" / "chest_case.json").read_text())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def battery(allow_clear: bool) -> dict[str, Any]:
    import neo4j
    from fastapi.testclient import TestClient

    from benchmarks.lib.battery import cli_entry, http_entry, make_canary, python_entry, run_battery
    from kgdx.app import api
    from kgdx.app.api_keys import add_key
    from kgdx.kg.neo4j_store import Neo4jStore
    from kgdx.kg.schema import core_schema
    from kgdx.kg.testing import tiny_kg_records
    from kgdx.settings import get_settings

    s = get_settings()
    store = Neo4jStore.from_settings(core_schema())
    if store.get_meta("snapshot") and not allow_clear:
        raise SystemExit("the Neo4j database holds a loaded KG; pass --allow-clear to let the battery replace it")
    store.clear()
    store.write(tiny_kg_records())
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["KGDX_NEO4J_PASSWORD"] = s.neo4j_auth()[1]
        os.environ["KGDX_HOME"] = str(Path(tmp) / "home")
        get_settings.cache_clear()
        _, key = add_key("battery")
        api.limiter.enabled = False
        canary, line = make_canary(Path(tmp))
        entries = {"python": python_entry(store), "cli": cli_entry(), "http": http_entry(TestClient(api.app), key)}
        with neo4j.GraphDatabase.driver(s.neo4j_uri, auth=s.neo4j_auth()) as driver:
            report = run_battery(entries, driver, canary, line, timeout=2.0)
        latency = cypher_latency(TestClient(api.app), key)
    store.close()
    return {**report.summary(), "cypher_latency_ms": latency}


def cypher_latency(client, key: str, n: int = 100) -> dict[str, Any]:  # noqa: ANN001 - a TestClient
    """One small read, ``n`` times each way, in this process: the API's ``/kg/cypher`` (one driver
    kept for the process) against the same read with a store opened and closed per query, which
    is what each request did before the API kept its driver."""
    from kgdx.app import api
    from kgdx.app.stores import open_neo4j

    query = "MATCH (n:KgdxNode) RETURN count(n) AS n"

    def p50(fn) -> float:  # noqa: ANN001
        fn()  # warm-up
        times = []
        for _ in range(n):
            t = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t) * 1000)
        return round(statistics.median(times), 2)

    def per_query() -> None:
        with open_neo4j() as neo:
            neo.cypher(query)

    def http() -> None:
        r = client.post("/kg/cypher", json={"query": query}, headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 200, r.text

    out = {
        "queries": n,
        "store_per_query_p50": p50(per_query),
        "kept_driver_p50": p50(lambda: api._cypher_neo4j().cypher(query)),
        "http_kg_cypher_p50": p50(http),
    }
    out["speedup_kept_driver"] = round(out["store_per_query_p50"] / out["kept_driver_p50"], 1)
    return out


def materialized_store(n: int = 20) -> dict[str, Any]:
    """In this process, ``n`` times each: what ``/diagnose`` does for the example case (rank,
    explain the top 3, suggest drugs) on the KG as a snapshot loads it (columns, read on demand:
    a cold ``kgdx diagnose``) and after :meth:`MemoryStore.materialize` (what the API does once)."""
    import resource

    from kgdx.app.stores import open_memory
    from kgdx.reasoning import Diagnoser

    dx = Diagnoser.from_pretrained(store=open_memory(quiet=True))
    case = dx.load_case(ROOT / "examples" / "chest_case.json")

    def run() -> str:
        return json.dumps(dx.diagnose(case, k=10, explain=3, drugs=10).to_dict(), sort_keys=True, default=str)

    def ms() -> float:
        t = time.perf_counter()
        for _ in range(n):
            run()
        return round((time.perf_counter() - t) * 1000 / n, 1)

    before = run()
    lazy = ms()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t = time.perf_counter()
    dx.store.materialize()
    seconds = round(time.perf_counter() - t, 1)
    added = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - rss)
    assert run() == before, "materializing the store changed the answer"
    warm = ms()
    return {
        "runs": n,
        "columns_ms": lazy,
        "materialized_ms": warm,
        "speedup": round(lazy / warm, 2),
        "materialize_s": seconds,
        "materialize_added_peak_rss_mb": added,
        "same_answer": True,
    }


def _serve(home: str, port: int) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "KGDX_HOME": home, "KGDX_API_RATE_LIMIT": "100000/minute", "KGDX_STORE": "memory"}
    key = json.loads(
        subprocess.run(
            [sys.executable, "-m", "kgdx", "api", "keys", "add", f"bench-{port}", "--json"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )["key"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "kgdx", "api", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return proc, key


def api_figures(n_requests: int, clients: int = 20) -> dict[str, Any]:
    import httpx

    from kgdx.settings import get_settings

    home = str(get_settings().home_dir)
    port = _free_port()
    proc, key = _serve(home, port)
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {key}"}
    body = {"phenopacket": CASE, "k": 10, "explain": 3}
    out: dict[str, Any] = {"clients": clients, "requests": n_requests, "kg": f"{home}/kg/default (memory store)"}
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        t = time.monotonic()
        r = httpx.post(f"{base}/diagnose", json=body, headers=headers, timeout=600)
        r.raise_for_status()
        out["first_request_s"] = round(time.monotonic() - t, 2)  # loads the KG and the model
        for _ in range(3):
            httpx.post(f"{base}/diagnose", json=body, headers=headers, timeout=120).raise_for_status()

        times: list[float] = []
        errors: list[int] = []
        lock = threading.Lock()
        per_client = max(1, n_requests // clients)

        def client() -> None:
            with httpx.Client(timeout=300) as c:
                for _ in range(per_client):
                    t0 = time.perf_counter()
                    resp = c.post(f"{base}/diagnose", json=body, headers=headers)
                    dt = (time.perf_counter() - t0) * 1000
                    with lock:
                        (times if resp.status_code == 200 else errors).append(
                            dt if resp.status_code == 200 else resp.status_code
                        )

        t = time.monotonic()
        threads = [threading.Thread(target=client) for _ in range(clients)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        wall = time.monotonic() - t
        times.sort()
        out["diagnose_ms"] = {
            "p50": round(statistics.median(times), 1),
            "p95": round(times[int(0.95 * (len(times) - 1))], 1),
            "max": round(times[-1], 1),
            "n": len(times),
            "errors": errors[:10],
            "throughput_per_s": round(len(times) / wall, 2),
        }

        # The 50 MB body: refused from its length, then one streamed without a length.
        big = b'{"observed": [' + b'"HP:0000001",' * (50_000_000 // 13) + b'"HP:0000001"]}'
        before = _rss_mb(proc.pid)
        t = time.perf_counter()
        r = httpx.post(
            f"{base}/diagnose", content=big, headers={**headers, "Content-Type": "application/json"}, timeout=120
        )
        with_length_s = time.perf_counter() - t
        after_length = _rss_mb(proc.pid)

        def chunks():  # noqa: ANN202
            for i in range(0, len(big), 1 << 16):
                yield big[i : i + (1 << 16)]

        t = time.perf_counter()
        try:
            r2 = httpx.post(
                f"{base}/diagnose",
                content=chunks(),
                headers={**headers, "Content-Type": "application/json"},
                timeout=120,
            )
            chunked_status = r2.status_code
        except httpx.HTTPError as e:  # the server may close the connection after its 413
            chunked_status = f"connection closed after the refusal ({type(e).__name__})"
        chunked_s = time.perf_counter() - t
        after_chunked = _rss_mb(proc.pid)
        out["body_50mb"] = {
            "bytes": len(big),
            "with_content_length": {"status": r.status_code, "seconds": round(with_length_s, 3)},
            "chunked": {"status": chunked_status, "seconds": round(chunked_s, 3)},
            "server_rss_mb": {
                "before": round(before, 1),
                "after_content_length": round(after_length, 1),
                "after_chunked": round(after_chunked, 1),
            },
            "limit_bytes": get_settings().api_max_body_bytes,
        }
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--allow-clear", action="store_true", help="let the battery clear the Neo4j database")
    p.add_argument("--skip-battery", action="store_true")
    p.add_argument("--requests", type=int, default=200, help="/diagnose requests in all (20 clients)")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    results: dict[str, Any] = {"machine": machine()}
    results["store"] = materialized_store()
    print(json.dumps(results["store"], indent=2))
    results["api"] = api_figures(args.requests)
    print(json.dumps(results["api"], indent=2))
    if not args.skip_battery:
        results["battery"] = battery(args.allow_clear)
        print(json.dumps({k: v for k, v in results["battery"].items() if "details" not in k}, indent=2))
    path = write_results("security", results, args.out)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
