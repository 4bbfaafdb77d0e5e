"""`kgdx diagnose`, `kgdx evaluate phenopackets`, `kgdx train` and `kgdx calibrate`."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from kgdx.errors import ConfigError, DataError

console = Console()
evaluate_app = typer.Typer(help="Evaluate the diagnosis model.", no_args_is_help=True)


class OutputFormat(str, Enum):
    text = "text"
    json = "json"
    markdown = "markdown"


def diagnose(
    case: Annotated[
        Path | None, typer.Argument(help="A GA4GH phenopacket (v2 JSON). Optional when --note or --report is given.")
    ] = None,
    ct: Annotated[
        Path | None,
        typer.Option(help="A chest CT volume (NIfTI, NRRD or a DICOM folder) whose findings join the case."),
    ] = None,
    report: Annotated[
        Path | None, typer.Option(help="A radiology report (plain text) whose linked findings join the case.")
    ] = None,
    note: Annotated[
        Path | None, typer.Option(help="A clinical note (plain text) whose linked findings join the case.")
    ] = None,
    k: Annotated[int, typer.Option("-k", min=1, help="How many diseases to show.")] = 5,
    explain: Annotated[int, typer.Option(min=0, help="How many of them to explain with KG paths.")] = 3,
    drugs: Annotated[
        bool, typer.Option(help="Also suggest drugs, checked against contraindications and interactions.")
    ] = True,
    genes: Annotated[bool, typer.Option(help="Use the case's genes (gene-aware mode).")] = False,
    model: Annotated[str, typer.Option(help="Checkpoint name or path.")] = "default",
    cypher: Annotated[bool, typer.Option(help="Print the Cypher that returns each evidence path.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (same as --format json).")] = False,
    fmt: Annotated[OutputFormat, typer.Option("--format", help="text, json or markdown.")] = OutputFormat.text,
    narrative: Annotated[
        bool,
        typer.Option(
            help="Also write each explained disease as a paragraph, every sentence checked against its verified "
            "paths: from templates, or by the chat model KGDX_LLM_PROVIDER names (unsupported sentences marked)."
        ),
    ] = False,
) -> None:
    """Rank every disease in the KG for a case and explain the top ones with KG paths.

    Example: kgdx diagnose case.json --explain 3
    """
    from kgdx.app.stores import open_store
    from kgdx.reasoning import CaseBuilder, Diagnoser

    if case is None and note is None and report is None and ct is None:
        raise ConfigError("give a phenopacket, or --note / --report / --ct to build a case from")
    for path, what in ((case, "the phenopacket"), (ct, "the CT"), (report, "the report"), (note, "the note")):
        if path is not None and not path.exists():  # before the KG opens (or is built, the first time)
            raise DataError(f"cannot read {what}: No such file or directory", file=path)
    if as_json:
        fmt = OutputFormat.json
    dx = Diagnoser.from_pretrained(model, store=open_store())
    patient = CaseBuilder(dx).build(case, ct=ct, report=report, note=note)
    diagnosis = dx.diagnose(patient, k=k, explain=explain, drugs=5 if drugs else 0, use_genes=genes)
    paragraphs = []
    if narrative:
        from kgdx.app.llm.chain import chat_model_from_settings, explain_diagnosis
        from kgdx.settings import get_settings

        paragraphs = explain_diagnosis(diagnosis, dx.store, model=chat_model_from_settings())
        mode = get_settings().llm_mode
    if fmt is OutputFormat.json:
        doc = diagnosis.to_dict()
        if paragraphs:
            doc["narrative"] = [p.to_dict() for p in paragraphs]
        print(json.dumps(doc, indent=2))
        return
    if fmt is OutputFormat.markdown:
        print(diagnosis.to_markdown())
        for p in paragraphs:
            print(f"\n**{p.disease.rank}. {p.disease.name}** ({p.author}): {p.text(mode)}")
        return
    console.print(f"[bold]{patient.summary()}[/bold]")
    extracted = patient.extra.get("text_findings", [])
    if extracted:
        console.print("[bold]Taken from the text[/bold] (span, assertion, linked id, how, use)")
        for x in extracted:
            span = "-".join(map(str, x.get("span", []))) or "?"
            console.print(
                f"  [{span}] '{x.get('text', '')}' {x.get('assertion')} → {x.get('label') or ''} ({x['id']}) "
                f"by {x.get('method')}: {x.get('use', '')}",
                highlight=False,
                markup=False,
            )
    for note_line in diagnosis.ranking.notes:
        console.print(f"  note: {note_line}", highlight=False, markup=False)
    for r in diagnosis.ranking.top:
        console.print(f"{r.rank:>2}. {r.label}  score {r.score:.2f}  p={r.probability:.2f}")
    if diagnosis.explanation is not None:
        console.print()
        console.print(diagnosis.explanation.to_text(cypher=cypher), highlight=False, markup=False)
    for p in paragraphs:
        console.print(f"\n[bold]{p.disease.rank}. {p.disease.name}[/bold] ({p.author})")
        console.print(p.text(mode), highlight=False, markup=False)
    if diagnosis.drugs:
        console.print("\n[bold]Drugs[/bold] (withdrawals first; unsafe suggestions removed; see --help)")
        for s in diagnosis.drugs:
            if s.action != "start":
                console.print(f"  {s.action.upper()} {s.name} ({s.drug}):", highlight=False, markup=False)
                for i in s.issues:
                    console.print(f"    {i.text}", highlight=False, markup=False)
                    if cypher:
                        console.print(f"    {i.cypher}", highlight=False, markup=False)
                continue
            why = ", ".join(f"{t['name']} (line {t['line'] or '?'})" for t in s.treats)
            console.print(f"  {s.name} ({s.drug}) for {why}", highlight=False)


@evaluate_app.command("phenopackets")
def evaluate_phenopackets(
    folder: Annotated[Path, typer.Argument(help="A folder of phenopackets (searched recursively).")],
    genes: Annotated[bool, typer.Option(help="Gene-aware mode: also use each case's causal gene.")] = False,
    per_case: Annotated[
        Path | None, typer.Option(help="Write one JSON line per case: id, gold, rank, ties, top 10.")
    ] = None,
    model: Annotated[str, typer.Option(help="Checkpoint name or path.")] = "default",
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Rank every case of a folder and report top-1/3/10 and MRR, overall and on the cases whose
    disease is in the KG. Ties count as the expected hit under random tie-breaking."""
    from kgdx.app.stores import open_store
    from kgdx.ingest.phenopackets import iter_phenopackets
    from kgdx.progress import progress
    from kgdx.reasoning.diagnoser import Diagnoser
    from kgdx.reasoning.evaluate import evaluate_scores

    dx = Diagnoser.from_pretrained(model, store=open_store())
    cases = list(iter_phenopackets(folder, dx.resolve))
    if not cases:
        raise ConfigError(f"no phenopackets (*.json) under {folder}")
    with progress("ranking", len(cases), enabled=not as_json) as advance:
        metrics = evaluate_scores(
            cases,
            lambda c: dx.rank(c, k=1, use_genes=genes).scores,
            dx.index.disease_index,
            dx.index.diseases,
            per_case=per_case,
            on_case=advance,
        )
    summary = {"folder": str(folder), "mode": "gene-aware" if genes else "phenotype-only", **metrics.summary()}
    if as_json:
        print(json.dumps(summary, indent=2))
        return
    console.print(
        f"{summary['cases']} cases, {summary['cases_not_in_kg']} with a disease not in the KG ({summary['mode']})"
    )
    for part in ("overall", "in_kg"):
        s = summary[part]
        console.print(
            f"  {part:8s} top-1 {s['top1']:.3f}  top-3 {s['top3']:.3f}  top-10 {s['top10']:.3f}  MRR {s['mrr']:.3f}"
        )
    if per_case:
        console.print(f"per-case results: {per_case}")


