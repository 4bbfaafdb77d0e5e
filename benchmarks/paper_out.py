"""Leave-paper-out training: does seeing each real case without its own paper's annotations help?

Over half of Phenopacket Store's cases come from papers HPO curated their disease from, so the
gold disease is annotated with the case's own findings (the ``cited`` split,
``benchmarks/lib/splits.py``). A model trained on them learns from a shortcut that a new patient
does not have. ``kgdx train --leave-paper-out`` (:mod:`kgdx.reasoning.paper_out`) shows every real
training case its gold without the annotations that cite only the case's paper.

Two recipes, each trained here for every seed by the shipped settings
(``reasoning/checkpoints/default-train.json``: the learned prior, 600 steps of 32 cases, every
case real, from ``train/``, a fifth of its cohorts held out to choose the step), one with
``leave_paper_out`` and one without. Each finished model ranks every ``dev/`` case over all
diseases (phenotype only, fair ties):

- as the cases are (top-1/3/10, MRR, macro, the three splits);
- as new patients: each case's gold without its own paper's annotations
  (``benchmarks._common.paper_out``), on the ``cited`` and ``independent`` cases (a ``new`` case's
  gold has none to lose). This turns the 1,495 cited cases into new-patient cases too, so the
  choice rests on 1,973 cases rather than the 478 independent ones.

Dev chooses the recipe only; each run's step was chosen on its held-out ``train/`` cohorts.
A run folder that already holds ``best.pt`` is read, not retrained (``--runs``).

Run (about 20 minutes on 2 cores for two seeds)::

    python -m benchmarks.paper_out [--seeds 0 1] [--runs runs/paper-out]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from benchmarks._common import paper_out, write_results
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
RECIPES = {"papers in": False, "leave paper out": True}


def _figures(m, cohorts: list[str], kinds: list[str]) -> dict:  # noqa: ANN001 - RankingMetrics
    s = m.summary()
    return {
        **s["overall"],
        "macro_top1": m.macro(cohorts)["top1"],
        "splits": {k: m.subset(i for i, x in enumerate(kinds) if x == k).summary()["overall"] for k in SPLITS},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", type=Path, default=DATA / "train")
    ap.add_argument("--dev", type=Path, default=DATA / "dev")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--runs", type=Path, default=Path("runs/paper-out"), help="one folder per recipe and seed")
    ap.add_argument("--out", help="JSON results path (default benchmarks/results/paper-out.json)")
    args = ap.parse_args()
    if not args.train.is_dir() or not args.dev.is_dir():
        raise SystemExit(f"needs real phenopackets: {args.train} and {args.dev} (a Phenopacket Store split)")

    store = open_store("memory")
    ix = KGIndex.for_store(store)
    recipe = json.loads(RECIPE.read_text())
    train_cases = _real_cases(store, ix, args.train)
    dev = list(iter_phenopackets(args.dev, lambda i: n.id if (n := store.node(i)) else None))
    kinds, cohorts = provenance(dev), [cohort(c) for c in dev]
    annotated = [i for i, k in enumerate(kinds) if k != "new"]
    results: dict = {
        "recipe": {**recipe, "steps": args.steps, "real_rate": 1.0},
        "data": {
            "train_cases": len(train_cases),
            "dev_cases": len(dev),
            "dev_splits": {k: kinds.count(k) for k in SPLITS},
            "new_patient_view_cases": len(annotated),
        },
        "runs": {},
    }
    for seed in args.seeds:
        for name, leave_out in RECIPES.items():
            cfg = TrainConfig.from_dict({**recipe, "leave_paper_out": leave_out})
            cfg.steps, cfg.real_rate, cfg.seed = args.steps, 1.0, seed
            held = [held_out_cohort(c, cfg.holdout, seed, cfg.holdout_fold) for c, *_ in train_cases]
            out = args.runs / f"{'lpo' if leave_out else 'base'}-seed{seed}"
            t = time.perf_counter()
            if not (out / "best.pt").is_file():
                train(
                    store,
                    cfg,
                    out,
                    real_cases=[c for h, (_, c, *_) in zip(held, train_cases) if not h],
                    holdout_cases=[c for h, (_, c, *_) in zip(held, train_cases) if h],
                    real_papers=[p for h, (*_, p) in zip(held, train_cases) if not h],
                    index=ix,
                    progress=True,
                )
            model, meta = load_checkpoint(out / "best.pt")
            dx = Diagnoser(store, model, index=ix)
            m = evaluate_scores(dev, lambda c, dx=dx: dx.rank(c, k=1).scores, ix.disease_index, ix.diseases)
            sub = [dev[i] for i in annotated]
            new = evaluate_scores(sub, paper_out(dx), ix.disease_index, ix.diseases)
            row = {
                "run": str(out),
                "best_step": meta.get("step"),
                "held_out_train_top1": meta.get("best"),
                "dev": _figures(m, cohorts, kinds),
                "dev_as_new_patients": {
                    **new.summary()["overall"],
                    "macro_top1": new.macro([cohorts[i] for i in annotated])["top1"],
                },
                "seconds": round(time.perf_counter() - t, 1),
            }
            results["runs"][f"{name}, seed {seed}"] = row
            d, n = row["dev"], row["dev_as_new_patients"]
            print(
                f"seed {seed} {name:16s} dev top1 {d['top1']:.3f} top10 {d['top10']:.3f} macro {d['macro_top1']:.3f}"
                f" independent {d['splits']['independent']['top1']:.3f}/{d['splits']['independent']['top10']:.3f}"
                f" | as new patients top1 {n['top1']:.3f} top10 {n['top10']:.3f} MRR {n['mrr']:.3f}",
                flush=True,
            )
    means = {}
    for name in RECIPES:
        rows = [results["runs"][f"{name}, seed {s}"] for s in args.seeds]
        means[name] = {
            "dev_top1": sum(r["dev"]["top1"] for r in rows) / len(rows),
            "dev_top10": sum(r["dev"]["top10"] for r in rows) / len(rows),
            "dev_macro_top1": sum(r["dev"]["macro_top1"] for r in rows) / len(rows),
            "independent_top1": sum(r["dev"]["splits"]["independent"]["top1"] for r in rows) / len(rows),
            "independent_top10": sum(r["dev"]["splits"]["independent"]["top10"] for r in rows) / len(rows),
            "new_patients_top1": sum(r["dev_as_new_patients"]["top1"] for r in rows) / len(rows),
            "new_patients_top10": sum(r["dev_as_new_patients"]["top10"] for r in rows) / len(rows),
            "new_patients_mrr": sum(r["dev_as_new_patients"]["mrr"] for r in rows) / len(rows),
        }
    results["mean_over_seeds"] = {k: {m: round(v, 4) for m, v in d.items()} for k, d in means.items()}
    print(json.dumps(results["mean_over_seeds"], indent=1))
    print(f"wrote {write_results('paper-out', results, args.out)}")


if __name__ == "__main__":
    main()
