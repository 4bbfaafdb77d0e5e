"""Helpers shared by the benchmark scripts: timing, percentiles, memory, machine info, output."""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def rss_mb() -> float:
    """Current resident memory of this process, in MB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def latencies_ms(fn: Callable[[], Any], repeat: int, warmup: int = 3) -> dict[str, float]:
    """p50/p95/mean of ``fn`` in milliseconds over ``repeat`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return {
        "p50": round(statistics.median(times), 3),
        "p95": round(times[int(0.95 * (len(times) - 1))], 3),
        "mean": round(statistics.fmean(times), 3),
        "n": repeat,
    }


def write_results(name: str, results: dict[str, Any], out: str | Path | None = None) -> Path:
    """Write ``results`` (plus machine info and the command line) as JSON; return the path."""
    path = Path(out) if out else RESULTS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    command = ["python", "-m", f"benchmarks.{Path(sys.argv[0]).stem}", *sys.argv[1:]]
    doc = {"benchmark": name, "command": " ".join(command), "machine": machine(), **results}
    path.write_text(json.dumps(doc, indent=2, sort_keys=False) + "\n")
    return path


def scorer_with(dx: Any, **config: Any) -> Callable[[Any], Any]:  # noqa: ANN401 - a Diagnoser and a PatientCase
    """A scorer that ranks with ``dx`` under some model-config fields changed (restored after
    every case), e.g. an ablation or an opt-in term."""
    cfg = dx.model.config

    def scores(case: Any) -> Any:  # noqa: ANN401
        saved = {k: getattr(cfg, k) for k in config}
        for k, v in config.items():
            setattr(cfg, k, v)
        try:
            return dx.rank(case, k=1).scores
        finally:
            for k, v in saved.items():
                setattr(cfg, k, v)

    return scores


def paper_out(dx: Any) -> Callable[[Any], Any]:  # noqa: ANN401 - a Diagnoser and a PatientCase
    """A scorer that ranks each Phenopacket Store case as a new patient would be ranked: its gold
    disease without the annotations that cite only the case's own paper (the PMID in its file
    name; :class:`kgdx.reasoning.paper_out.PaperHoldout`). Phenotype only."""
    from kgdx.reasoning.paper_out import PaperHoldout, case_paper

    holdout = PaperHoldout(dx.store, dx.index, dx.extractor)
    ix = dx.index

    def scores(case: Any) -> Any:  # noqa: ANN401
        gold = next((ix.disease_index[d] for d in case.diagnoses if d in ix.disease_index), None)
        extractor = dx.extractor
        dx.extractor = holdout.for_case(gold, case_paper(case.source))
        try:
            return dx.rank(case, k=1).scores
        finally:
            dx.extractor = extractor

    return scores


def learned_only(dx: Any) -> Callable[[Any], Any]:  # noqa: ANN401 - a Diagnoser and a PatientCase
    """A scorer that ranks with ``dx``'s learned terms only: its overlap prior switched off, whether
    its weight is a fixed number (``prior_weight``) or learned (``learned_prior``)."""
    return scorer_with(dx, prior_weight=0.0, learned_prior=False)
