"""Architecture choice by measurement: EvidenceGNN against generic hetero GNNs (R-GCN, HGT).

Every contender is trained here, in this run, on cases simulated from the default KG with the same
budget (``--steps`` × ``--batch-size`` cases, the same simulation settings), then ranks the same
sample of real phenopackets (never trained on) over every disease of the KG. Side by side:

- the information-content overlap baseline (non-learned), for scale;
- ``EvidenceGNN`` trained from scratch at this budget (the shipped architecture; its fixed
  closure-overlap prior included, as shipped) and the same without the prior (learned part only);
- the shipped checkpoint (trained longer: 500 steps × 32 cases), for reference;
- ``R-GCN`` and ``HGT`` from :mod:`benchmarks.lib.generic_gnn`: PyG's ``RGCNConv`` / ``HGTConv`` over
  the per-case subgraph, with text-encoder (MiniLM) features of every phenotype and disease label
  and definition plus learned per-type embeddings.

Reported per contender: top-1/3/10 and MRR (fair ties) overall and in-KG, training seconds, and
ranking latency per case. The first run embeds the KG's ~32,000 labels with MiniLM (a few
minutes on two cores), cached under ``$KGDX_HOME/cache/gnn-text``.

Run::

    python -m benchmarks.architectures [--cases DIR] [--limit 600] [--steps 300] [--batch-size 16]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]

import numpy as np
import torch

from benchmarks._common import latencies_ms, learned_only, peak_rss_mb, write_results
from benchmarks.lib.baselines import ICOverlap
from benchmarks.lib.generic_gnn import GenericGNNConfig, GenericTrainConfig, node_text_features, train_generic
from kgdx.app.stores import open_store
from kgdx.ingest.case import PatientCase
from kgdx.ingest.phenopackets import iter_phenopackets
from kgdx.reasoning.checkpoint import load_checkpoint
from kgdx.reasoning.diagnoser import Diagnoser
from kgdx.reasoning.evaluate import evaluate_scores
from kgdx.reasoning.simulate import CaseSimulator, SimulationConfig
from kgdx.reasoning.train import TrainConfig, train

DEFAULT_CASES = _ROOT.parent / "shared" / "data" / "phenopackets" / "dev"


def sample_cases(dx: Diagnoser, folder: Path, limit: int, seed: int) -> tuple[list[PatientCase], int]:
    """A seeded random sample of ``limit`` cases (all of them if fewer), and how many there were."""
    cases = list(iter_phenopackets(folder, dx.resolve))
    if limit and len(cases) > limit:
        pick = np.random.default_rng(seed).choice(len(cases), limit, replace=False)
        return [cases[i] for i in sorted(pick)], len(cases)
    return cases, len(cases)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=Path, default=DEFAULT_CASES, help="folder of phenopackets (validation only)")
    ap.add_argument("--limit", type=int, default=600, help="random sample of this many cases (0: all)")
    ap.add_argument("--steps", type=int, default=300, help="training steps per contender")
    ap.add_argument("--batch-size", type=int, default=16, help="simulated cases per step")
    ap.add_argument("--hidden", type=int, default=64, help="hidden size of R-GCN and HGT")
    ap.add_argument("--ancestor-hops", type=int, default=1, help="IS_A steps up from each finding in the subgraph")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", help="JSON results path (default benchmarks/results/architectures.json)")
    args = ap.parse_args()
    if not args.cases.is_dir():
        sys.exit(f"error: {args.cases} is not a folder of phenopackets (point --cases at a Phenopacket Store release)")
    torch.manual_seed(args.seed)

    dx = Diagnoser.from_pretrained("default", store=open_store("memory"))
    ix = dx.index
    cases, total = sample_cases(dx, args.cases, args.limit, args.seed)
    print(
        f"{len(cases)} of {total} cases from {args.cases}; KG: {ix.num_diseases} diseases, {ix.num_phenotypes} terms",
        flush=True,
    )

    term_x, disease_x = node_text_features(dx.store, ix)
    sim = CaseSimulator(ix, SimulationConfig(), seed=args.seed)
    train_cases = [sim.sample() for _ in range(args.steps * args.batch_size)]

    scorers: dict = {}
    training: dict = {}
    scorers["baseline: IC overlap over ancestors"] = (lambda ic: lambda c: ic.scores(ix.phenotype_ids(c.observed_ids)))(
        ICOverlap(ix)
    )
    scorers["EvidenceGNN (shipped checkpoint, 500 × 32 cases)"] = lambda c: dx.rank(c, k=1).scores

    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        summary = train(
            dx.store,
            TrainConfig(
                steps=args.steps,
                batch_size=args.batch_size,
                seed=args.seed,
                warmup=min(100, args.steps // 5),
                eval_every=args.steps,
            ),
            tmp,
            progress=False,
            index=ix,
        )
        training["EvidenceGNN"] = {
            "seconds": round(time.perf_counter() - t, 1),
            **{k: v for k, v in summary.items() if isinstance(v, (int, float)) and not isinstance(v, bool)},
        }
        ev = Diagnoser(dx.store, load_checkpoint(Path(tmp) / "last.pt")[0], ix)
    cfg = ev.model.config
    cfg.prior_weight, cfg.prior_excluded = dx.model.config.prior_weight, dx.model.config.prior_excluded
    scorers["EvidenceGNN (this budget)"] = lambda c: ev.rank(c, k=1).scores
    scorers["EvidenceGNN (this budget), learned part only"] = learned_only(ev)

    for arch in ("rgcn", "hgt"):
        conf = GenericTrainConfig(
            steps=args.steps,
            batch_size=args.batch_size,
            seed=args.seed,
            warmup=min(30, args.steps // 5),
            model=GenericGNNConfig(arch=arch, hidden=args.hidden, ancestor_hops=args.ancestor_hops),
        )
        ranker, info = train_generic(ix, term_x, disease_x, train_cases, conf, progress=False)
        info.pop("config")
        training[arch] = info
        print(f"trained {arch}: {info}", flush=True)
        scorers[{"rgcn": "R-GCN", "hgt": "HGT"}[arch]] = (
            lambda r: lambda c: r.scores(ix.phenotype_ids(c.observed_ids), ix.phenotype_ids(c.excluded_ids))
        )(ranker)

    methods = {}
    probe = cases[: min(50, len(cases))]
    for name, fn in scorers.items():
        t = time.perf_counter()
        s = evaluate_scores(cases, fn, ix.disease_index, ix.diseases).summary()
        s["seconds"] = round(time.perf_counter() - t, 1)
        it = iter(probe * 4)
        s["latency_ms"] = latencies_ms(lambda fn=fn, it=it: fn(next(it)), repeat=min(100, len(probe) * 4 - 3))
        methods[name] = s
        o, k = s["overall"], s["in_kg"]
        print(
            f"{name:52s} top1 {o['top1']:.3f} top3 {o['top3']:.3f} top10 {o['top10']:.3f} MRR {o['mrr']:.3f}"
            f" | in-KG top1 {k['top1']:.3f} | p50 {s['latency_ms']['p50']:.1f} ms",
            flush=True,
        )

    results = {
        "data": {
            "folder": str(args.cases),
            "cases": len(cases),
            "of": total,
            "sample_seed": args.seed,
            "cases_not_in_kg": methods["R-GCN"]["cases_not_in_kg"],
        },
        "training": {
            "simulated_cases": len(train_cases),
            "steps": args.steps,
            "batch_size": args.batch_size,
            "per_contender": training,
        },
        "generic_config": {
            "hidden": args.hidden,
            "ancestor_hops": args.ancestor_hops,
            "features": "MiniLM text of label + definition, projected per node type, + learned type embedding",
        },
        "methods": methods,
        "choice": max(("EvidenceGNN (this budget)", "R-GCN", "HGT"), key=lambda m: methods[m]["overall"]["mrr"]),
        "peak_rss_mb": round(peak_rss_mb()),
    }
    print(f"picked by MRR: {results['choice']}")
    print(f"wrote {write_results('architectures', results, args.out)}")


if __name__ == "__main__":
    main()
