"""Parkinson's module benchmark: the KG and the model before and after `kgdx kg extend`.

In one run, on a copy of the default KG in memory:

- **Real cases**: the PD-related phenopackets of the case folder (cohorts FBXO7 and PARK7 by
  default), ranked over every disease before and after the module is applied (phenotype only).
- **Notes**: the clinical-note vignettes in ``benchmarks/data/pd_notes`` (written for this
  benchmark, never trained on) go through the concept linker into findings; top-1 and top-3 of
  the gold disease (or a listed equivalent) over every disease in the KG, from the notes alone.
  Also with the labelled findings instead of the linker ("oracle findings"), to separate linking
  errors from ranking errors, and the linker's precision/recall against those labels.
  Linking is strict (HPO id and assertion), overall and for present/absent separately, with the
  count of findings the note states absent or normal that the linker made present (must be 0),
  and the drugs read from the notes against the labelled ``drugs``. Top-k is also given counting
  a subtype of the gold (``IS_A``), e.g. "MSA, parkinsonian type" for an MSA note.
- **Held-out notes**: 30 more vignettes (``benchmarks/data/pd_notes_heldout``) and 10 more drug
  notes (``pd_drug_notes_heldout.jsonl``), written by a separate session from clinical knowledge
  after the linker and its vocabulary were done, without running the system on them; reported
  separately, and nothing is tuned on them.
- **Development notes**: 30 more notes (``benchmarks/data/pd_notes_dev``, its README says who
  wrote them), written in other styles (clinic shorthand, letters, ward and telephone notes) by a
  session that did not see the linker's vocabulary or the held-out notes. The linker's vocabulary
  is tuned on them, so they are reported as development figures, never as held out.
- **A second, blind annotation** of both note sets (``labels_second.jsonl`` beside each
  ``labels.jsonl``; who, how and the guideline in ``pd_notes/labels_second.md``): the linker
  scored against it, and the first annotation scored against it. How far two annotators agree
  is the ceiling that strict linking precision and recall can be read against.
- **Drug safety, second held-out set**: ``pd_drug_notes_heldout2.jsonl``, 10 more drug notes
  written after the KG gaps that the first held-out set exposed were fixed (that set is no longer
  held out), by a session that neither ran the system nor read the module's safety knowledge.
- **Drug safety, sets 3 and 4**: ``pd_drug_notes_heldout3.jsonl`` and ``pd_drug_notes_heldout4.jsonl``,
  12 notes each by sessions that neither ran the system nor read the safety knowledge. Set 3's
  summary (diagnoses, comorbidities, labels) was seen before ``safety_patient.yaml`` was curated,
  so it is not blind; set 4 was written and scored blind to that curation.
- **Drug safety**: ``benchmarks/data/pd_drug_notes.jsonl``, notes with medications and
  comorbidities written with their expected answers: violations (a suggested drug that is unsafe
  or not indicated for that patient; target 0) and withdraw recall/precision.
- **Zero-shot vs fine-tuned**: the shipped model as is (the module's diseases were never seen in
  training), then after a short fine-tune on cases simulated from the extended KG with the
  module's diseases over-sampled.
- **Explanations**: the share of cited paths that exist in the KG (must be 1.0).

Run::

    python -m benchmarks.parkinsons [--cases ../shared/data/phenopackets/dev] [--finetune-steps 300]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Callable
from functools import cache
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]

from benchmarks._common import write_results
from kgdx.app.stores import ensure_snapshot
from kgdx.ingest.case import Finding, PatientCase
from kgdx.ingest.phenopackets import iter_phenopackets
from kgdx.kg import extend
from kgdx.kg.module import load_module
from kgdx.kg.snapshot import load_snapshot
from kgdx.reasoning.case_builder import CaseBuilder
from kgdx.reasoning.checkpoint import checkpoint_path, load_checkpoint
from kgdx.reasoning.diagnoser import Diagnoser
from kgdx.reasoning.metrics import RankingMetrics, gold_rank
from kgdx.reasoning.train import TrainConfig, train

ROOT = Path(__file__).resolve().parents[1]
NOTES = ROOT / "benchmarks" / "data" / "pd_notes"
#: Notes with medications and comorbidities and their expected drug answers (written for this
#: benchmark, never tuned on).
DRUG_NOTES = ROOT / "benchmarks" / "data" / "pd_drug_notes.jsonl"
#: Held out: 30 more PD-differential notes and 10 more drug notes, written after the code and the
#: vocabulary by someone who did not run the system on them; nothing was tuned on them.
HELD_OUT_NOTES = ROOT / "benchmarks" / "data" / "pd_notes_heldout"
#: Development notes in other styles; the vocabulary is tuned on them (not held out).
DEV_NOTES = ROOT / "benchmarks" / "data" / "pd_notes_dev"
HELD_OUT_DRUG_NOTES = ROOT / "benchmarks" / "data" / "pd_drug_notes_heldout.jsonl"
#: A second held-out set of 10 drug notes, written after the first held-out set's KG gaps were
#: fixed (so the first set is no longer held out), by a session that neither ran the system nor
#: read the module's safety knowledge.
HELD_OUT_DRUG_NOTES_2 = ROOT / "benchmarks" / "data" / "pd_drug_notes_heldout2.jsonl"
#: Sets 3 and 4 (12 notes each). Set 3's summary was seen before the patient-specific safety
#: curation (not blind); set 4 was written blind to it.
HELD_OUT_DRUG_NOTES_3 = ROOT / "benchmarks" / "data" / "pd_drug_notes_heldout3.jsonl"
HELD_OUT_DRUG_NOTES_4 = ROOT / "benchmarks" / "data" / "pd_drug_notes_heldout4.jsonl"
MODULE = ROOT / "modules" / "parkinsons"
DEFAULT_CASES = ROOT.parent / "shared" / "data" / "phenopackets" / "dev"


def rank_of(dx: Diagnoser, case: PatientCase, golds: list[str], scores=None):  # noqa: ANN001, ANN201 - GoldRank | None
    """The best rank among ``golds`` (ranking the case once, unless ``scores`` are given)."""
    known = [dx.index.disease_index[g] for g in golds if g in dx.index.disease_index]
    if not known:
        return None
    scores = dx.rank(case, k=1).scores if scores is None else scores
    return min((gold_rank(scores, g) for g in known), key=lambda r: (r.rank, r.ties))


def real_cases(dx_before: Diagnoser, dx_after: Diagnoser, folder: Path, cohorts: list[str]) -> dict:
    out = {}
    for name, dx in (("before", dx_before), ("after", dx_after)):
        m = RankingMetrics()
        rows = []
        for cohort in cohorts:
            if not (folder / cohort).is_dir():
                continue
            for case in iter_phenopackets(folder / cohort, dx.resolve):
                r = rank_of(dx, case, case.diagnoses)
                m.add(r)
                rows.append({"case": case.id, "gold": case.diagnoses[0], "rank": r.rank if r else None})
        out[name] = {**m.summary(), "per_case": rows}
    return out


def with_subtypes(dx: Diagnoser, golds: list[str]) -> list[str]:
    """The golds and every disease the KG files under them (``IS_A``, any depth): an MSA-P note
    answered "Multiple system atrophy, parkinsonian type" is right at a finer grain."""
    out, stack = list(golds), list(golds)
    while stack:
        for nb in dx.store.neighbours(stack.pop(), rel_types=["IS_A"], direction="in", node_types=["Disease"]):
            if nb.node.id not in out:
                out.append(nb.node.id)
                stack.append(nb.node.id)
    return out


def read_labels(folder: Path, name: str = "labels.jsonl") -> list[dict]:
    """The labels of a folder of notes (``labels.jsonl``, or another annotation ``name``; one note
    per line)."""
    return [json.loads(line) for line in (folder / name).read_text().splitlines() if line.strip()]


def prf(t: int, f: int, n: int) -> dict[str, float]:
    """Precision, recall and F1 from true positives, false positives and false negatives."""
    p, r = t / max(t + f, 1), t / max(t + n, 1)
    return {"precision": round(p, 3), "recall": round(r, 3), "f1": round(2 * p * r / max(p + r, 1e-9), 3)}


def near(dx: Diagnoser, hops: int = 2) -> Callable[[str, str], bool]:
    """Whether two HPO ids are the same term or one is an ancestor of the other within ``hops``
    ``IS_A`` steps: the hierarchy-aware match of concept-recognition evaluations, which forgives
    grain ("no tremor" linked as *Tremor* absent where the label says *Resting tremor* absent)
    but not a jump to a distant or sibling term."""
    ix = dx.index

    @cache
    def up(i: str) -> frozenset[int]:
        t = ix.phenotype_index.get(i)
        out, frontier = set(), {t} if t is not None else set()
        for _ in range(hops + 1):
            out |= frontier
            frontier = {p for f in frontier for p in ix.parents.get(f, ())} - out
        return frozenset(out)

    def related(a: str, b: str) -> bool:
        return a == b or ix.phenotype_index.get(a) in up(b) or ix.phenotype_index.get(b) in up(a)

    return related


def _near_counts(got: set, want: set, related: Callable[[str, str], bool]) -> tuple[int, int, int, int]:
    """(predictions with a related gold of the same assertion, predictions, golds with a related
    prediction, golds)."""
    hit_p = sum(any(s == t and related(i, j) for j, t in want) for i, s in got)
    hit_g = sum(any(s == t and related(i, j) for i, s in got) for j, t in want)
    return hit_p, len(got), hit_g, len(want)


def notes_eval(dx: Diagnoser, labels: list[dict], *, oracle: bool, folder: Path = NOTES) -> tuple[dict, list[dict]]:
    m = RankingMetrics()
    m_sub = RankingMetrics()
    rows = []
    builder = CaseBuilder(dx)
    tp = fp = fn = 0
    per: dict[str, list[int]] = {"present": [0, 0, 0], "absent": [0, 0, 0]}  # tp, fp, fn by assertion
    flipped = 0  # findings the note states absent or normal that the linker made present
    dtp = dfp = dfn = 0
    related, lenient = near(dx), [0, 0, 0, 0]
    for lab in labels:
        text = (folder / lab["file"]).read_text()
        golds = [lab["gold"], *lab.get("gold_equivalents", [])]
        if oracle:
            case = PatientCase(
                lab["file"],
                observed=[
                    Finding(p["id"], p["label"], 0.5 if p.get("hedged") else 1.0, "label")
                    for p in lab["phenotypes"]
                    if p["status"] == "present"
                ],
                excluded=[
                    Finding(p["id"], p["label"], 1.0, "label") for p in lab["phenotypes"] if p["status"] == "absent"
                ],
            )
        else:
            case = PatientCase(lab["file"])
            builder.add_text(case, text, kind="note")
            got = {(f.id, "present") for f in case.observed} | {(f.id, "absent") for f in case.excluded}
            want = {(p["id"], p["status"]) for p in lab["phenotypes"]}
            tp, fp, fn = tp + len(got & want), fp + len(got - want), fn + len(want - got)
            for status, c in per.items():
                g = {x for x in got if x[1] == status}
                w = {x for x in want if x[1] == status}
                c[0], c[1], c[2] = c[0] + len(g & w), c[1] + len(g - w), c[2] + len(w - g)
            flipped += sum((i, "absent") in want for i, s in got if s == "present")
            lenient = [a + b for a, b in zip(lenient, _near_counts(got, want, related), strict=True)]
            gd, wd = set(case.drugs), set(lab.get("drugs", []))
            dtp, dfp, dfn = dtp + len(gd & wd), dfp + len(gd - wd), dfn + len(wd - gd)
        res = dx.rank(case, k=1)
        r = rank_of(dx, case, golds, res.scores)
        m.add(r)
        m_sub.add(rank_of(dx, case, with_subtypes(dx, golds), res.scores))
        rows.append({"note": lab["file"], "gold": lab["gold"], "rank": r.rank if r else None, "top": res.top[0].id})
    out = m.summary()
    out["gold_or_subtype"] = m_sub.summary()["overall"]
    if not oracle:
        out["linking"] = {
            **prf(tp, fp, fn),
            "by_assertion": {k: prf(*v) for k, v in per.items()},
            "absent_linked_as_present": flipped,
            # Precision: predictions with a gold of the same assertion within two IS_A steps
            # (either way); recall: golds with such a prediction. Strict is the headline.
            "within_2_is_a": {
                "precision": round(lenient[0] / max(lenient[1], 1), 3),
                "recall": round(lenient[2] / max(lenient[3], 1), 3),
            },
        }
        if any("drugs" in lab for lab in labels):  # notes labelled with their current drugs
            out["linking"]["drugs"] = prf(dtp, dfp, dfn)
    return out, rows


def agreement(reference: list[dict], other: list[dict]) -> dict:
    """Strict agreement of two annotations of the same notes: ``other``'s (HPO id, status) pairs
    scored against ``reference``'s as precision, recall and F1, overall and by status, over the
    notes both annotated.

    Two annotators' agreement is the ceiling a linker can be expected to reach against either of
    them: where they differ, the notes admit more than one right labelling.
    """
    ref = {r["file"]: {(p["id"], p["status"]) for p in r["phenotypes"]} for r in reference}
    counts = {k: [0, 0, 0] for k in ("all", "present", "absent")}  # tp, fp, fn
    notes = 0
    for r in other:
        if r["file"] not in ref:
            continue
        notes += 1
        got, want = {(p["id"], p["status"]) for p in r["phenotypes"]}, ref[r["file"]]
        for k, c in counts.items():
            g = {x for x in got if k in ("all", x[1])}
            w = {x for x in want if k in ("all", x[1])}
            c[0], c[1], c[2] = c[0] + len(g & w), c[1] + len(g - w), c[2] + len(w - g)

    return {"notes": notes, **prf(*counts["all"]), "by_assertion": {k: prf(*counts[k]) for k in ("present", "absent")}}


def second_annotation(dx: Diagnoser, labels: list[dict], folder: Path, name: str = "labels_second.jsonl") -> dict:
    """The linker against a second, blind annotation of the same notes (``folder / name``, JSONL of
    ``{"file", "phenotypes"}``), and the two annotations against each other."""
    other = read_labels(folder, name)
    by_file = {r["file"]: r for r in other}
    relabelled = [{**lab, "phenotypes": by_file[lab["file"]]["phenotypes"]} for lab in labels if lab["file"] in by_file]
    linked, _ = notes_eval(dx, relabelled, oracle=False, folder=folder)
    oracle, _ = notes_eval(dx, relabelled, oracle=True, folder=folder)
    return {
        "notes": len(relabelled),
        "file": name,
        "linker_vs_second": linked["linking"],
        "first_vs_second": agreement(other, labels),
        "diagnosis_from_second_labels": oracle["overall"],
    }


def drug_eval(dx: Diagnoser, path: Path) -> dict:
    """Patient-specific drug safety on notes with medications and comorbidities, each with the
    drugs to withdraw, the drugs unsafe for that patient and the symptomatic drugs not indicated.

    A violation is a suggested (``safety="remove"``) drug that is unsafe or not indicated; the
    withdraw recall is the share of expected withdrawals returned as ``withdraw``.
    """
    builder = CaseBuilder(dx)
    violations, rows = [], []
    w_tp = w_fn = w_fp = 0
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        case = PatientCase(row["id"])
        builder.add_text(case, row["text"], kind="note")
        out = dx.suggest_drugs(dx.rank(case, k=5), k=10)
        withdrawn = {s.drug for s in out if s.action == "withdraw"}
        started = [s.drug for s in out if s.action == "start"]
        bad = [d for d in started if d in set(row["unsafe"]) | set(row["not_indicated"])]
        violations += [{"note": row["id"], "drug": d} for d in bad]
        want = set(row["withdraw"])
        w_tp, w_fn, w_fp = w_tp + len(want & withdrawn), w_fn + len(want - withdrawn), w_fp + len(withdrawn - want)
        rows.append({"note": row["id"], "drugs": case.drugs, "withdraw": sorted(withdrawn), "start": started})
    return {
        "notes": len(rows),
        "violations": len(violations),
        "violation_list": violations,
        "withdraw_recall": round(w_tp / max(w_tp + w_fn, 1), 3),
        "withdraw_precision": round(w_tp / max(w_tp + w_fp, 1), 3),
        "per_note": rows,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=Path, default=DEFAULT_CASES)
    ap.add_argument("--cohorts", nargs="+", default=["FBXO7", "PARK7"])
    ap.add_argument("--model", default="default")
    ap.add_argument("--finetune-steps", type=int, default=300)
    ap.add_argument(
        "--absent-floor",
        type=float,
        help="switch on the opt-in absent-finding likelihood ratio with this floor (EvidenceGNNConfig)",
    )
    ap.add_argument("--out", help="JSON results path (default benchmarks/results/parkinsons.json)")
    args = ap.parse_args()

    model, _ = load_checkpoint(args.model)
    if args.absent_floor is not None:
        model.config.absent_likelihood_floor = args.absent_floor
    snapshot = ensure_snapshot()
    before = load_snapshot(snapshot, validate=False)
    after = load_snapshot(snapshot, validate=False)
    applied, _ = extend.apply(after, load_module(MODULE), extend.SnapshotRegistry({}))
    new_diseases = [i for i in applied.nodes if after.schema.node_type_of(i).label == "Disease"]
    dx_before, dx_after = Diagnoser(before, model), Diagnoser(after, model)
    labels = read_labels(NOTES)
    results: dict = {
        "module": {"name": applied.name, "version": applied.version, **applied.summary()},
        "data": {"notes": len(labels), "notes_folder": str(NOTES)},
    }

    if args.cases.is_dir():
        results["real_cases"] = real_cases(dx_before, dx_after, args.cases, args.cohorts)
        for k in ("before", "after"):
            s = results["real_cases"][k]
            print(
                f"real PD cases {k:6s}: {s['cases']} cases, top-1 {s['overall']['top1']:.3f}, "
                f"top-10 {s['overall']['top10']:.3f}, MRR {s['overall']['mrr']:.3f}"
            )
    else:
        results["real_cases"] = {"skipped": f"{args.cases} not found"}

    zs, zs_rows = notes_eval(dx_after, labels, oracle=False)
    zo, _ = notes_eval(dx_after, labels, oracle=True)
    results["notes_zero_shot"] = {"linked": zs, "oracle_findings": zo, "per_note": zs_rows}
    print(
        f"notes, zero-shot: top-1 {zs['overall']['top1']:.3f} top-3 {zs['overall']['top3']:.3f} "
        f"(gold or a subtype: top-1 {zs['gold_or_subtype']['top1']:.3f}) "
        f"(oracle findings: top-1 {zo['overall']['top1']:.3f} top-3 {zo['overall']['top3']:.3f}); linking {zs['linking']}"
    )

    for key, folder, name in (
        ("notes_dev", DEV_NOTES, "development notes"),
        ("notes_held_out", HELD_OUT_NOTES, "held-out notes"),
    ):
        if folder.is_dir():
            fl = read_labels(folder)
            fs, fs_rows = notes_eval(dx_after, fl, oracle=False, folder=folder)
            fo, _ = notes_eval(dx_after, fl, oracle=True, folder=folder)
            results[key] = {"notes": len(fl), "linked": fs, "oracle_findings": fo, "per_note": fs_rows}
            print(
                f"{name} ({len(fl)}), zero-shot: top-1 {fs['overall']['top1']:.3f} top-3 {fs['overall']['top3']:.3f} "
                f"(oracle findings: top-1 {fo['overall']['top1']:.3f} top-3 {fo['overall']['top3']:.3f}); linking {fs['linking']}"
            )

    for key, folder in (("second_annotation", NOTES), ("second_annotation_held_out", HELD_OUT_NOTES)):
        if (folder / "labels_second.jsonl").is_file():
            sa = results[key] = second_annotation(dx_after, read_labels(folder), folder)
            print(
                f"{folder.name}, second blind annotation ({sa['notes']} notes): linker P/R "
                f"{sa['linker_vs_second']['precision']}/{sa['linker_vs_second']['recall']}; first annotation "
                f"against it P/R {sa['first_vs_second']['precision']}/{sa['first_vs_second']['recall']}"
            )

    if args.finetune_steps:
        with tempfile.TemporaryDirectory() as tmp:
            cfg = TrainConfig(
                steps=args.finetune_steps,
                lr=5e-4,
                warmup=20,
                eval_every=args.finetune_steps,
                val_cases=200,
                init=str(checkpoint_path(args.model)),
                focus=tuple(new_diseases),
                focus_rate=0.5,
            )
            train(after, cfg, tmp, progress=True, index=dx_after.index)
            tuned, _ = load_checkpoint(Path(tmp) / "last.pt")
        dx_tuned = Diagnoser(after, tuned, dx_after.index)
        ft, ft_rows = notes_eval(dx_tuned, labels, oracle=False)
        fo, _ = notes_eval(dx_tuned, labels, oracle=True)
        results["notes_fine_tuned"] = {
            "steps": args.finetune_steps,
            "linked": ft,
            "oracle_findings": fo,
            "per_note": ft_rows,
        }
        print(
            f"notes, fine-tuned ({args.finetune_steps} steps): top-1 {ft['overall']['top1']:.3f} top-3 {ft['overall']['top3']:.3f}"
            f" (oracle findings: top-1 {fo['overall']['top1']:.3f})"
        )
        if "per_case" in results["real_cases"].get("after", {}):
            results["real_cases"]["after_fine_tuned"] = real_cases(dx_tuned, dx_tuned, args.cases, args.cohorts)[
                "after"
            ]

    drugs = drug_eval(dx_after, DRUG_NOTES)
    results["drug_safety"] = drugs
    print(
        f"drug safety ({drugs['notes']} notes): {drugs['violations']} violations, withdraw recall "
        f"{drugs['withdraw_recall']}, precision {drugs['withdraw_precision']}"
    )
    for key, path in (
        ("drug_safety_held_out", HELD_OUT_DRUG_NOTES),
        ("drug_safety_held_out_2", HELD_OUT_DRUG_NOTES_2),
        ("drug_safety_held_out_3", HELD_OUT_DRUG_NOTES_3),
        ("drug_safety_held_out_4", HELD_OUT_DRUG_NOTES_4),
    ):
        if path.is_file():
            held = results[key] = drug_eval(dx_after, path)
            print(
                f"drug safety, {path.name} ({held['notes']} notes): {held['violations']} violations, withdraw recall "
                f"{held['withdraw_recall']}, precision {held['withdraw_precision']}"
            )

    paths = verified = 0
    builder = CaseBuilder(dx_after)
    for lab in labels:
        case = PatientCase(lab["file"])
        builder.add_text(case, (NOTES / lab["file"]).read_text(), kind="note")
        e = dx_after.explain(dx_after.rank(case, k=3), top=3)
        ps = [p for d in e.diseases for p in d.paths]
        paths += len(ps)
        verified += sum(p.verified for p in ps)
    results["explanations"] = {"paths": paths, "share_in_kg": round(verified / paths, 4) if paths else None}
    print(f"explanations: {paths} paths, share in the KG {results['explanations']['share_in_kg']}")
    print(f"wrote {write_results('parkinsons', results, args.out)}")


if __name__ == "__main__":
    main()
