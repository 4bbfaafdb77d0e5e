"""Cold start: how long a fresh ``kgdx diagnose`` takes, and how much memory it needs.

Each run is a new process (``kgdx diagnose examples/chest_case.json``, embedded KG, default
model), timed from outside with its peak RSS, so imports, loading the KG and the model, ranking,
explaining and exiting all count. Two conditions, alternated in one run:

- ``no cache``: the snapshot's ``cache/`` is deleted first, so the process builds the phenotype
  index from the KG and writes the Arrow copies of the tables (what the first start after
  ``kg build`` or ``kg extend`` pays);
- ``cached``: the index is read back and the tables memory-mapped from the snapshot's cache.

Each run gives two times: ``answer`` (the last byte of the answer written to stdout) and ``wall``
(the process has exited). The script exits without tearing the interpreter down
(``kgdx.app.cli._exit``), which with PyPI's CUDA build of torch took about a third of a second
and 120 MB.

The snapshot's load is also timed in this process, as ``kgdx diagnose`` loads it (nodes and edges
kept as memory-mapped tables, see ``kgdx.kg.snapshot.NodeColumns`` and ``EdgeColumns``) and with
the networkx graph built at load as it was before (the baseline).

The target (issue: reasoning v2) is ≤ 3 s and ≤ 800 MB on this 2-core machine.

Run::

    python -m benchmarks.cold_start [--repeat 3] [--baseline /tmp/old-site]
"""

from __future__ import annotations

import argparse
import os
import selectors
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks._common import write_results
from kgdx.app.stores import ensure_snapshot

ROOT = Path(__file__).resolve().parents[1]
CASE = ROOT / "examples" / "chest_case.json"
KGDX = str(Path(sys.executable).with_name("kgdx"))  # the installed console script, as a user runs it


def _command(baseline: Path | None) -> tuple[list[str], dict[str, str], str | None]:
    """The ``kgdx diagnose`` command line, environment and folder: this checkout's installed script,
    or the ``kgdx`` package installed in ``baseline`` (``pip install --target``), run from a folder
    where nothing else named kgdx can be imported."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    if baseline is None:
        return [KGDX, "diagnose", str(CASE)], env, None
    # As the installed script exits (without the interpreter's teardown), where the baseline's
    # ``main`` can; a ``python -c`` caller would otherwise get the teardown the script skips.
    code = "import inspect\nfrom kgdx.app.cli import main\nmain(**({'hard_exit': True} if 'hard_exit' in inspect.signature(main).parameters else {}))"
    return [sys.executable, "-c", code, "diagnose", str(CASE)], {**env, "PYTHONPATH": str(baseline)}, "/"


def one_run(baseline: Path | None = None) -> tuple[float, float]:
    """Seconds of one ``kgdx diagnose`` process: until its answer's last byte, and until it exits."""
    cmd, env, cwd = _command(baseline)
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=cwd)
    answer, err = t, b""
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        sel.register(proc.stderr, selectors.EVENT_READ)
        while sel.get_map():
            for key, _ in sel.select():
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    sel.unregister(key.fileobj)
                elif key.fileobj is proc.stdout:
                    answer = time.perf_counter()
                else:
                    err += chunk
    wall = time.perf_counter() - t
    if proc.wait():
        raise SystemExit(f"kgdx diagnose failed: {err.decode().strip().splitlines()[-1:]}")
    return answer - t, wall


def load_times(repeat: int) -> dict[str, float]:
    """Median seconds to load the default snapshot in this process: as tables (what
    ``kgdx diagnose`` does) and with the networkx graph built at load (the baseline)."""
    from kgdx.kg.snapshot import load_snapshot

    path = ensure_snapshot()
    times: dict[str, list[float]] = {"tables": [], "graph built at load": []}
    for _ in range(repeat):
        t = time.perf_counter()
        load_snapshot(path, validate=False)
        times["tables"].append(time.perf_counter() - t)
        t = time.perf_counter()
        load_snapshot(path, validate=False).graph  # noqa: B018 - building the graph is what is timed
        times["graph built at load"].append(time.perf_counter() - t)
    return {k: round(statistics.median(v), 2) for k, v in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", help="JSON results path (default benchmarks/results/cold_start.json)")
    ap.add_argument(
        "--baseline",
        type=Path,
        help="a folder holding an earlier kgdx (git worktree add /tmp/old <commit>; pip install --no-deps "
        "--target /tmp/old-site /tmp/old): also timed, alternating with this checkout's cached runs",
    )
    args = ap.parse_args()

    cache = ensure_snapshot() / "cache"
    one_run()  # warm the file system cache and make sure the index cache exists
    runs: dict[str, list[tuple[float, float]]] = {"no cache": [], "cached": []}
    if args.baseline is not None:
        one_run(args.baseline)
        runs["baseline, cached"] = []
    for _ in range(args.repeat):
        shutil.rmtree(cache, ignore_errors=True)
        runs["no cache"].append(one_run())
        runs["cached"].append(one_run())
        if args.baseline is not None:
            runs["baseline, cached"].append(one_run(args.baseline))
    out: dict = {"case": str(CASE.relative_to(ROOT)), "repeat": args.repeat, "conditions": {}}
    if args.baseline is not None:
        out["baseline"] = str(args.baseline)
    for name, times in runs.items():
        answers, walls = [a for a, _ in times], [w for _, w in times]
        out["conditions"][name] = {
            "answer_s_median": round(statistics.median(answers), 2),
            "wall_s_median": round(statistics.median(walls), 2),
            "answer_s_all": [round(a, 2) for a in answers],
            "wall_s_all": [round(w, 2) for w in walls],
        }
        print(
            f"{name:15s} answer {statistics.median(answers):.2f} s, exit {statistics.median(walls):.2f} s "
            f"(medians; exits: {', '.join(f'{w:.2f}' for w in walls)})"
        )
    # Peak RSS per condition, each measured in its own child so the maxima do not mix.
    for name in runs:
        if name == "no cache":
            shutil.rmtree(cache, ignore_errors=True)
        rss = _peak_rss_mb_of_one_run(args.baseline if name.startswith("baseline") else None)
        out["conditions"][name]["peak_rss_mb"] = round(rss)
        print(f"{name:15s} peak RSS {rss:.0f} MB")
    nc, c = out["conditions"]["no cache"], out["conditions"]["cached"]
    out["speedup"] = round(nc["wall_s_median"] / c["wall_s_median"], 2)
    out["snapshot_load_s"] = load = load_times(args.repeat)
    out["snapshot_load_speedup"] = round(load["graph built at load"] / load["tables"], 2)
    out["targets"] = {"wall_s": 3.0, "peak_rss_mb": 800}
    print(f"cached is {out['speedup']}x faster to start; target ≤ 3 s and ≤ 800 MB")
    print(
        f"snapshot load: {load['tables']:.2f} s as tables, {load['graph built at load']:.2f} s "
        f"building the graph at load ({out['snapshot_load_speedup']}x)"
    )
    print(f"wrote {write_results('cold_start', out, args.out)}")


def _peak_rss_mb_of_one_run(baseline: Path | None = None) -> float:
    """Peak RSS of one run, measured in a fresh helper process (its only child is that run)."""
    cmd, env, cwd = _command(baseline)
    code = (
        "import resource, subprocess, sys;"
        f"subprocess.run({cmd!r}, capture_output=True, check=True, env={env!r}, cwd={cwd!r});"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(r.stdout.strip()) / 1024


if __name__ == "__main__":
    main()
