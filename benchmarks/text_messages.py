"""Text embeddings in the message passing: does EvidenceGNN gain from them? One run, same budget.

Three variants are trained here, one after another, by the shipped recipe
(``reasoning/checkpoints/default-train.json``: the learned prior, 600 steps of 32 cases, every
case real, from ``train/`` with a fifth of its cohorts held out to choose the step; same seed):

- **no text**: the embedding-free model (the shipped architecture);
- **neighbours**: observed findings also send messages through their text-embedding neighbours,
  the near-synonyms and siblings outside their own lineage (``text_neighbours``);
- **neighbours + fit**: and each finding's fit to the text profile of the diseases it fits best
  (``text_fit``).

The text embeddings are MiniLM's, of each phenotype's name, synonyms and definition, computed once
per KG and cached with its index (:mod:`kgdx.reasoning.similar`). Each finished model then ranks
every ``dev/`` case over all diseases (phenotype only, fair ties): top-1/3/10 and MRR per case,
per cohort (macro) and on the three provenance splits of ``benchmarks/lib/splits.py``. The
latency per case is measured last, the models taking turns case by case, so that each sees the
same machine load. Dev chooses nothing here: the held-out ``train/`` cohorts chose each model's
step, and the figures on them are reported beside dev's.

How strong a cue each carries, without a model (``cues``; on every fifth ``train/`` case with
its gold disease in the KG): how often an observed finding that shares no informative ancestor
(IC ≥ 2) with the gold disease reaches it through a neighbour, against a disease drawn at random
(their ratio is the cue's likelihood ratio); and the gold's rank when diseases are ordered by
the cosine between the case's IC-weighted finding embeddings and their text profiles.

Run (about 25 minutes on 2 cores; ``--cues-only`` and ``--latency-only``, which reads the models
of an earlier run from ``--runs``, take a minute and update their section)::

    python -m benchmarks.text_messages [--steps 600] [--runs runs/text-messages] [--cues-only | --latency-only]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from benchmarks._common import machine, write_results
from benchmarks.lib.splits import SPLITS, cohort, provenance
from kgdx.app.commands.reasoning import _real_cases
from kgdx.app.stores import open_store
from kgdx.ingest.phenopackets import iter_phenopackets
from kgdx.reasoning.checkpoint import load_checkpoint
from kgdx.reasoning.diagnoser import Diagnoser
from kgdx.reasoning.evaluate import evaluate_scores
from kgdx.reasoning.index import KGIndex
from kgdx.reasoning.train import TrainConfig, held_out_cohort, train

_ROOT = Path(__file__).resolve().parents[1]
DATA = _ROOT.parent / "shared" / "data" / "phenopackets"
RECIPE = _ROOT / "reasoning" / "checkpoints" / "default-train.json"
VARIANTS = {
    "no text (shipped architecture)": {},
    "neighbours": {"text_neighbours": True},
    "neighbours + fit": {"text_neighbours": True, "text_fit": True},
}


def cues(ix: KGIndex, cases: list, seed: int = 0) -> dict:
    """The cue strength of the neighbours and of the text profiles (see the module docstring)."""
    import numpy as np

    from kgdx.reasoning.evidence import EvidenceExtractor
    from kgdx.reasoning.similar import disease_embeddings

    ex = EvidenceExtractor(ix, ic_floor=2.0, text_neighbours=True)
    profiles = disease_embeddings(ix, ix.text_embedding.astype(np.float32))
    emb = ix.text_embedding.astype(np.float32)
    rng = np.random.default_rng(seed)
    gold_hits = random_hits = findings = 0
    ranks = []
    for observed, _, gold in cases:
        if gold is None or not observed:
            continue
        other = int(rng.integers(ix.num_diseases))
        for t in observed:
            closure, _ = ex._best_match(t)
            near, _ = ex._similar_match(t)
            gold_hits += bool(closure[gold] == 0 and near[gold] > 0)
            random_hits += bool(closure[other] == 0 and near[other] > 0)
            findings += 1
        patient = (ix.ic[observed][:, None] * emb[observed]).sum(0)
        scores = profiles @ (patient / (np.linalg.norm(patient) + 1e-9))
        ranks.append(int((scores > scores[gold]).sum()))
    r = np.array(ranks)
    g, x = gold_hits / max(findings, 1), random_hits / max(findings, 1)
    return {
        "cases": len(ranks),
        "findings": findings,
        "neighbour_only_gold": round(g, 4),
        "neighbour_only_random": round(x, 4),
        "likelihood_ratio": round(g / x, 2) if x else None,
        "text_profile_alone": {
            "top1": round(float((r == 0).mean()), 3),
            "top10": round(float((r < 10).mean()), 3),
            "median_rank": float(np.median(r)) + 1,
        },
    }


def _run_dir(runs: Path, name: str) -> Path:
    return runs / name.split(" (")[0].replace(" + ", "-").replace(" ", "-")


def latencies(dxs: dict[str, Diagnoser], cases: list, repeat: int = 300) -> dict[str, dict]:
    """Per model, the time to rank one case over every disease: the models take turns, case by
    case, after a warm-up, so a busy moment of the machine falls on all of them alike."""
    import statistics

    times: dict[str, list[float]] = {name: [] for name in dxs}
    for i in range(repeat + 5):
        case = cases[i % len(cases)]
        for name, dx in dxs.items():
            t = time.perf_counter()
            dx.rank(case, k=10)
            if i >= 5:
                times[name].append((time.perf_counter() - t) * 1000)
    out = {}
    for name, ts in times.items():
        ts.sort()
        out[name] = {
            "p50": round(statistics.median(ts), 3),
            "p95": round(ts[int(0.95 * (len(ts) - 1))], 3),
            "mean": round(statistics.fmean(ts), 3),
            "n": len(ts),
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--train", type=Path, default=DATA / "train", help="real training phenopackets, one folder per cohort"
    )
    ap.add_argument("--dev", type=Path, default=DATA / "dev", help="real phenopackets to report on")
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--runs", type=Path, default=_ROOT / "runs" / "text-messages", help="where the models are written")
    ap.add_argument("--out", help="JSON results path (default benchmarks/results/text-messages.json)")
    ap.add_argument("--cues-only", action="store_true", help="measure only the cues and update that section")
    ap.add_argument(
        "--latency-only", action="store_true", help="time the models of an earlier run (--runs) and update that section"
    )
    args = ap.parse_args()
    if not args.train.is_dir() or not args.dev.is_dir():
        raise SystemExit(f"needs real phenopackets: {args.train} and {args.dev} (a Phenopacket Store split)")

    store = open_store("memory")
    t = time.perf_counter()
    ix = KGIndex.for_store(store, text=True)
    embed_s = time.perf_counter() - t
    recipe = json.loads(RECIPE.read_text())
    base = TrainConfig.from_dict(recipe)
    split = [
        (held_out_cohort(c, base.holdout, base.seed, base.holdout_fold), case)
        for c, case, *_ in _real_cases(store, ix, args.train)
    ]
    real = [case for held, case in split if not held]
    held = [case for held, case in split if held]
    cue = None if args.latency_only else cues(ix, [case for _, case in split][::5])
    if cue is not None:
        print(f"cues: {cue}", flush=True)
    path = Path(args.out) if args.out else Path(__file__).parent / "results" / "text-messages.json"
    if args.cues_only:
        results = json.loads(path.read_text())  # the rest keeps the command that measured it
        results["cues"] = {**cue, "command": "python -m benchmarks.text_messages --cues-only"}
        path.write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {path}")
        return
    dev = list(iter_phenopackets(args.dev, lambda i: n.id if (n := store.node(i)) else None))
    if args.latency_only:
        results = json.loads(path.read_text())
        dxs = {n: Diagnoser(store, load_checkpoint(_run_dir(args.runs, n) / "best.pt")[0], index=ix) for n in VARIANTS}
        for name, lat in latencies(dxs, dev).items():
            results["variants"][name]["latency_ms"] = {
                **lat,
                "command": "python -m benchmarks.text_messages --latency-only",
            }
            print(f"{name:32s} p50 {lat['p50']:.1f} ms, p95 {lat['p95']:.1f} ms", flush=True)
        path.write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {path}")
        return
    kinds, cohorts = provenance(dev), [cohort(c) for c in dev]

    results: dict = {
        "machine": machine(),
        "recipe": {**recipe, "steps": args.steps, "real_rate": 1.0, "holdout": base.holdout},
        "data": {
            "train_cases": len(real),
            "held_out_cases": len(held),
            "dev_cases": len(dev),
            "dev_cohorts": len(set(cohorts)),
            "dev_splits": {k: kinds.count(k) for k in SPLITS},
        },
        "index_seconds": round(embed_s, 1),
        "neighbours_per_phenotype": round(ix.similar.nnz / ix.num_phenotypes, 2),
        "cues": cue,
        "variants": {},
    }
    dxs = {}
    for name, flags in VARIANTS.items():
        cfg = TrainConfig.from_dict({**recipe, "model": {**recipe.get("model", {}), **flags}})
        cfg.steps, cfg.real_rate = args.steps, 1.0
        out = _run_dir(args.runs, name)
        summary = train(store, cfg, out, real_cases=real, holdout_cases=held, index=ix, progress=True)
        model, _ = load_checkpoint(summary["best"])
        dx = dxs[name] = Diagnoser(store, model, index=ix)
        m = evaluate_scores(dev, lambda c, dx=dx: dx.rank(c, k=1).scores, ix.disease_index, ix.diseases)
        best = max(summary["history"], key=lambda h: h.get("holdout", {}).get("top1", -1))
        row = {
            "train_seconds": round(summary["seconds"], 1),
            "best_step": best["step"],
            "held_out_train": best.get("holdout"),
            "dev": m.summary()["overall"],
            "dev_macro": m.macro(cohorts),
            "dev_splits": {k: m.subset(i for i, x in enumerate(kinds) if x == k).summary()["overall"] for k in SPLITS},
        }
        results["variants"][name] = row
        d, s = row["dev"], row["dev_splits"]["independent"]
        print(
            f"{name:32s} dev top-1 {d['top1']:.3f} top-3 {d['top3']:.3f} top-10 {d['top10']:.3f} MRR {d['mrr']:.3f} | "
            f"independent {s['top1']:.3f}/{s['top10']:.3f} | held-out train top-1 {row['held_out_train']['top1']:.3f}",
            flush=True,
        )
    for name, lat in latencies(dxs, dev).items():
        results["variants"][name]["latency_ms"] = lat
        print(f"{name:32s} p50 {lat['p50']:.1f} ms, p95 {lat['p95']:.1f} ms", flush=True)
    print(f"wrote {write_results('text-messages', results, args.out)}")


if __name__ == "__main__":
    main()