def train(
    out: Annotated[Path, typer.Option(help="Folder for checkpoints, history.jsonl and learning_curves.png.")] = Path(
        "runs/phenotype"
    ),
    steps: Annotated[int, typer.Option(min=1, help="Training steps.")] = 500,
    batch_size: Annotated[int, typer.Option(min=1, help="Simulated cases per step.")] = 32,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed and KG give the same checkpoint.")] = 0,
    config: Annotated[
        Path | None,
        typer.Option(help="A JSON training config (see kgdx.reasoning.train.TrainConfig); flags override it."),
    ] = None,
    dev: Annotated[
        Path | None,
        typer.Option(help="A folder of real phenopackets to measure (never trained on) at each evaluation."),
    ] = None,
    real: Annotated[
        Path | None,
        typer.Option(
            help="A folder of real phenopackets (one sub-folder per cohort) to train on; whole cohorts are "
            "held out to choose the best step and calibrate its probabilities."
        ),
    ] = None,
    real_rate: Annotated[
        float | None, typer.Option(min=0.0, max=1.0, help="Share of each batch drawn from --real (default 0.5).")
    ] = None,
    holdout: Annotated[
        float, typer.Option(min=0.0, max=0.9, help="Share of --real's cohorts held out (not trained on).")
    ] = 0.2,
    holdout_fold: Annotated[
        int,
        typer.Option(
            min=0,
            help="Which fold of --holdout's share to hold out: fold k holds out the cohorts whose hash lies in "
            "[k*share, (k+1)*share), so folds 0..K-1 of --holdout 1/K give out-of-fold models for calibration.",
        ),
    ] = 0,
    leave_paper_out: Annotated[
        bool | None,
        typer.Option(
            help="Show each --real case its gold disease without the annotations its own paper gave (the PMID in "
            "the file name against the KG's HAS_PHENOTYPE sources), as a new patient meets the KG (default: the "
            "config's, off)."
        ),
    ] = None,
    init: Annotated[Path | None, typer.Option(help="A checkpoint to start from (fine-tuning).")] = None,
    resume: Annotated[bool, typer.Option(help="Continue from OUT/last.pt.")] = False,
) -> None:
    """Train the phenotype model on real phenopackets and cases simulated from the KG (reproducible).

    `kgdx train --out runs/default` trains on simulated cases only. With `--real train/`, a share of
    each batch comes from real cases, whole cohorts are held out, and the best checkpoint is
    calibrated on them (docs/reasoning.md).
    """
    from kgdx.app.stores import open_store
    from kgdx.reasoning.index import KGIndex
    from kgdx.reasoning.train import TrainConfig, held_out_cohort
    from kgdx.reasoning.train import train as run

    cfg = TrainConfig.from_dict(json.loads(config.read_text())) if config else TrainConfig()
    cfg.steps, cfg.batch_size, cfg.seed = steps, batch_size, seed
    if holdout_fold * holdout >= 1:
        raise ConfigError(f"--holdout-fold {holdout_fold} of --holdout {holdout} holds out no cohort")
    cfg.holdout, cfg.holdout_fold = holdout, holdout_fold
    if init is not None:
        cfg.init = str(init)
    if real is not None:
        cfg.real_rate = 0.5 if real_rate is None else real_rate
    if leave_paper_out is not None:
        cfg.leave_paper_out = leave_paper_out
    if cfg.leave_paper_out and real is None:
        raise ConfigError("--leave-paper-out changes only real training cases: give them with --real DIR")
    store = open_store("memory")
    ix = KGIndex.for_store(store)

    dev_cases = [c for _, c, *_ in _real_cases(store, ix, dev)] if dev is not None else None
    real_cases = held = papers = None
    if real is not None:
        split = [
            (held_out_cohort(cohort, holdout, seed, holdout_fold), c, paper)
            for cohort, c, _, paper in _real_cases(store, ix, real)
        ]
        real_cases = [c for h, c, _ in split if not h]
        papers = [p for h, _, p in split if not h]
        held = [c for h, c, _ in split if h] or None
        console.print(
            f"real cases: {len(real_cases)} to train on, {len(held or ())} held out ({holdout:.0%} of cohorts, "
            f"fold {holdout_fold})"
        )
    summary = run(
        store,
        cfg,
        out,
        dev_cases=dev_cases,
        real_cases=real_cases,
        holdout_cases=held,
        real_papers=papers,
        resume=resume,
        index=ix,
    )
    last = summary["history"][-1]
    console.print(
        f"trained {summary['steps']} steps in {summary['seconds']:.0f} s; simulated val top-1 "
        f"{last['val']['top1']:.3f}; best.pt chosen at top-1 {summary['best_val_top1']:.3f} "
        f"({'held-out real' if 'holdout' in last else 'simulated'})"
        + (f"; held-out real top-1 {last['holdout']['top1']:.3f}" if "holdout" in last else "")
        + (f"; real dev top-1 {last['dev']['top1']:.3f}" if "dev" in last else "")
    )
    if summary["calibration"]:
        cal = summary["calibration"]
        console.print(
            f"calibrated on {cal['cases']} held-out cases ({cal['not_in_kg']} not in the KG): "
            f"temperature {cal['temperature']:.3f}, not-in-KG logit {cal['other_logit']:.3f}"
        )
    console.print(
        f"checkpoints: {summary['best']} (best), {summary['last']} (last); curves: {out / 'learning_curves.png'}"
    )


