"""`kgdx diagnose`, `kgdx evaluate phenopackets` and `kgdx train`."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from kgdx.errors import ConfigError

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
    resume: Annotated[bool, typer.Option(help="Continue from OUT/last.pt.")] = False,
) -> None:
    """Train the phenotype model on cases simulated from the KG (reproducible; see docs).

    `kgdx train --out runs/default` reproduces the shipped checkpoint (reasoning/checkpoints).
    """
    from kgdx.app.stores import open_store
    from kgdx.ingest.phenopackets import iter_phenopackets
    from kgdx.reasoning.index import KGIndex
    from kgdx.reasoning.train import TrainConfig
    from kgdx.reasoning.train import train as run

    cfg = TrainConfig.from_dict(json.loads(config.read_text())) if config else TrainConfig()
    cfg.steps, cfg.batch_size, cfg.seed = steps, batch_size, seed
    store = open_store("memory")
    dev_cases, ix = None, None
    if dev is not None:
        ix = KGIndex.from_store(store)
        resolve = lambda i: n.id if (n := store.node(i)) else None  # noqa: E731
        dev_cases = [
            (
                ix.phenotype_ids(c.observed_ids),
                ix.phenotype_ids(c.excluded_ids),
                next((ix.disease_index[d] for d in c.diagnoses if d in ix.disease_index), None),
            )
            for c in iter_phenopackets(dev, resolve)
        ]
    summary = run(store, cfg, out, dev_cases=dev_cases, resume=resume, index=ix)
    last = summary["history"][-1]
    console.print(
        f"trained {summary['steps']} steps in {summary['seconds']:.0f} s; simulated val top-1 "
        f"{last['val']['top1']:.3f} (best {summary['best_val_top1']:.3f})"
        + (f"; real dev top-1 {last['dev']['top1']:.3f}" if "dev" in last else "")
    )
    console.print(
        f"checkpoints: {summary['best']} (best), {summary['last']} (last); curves: {out / 'learning_curves.png'}"
    )
