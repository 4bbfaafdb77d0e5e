"""Synthetic multimodal chest cohort: KG fusion against supervised baselines, side by side, one run.

What runs, in order:

1. A cohort is generated (``kgdx.synth.generate_cohort``) into ``--cohort`` (default: a
   temporary folder), or an existing one is reused.
2. The CT encoder (``ct-tiny``) and its finding head are trained on the **train split** only
   (``kgdx.encoders.train_ct_head``); per-finding AUROC is measured on the test split.
3. Every case is built through the encoders (``kgdx.reasoning.multimodal``): CT-head findings, report
   linking, labs, plus the phenopacket's symptoms; and its embeddings (CT, report, labs).
4. Methods, scored over the cohort's diseases:

   - **KG fusion**, zero-shot: the Diagnoser (EvidenceGNN over the default KG, never trained on
     the cohort) on all findings; its scores over every KG disease, restricted to the cohort's
     for the metrics. Ablations: without the symptoms (the same inputs as the baselines), and
     symptoms alone, + labs, + report.
   - **KG fusion, fine-tuned** on the train split (cross-entropy of the primary disease over every
     KG disease, model selected on validation), reported separately.
   - **KG fusion + embedding messages, fine-tuned**: the same, from the same model, cases, steps
     and seeds, with the patient's CT and report embeddings as messages to every disease
     (``EvidenceGNNConfig.patient_embeddings``: each embedding against the disease's text profile
     through a learned low-rank form that starts at zero). ``--no-embedding-messages`` skips it.
   - **Image-only** (CT embedding → MLP), **text-only** (report MiniLM embedding → MLP),
     **labs-only** (MedMPT lab encoder → MLP) and **attention fusion without the KG** (modality
     tokens → 2-layer transformer → MLP, MedMPT's medication-task fusion), trained on the train
     split (multi-label over the diseases seen in training), model-selected on validation,
     ``--repeats`` seeds.

   All at 100 % and at 10 % of the training labels (``--fractions``).
5. Metrics on the test split: macro AUROC / AUPRC over the diseases with cases in the split (one
   vs rest; a case can have two diseases), top-1/3 of the primary disease among all the cohort's
   diseases (ties fair). On the **held-out** split (cases with a disease never in train or
   validation): top-1/3 of the held-out disease among all the cohort's diseases, and the AUROC of
   the held-out diseases over test + held-out cases. Supervised models cannot name a disease
   they never saw: they give it the lowest score, and the tables say so.
6. Drugs (test split): ``Diagnoser.suggest_drugs`` on the zero-shot KG ranking against the
   cohort's true treatments (Jaccard, F1), and the share of suggestions that violate a KG
   contraindication or interaction, with ``safety="remove"`` and ``"flag"``, checked two ways:
   against the patient record (known conditions, observed findings, current drugs: must be 0
   with ``remove``) and against the cohort's truth (true diseases and present phenotypes).

Run::

    python -m benchmarks.chest                                  # n=600, 32x64x64, seed 0
    python -m benchmarks.chest --n 1000 --seed 1 --cohort /tmp/chest
    python -m benchmarks.chest --quick                          # a smoke run in about 5 minutes

Writes ``benchmarks/results/chest.json`` (``--out``) and ``benchmarks/results/chest.png``.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks._common import RESULTS, peak_rss_mb, write_results
from benchmarks.lib.chest_metrics import ViolationCount, drug_violations, macro_scores, set_overlap, topk
from benchmarks.lib.fusion_baselines import (
    AttentionFusion,
    FitConfig,
    LabsMLP,
    ModalityMLP,
    fit_multilabel,
    predict_scores,
)
from benchmarks.lib.multimodal import patient_features, select_modalities
from kgdx.errors import DataError, ModelError
from kgdx.ingest.case import PatientCase
from kgdx.reasoning.case_builder import CaseBuilder
from kgdx.reasoning.diagnoser import Diagnoser
from kgdx.reasoning.evidence import CaseEvidence

SPLITS = ("train", "validation", "test", "held_out")

#: KG variants: name -> (finding origins kept, labs kept). "KG fusion" is the headline method.
KG_VARIANTS = {
    "KG fusion (zero-shot)": ({"phenopacket", "report", "ct"}, True),
    "KG: CT+report+labs (zero-shot)": ({"report", "ct"}, True),
    "KG: symptoms only": ({"phenopacket"}, False),
    "KG: symptoms+labs": ({"phenopacket"}, True),
    "KG: symptoms+labs+report": ({"phenopacket", "report"}, True),
}
FINETUNED = "KG fusion, fine-tuned on train"
EMBEDDED = "KG fusion + embedding messages, fine-tuned on train"
SUPERVISED = (
    "image-only (CT emb → MLP)",
    "text-only (report emb → MLP)",
    "labs-only (lab encoder → MLP)",
    "attention fusion, no KG",
)


class Clock:
    """Seconds per stage."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.last = self.t0
        self.stages: dict[str, float] = {}

    def __call__(self, stage: str) -> None:
        now = time.perf_counter()
        self.stages[stage] = round(now - self.last, 1)
        self.last = now
        print(f"[{now - self.t0:7.1f} s] {stage} done ({self.stages[stage]} s)", file=sys.stderr, flush=True)


