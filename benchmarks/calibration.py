"""Choosing how to calibrate the differential's probabilities, by cross-validation on ``train/``.

Issue 12 asks for an ECE of at most 0.05 on ``dev/``, with every calibration parameter fitted on
``train/`` only. This benchmark makes the choice without looking at ``dev/``.

Data: cases of ``train/`` scored by a model that never trained on them. ``kgdx train --real``
holds out whole cohorts by a stable hash of the cohort's name (``held_out_cohort``, with the
checkpoint's seed and ``--holdout 0.2``); the shipped model trained on the rest. Those held-out
cohorts also chose its best step (of three evaluations), which is the only use they had. Alone,
they are 645 cases in 47 cohorts. With ``--oof``, four more models trained by the same recipe,
each holding out another fifth of the cohorts (``kgdx train --holdout 0.2 --holdout-fold K``),
score the rest: every case of ``train/`` gets an out-of-fold score from the one model that did not
train on its cohort (fold 0's model is the shipped one). The comparison on fold 0 alone is kept
alongside for reference. Each fold model chose its step on its own held-out fold, as the shipped
one did, so the out-of-fold scores are a little optimistic.

Method: cohort-grouped k-fold cross-validation over those cases, repeated with shuffled folds.
Each calibrator is fitted on k-1 folds of cohorts and predicts the k-th, and the metrics are
taken over the pooled out-of-fold predictions, then averaged over the repeats:

- ECE (10 equal-width bins) of the top answer, "a disease not in the KG" counted as an answer,
  exactly as ``benchmarks/diagnosis.py`` measures it on ``dev/``;
- NLL and Brier score of that top answer's probability (was it right or not);
- NLL of the gold outcome over all outcomes (the gold disease(s), or "not in the KG").

The rule, fixed before the run: the lowest mean ECE wins unless its top-answer NLL is worse than
the current calibration's; ``dev/`` plays no part. The winner is then fitted on all of these cases
by ``kgdx calibrate``. Candidates:

- raw softmax (T = 1, no "not in the KG" outcome): the reference, nothing fitted;
- T + b by likelihood: the temperature and the not-in-KG logit (the calibration shipped so far);
- T + b, b so the mean not-in-KG probability equals the share of such cases: T by likelihood;
- T + b, then isotonic top-label: scikit-learn's ``IsotonicRegression`` re-maps the top answer's
  probability, the other outcomes keep their proportions (``with_top_probability``); what
  ``kgdx calibrate --isotonic`` fits and the shipped checkpoint carries (chosen with ``--oof``);
- T + b, then Platt top-label: a logistic regression of "right" on the answer's log-odds and the
  margin between the two best logits, the rest as for isotonic (``kgdx calibrate``'s default).

Scores are kept in float32, as the model makes them (the runs before --oof used float64).

Run::

    python -m benchmarks.calibration [--cases DIR] [--model default] [--holdout 0.2] [--folds 5] [--repeats 20]
    python -m benchmarks.calibration --oof /work/exp9/fold1.pt /work/exp9/fold2.pt ... [--repeats 5]

Writes ``benchmarks/results/calibration.json`` and ``calibration-reliability.png``.
"""

from __future__ import annotations

import argparse
import hashlib
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from benchmarks._common import write_results
from benchmarks.lib.splits import cohort
from kgdx.app.stores import open_store
from kgdx.ingest.phenopackets import iter_phenopackets
from kgdx.reasoning.calibrate import (
    answers,
    expected_calibration_error,
    fit_calibration,
    fit_rate_matched,
    fit_top_label,
    reliability,
    top_label_probabilities,
    with_top_probability,
)
from kgdx.reasoning.checkpoint import load_checkpoint
from kgdx.reasoning.diagnoser import Diagnoser
from kgdx.reasoning.train import held_out_by, held_out_cohort

_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CASES = _ROOT.parent / "shared" / "data" / "phenopackets" / "train"
_EPS = 1e-6

#: A calibrator: fitted on (logit scores, gold indices) of some cases, it returns a function from
#: other cases' scores to ``(num_cases, num_diseases + 1)`` probabilities, "not in the KG" last.
Calibrator = Callable[[torch.Tensor, list[int | None]], Callable[[torch.Tensor], torch.Tensor]]


def _logits(scores: torch.Tensor, t: float, b: float | None) -> torch.Tensor:
    """Scores over ``t`` and the not-in-KG logit ``b`` as a last column (``-inf``: no such outcome)."""
    other = torch.full((len(scores), 1), float("-inf") if b is None else b, dtype=scores.dtype)
    return torch.cat([scores / t, other], 1)


def _correct(p: torch.Tensor, golds: list[set[int]]) -> np.ndarray:
    conf, best, says_other = answers(p[:, :-1].numpy(), p[:, -1].numpy())
    return np.array([(not g) if o else (int(i) in g) for g, o, i in zip(golds, says_other, best)])


