"""The shipped recipe in 5-fold cohort-grouped cross-validation inside ``train/``.

Issue 12 asks whether the dev figure is a lucky split. The shipped checkpoint holds out a fifth of
``train/``'s cohorts (fold 0 of ``held_out_cohort``); four more models trained by the same recipe
(``kgdx train --holdout 0.2 --holdout-fold K``, K = 1..4) hold out the other fifths. Every
``train/`` case is then ranked by the one model that never trained on its cohort, over all
diseases, phenotype only, with fair ties: top-1/3/10 and MRR overall and in the KG, per cohort
(macro), on the cited/new/independent splits of ``benchmarks/lib/splits.py``, and per fold, whose
spread shows how much one split of cohorts moves the figures.

Each fold model chose its step on its own held-out fold (as the shipped one did), so these
figures are a little optimistic; nothing here is fitted.

A fold folder under ``--runs`` that holds ``best.pt`` is read, not retrained; fold 0 is the
shipped checkpoint (``--model``).

Run (about 20 minutes on 2 cores when the four fold models must be trained)::

    python -m benchmarks.cv [--runs runs/cv] [--model default]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from functools import cache
from pathlib import Path

from benchmarks._common import write_results
from benchmarks.lib.splits import SPLITS, cohort, provenance
from kgdx.app.commands.reasoning import _real_cases
from kgdx.app.stores import open_store
from kgdx.ingest.phenopackets import iter_phenopackets
from kgdx.reasoning.checkpoint import load_checkpoint
from kgdx.reasoning.diagnoser import Diagnoser
from kgdx.reasoning.evaluate import evaluate_scores
from kgdx.reasoning.index import KGIndex
from kgdx.reasoning.train import TrainConfig, held_out_by, held_out_cohort, train

_ROOT = Path(__file__).resolve().parents[1]
DATA = _ROOT.parent / "shared" / "data" / "phenopackets"
RECIPE = _ROOT / "reasoning" / "checkpoints" / "default-train.json"
FOLDS = 5


def _fold_model(store, ix, fold: int, runs: Path, real_cases: Callable[[], list], steps: int) -> Path:  # noqa: ANN001
    """Fold ``fold``'s checkpoint under ``runs``, trained by the shipped recipe if it is missing
    (``real_cases`` reads ``train/`` as ``_real_cases`` does, once for all folds)."""
    out = runs / f"fold{fold}"
    if not (out / "best.pt").is_file():
        cases = real_cases()
        cfg = TrainConfig.from_dict(json.loads(RECIPE.read_text()))
        cfg.steps, cfg.real_rate, cfg.holdout, cfg.holdout_fold = steps, 1.0, 1 / FOLDS, fold
        held = [held_out_cohort(c, cfg.holdout, cfg.seed, fold) for c, *_ in cases]
        train(
            store,
            cfg,
            out,
            real_cases=[c for h, (_, c, *_) in zip(held, cases) if not h],
            holdout_cases=[c for h, (_, c, *_) in zip(held, cases) if h],
            index=ix,
            progress=True,
        )
    return out / "best.pt"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", type=Path, default=DATA / "train")
    ap.add_argument("--model", default="default", help="fold 0: the shipped checkpoint (name or path)")
    ap.add_argument("--runs", type=Path, default=Path("runs/cv"), help="fold1 … fold4 folders")
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--out", help="JSON results path (default benchmarks/results/cv.json)")
    args = ap.parse_args()
    if not args.train.is_dir():
        raise SystemExit(f"needs real phenopackets: {args.train} (a Phenopacket Store split)")

    store = open_store("memory")
    ix = KGIndex.for_store(store)
    model0, meta0 = load_checkpoint(args.model)
    tc0 = meta0.get("train_config", {})
    if float(tc0.get("holdout", 0.2)) != 1 / FOLDS or int(tc0.get("holdout_fold", 0)) != 0:
        raise SystemExit(f"{args.model} must hold out fold 0 of {FOLDS} (its train_config says otherwise)")
    cases = list(iter_phenopackets(args.train, lambda i: n.id if (n := store.node(i)) else None))
    models = [(model0, tc0)]
    real_cases = cache(lambda: _real_cases(store, ix, args.train))
    for k in range(1, FOLDS):
        m, meta = load_checkpoint(_fold_model(store, ix, k, args.runs, real_cases, args.steps))
        models.append((m, meta["train_config"]))
    cohorts = [cohort(c) for c in cases]
    fold_of = []
    for c in cohorts:
        owners = [k for k, (_, tc) in enumerate(models) if held_out_by(tc, c)]
        if len(owners) != 1:
            raise SystemExit(f"cohort {c} is held out by {len(owners)} fold models")
        fold_of.append(owners[0])
    dxs = [Diagnoser(store, m, index=ix) for m, _ in models]
    scorer = {id(c): dxs[f] for c, f in zip(cases, fold_of)}  # each case's out-of-fold model
    m = evaluate_scores(cases, lambda c: scorer[id(c)].rank(c, k=1).scores, ix.disease_index, ix.diseases)
    kinds = provenance(cases)
    s = m.summary()
    results = {
        "recipe": {**json.loads(RECIPE.read_text()), "steps": args.steps, "real_rate": 1.0, "folds": FOLDS},
        "data": {
            "folder": str(args.train),
            "cases": len(cases),
            "cohorts": len(set(cohorts)),
            "splits": {k: kinds.count(k) for k in SPLITS},
        },
        "models": [args.model] + [str(args.runs / f"fold{k}" / "best.pt") for k in range(1, FOLDS)],
        "out_of_fold": {
            **s,
            "macro": m.macro(cohorts),
            "splits": {k: m.subset(i for i, x in enumerate(kinds) if x == k).summary()["overall"] for k in SPLITS},
        },
        "per_fold": {
            str(k): {
                "cases": fold_of.count(k),
                "cohorts": len({c for c, f in zip(cohorts, fold_of) if f == k}),
                **m.subset(i for i, f in enumerate(fold_of) if f == k).summary()["overall"],
            }
            for k in range(FOLDS)
        },
    }
    o = results["out_of_fold"]
    print(
        f"{len(cases)} train/ cases out of fold: top1 {o['overall']['top1']:.3f} top3 {o['overall']['top3']:.3f} "
        f"top10 {o['overall']['top10']:.3f} MRR {o['overall']['mrr']:.3f} | macro top1 {o['macro']['top1']:.3f} | "
        + " | ".join(f"{k} {v['top1']:.3f}/{v['top10']:.3f}" for k, v in o["splits"].items())
    )
    for k, v in results["per_fold"].items():
        print(f"  fold {k}: {v['cases']} cases, {v['cohorts']} cohorts, top1 {v['top1']:.3f} top10 {v['top10']:.3f}")
    print(f"wrote {write_results('cv', results, args.out)}")


if __name__ == "__main__":
    main()