# -- data -------------------------------------------------------------------------------------------


class _Windowed(Sequence):
    """The encoder inputs ``(S, C, H, W)`` of int16 HU slices ``(N, S, H, W)``, windowed (float16)
    only when a case is read."""

    def __init__(self, base: torch.Tensor, cfg: Any) -> None:  # cfg: PreprocessCfg
        self.base, self.cfg = base, cfg

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i):  # noqa: ANN001, ANN204 - an index or a slice, as a Sequence takes
        from kgdx.encoders.train_ct_head import window

        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        return window(self.base[i], self.cfg).to(torch.float16)


def get_cohort(args: argparse.Namespace):  # noqa: ANN201 - kgdx.ingest.cohort.Cohort
    from kgdx.ingest.cohort import read_cohort
    from kgdx.synth import SynthConfig, generate_cohort, parse_size

    folder = Path(args.cohort) if args.cohort else Path(tempfile.mkdtemp(prefix="kgdx-chest-")) / "cohort"
    shape = list(parse_size(args.size))
    if (folder / "manifest.json").is_file():
        cohort = read_cohort(folder)
        m = cohort.manifest
        if (m["n"], m["seed"], m["config"]["volume"]["shape"]) != (args.n, args.seed, shape):
            raise SystemExit(
                f"{folder} holds a cohort of n={m['n']}, seed={m['seed']}, shape={m['config']['volume']['shape']}"
                f", not n={args.n}, seed={args.seed}, shape={shape}: pass those or another --cohort"
            )
        return cohort, False
    cfg = SynthConfig.parse({"volume": {"shape": shape}})
    generate_cohort(folder, args.n, seed=args.seed, cfg=cfg, workers=args.workers, progress=True)
    return read_cohort(folder), True


def phenotype_model(name: str, store, out: Path, steps: int):  # noqa: ANN001, ANN201
    """The phenotype model; if ``name`` does not load (e.g. a checkpoint from an older feature
    set), a quick one is trained on the KG (simulated cases only, never the cohort)."""
    from kgdx.reasoning.checkpoint import load_checkpoint

    try:
        model, info = load_checkpoint(name)
        return model, {"checkpoint": str(name), "trained_here": False, "train_config": info.get("train_config")}
    except ModelError as e:
        print(
            f"the phenotype checkpoint {name!r} does not load ({e.one_line()[:160]}); training a quick one "
            f"({steps} steps on cases simulated from the KG)",
            file=sys.stderr,
        )
    from kgdx.reasoning.train import TrainConfig, train

    cfg = TrainConfig(steps=steps, eval_every=steps, val_cases=100, warmup=min(20, steps))
    summary = train(store, cfg, out / "phenotype", progress=True)
    model, info = load_checkpoint(summary["best"])
    return model, {
        "checkpoint": summary["best"],
        "trained_here": True,
        "steps": steps,
        "best_val_top1_simulated": summary["best_val_top1"],
        "train_config": info.get("train_config"),
    }


# -- KG scoring ---------------------------------------------------------------------------------------


def kg_evidence(dx: Diagnoser, cases: list[PatientCase]) -> list[CaseEvidence | None]:
    """The KG messages of each case (model-independent, so computed once); ``None`` for a case
    with no finding the KG knows."""
    out: list[CaseEvidence | None] = []
    for c in cases:
        try:
            out.append(dx.evidence(c)[0])
        except DataError:
            out.append(None)
    return out


def kg_scores(model, evidence: list[CaseEvidence | None], cols: list[int], batch: int = 16) -> np.ndarray:  # noqa: ANN001
    """Scores ``(N, len(cols))`` of the cohort's diseases; a case without evidence gets all-equal
    scores (ties, counted fairly)."""
    out = np.zeros((len(evidence), len(cols)), np.float64)
    model.eval()
    with torch.no_grad():
        for i in range(0, len(evidence), batch):
            rows = [i + j for j, e in enumerate(evidence[i : i + batch]) if e is not None]
            if rows:
                out[rows] = model(CaseEvidence.batch([evidence[r] for r in rows])).numpy()[:, cols]
    return out