def raw_softmax(scores: torch.Tensor, gold: list[int | None]) -> Callable[[torch.Tensor], torch.Tensor]:
    return lambda s: torch.softmax(_logits(s, 1.0, None), 1)


_FITTED: dict[bytes, tuple[float, float]] = {}


def _t_b(scores: torch.Tensor, gold: list[int | None]) -> tuple[float, float]:
    """``fit_calibration``, once per set of cases: three methods start from the same fit."""
    key = hashlib.sha1(scores.numpy().tobytes() + str(gold).encode()).digest()
    if key not in _FITTED:
        _FITTED[key] = fit_calibration(scores.numpy(), gold)
    return _FITTED[key]


def likelihood(scores: torch.Tensor, gold: list[int | None]) -> Callable[[torch.Tensor], torch.Tensor]:
    t, b = _t_b(scores, gold)
    return lambda s: torch.softmax(_logits(s, t, b), 1)


def rate_matched(scores: torch.Tensor, gold: list[int | None]) -> Callable[[torch.Tensor], torch.Tensor]:
    """T by likelihood over a grid, with b at each T such that mean p(not in KG) = the share of such cases."""
    t, b = fit_rate_matched(scores.numpy(), gold)
    return lambda s: torch.softmax(_logits(s, t, b), 1)


def isotonic(scores: torch.Tensor, gold: list[int | None]) -> Callable[[torch.Tensor], torch.Tensor]:
    from sklearn.isotonic import IsotonicRegression

    t, b = _t_b(scores, gold)
    p = torch.softmax(_logits(scores, t, b), 1)
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
    iso.fit(p.max(1).values.numpy(), _correct(p, _golds_of(gold)))

    def predict(s: torch.Tensor) -> torch.Tensor:
        x = _logits(s, t, b)
        return with_top_probability(x, torch.from_numpy(iso.predict(torch.softmax(x, 1).max(1).values.numpy())))

    return predict


def platt(scores: torch.Tensor, gold: list[int | None]) -> Callable[[torch.Tensor], torch.Tensor]:
    """What ``kgdx calibrate`` fits by default (``reasoning/calibrate.py``)."""
    t, b = _t_b(scores, gold)
    logits = _logits(scores, t, b)
    coef = fit_top_label(logits, _correct(torch.softmax(logits, 1), _golds_of(gold)))
    return lambda s: top_label_probabilities(_logits(s, t, b), coef)


def _golds_of(gold: list[int | None]) -> list[set[int]]:
    return [set() if g is None else {g} for g in gold]


SHIPPED = "T+b by likelihood (shipped before)"
METHODS: dict[str, Calibrator] = {
    "raw softmax (T=1, no not-in-KG outcome)": raw_softmax,
    SHIPPED: likelihood,
    "T+b, b matched to the not-in-KG rate": rate_matched,
    "T+b, then isotonic top-label": isotonic,
    "T+b, then Platt top-label (logit, margin)": platt,
}


def metrics(p: torch.Tensor, golds: list[set[int]]) -> dict[str, float]:
    """ECE, top-answer NLL and Brier, gold NLL and the mean not-in-KG probability of ``p``."""
    conf, _, _ = answers(p[:, :-1].numpy(), p[:, -1].numpy())
    right = _correct(p, golds).astype(float)
    c = np.clip(conf, _EPS, 1 - _EPS)
    gold_p = np.array([float(p[i, sorted(g)].sum()) if g else float(p[i, -1]) for i, g in enumerate(golds)])
    return {
        "ece": expected_calibration_error(conf, right),
        "top_nll": float(-np.mean(right * np.log(c) + (1 - right) * np.log(1 - c))),
        "top_brier": float(np.mean((conf - right) ** 2)),
        "gold_nll": float(-np.mean(np.log(np.clip(gold_p, _EPS, 1)))),
        "accuracy": float(right.mean()),
        "mean_confidence": float(conf.mean()),
        "mean_p_not_in_kg": float(p[:, -1].mean()),
    }


def grouped_folds(groups: list[str], k: int, seed: int) -> list[np.ndarray]:
    """``k`` folds of case indices, whole cohorts to a fold (shuffled by ``seed``)."""
    from sklearn.model_selection import GroupKFold

    n = len(groups)
    return [test for _, test in GroupKFold(k, shuffle=True, random_state=seed).split(np.zeros(n), groups=groups)]