def _real_cases(store, ix, folder: Path) -> list:
    """A folder of phenopackets as (cohort, (observed, excluded, gold disease index or None), the
    disease indices the case's genes are associated with, the case's PubMed id or None)."""
    from kgdx.ingest.phenopackets import iter_phenopackets
    from kgdx.reasoning.paper_out import case_paper

    resolve = lambda i: n.id if (n := store.node(i)) else None  # noqa: E731
    return [
        (
            Path(c.source).parent.name,
            (
                ix.phenotype_ids(c.observed_ids),
                ix.phenotype_ids(c.excluded_ids),
                next((ix.disease_index[d] for d in c.diagnoses if d in ix.disease_index), None),
            ),
            sorted({d for g in c.genes for d in ix.disease_genes.get(g, [])}),
            case_paper(c.source),
        )
        for c in iter_phenopackets(folder, resolve)
    ]


def calibrate(
    checkpoint: Annotated[Path, typer.Argument(help="The checkpoint to calibrate.", exists=True, dir_okay=False)],
    real: Annotated[
        Path,
        typer.Option(help="A folder of real phenopackets the checkpoint was never trained or chosen on.", exists=True),
    ],
    holdout: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            max=0.9,
            help="Use only the cohorts of --real that `kgdx train --holdout SHARE` held out (with the "
            "checkpoint's seed); the rest were trained on.",
        ),
    ] = None,
    oof: Annotated[
        list[Path] | None,
        typer.Option(
            help="Fold models (`kgdx train --holdout-fold K`) besides CHECKPOINT: each case of --real is scored "
            "by the one model, CHECKPOINT included, that held its cohort out, and the calibration is fitted on "
            "those out-of-fold scores and written to CHECKPOINT. Repeat for each fold.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    top_label: Annotated[
        bool,
        typer.Option(
            help="After the temperature, also fit a Platt map of the top answer's probability (the shipped "
            "checkpoint has none: on dev it made the probabilities worse, docs/reasoning.md)."
        ),
    ] = False,
    isotonic: Annotated[
        bool,
        typer.Option(
            help="Fit the top answer's map as an isotonic regression (a monotone table of knots) instead of Platt."
        ),
    ] = False,
    match_rate: Annotated[
        bool,
        typer.Option(
            help="Set the not-in-KG logit so that 'not in the KG' is on average as likely as among the cases "
            "(the temperature still by likelihood), instead of both by likelihood."
        ),
    ] = False,
    gene_weight: Annotated[
        bool,
        typer.Option(help="Also fit the gene-aware mode's weight (what a gene association adds) on the cases' genes."),
    ] = True,
    out: Annotated[
        Path | None, typer.Option(help="Where to write the calibrated checkpoint (default: over it).")
    ] = None,
) -> None:
    """Calibrate a checkpoint's probabilities on real cases it never saw (docs/reasoning.md).

    Never give it `dev/`: that is for reporting. A model trained on `train/` except the cohorts it
    held out is calibrated on those alone (`--holdout 0.2`), or, with fold models that held out the
    other cohorts, on every case of the folder. The shipped one (docs/reasoning.md):
    `kgdx calibrate reasoning/checkpoints/default.pt --real ../shared/data/phenopackets/train
    --oof fold1.pt --oof fold2.pt --oof fold3.pt --oof fold4.pt`.
    """
    from kgdx.app.stores import open_store
    from kgdx.reasoning.checkpoint import load_checkpoint
    from kgdx.reasoning.index import KGIndex
    from kgdx.reasoning.train import calibrate_checkpoint, held_out_by

    if oof and holdout is not None:
        raise ConfigError("--oof takes each model's held-out cohorts from the model itself; drop --holdout")
    store = open_store("memory")
    model, meta = load_checkpoint(checkpoint)
    # A model that reads text embeddings needs them in the index (cached with the KG).
    ix = KGIndex.for_store(store, text=model.config.uses_text)
    cases = _real_cases(store, ix, real)
    scored_by = None
    if holdout is not None:
        tc = {**meta.get("train_config", {}), "holdout": holdout}
        cases = [case for case in cases if held_out_by(tc, case[0])]
    elif oof:
        models = [checkpoint, *oof]
        configs = [load_checkpoint(m)[1].get("train_config", {}) for m in models]
        kept, scored_by = [], []
        for case in cases:
            by = [m for m, tc in zip(models, configs) if held_out_by(tc, case[0])]
            if len(by) > 1:
                raise ConfigError(f"cohort {case[0]} is held out by {len(by)} models: {', '.join(map(str, by))}")
            if by:
                kept.append(case)
                scored_by.append(by[0])
        if len(kept) < len(cases):
            console.print(f"{len(cases) - len(kept)} cases left out: every model trained on their cohorts")
        cases = kept
    if not cases:
        raise ConfigError(f"{real}: no phenopackets to calibrate on")
    genes = [g for _, _, g, _ in cases]
    cal = calibrate_checkpoint(
        checkpoint,
        [c for _, c, _, _ in cases],
        ix,
        out,
        top_label=top_label,
        match_rate=match_rate,
        isotonic=isotonic,
        scored_by=scored_by,
        gene_diseases=genes if gene_weight and any(genes) else None,
    )
    console.print(
        f"calibrated on {cal['cases']} cases ({cal['not_in_kg']} not in the KG) of {len({case[0] for case in cases})} "
        + (f"cohorts, scored out-of-fold by {len(cal['scored_by'])} models" if scored_by else "cohorts")
        + f": temperature {cal['temperature']:.3f}, not-in-KG logit {cal['other_logit']:.3f}"
        + (f", top-label map {[round(x, 3) for x in cal['top_label']]}" if cal["top_label"] else "")
        + (f", isotonic top-label map of {len(cal['top_isotonic'][0])} knots" if cal["top_isotonic"] else "")
        + (
            f", gene-aware weight {cal['gene_weight']:.2f} ({cal['gene_cases']} cases with genes)"
            if "gene_weight" in cal
            else ""
        )
        + f"; wrote {out or checkpoint}"
    )