def finetune(
    dx: Diagnoser,
    train: list[tuple[CaseEvidence, int]],
    val: list[CaseEvidence],
    val_y: np.ndarray,
    cols: list[int],
    *,
    steps: int,
    lr: float,
    seed: int,
    batch: int = 16,
    eval_every: int = 25,
):
    """A copy of the phenotype model fine-tuned on cohort cases (cross-entropy of the primary
    disease over every KG disease), at the step with the best validation macro AUROC."""
    import copy

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = copy.deepcopy(dx.model).train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    val_batches = [CaseEvidence.batch(val[i : i + 32]) for i in range(0, len(val), 32)]

    def val_auroc() -> float:
        model.eval()
        with torch.no_grad():
            s = np.concatenate([model(b).numpy()[:, cols] for b in val_batches])
        model.train()
        return macro_scores(val_y, s)["auroc"] or 0.0

    best, best_state, best_step = val_auroc(), copy.deepcopy(model.state_dict()), 0
    for step in range(1, steps + 1):
        idx = rng.choice(len(train), size=min(batch, len(train)), replace=False)
        ev = CaseEvidence.batch([train[i][0] for i in idx])
        loss = torch.nn.functional.cross_entropy(model(ev), torch.tensor([train[i][1] for i in idx]))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        if step % eval_every == 0 or step == steps:
            a = val_auroc()
            if a > best:
                best, best_state, best_step = a, copy.deepcopy(model.state_dict()), step
    model.load_state_dict(best_state)
    return model.eval(), {"best_step": best_step, "val_macro_auroc": round(best, 4)}


def finetune_runs(
    dx: Diagnoser,
    evidence: dict[str, list[CaseEvidence | None]],
    gold_train: list[int],
    data: dict[str, Any],
    kg_cols: list[int],
    args: argparse.Namespace,
) -> dict[str, Any]:
    """:func:`finetune` at each share of the training labels, ``--repeats`` seeds each: the test
    and held-out figures, mean and SD, keyed by share."""
    val_ok = [i for i, e in enumerate(evidence["validation"]) if e is not None]
    out = {}
    for frac in args.fractions:
        runs = []
        for r in range(args.repeats):
            sub = _subset(len(evidence["train"]), frac, r)
            pairs = [(evidence["train"][i], gold_train[i]) for i in sub if evidence["train"][i] is not None]
            ft, info = finetune(
                dx,
                pairs,
                [evidence["validation"][i] for i in val_ok],
                data["Y"]["validation"][val_ok],
                kg_cols,
                steps=args.finetune_steps,
                lr=1e-3,
                seed=r,
            )
            S = {s: kg_scores(ft, evidence[s], kg_cols) for s in ("test", "held_out") if s in evidence}
            runs.append({**evaluate(S, data), "selection": info})
        out[f"{frac:.0%}"] = _mean_sd(runs)
    return out


# -- metrics -------------------------------------------------------------------------------------------


def evaluate(S: dict[str, np.ndarray], data: dict[str, Any]) -> dict[str, Any]:
    """Test and held-out metrics of one method's scores (``S[split]`` is ``(N, D_cohort)``)."""
    out: dict[str, Any] = {}
    m = macro_scores(data["Y"]["test"], S["test"])
    out["test"] = {
        "macro_auroc": m["auroc"],
        "macro_auprc": m["auprc"],
        "diseases": m["labels"],
        **topk(S["test"], data["primary"]["test"]),
    }
    if len(data["ids"]["held_out"]):
        t = topk(S["held_out"], data["held_gold"])
        both_y = np.concatenate([data["Y"]["test"], data["Y"]["held_out"]])
        both_s = np.concatenate([S["test"], S["held_out"]])
        h = macro_scores(both_y, both_s, columns=data["held_cols"])
        out["held_out"] = {
            **t,
            "held_out_disease_auroc": h["auroc"],
            "held_out_disease_auprc": h["auprc"],
            "cases": len(data["ids"]["held_out"]),
        }
    return out


