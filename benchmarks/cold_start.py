"""Cold start: how long a fresh ``kgdx diagnose`` takes, and how much memory it needs.

Each run is a new process (``kgdx diagnose examples/chest_case.json``, embedded KG, default
model), timed from outside with its peak RSS, so imports, loading the KG and the model, ranking,
explaining and exiting all count. Two conditions, alternated in one run:

- ``no index cache``: the cached phenotype index beside the snapshot is deleted first, so the
  process builds it from the KG (what every start paid before the cache, and what the first start
  after ``kg build`` or ``kg extend`` pays);
- ``cached``: the index is read back from the snapshot's cache.

The target (issue: reasoning v2) is ≤ 3 s and ≤ 800 MB on this 2-core machine.

Run::

    python -m benchmarks.cold_start [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
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


def one_run() -> float:
    """Wall seconds of one ``kgdx diagnose`` process."""
    t = time.perf_counter()
    r = subprocess.run(
        [KGDX, "diagnose", str(CASE)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    wall = time.perf_counter() - t
    if r.returncode:
        raise SystemExit(f"kgdx diagnose failed: {r.stderr.strip().splitlines()[-1:]}")
    return wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", help="JSON results path (default benchmarks/results/cold_start.json)")
    args = ap.parse_args()

    cache = ensure_snapshot() / "cache"
    one_run()  # warm the file system cache and make sure the index cache exists
    runs: dict[str, list[float]] = {"no index cache": [], "cached": []}
    for _ in range(args.repeat):
        shutil.rmtree(cache, ignore_errors=True)
        runs["no index cache"].append(one_run())
        runs["cached"].append(one_run())
    out: dict = {"case": str(CASE.relative_to(ROOT)), "repeat": args.repeat, "conditions": {}}
    for name, walls in runs.items():
        out["conditions"][name] = {
            "wall_s_median": round(statistics.median(walls), 2),
            "wall_s_all": [round(w, 2) for w in walls],
        }
        print(f"{name:15s} median {statistics.median(walls):.2f} s  (runs: {', '.join(f'{w:.2f}' for w in walls)})")
    # Peak RSS per condition, each measured in its own child so the maxima do not mix.
    for name in runs:
        if name == "no index cache":
            shutil.rmtree(cache, ignore_errors=True)
        rss = _peak_rss_mb_of_one_run()
        out["conditions"][name]["peak_rss_mb"] = round(rss)
        print(f"{name:15s} peak RSS {rss:.0f} MB")
    nc, c = out["conditions"]["no index cache"], out["conditions"]["cached"]
    out["speedup"] = round(nc["wall_s_median"] / c["wall_s_median"], 2)
    out["targets"] = {"wall_s": 3.0, "peak_rss_mb": 800}
    print(f"cached is {out['speedup']}x faster to start; target ≤ 3 s and ≤ 800 MB")
    print(f"wrote {write_results('cold_start', out, args.out)}")


def _peak_rss_mb_of_one_run() -> float:
    """Peak RSS of one run, measured in a fresh helper process (its only child is that run)."""
    code = (
        "import resource, subprocess, sys;"
        f"subprocess.run([{KGDX!r}, 'diagnose', {str(CASE)!r}], capture_output=True, check=True);"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(r.stdout.strip()) / 1024


if __name__ == "__main__":
    main()
