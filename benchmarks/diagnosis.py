"""Diagnosis benchmark: everything side by side, in one run.

Real cases (a folder of phenopackets, default ``../shared/data/phenopackets/dev``), phenotype
only (the case's genes unused):

- the model (EvidenceGNN over the default KG) against two non-learned baselines run here on the
  same cases and KG: information-content overlap over ancestors and Resnik best-match-average;
- ablations and references: the model's learned terms without its fixed closure-overlap prior,
  the model without the excluded findings as input, and the prior alone (non-learned: the IC the
  closure of the observed and of the excluded findings shares with each disease), to show what
  each part and the pertinent negatives carry;
- the gene-aware mode (the case's causal gene used), reported separately;
- the model and v1 with each case's own paper left out of the KG: the gold ranked without the
  annotations that cite only the paper the case came from, as a new patient's disease would be
  (``kgdx.reasoning.paper_out``), so that the ``cited`` cases, over half of dev, also say how a
  new patient fares;
- v1, the previous shipped checkpoint (trained on simulated cases only,
  ``benchmarks/data/evidence-gnn-v1.pt``), against the shipped one (``--v1 none`` skips it);
- the shipped model with one row per disease id (OMIM/ORPHA/MONDO equivalents not merged into
  one entity), to show what counting any member of the gold's class changes;
- the opt-in absent-finding likelihood ratio (``absent_likelihood_floor``), which lowers a disease
  by log(1 − f) for each finding the patient lacks that the disease has at frequency f;
- top-1/3/10 and MRR overall and on the cases whose disease is in the KG, ties counted fairly;
  also per cohort (macro: each cohort counts once) and on three splits by how independent a case
  is from the annotations that score it (``benchmarks/lib/splits.py``): ``cited`` (the gold's
  annotations cite the case's own paper), ``new`` (the gold has no annotations in the 2025-01
  ``phenotype.hpoa``) and ``independent`` (the rest, which predicts a new patient).

Explanations: the share of cited KG edges (paths) that exist in the KG, and, with ``--neo4j``,
that their own Cypher finds in the Neo4j at KGDX_NEO4J_URI (load it first with `kgdx kg load`).

Calibration: ECE (10 equal-width bins) of the model's top answer, "a disease not in the KG"
included as an answer, with a reliability diagram (``benchmarks/results/diagnosis-reliability.png``).
The temperature, not-in-KG logit and top-label map (Platt or isotonic) are whatever the
checkpoint carries (``kgdx calibrate`` fits them on ``train/``, ``benchmarks/calibration.py``
chose the method there); this benchmark only measures them, the temperature and logit without the
map, and the raw softmax.
``--calibration-only`` measures just this and replaces that section of the results file.

Speed: latency of ranking one case over every disease (p50/p95, after warm-up) against the IC
baseline, batched cases/s, peak memory.

Run::

    python -m benchmarks.diagnosis [--cases DIR] [--model default] [--neo4j] [--limit N] [--calibration-only]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]

import numpy as np

from benchmarks._common import latencies_ms, learned_only, machine, paper_out, peak_rss_mb, scorer_with, write_results
from benchmarks.lib.baselines import ICOverlap, ResnikBMA
from benchmarks.lib.splits import SPLITS, cohort, provenance
from kgdx.app.stores import open_store
from kgdx.ingest.case import PatientCase
from kgdx.ingest.phenopackets import iter_phenopackets
from kgdx.reasoning.diagnoser import Diagnoser
from kgdx.reasoning.evaluate import evaluate_scores

DEFAULT_CASES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "phenopackets" / "dev"


#: The floor of the opt-in absent-finding likelihood ratio measured here (EvidenceGNNConfig).
ABSENT_FLOOR = 0.1


def _fmt(name: str, s: dict) -> str:
    o, k = s["overall"], s["in_kg"]
    return (
        f"{name:42s} top1 {o['top1']:.3f} top3 {o['top3']:.3f} top10 {o['top10']:.3f} MRR {o['mrr']:.3f}"
        f" | in-KG top1 {k['top1']:.3f} top10 {k['top10']:.3f}"
        f" | macro top1 {s['macro']['top1']:.3f}"
        + "".join(f" | {n} top1 {v['top1']:.3f} top10 {v['top10']:.3f}" for n, v in s["splits"].items())
    )


def real_cases(dx: Diagnoser, folder: Path, limit: int | None, per_case: str | None, v1: Path | None) -> dict:
    cases = list(iter_phenopackets(folder, dx.resolve))[:limit]
    ix = dx.index
    ic, resnik, resnik_pd = ICOverlap(ix), ResnikBMA(ix, "symmetric"), ResnikBMA(ix, "patient")

    def obs(c: PatientCase) -> list[int]:
        return ix.phenotype_ids(c.observed_ids)

    cfg = dx.model.config

    def prior_alone(c: PatientCase) -> np.ndarray:
        overlap = dx.evidence(c)[0].overlap.numpy()
        return overlap[:, 0] + cfg.prior_excluded * overlap[:, 1]

    def model(c: PatientCase, genes: bool = False) -> np.ndarray:
        return dx.rank(c, k=1, use_genes=genes).scores

    def model_no_excluded(c: PatientCase) -> np.ndarray:
        return dx.rank(PatientCase(c.id, observed=c.observed, sex=c.sex), k=1).scores

    methods = {
        "baseline: IC overlap over ancestors": lambda c: ic.scores(obs(c)),
        "baseline: Resnik BMA (symmetric)": lambda c: resnik.scores(obs(c)),
        "baseline: Resnik BMA (patient → disease)": lambda c: resnik_pd.scores(obs(c)),
        "reference: the closure-overlap prior alone": prior_alone,
        "ablation: learned terms only (no prior)": learned_only(dx),
        "ablation: EvidenceGNN without excluded findings": model_no_excluded,
        "EvidenceGNN (phenotype only)": model,
        # Every case as a new patient: its gold without the annotations its own paper gave.
        "EvidenceGNN, each case's own paper left out of the KG": paper_out(dx),
        "EvidenceGNN gene-aware (uses the causal gene)": lambda c: model(c, True),
    }
    split = provenance(cases)
    cohorts = [cohort(c) for c in cases]
    from kgdx.reasoning.index import KGIndex

    # One row per disease id, equivalents not merged: what counting any member of the gold's
    # class as a hit changes. Evaluated against its own index, so ranks count per id.
    split_ix = KGIndex.from_store(dx.store, merge_equivalents=False)
    per_id = Diagnoser(dx.store, dx.model, index=split_ix)
    if v1 is not None:
        from kgdx.reasoning.checkpoint import load_checkpoint

        old = Diagnoser(dx.store, load_checkpoint(v1)[0], index=ix)
        methods = {
            "v1: EvidenceGNN trained on simulated cases only": lambda c: old.rank(c, k=1).scores,
            "v1, each case's own paper left out of the KG": paper_out(old),
            **methods,
        }
    out = {
        "v1_checkpoint": str(v1) if v1 is not None else None,
        "data": {
            "folder": str(folder),
            "cases": len(cases),
            "cohorts": len(set(cohorts)),
            "splits": {k: split.count(k) for k in SPLITS},
        },
        "methods": {},
    }
    methods["ablation: EvidenceGNN, equivalent ids not merged"] = lambda c: per_id.rank(c, k=1).scores
    methods[f"opt-in: absent-finding likelihood ratio (floor {ABSENT_FLOOR})"] = scorer_with(
        dx, absent_likelihood_floor=ABSENT_FLOOR
    )
    for name, fn in methods.items():
        t = time.perf_counter()
        pc = per_case if name == "EvidenceGNN (phenotype only)" else None
        i = split_ix if name.endswith("not merged") else ix
        m = evaluate_scores(cases, fn, i.disease_index, i.diseases, per_case=pc)
        s = m.summary()
        s["macro"] = m.macro(cohorts)
        s["splits"] = {k: m.subset(i for i, x in enumerate(split) if x == k).summary()["overall"] for k in SPLITS}
        s["seconds"] = round(time.perf_counter() - t, 1)
        out["methods"][name] = s
        print(_fmt(name, s), flush=True)
    best_baseline = max(v["overall"]["top1"] for k, v in out["methods"].items() if k.startswith("baseline:"))
    ours = out["methods"]["EvidenceGNN (phenotype only)"]["overall"]["top1"]
    out["targets"] = {
        "top1_overall": ours,
        "best_baseline_top1": best_baseline,
        "margin_points": round(100 * (ours - best_baseline), 1),
        "target_margin_points": 8,
        "target_top1": 0.5,
    }
    out["cases_not_in_kg"] = out["methods"]["EvidenceGNN (phenotype only)"]["cases_not_in_kg"]
    # Cases whose gold id shares its ranked entity with other ids (OMIM/ORPHA/MONDO equivalents).
    out["cases_gold_merged"] = sum(
        any(d in ix.disease_index and len(ix.members[ix.disease_index[d]]) > 1 for d in c.diagnoses) for c in cases
    )
    return out, cases


def explanations(dx: Diagnoser, cases: list[PatientCase], n: int, neo4j: bool) -> dict:
    from kgdx.reasoning.explain import verify_in_neo4j

    paths = verified = edges = 0
    neo_share = []
    store = None
    if neo4j:
        from kgdx.app.stores import open_neo4j

        store = open_neo4j()
    for c in cases[:n]:
        if not (c.observed or c.excluded):
            continue
        e = dx.explain(dx.rank(c, k=3), top=3)
        ps = [p for d in e.diseases for p in d.paths]
        paths += len(ps)
        verified += sum(p.verified for p in ps)
        edges += len(e.cited_edges())
        if store is not None:
            neo_share.append(verify_in_neo4j(e, store))
    out = {
        "cases": min(n, len(cases)),
        "paths": paths,
        "cited_edges": edges,
        "share_in_kg": round(verified / paths, 4) if paths else None,
    }
    if store is not None:
        out["share_in_neo4j"] = round(float(np.mean(neo_share)), 4) if neo_share else None
        store.close()
    print(
        f"explanations: {paths} paths over {out['cases']} cases; in the KG: {out['share_in_kg']}"
        + (f"; in Neo4j: {out.get('share_in_neo4j')}" if store is not None else "")
    )
    return out


def speed(dx: Diagnoser, cases: list[PatientCase]) -> dict:
    sample = [c for c in cases if c.observed][:50]
    ic = ICOverlap(dx.index)
    i = iter(range(10**9))
    ours = latencies_ms(lambda: dx.rank(sample[next(i) % len(sample)], k=10), repeat=200, warmup=10)
    j = iter(range(10**9))
    base = latencies_ms(
        lambda: ic.scores(dx.index.phenotype_ids(sample[next(j) % len(sample)].observed_ids)), repeat=200, warmup=10
    )
    t = time.perf_counter()
    dx.scores(sample * 2, batch_size=16)
    batched = 2 * len(sample) / (time.perf_counter() - t)
    out = {
        "ranking_latency_ms": ours,
        "ic_baseline_latency_ms": base,
        "batched_cases_per_s": round(batched, 1),
        "diseases_scored_per_case": dx.index.num_diseases,
        "peak_rss_mb": round(peak_rss_mb()),
        "target_p50_ms": 50,
    }
    print(
        f"speed: ranking p50 {ours['p50']:.1f} ms p95 {ours['p95']:.1f} ms (IC baseline p50 {base['p50']:.1f} ms); "
        f"batched {batched:.0f} cases/s; peak RSS {out['peak_rss_mb']} MB"
    )
    return out


def calibration(dx: Diagnoser, cases: list[PatientCase], plot: Path | None) -> dict:
    """ECE and reliability bins of the top answer, calibrated (as the checkpoint is) and raw."""
    import torch

    from kgdx.reasoning.calibrate import answers, expected_calibration_error, reliability

    scores = torch.from_numpy(dx.scores(cases))
    golds = [{dx.index.disease_index[d] for d in c.diagnoses if d in dx.index.disease_index} for c in cases]
    cfg = dx.model.config
    out = {"temperature": cfg.temperature, "other_logit": cfg.other_logit, "top_label": cfg.top_label}
    if cfg.top_isotonic is not None:
        out["top_isotonic_knots"] = len(cfg.top_isotonic[0])
    out["cases"] = len(cases)
    curves = {}
    no_map = replace(cfg, top_label=None, top_isotonic=None)
    rows = {"calibrated": cfg}
    if cfg.top_label is not None or cfg.top_isotonic is not None:
        rows["temperature and not-in-KG logit only"] = no_map
    rows["raw softmax"] = replace(no_map, temperature=1.0, other_logit=None)
    for name, variant in rows.items():
        dx.model.config = variant
        try:
            p, other = dx.model.probabilities(scores)
        finally:
            dx.model.config = cfg
        confidence, best, says_other = answers(p.numpy(), other.numpy())
        correct = np.array([(not g) if o else (int(i) in g) for g, o, i in zip(golds, says_other, best)])
        curves[name] = reliability(confidence, correct)
        out[name] = {"ece": round(expected_calibration_error(confidence, correct), 4), "bins": curves[name]}
        print(f"calibration ({name}): ECE {out[name]['ece']:.4f} over {len(cases)} cases", flush=True)
    if plot is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(4.5, 4.5))
        ax.plot([0, 1], [0, 1], "k:", label="perfect")
        for name, bins in curves.items():
            kept = [b for b in bins if b["n"]]
            ax.plot(
                [b["confidence"] for b in kept],
                [b["accuracy"] for b in kept],
                "o-",
                label=f"{name} (ECE {out[name]['ece']:.3f})",
            )
        ax.set(xlabel="confidence of the top answer", ylabel="share correct", title=f"Reliability, {len(cases)} cases")
        ax.legend(loc="upper left", fontsize=8)
        fig.tight_layout()
        fig.savefig(plot, dpi=120)
        plt.close(fig)
        out["plot"] = str(plot.relative_to(_ROOT)) if plot.is_relative_to(_ROOT) else str(plot)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=Path, default=DEFAULT_CASES, help="folder of phenopackets")
    ap.add_argument("--model", default="default", help="checkpoint name or path")
    ap.add_argument("--limit", type=int, help="only the first N cases (quick runs)")
    ap.add_argument("--explain-cases", type=int, default=300)
    ap.add_argument("--neo4j", action="store_true", help="also check explanation paths in Neo4j")
    ap.add_argument(
        "--v1",
        type=Path,
        default=_ROOT / "benchmarks" / "data" / "evidence-gnn-v1.pt",
        help="the previous shipped checkpoint, for a side-by-side row ('none' to skip)",
    )
    ap.add_argument("--per-case", help="write the model's per-case JSON lines here")
    ap.add_argument("--out", help="JSON results path (default benchmarks/results/diagnosis.json)")
    ap.add_argument(
        "--calibration-only",
        action="store_true",
        help="measure only the calibration and replace that section of an existing results file",
    )
    args = ap.parse_args()

    dx = Diagnoser.from_pretrained(args.model, store=open_store("memory"))
    if args.calibration_only:
        _calibration_only(dx, args)
        return
    results: dict = {"kg": dx.store.summary(), "model": repr(dx.model)}
    if args.cases.is_dir():
        results["real_cases"], cases = real_cases(
            dx, args.cases, args.limit, args.per_case, None if str(args.v1) == "none" else args.v1
        )
        plot = (
            Path(args.out).with_suffix(".png")
            if args.out
            else _ROOT / "benchmarks" / "results" / "diagnosis-reliability.png"
        )
        results["calibration"] = calibration(dx, cases, plot)
        results["explanations"] = explanations(dx, cases, args.explain_cases, args.neo4j)
        results["speed"] = speed(dx, cases)
    else:
        print(f"skipped real cases: {args.cases} is not a folder (point --cases at a Phenopacket Store release)")
        results["real_cases"] = {"skipped": f"{args.cases} not found"}
    print(f"wrote {write_results('diagnosis', results, args.out)}")


def _calibration_only(dx: Diagnoser, args: argparse.Namespace) -> None:
    """Re-measure the calibration section alone (minutes, not the hour of a full run); the other
    sections, and the command and machine that produced them, stay as they were."""
    import json
    import sys

    path = Path(args.out) if args.out else _ROOT / "benchmarks" / "results" / "diagnosis.json"
    doc = json.loads(path.read_text())
    cases = list(iter_phenopackets(args.cases, dx.resolve))[: args.limit]
    plot = Path(args.out).with_suffix(".png") if args.out else path.with_name("diagnosis-reliability.png")
    cal = calibration(dx, cases, plot)
    cal["command"] = " ".join(["python", "-m", "benchmarks.diagnosis", *sys.argv[1:]])
    cal["machine"] = machine()
    doc["calibration"] = cal
    path.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote the calibration section of {path}")


if __name__ == "__main__":
    main()