def _mean_sd(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean and SD over repeats of every number in nested result dicts."""
    first = runs[0]
    out: dict[str, Any] = {}
    for k, v in first.items():
        if isinstance(v, dict):
            out[k] = _mean_sd([r[k] for r in runs])
        elif isinstance(v, (int, float)) and v is not None:
            vals = [r[k] for r in runs if r[k] is not None]
            out[k] = round(float(np.mean(vals)), 4) if vals else None
            if len(vals) > 1 and not isinstance(v, int):
                out[f"{k}_sd"] = round(float(np.std(vals, ddof=1)), 4)
        else:
            out[k] = v
    return out


# -- drugs ---------------------------------------------------------------------------------------------


def _with_ancestors(dx: Diagnoser, ids: set[str]) -> set[str]:
    ix = dx.index
    out = set(ids)
    for i in ids:
        t = ix.phenotype_index.get(i)
        if t is not None:
            out.update(ix.phenotypes[int(a)] for a in ix.ancestors_of(t))
    return out


def drug_benchmark(
    dx: Diagnoser,
    built: dict[str, list[PatientCase]],
    data: dict[str, Any],
    kgsrc,  # noqa: ANN001
    settings: list[tuple[int, int]],
) -> dict[str, Any]:
    """Suggestions on the zero-shot KG ranking against the true treatments, with violations."""
    from kgdx.reasoning.drugs import suggest_drugs

    origins, labs = KG_VARIANTS["KG fusion (zero-shot)"]

    def rankings(split: str) -> list:
        out = []
        for mc in built[split]:
            case = select_modalities(mc, origins, labs=labs)
            try:
                out.append(dx.rank(case, k=10))
            except DataError:
                out.append(None)
        return out

    def truth(cid: str) -> tuple[set[str], set[str]]:
        rec = data["labels"][cid]
        drugs = {t["drug"] for t in rec["treatments"]}
        dis = {d["id"] for d in rec["diseases"]}
        for d in list(dis):
            dis |= kgsrc.ancestors(d) if d in kgsrc.diseases else set()
        phen = {p["id"] for p in rec["phenotypes"] if p["present"]} | {
            f["id"] for f in rec["ct_findings"] if f["present"]
        }
        return drugs, dis | _with_ancestors(dx, phen)

    def run(split: str, ranks: list, k: int, top: int, safety: str) -> dict[str, Any]:
        jac, f1, n_sugg, none = [], [], [], 0
        rec_v, true_v = ViolationCount(), ViolationCount()
        for mc, r, cid in zip(built[split], ranks, data["ids"][split]):
            gold, true_conditions = truth(cid)
            if r is None:
                none += 1
                sugg = []
            else:
                # New drugs only: "withdraw" and "review" entries are advice about current drugs.
                sugg = [
                    s.drug for s in suggest_drugs(dx, r, k=k, top_diseases=top, safety=safety) if s.action == "start"
                ]
            o = set_overlap(sugg, gold)
            jac.append(o["jaccard"])
            f1.append(o["f1"])
            n_sugg.append(len(sugg))
            case = mc
            observed = {dx.index.phenotypes[t] for t in (r.observed if r is not None else [])}
            record_conditions = set(case.conditions) | _with_ancestors(dx, observed)
            rec_v.add(sugg, drug_violations(dx.store, sugg, conditions=record_conditions, current_drugs=case.drugs))
            true_v.add(
                sugg,
                drug_violations(
                    dx.store, sugg, conditions=true_conditions | set(case.conditions), current_drugs=case.drugs
                ),
            )
        return {
            "k": k,
            "top_diseases": top,
            "safety": safety,
            "cases": len(jac),
            "cases_without_ranking": none,
            "jaccard": round(float(np.mean(jac)), 4),
            "f1": round(float(np.mean(f1)), 4),
            "mean_suggestions": round(float(np.mean(n_sugg)), 2),
            "violations_vs_record": rec_v.to_dict(),
            "violations_vs_truth": true_v.to_dict(),
        }

    val_ranks = rankings("validation")
    grid = [run("validation", val_ranks, k, top, "remove") for k, top in settings]
    best = max(grid, key=lambda g: (g["f1"], -g["k"]))
    test_ranks = rankings("test")
    out = {
        "selection": {
            "on": "validation F1 with safety=remove",
            "grid": [
                {"k": g["k"], "top_diseases": g["top_diseases"], "f1": g["f1"], "jaccard": g["jaccard"]} for g in grid
            ],
            "chosen": {"k": best["k"], "top_diseases": best["top_diseases"]},
        },
        "test": {},
    }
    for name, (k, top) in (
        ("default (k=10, top_diseases=5)", (10, 5)),
        (
            f"chosen on validation (k={best['k']}, top_diseases={best['top_diseases']})",
            (best["k"], best["top_diseases"]),
        ),
    ):
        out["test"][name] = {s: run("test", test_ranks, k, top, s) for s in ("remove", "flag")}
    out["true_treatments_per_case"] = round(float(np.mean([len(truth(c)[0]) for c in data["ids"]["test"]])), 2)
    return out


# -- report ----------------------------------------------------------------------------------------------


def _f(v: Any) -> str:
    return "  n/a" if v is None else f"{v:.3f}"


def print_table(methods: dict[str, dict[str, Any]], fractions: list[float]) -> str:
    lines = []
    head = (
        f"{'method':52s} {'labels':>9s} | {'AUROC':>6s} {'AUPRC':>6s} {'top1':>6s} {'top3':>6s} | "
        f"{'HO top1':>7s} {'HO top3':>7s} {'HO AUROC':>8s}"
    )
    lines += [head, "-" * len(head)]
    for name, by_frac in methods.items():
        for frac, r in by_frac.items():
            t, h = r["test"], r.get("held_out", {})
            lines.append(
                f"{name[:52]:52s} {frac:>9s} | {_f(t['macro_auroc']):>6s} {_f(t['macro_auprc']):>6s} "
                f"{_f(t['top1']):>6s} {_f(t['top3']):>6s} | {_f(h.get('top1')):>7s} {_f(h.get('top3')):>7s} "
                f"{_f(h.get('held_out_disease_auroc')):>8s}"
            )
    return "\n".join(lines)


def plot(methods: dict[str, dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(methods)
    fracs = sorted(
        {f for m in methods.values() for f in m}, key=lambda f: -float(f.rstrip("%")) if f[0].isdigit() else -1000
    )
    fig, (a, b) = plt.subplots(1, 2, figsize=(14, 5.5), gridspec_kw={"width_ratios": [3, 2]})
    w = 0.8 / max(1, len(fracs))
    for i, f in enumerate(fracs):
        vals = [methods[n].get(f, {}).get("test", {}).get("macro_auroc") or 0 for n in names]
        errs = [methods[n].get(f, {}).get("test", {}).get("macro_auroc_sd") or 0 for n in names]
        a.barh(np.arange(len(names)) + i * w, vals, w, xerr=errs, label=f"train labels: {f}")
    a.set_yticks(np.arange(len(names)) + w * (len(fracs) - 1) / 2, names, fontsize=8)
    a.invert_yaxis()
    a.axvline(0.5, color="grey", lw=0.8, ls="--")
    a.set(xlabel="macro AUROC, test split (cohort diseases)", xlim=(0.3, 1.0), title="Diagnosis: test split")
    for i, f in enumerate(fracs):
        vals = [methods[n].get(f, {}).get("held_out", {}).get("top3") for n in names]
        b.barh(np.arange(len(names)) + i * w, [v or 0 for v in vals], w)
        for j, v in enumerate(vals):
            if v == 0:
                b.text(0.01, j + i * w, "0: cannot name an unseen disease", va="center", fontsize=7, color="grey")
    b.set_yticks(np.arange(len(names)) + w * (len(fracs) - 1) / 2, [""] * len(names))
    b.invert_yaxis()
    b.set(
        xlabel="top-3 of the held-out disease among the cohort's diseases",
        xlim=(0, 1),
        title="Held-out diseases (never in train)",
    )
    fig.legend(*a.get_legend_handles_labels(), loc="upper center", ncol=len(fracs), fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.94))
    fig.savefig(path, dpi=110)
    plt.close(fig)


# -- main ------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=600, help="cohort size (default 600)")
    ap.add_argument("--size", default="32x64x64", help="volume shape ZxYxX (default 32x64x64, ct-tiny's input size)")
    ap.add_argument("--seed", type=int, default=0, help="cohort seed")
    ap.add_argument(
        "--cohort", default=None, help="cohort folder (reused if it holds this n/seed/size; default: temporary)"
    )
    ap.add_argument("--workers", type=int, default=2, help="processes for cohort generation")
    ap.add_argument("--model", default="default", help="phenotype checkpoint (name or path)")
    ap.add_argument(
        "--model-steps", type=int, default=150, help="steps of the quick phenotype model if --model does not load"
    )
    ap.add_argument(
        "--ct-checkpoint", default=None, help="use this CT encoder (with a trained head) instead of training one"
    )
    ap.add_argument("--ct-epochs", type=int, default=12, help="CT encoder stage-1 epochs")
    ap.add_argument("--fractions", type=float, nargs="+", default=[1.0, 0.1], help="shares of the training labels")
    ap.add_argument("--repeats", type=int, default=3, help="seeds per supervised run (and label subset)")
    ap.add_argument("--finetune-steps", type=int, default=150, help="KG fine-tuning steps (0: skip)")
    ap.add_argument(
        "--no-embedding-messages",
        dest="embedding_messages",
        action="store_false",
        help="skip the fine-tuned variant whose messages also read the CT and report embeddings",
    )
    ap.add_argument("--link-embeddings", action="store_true", help="let the linker match paraphrases with MiniLM too")
    ap.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (default 1: these tiny models run fastest on one; 0: torch's default)",
    )
    ap.add_argument("--work-dir", default=None, help="where checkpoints go (default: next to the cohort)")
    ap.add_argument("--out", default=None, help="JSON path (default benchmarks/results/chest.json)")
    ap.add_argument("--plot", default=None, help="plot path (default benchmarks/results/chest.png)")
    ap.add_argument(
        "--quick", action="store_true", help="a smoke run: n=120, 4 CT epochs, 1 repeat, 40 fine-tune steps"
    )
    a = ap.parse_args(argv)
    if a.quick:
        a.n, a.ct_epochs, a.repeats, a.finetune_steps = min(a.n, 120), min(a.ct_epochs, 4), 1, min(a.finetune_steps, 40)
    if not all(0 < f <= 1 for f in a.fractions):
        ap.error(f"--fractions must be in (0, 1] (got {a.fractions})")
    return a


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    clock = Clock()
    from kgdx.app.stores import open_store
    from kgdx.encoders.train_ct_head import (
        CTHeadConfig,
        cohort_inputs,
        finding_auroc,
        finding_targets,
        predict,
        train_ct_head,
    )
    from kgdx.synth import load_kg_source

    # 1. data
    cohort, generated = get_cohort(args)
    work = Path(args.work_dir) if args.work_dir else cohort.root.parent / "chest-work"
    work.mkdir(parents=True, exist_ok=True)
    clock("cohort" + (" generated" if generated else " reused"))
    store = open_store()
    model, model_info = phenotype_model(args.model, store, work, args.model_steps)
    dx = Diagnoser(store, model)
    clock("KG and phenotype model")
    kgsrc = load_kg_source(cohort.manifest["module"]["name"])
    ids = {s: cohort.ids(s) for s in SPLITS}
    held = [d["id"] for d in cohort.splits["held_out_diseases"]]
    diseases_all = kgsrc.disease_ids
    diseases = [d for d in diseases_all if d in dx.index.disease_index]
    not_in_kg = sorted(set(diseases_all) - set(diseases))
    col = {d: i for i, d in enumerate(diseases)}
    kg_cols = [dx.index.disease_index[d] for d in diseases]
    trained = [d for d in diseases if d not in held]
    trained_cols = [col[d] for d in trained]
    held_cols = [col[d] for d in held if d in col]
    labels = cohort.labels
    left_out: dict[str, list[str]] = {}
    for s in SPLITS:  # a case whose primary disease the KG lacks cannot be scored by anyone
        bad = [c for c in ids[s] if next(d["id"] for d in labels[c]["diseases"] if d["role"] == "primary") not in col]
        if bad:
            left_out[s] = bad
            ids[s] = [c for c in ids[s] if c not in bad]
    cases = {s: [cohort.case(c, dx.resolve) for c in ids[s]] for s in SPLITS}

    def Y(split: str) -> np.ndarray:
        y = np.zeros((len(ids[split]), len(diseases)), np.float32)
        for i, c in enumerate(ids[split]):
            for d in labels[c]["diseases"]:
                if d["id"] in col:
                    y[i, col[d["id"]]] = 1
        return y

    def primary(split: str) -> list[int]:
        return [col[next(d["id"] for d in labels[c]["diseases"] if d["role"] == "primary")] for c in ids[split]]

    data = {
        "ids": ids,
        "labels": labels,
        "Y": {s: Y(s) for s in SPLITS},
        "primary": {s: primary(s) for s in SPLITS},
        "held_cols": held_cols,
        "held_gold": [col[next(d["id"] for d in labels[c]["diseases"] if d["id"] in held)] for c in ids["held_out"]],
    }

    # 2. CT encoder and finding head (train split only)
    from kgdx.encoders.factory import get_model_config
    from kgdx.encoders.factory import load_checkpoint as load_encoder

    pre_cfg = (
        get_model_config("ct-tiny").preprocess
        if not args.ct_checkpoint
        else load_encoder(args.ct_checkpoint).cfg.preprocess
    )
    # int16 HU slices, windowed per case when used: a third of the memory of the encoder inputs,
    # which lets a cohort of 1,600 volumes at 64x160x160 fit in 24 GB
    X = {s: cohort_inputs(cohort, ids[s], pre_cfg, ()).base for s in SPLITS if ids[s]}
    clock("CT preprocessing")
    ct_info: dict[str, Any]
    if args.ct_checkpoint:
        encoder = load_encoder(args.ct_checkpoint)
        yt = np.stack([finding_targets(labels[c], encoder.findings) for c in ids["test"]])
        ct_info = {
            "checkpoint": args.ct_checkpoint,
            "trained_here": False,
            "test": finding_auroc(predict(encoder, X["test"])[1], yt, encoder.findings),
        }
    else:
        res = train_ct_head(
            cohort,
            work / "ct-head.pt",
            CTHeadConfig(epochs=args.ct_epochs, seed=args.seed),
            progress=True,
        )
        encoder = res.pop("encoder")
        ct_info = {
            "checkpoint": res["path"],
            "trained_here": True,
            **{k: res[k] for k in ("best_head_epoch", "dense", "seconds", "train_cases", "validation", "test")},
        }
    clock("CT encoder and finding head")

    # 3. cases through the encoders
    builder = CaseBuilder(dx, ct_model=encoder, link_embeddings=args.link_embeddings)
    built = {
        s: builder.build_many(cases[s], cts=_Windowed(X[s], pre_cfg), embed=True, progress=True)
        for s in SPLITS
        if ids[s]
    }
    origins: dict[str, int] = {}
    clock("building cases (CT head, report linking, embeddings)")

    def feats(split: str) -> dict[str, torch.Tensor]:
        f = patient_features(dx.store, built[split])
        return {k: torch.from_numpy(v) if k == "labs_present" else torch.from_numpy(v).float() for k, v in f.items()}

    F = {s: feats(s) for s in built}
    methods: dict[str, dict[str, Any]] = {}

    # 4a. KG zero-shot variants
    empty_cases: dict[str, dict[str, int]] = {}
    evidence: dict[str, list[CaseEvidence | None]] = {}  # the headline variant's, reused by fine-tuning
    full = "KG fusion (zero-shot)"
    for name, (keep, labs_on) in KG_VARIANTS.items():
        S, empty_cases[name] = {}, {}
        for s in ("validation", "test", "held_out"):
            if not ids[s]:
                continue
            copies = [select_modalities(mc, keep, labs=labs_on) for mc in built[s]]
            ev = kg_evidence(dx, copies)
            S[s] = kg_scores(dx.model, ev, kg_cols)
            empty_cases[name][s] = sum(e is None for e in ev)
            if name == full:
                evidence[s] = ev
                if s == "test":  # what the model saw, lab findings included
                    for c in copies:
                        for f in c.observed:
                            origins["observed:" + f.origin] = origins.get("observed:" + f.origin, 0) + 1
                        for f in c.excluded:
                            origins["excluded:" + f.origin] = origins.get("excluded:" + f.origin, 0) + 1
        methods[name] = {"zero-shot": evaluate(S, data)}
    clock("KG zero-shot scoring")

    # 4b. KG fine-tuned on the train split; then the same with the patient's embeddings as
    # messages (EvidenceGNNConfig.patient_embeddings), on the same cases, steps and seeds
    emb_widths = None
    if args.finetune_steps:
        keep, labs_on = KG_VARIANTS[full]
        evidence["train"] = kg_evidence(dx, [select_modalities(mc, keep, labs=labs_on) for mc in built["train"]])
        gold_train = [dx.index.disease_index[diseases[p]] for p in data["primary"]["train"]]
        ft_args = (gold_train, data, kg_cols, args)
        methods[FINETUNED] = finetune_runs(dx, evidence, *ft_args)
        clock("KG fine-tuning")
        if args.embedding_messages:
            widths = emb_widths = {m: int(built["train"][0].embeddings[m].shape[0]) for m in ("ct", "report")}
            dx_e = Diagnoser(store, dx.model.with_patient_embeddings(widths), index=dx.index)
            ev_e = {
                s: kg_evidence(dx_e, [select_modalities(mc, keep, labs=labs_on) for mc in built[s]])
                for s in ("train", "validation", "test", "held_out")
                if ids[s]
            }
            methods[EMBEDDED] = finetune_runs(dx_e, ev_e, *ft_args)
            clock("KG fine-tuning with embedding messages")

    # 4c. supervised baselines without the KG
    y_tr = torch.from_numpy(data["Y"]["train"][:, trained_cols])
    y_va = torch.from_numpy(data["Y"]["validation"][:, trained_cols])
    d_ct, d_txt, n_tests = F["train"]["ct"].shape[1], F["train"]["report"].shape[1], F["train"]["labs"].shape[1]
    L = len(trained_cols)
    makers = {
        SUPERVISED[0]: lambda: ModalityMLP("ct", d_ct, L),
        SUPERVISED[1]: lambda: ModalityMLP("report", d_txt, L),
        SUPERVISED[2]: lambda: LabsMLP(n_tests, L),
        SUPERVISED[3]: lambda: AttentionFusion(d_ct, d_txt, n_tests, L),
    }
    fit_info: dict[str, Any] = {}
    for name, make in makers.items():
        for frac in args.fractions:
            runs = []
            for r in range(args.repeats):
                sub = torch.from_numpy(_subset(len(y_tr), frac, r))
                model_, info = fit_multilabel(
                    make,
                    ({k: v[sub] for k, v in F["train"].items()}, y_tr[sub]),
                    (F["validation"], y_va),
                    FitConfig(seed=r),
                )
                S = {}
                for s in ("test", "held_out"):
                    if ids[s]:
                        full = np.full((len(ids[s]), len(diseases)), -np.inf)
                        full[:, trained_cols] = predict_scores(model_, F[s])
                        S[s] = full
                runs.append({**evaluate(S, data), "selection": info})
            methods.setdefault(name, {})[f"{frac:.0%}"] = _mean_sd(runs)
            fit_info[f"{name} @ {frac:.0%}"] = [r["selection"] for r in runs]
    clock("supervised baselines")

    # 5. drugs
    drugs = drug_benchmark(dx, built, data, kgsrc, settings=[(k, t) for t in (1, 2, 3, 5) for k in (3, 5, 10, 20)])
    clock("drug suggestions")

    # 6. report
    counts = {s: len(cohort.ids(s)) for s in SPLITS}
    results = {
        "data": {
            "cohort": str(cohort.root),
            "generated_here": generated,
            "seed": cohort.manifest["seed"],
            "n": cohort.manifest["n"],
            "volume_shape": cohort.manifest["config"]["volume"]["shape"],
            "cases_per_split": counts,
            "cases_used_per_split": {s: len(ids[s]) for s in SPLITS},
            "cohort_diseases": len(diseases_all),
            "diseases_scored": len(diseases),
            "diseases_not_in_kg": not_in_kg,
            "held_out_diseases": held,
            "cases_left_out": {s: len(v) for s, v in left_out.items()},
            "left_out_reason": "primary disease not in the KG" if left_out else None,
            "kg_cases_without_known_findings": empty_cases,
            "test_findings_by_origin": origins,
        },
        "phenotype_model": model_info,
        "ct_head": ct_info,
        "linking": {"embeddings": args.link_embeddings, "report_sections": list(builder.report_sections or ())},
        "methods": methods,
        "supervised_selection": fit_info,
        "drugs": drugs,
        "settings": {
            "fractions": args.fractions,
            "repeats": args.repeats,
            "finetune_steps": args.finetune_steps,
            "embedding_messages": emb_widths,
            "ct_epochs": args.ct_epochs,
            "threads": torch.get_num_threads(),
            "fit": asdict(FitConfig()),
            "ct_head_config": asdict(CTHeadConfig(epochs=args.ct_epochs, seed=args.seed)),
        },
        "seconds": {**clock.stages, "total": round(time.perf_counter() - clock.t0, 1)},
        "peak_rss_mb": round(peak_rss_mb()),
    }
    table = print_table(methods, args.fractions)
    print("\n" + table)
    ct_test = ct_info["test"]
    print(f"\nCT head, test split: macro AUROC {_f(ct_test['macro_auroc'])} over {ct_test['cases']} cases")
    for name, by in drugs["test"].items():
        for safety, r in by.items():
            print(
                f"drugs {name}, safety={safety}: Jaccard {r['jaccard']:.3f} F1 {r['f1']:.3f}; unsafe vs record "
                f"{r['violations_vs_record']['rate']:.3f}, vs truth {r['violations_vs_truth']['rate']:.3f} "
                f"({r['mean_suggestions']} suggestions per case)"
            )
    path = write_results("chest", results, args.out)
    png = Path(args.plot) if args.plot else RESULTS / "chest.png"
    plot(methods, png)
    print(f"\nwrote {path} and {png}; {results['seconds']['total']} s in all", file=sys.stderr)
    return 0


def _subset(n: int, frac: float, repeat: int) -> np.ndarray:
    """The training cases of one run: all of them at 100 %, else a seeded random share."""
    if frac >= 1.0:
        return np.arange(n)
    k = max(1, math.ceil(frac * n))
    return np.sort(np.random.default_rng(1000 + repeat).choice(n, size=k, replace=False))


if __name__ == "__main__":
    raise SystemExit(main())
