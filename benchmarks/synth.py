"""Synthetic cohort benchmark: cases/s and disk per case on the default config.

In one run:

- generation throughput of :func:`kgdx.synth.generate_cohort` with ``--workers`` processes
  (cases/s with the KG already loaded, and end to end with the one-off KG load, as the CLI runs);
- the time per case of each stage in this process (sample + draw + scan + report, then write);
- disk use per case by file (CT, mask, report, phenopacket) from the cohort's manifest, and
  what ``--extrapolate`` cases (default 2,000) would take.

Run::

    python -m benchmarks.synth                       # 200 cases, default 64x128x128, all CPUs
    python -m benchmarks.synth --n 40 --workers 1    # quick
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]

from benchmarks._common import peak_rss_mb, write_results
from kgdx.synth import SynthConfig, generate_cohort, make_case, parse_size, write_case
from kgdx.synth.cohort import cpu_workers
from kgdx.synth.kg_source import load_kg_source
from kgdx.synth.patient import PatientSampler


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=200, help="cases to generate (default 200)")
    ap.add_argument("--workers", type=int, default=cpu_workers(), help="worker processes (default: all CPUs)")
    ap.add_argument("--seed", type=int, default=0, help="cohort seed")
    ap.add_argument("--size", default=None, help="volume size ZxYxX (default: the config's 64x128x128)")
    ap.add_argument("--stage-cases", type=int, default=10, help="cases timed stage by stage in this process")
    ap.add_argument("--extrapolate", type=int, default=2000, help="cohort size to project time and disk for")
    ap.add_argument("--out", default=None, help="keep the cohort here (default: a temporary folder, removed)")
    ap.add_argument("--json", default=None, help="results file (default benchmarks/results/synth.json)")
    args = ap.parse_args()

    cfg = SynthConfig()
    if args.size:
        cfg = cfg.with_volume(shape=parse_size(args.size))
    t = time.perf_counter()
    kg = load_kg_source(cfg.module)
    sampler = PatientSampler(kg, cfg)
    kg_load_s = time.perf_counter() - t

    tmp = Path(tempfile.mkdtemp(prefix="kgdx-synth-bench-"))
    try:
        # Stage by stage, in this process.
        make_s = write_s = 0.0
        stage_dir = tmp / "stages"
        for folder in ("phenopackets", "ct", "masks", "reports"):
            (stage_dir / folder).mkdir(parents=True)
        for i in range(args.stage_cases):
            t = time.perf_counter()
            case = make_case(i, args.seed, cfg, sampler)
            make_s += time.perf_counter() - t
            t = time.perf_counter()
            write_case(case, stage_dir, kg, cfg)
            write_s += time.perf_counter() - t
        # Throughput of the whole generator.
        out = Path(args.out) if args.out else tmp / "cohort"
        t = time.perf_counter()
        summary = generate_cohort(out, args.n, seed=args.seed, cfg=cfg, workers=args.workers, overwrite=True)
        total_s = time.perf_counter() - t
        manifest = json.loads((out / "manifest.json").read_text())
    finally:
        if args.out is None:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            shutil.rmtree(tmp / "stages", ignore_errors=True)

    disk = manifest["disk_bytes"]
    per_file = {k: round(v / args.n) for k, v in disk.items() if k not in ("total", "per_case")}
    rate = args.n / total_s  # the KG is cached in this process by now
    rate_e2e = args.n / (total_s + kg_load_s)
    results = {
        "config": {
            "n": args.n,
            "workers": args.workers,
            "seed": args.seed,
            "shape_zyx": list(cfg.volume.shape),
            "spacing_zyx_mm": [round(s, 3) for s in cfg.volume.spacing],
        },
        "kg_load_s": round(kg_load_s, 2),
        "total_s": round(total_s, 2),
        "cases_per_s": round(rate, 3),
        "cases_per_s_end_to_end": round(rate_e2e, 3),
        "stage_s_per_case": {
            "make_case": round(make_s / args.stage_cases, 3),
            "write_case": round(write_s / args.stage_cases, 3),
        },
        "bytes_per_case": {**per_file, "total": round(disk["total"] / args.n)},
        "projection": {
            "cases": args.extrapolate,
            "hours": round((args.extrapolate / rate + kg_load_s) / 3600, 3),
            "gib": round(disk["total"] / args.n * args.extrapolate / 2**30, 3),
        },
        "splits": summary.splits,
        "peak_rss_mb_main": round(peak_rss_mb(), 1),
    }
    rows = [
        ("cases", f"{args.n} ({args.workers} workers, {'x'.join(map(str, cfg.volume.shape))} voxels)"),
        ("KG load (once)", f"{kg_load_s:.2f} s"),
        ("generation", f"{total_s:.1f} s"),
        ("cases/s", f"{rate:.2f} ({rate_e2e:.2f} end to end with the KG load)"),
        ("per case, 1 process", f"make {make_s / args.stage_cases:.3f} s + write {write_s / args.stage_cases:.3f} s"),
        (
            "disk per case",
            ", ".join(f"{k} {v / 1024:.0f} KiB" for k, v in per_file.items())
            + f"; total {disk['total'] / args.n / 1024:.0f} KiB",
        ),
        (
            f"{args.extrapolate} cases",
            f"{results['projection']['hours'] * 60:.1f} min, {results['projection']['gib']:.2f} GiB",
        ),
    ]
    width = max(len(k) for k, _ in rows)
    print("\n".join(f"{k:<{width}}  {v}" for k, v in rows))
    print(f"results: {write_results('synth', results, args.json)}")


if __name__ == "__main__":
    main()