def cross_validate(
    scores: torch.Tensor, gold: list[int | None], golds: list[set[int]], groups: list[str], folds: int, repeats: int
) -> tuple[dict[str, dict], dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Pooled out-of-fold metrics per method (mean and spread over repeats), and the first repeat's
    out-of-fold confidence and correctness for the reliability plot."""
    per_repeat: dict[str, list[dict[str, float]]] = {m: [] for m in METHODS}
    fold_ece: dict[str, list[float]] = {m: [] for m in METHODS}
    first: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for r in range(repeats):
        split = grouped_folds(groups, folds, r)
        for name, fit in METHODS.items():
            oof = torch.zeros(len(gold), scores.shape[1] + 1, dtype=scores.dtype)
            for test in split:
                train = np.setdiff1d(np.arange(len(gold)), test)
                predict = fit(scores[train], [gold[i] for i in train])
                oof[test] = predict(scores[test])
                fold_ece[name].append(metrics(oof[test], [golds[i] for i in test])["ece"])
            per_repeat[name].append(metrics(oof, golds))
            if r == 0:
                first[name] = _conf_right(oof, golds)
        print(f"repeat {r + 1}/{repeats}: " + ", ".join(f"{n[:24]} {v[-1]['ece']:.4f}" for n, v in per_repeat.items()))
    out = {}
    shipped = [row["ece"] for row in per_repeat[SHIPPED]]
    for name, rows in per_repeat.items():
        out[name] = {k: round(float(np.mean([row[k] for row in rows])), 4) for k in rows[0]}
        out[name]["ece_sd_over_repeats"] = round(float(np.std([row["ece"] for row in rows])), 4)
        out[name]["ece_per_fold_mean"] = round(float(np.mean(fold_ece[name])), 4)
        out[name]["ece_per_fold_sd"] = round(float(np.std(fold_ece[name])), 4)
        out[name]["repeats_with_lower_ece_than_shipped"] = sum(r["ece"] < e for r, e in zip(rows, shipped))
    return out, first


def choose(cv: dict[str, dict]) -> str:
    """The lowest mean ECE, unless its top-answer NLL is worse than the calibration shipped before."""
    shipped = cv[SHIPPED]["top_nll"]
    fitted = {k: v for k, v in cv.items() if not k.startswith("raw softmax")}
    ok = {k: v for k, v in fitted.items() if v["top_nll"] <= shipped}
    return min(ok, key=lambda k: ok[k]["ece"])


def plot(curves: dict[str, list[dict]], ece: dict[str, float], title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], "k:", label="perfect")
    for name, bins in curves.items():
        kept = [b for b in bins if b["n"]]
        ax.plot([b["confidence"] for b in kept], [b["accuracy"] for b in kept], "o-", label=f"{name} ({ece[name]:.3f})")
    ax.set(
        xlabel="confidence of the top answer",
        ylabel="share correct",
        title=title,
    )
    ax.legend(loc="upper left", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=Path, default=DEFAULT_CASES, help="the training folder (one sub-folder per cohort)")
    ap.add_argument("--model", default="default", help="checkpoint name or path")
    ap.add_argument("--holdout", type=float, default=0.2, help="the share of cohorts `kgdx train --holdout` held out")
    ap.add_argument(
        "--oof",
        nargs="+",
        type=Path,
        help="fold models besides --model (kgdx train --holdout-fold K): score every case out-of-fold",
    )
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=20, help="cross-validation repeats with shuffled folds")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 leaves a core to other work)")
    ap.add_argument("--out", help="JSON results path (default benchmarks/results/calibration.json)")
    args = ap.parse_args()
    if "dev" in args.cases.parts:
        raise SystemExit("calibration is chosen on train/ only; dev/ is for reporting (benchmarks/diagnosis.py)")
    torch.set_num_threads(args.threads)

    t0 = time.perf_counter()
    store = open_store("memory")
    dx = Diagnoser.from_pretrained(args.model, store=store)
    _, meta = load_checkpoint(args.model)
    seed = int(meta.get("train_config", {}).get("seed", 0))
    all_cases = list(iter_phenopackets(args.cases, dx.resolve))
    ix = dx.index
    if args.oof:
        models = [args.model, *map(str, args.oof)]
        configs = [load_checkpoint(m)[1].get("train_config", {}) for m in models]
        owner = [[k for k, tc in enumerate(configs) if held_out_by(tc, cohort(c))] for c in all_cases]
        if any(len(o) > 1 for o in owner):
            raise SystemExit("some cohort is held out by more than one model: the fold models overlap")
        cases = [c for c, o in zip(all_cases, owner) if o]
        by = np.array([o[0] for o in owner if o])
        scores = torch.zeros(len(cases), ix.num_diseases)
        for k, m in enumerate(models):
            rows = np.flatnonzero(by == k)
            fold_dx = dx if k == 0 else Diagnoser.from_pretrained(m, store=store)
            scores[rows] = torch.from_numpy(fold_dx.scores([cases[i] for i in rows]))
            print(f"fold model {k} ({m}): {len(rows)} cases scored", flush=True)
    else:
        models = [args.model]
        cases = [c for c in all_cases if held_out_cohort(cohort(c), args.holdout, seed)]
        by = np.zeros(len(cases), int)
        scores = torch.from_numpy(dx.scores(cases))
    trained = meta.get("calibration", {}).get("cases")
    print(f"{len(cases)} of {len(all_cases)} train cases scored out-of-fold (checkpoint calibrated on {trained})")
    golds = [{ix.disease_index[d] for d in c.diagnoses if d in ix.disease_index} for c in cases]
    # As `kgdx train` and `kgdx calibrate` label a case: its first diagnosis the KG has.
    gold = [next((ix.disease_index[d] for d in c.diagnoses if d in ix.disease_index), None) for c in cases]
    groups = [cohort(c) for c in cases]

    def compare(rows: np.ndarray, what: str) -> dict:
        """Cross-validate every method on ``rows`` of the scored cases; print and return the comparison."""
        sub = [golds[i] for i in rows], [gold[i] for i in rows], [groups[i] for i in rows]
        print(f"-- {what}: {len(rows)} cases, {len(set(sub[2]))} cohorts", flush=True)
        cv, first = cross_validate(scores[rows], sub[1], sub[0], sub[2], args.folds, args.repeats)
        for name, m in cv.items():
            print(
                f"{name:44s} ECE {m['ece']:.4f} (±{m['ece_sd_over_repeats']:.4f}) top-NLL {m['top_nll']:.4f} "
                f"Brier {m['top_brier']:.4f} gold-NLL {m['gold_nll']:.3f} p(not in KG) {m['mean_p_not_in_kg']:.3f}"
            )
        winner = choose(cv)
        print(f"chosen: {winner}")
        return {
            "cases_used": len(rows),
            "cohorts_used": len(set(sub[2])),
            "largest_cohorts": sorted(Counter(sub[2]).values(), reverse=True)[:5],
            "not_in_kg": sum(not g for g in sub[0]),
            "methods": cv,
            "chosen": winner,
            "reliability_first_repeat": {n: reliability(*cr) for n, cr in first.items()},
        }

    results: dict = {
        "data": {
            "folder": str(args.cases),
            "cases_in_folder": len(all_cases),
            "cases_left_out": len(all_cases) - len(cases),
            "left_out_why": "in cohorts every given model trained on (held out by none)",
            "holdout_share": args.holdout,
            "seed": seed,
            "checkpoint": args.model,
            "fold_models": {m: int((by == k).sum()) for k, m in enumerate(models)},
            "diseases": ix.num_diseases,
        },
        "protocol": {
            "folds": args.folds,
            "repeats": args.repeats,
            "grouping": "cohort (the phenopacket's folder)",
            "metrics": "pooled out-of-fold, mean over repeats; ECE 10 equal-width bins of the top answer, "
            "'not in the KG' counted as an answer",
            "rule": "lowest mean ECE, unless its top-answer NLL is worse than 'T+b by likelihood'",
        },
    }
    if args.oof:
        # How far apart the fold models' own T and b are: one calibration serves them all.
        results["per_fold_model_t_b"] = {
            m: [round(x, 3) for x in _t_b(scores[by == k], [gold[i] for i in np.flatnonzero(by == k)])]
            for k, m in enumerate(models)
        }
        print(f"T, b fitted per fold model: {results['per_fold_model_t_b']}")
    main_cv = compare(np.arange(len(cases)), "out-of-fold, all scored cases" if args.oof else "held-out cases")
    results["data"].update({k: main_cv.pop(k) for k in ("cases_used", "cohorts_used", "largest_cohorts", "not_in_kg")})
    results.update(main_cv)
    if args.oof:
        ref = compare(np.flatnonzero(by == 0), "reference: --model's own held-out cohorts alone")
        results["reference_model_holdout_only"] = {k: v for k, v in ref.items() if k != "reliability_first_repeat"}
    png = (
        Path(args.out).with_suffix(".png")
        if args.out
        else _ROOT / "benchmarks" / "results" / "calibration-reliability.png"
    )
    kind = "out-of-fold scores of all" if args.oof else "held-out"
    title = f"Cohort-CV reliability, {len(cases)} {kind} train cases"
    plot(results["reliability_first_repeat"], {n: c["ece"] for n, c in results["methods"].items()}, title, png)
    results["plot"] = str(png.relative_to(_ROOT)) if png.is_relative_to(_ROOT) else str(png)
    results["seconds"] = round(time.perf_counter() - t0, 1)
    print(f"wrote {write_results('calibration', results, args.out)}")


def _conf_right(p: torch.Tensor, golds: list[set[int]]) -> tuple[np.ndarray, np.ndarray]:
    return answers(p[:, :-1].numpy(), p[:, -1].numpy())[0], _correct(p, golds)


if __name__ == "__main__":
    main()
