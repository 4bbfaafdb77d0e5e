"""How well the claim verifier catches unsupported sentences in generated explanations.

Each sentence of ``benchmarks/data/verifier_sentences.json`` (hand-written and hand-labelled; the
file says how) is checked against the diagnosis of its case on the built KG with the shipped
model. A sentence the verifier flags counts as a positive, so:

* **precision**: of the flagged sentences, the share that are really unsupported;
* **recall**: of the unsupported sentences, the share that were flagged (what a reader is
  protected from);

with the counts per category. The labels hold for one differential: if the KG or the model
changed and the cases rank other diseases first, the script stops and says so.

Run (about a minute on a laptop; needs the built KG)::

    python -m benchmarks.verifier

No small LLM is available offline as a package here, so the sentences are not model output; the
``llm`` extra's chain (kgdx.app.llm.chain) runs the same verifier on whatever a configured model
writes.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from benchmarks._common import machine, write_results

DATA = Path(__file__).parent / "data" / "verifier_sentences.json"


def _case(dx: Any, spec: dict[str, Any]) -> Any:
    from kgdx.ingest.case import Finding, PatientCase

    if "phenopacket" in spec:
        return dx.load_case(Path(__file__).parents[1] / spec["phenopacket"])
    return PatientCase(
        "benchmark",
        observed=[Finding(i) for i in spec.get("observed", [])],
        excluded=[Finding(i) for i in spec.get("excluded", [])],
        drugs=list(spec.get("drugs", [])),
    )


def run(data: Path = DATA) -> dict[str, Any]:
    from kgdx.app.llm.grounding import Grounding
    from kgdx.app.llm.verifier import ClaimVerifier
    from kgdx.app.stores import open_store
    from kgdx.reasoning import Diagnoser

    doc = json.loads(data.read_text())
    store = open_store()
    dx = Diagnoser.from_pretrained(store=store)
    verifier = ClaimVerifier(store)
    groundings = {}
    for name, spec in doc["cases"].items():
        diagnosis = dx.diagnose(_case(dx, spec), **doc["diagnose"])
        top = [r.id for r in diagnosis.ranking.top[: len(spec["expected_top"])]]
        if top != spec["expected_top"]:
            raise SystemExit(
                f"case {name!r} now ranks {top} first, not {spec['expected_top']}: the labels are for the old "
                "differential; relabel benchmarks/data/verifier_sentences.json"
            )
        groundings[name] = Grounding.from_diagnosis(diagnosis)
    counts = Counter()
    per_category: dict[str, Counter] = defaultdict(Counter)
    errors = []
    for row in doc["sentences"]:
        checked = verifier.check(row["sentence"], row["disease"], groundings[row["case"]])
        flagged = not checked.supported
        truth = row["label"] == "unsupported"
        outcome = {(True, True): "tp", (True, False): "fp", (False, True): "fn", (False, False): "tn"}[(flagged, truth)]
        counts[outcome] += 1
        per_category[row["category"]][outcome] += 1
        if outcome in ("fp", "fn"):
            reasons = [r for s in checked.sentences for r in s.reasons]
            errors.append(
                {"outcome": outcome, "sentence": row["sentence"], "category": row["category"], "reasons": reasons}
            )
    tp, fp, fn, tn = (counts[k] for k in ("tp", "fp", "fn", "tn"))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return {
        "sentences": len(doc["sentences"]),
        "unsupported": tp + fn,
        "precision": round(precision, 3),
        "recall": round(recall, 3),
        "f1": round(2 * precision * recall / (precision + recall), 3) if precision + recall else 0.0,
        "accuracy": round((tp + tn) / len(doc["sentences"]), 3),
        "faithful_kept": round(tn / (tn + fp), 3) if tn + fp else 0.0,
        "confusion": {"tp": tp, "fp": fp, "fn": fn, "tn": tn},
        "per_category": {k: dict(v) for k, v in sorted(per_category.items())},
        "errors": errors,
        "machine": machine(),
    }


def main() -> None:
    p = argparse.ArgumentParser(description="Precision and recall of the claim verifier on labelled sentences.")
    p.add_argument("--data", type=Path, default=DATA)
    p.add_argument("--out", type=Path, default=None, help="Results file (default benchmarks/results/verifier.json).")
    args = p.parse_args()
    results = run(args.data)
    path = write_results("verifier", results, args.out)
    print(
        f"{results['sentences']} sentences, {results['unsupported']} unsupported: precision {results['precision']:.3f}, "
        f"recall {results['recall']:.3f}, F1 {results['f1']:.3f}, supported sentences kept {results['faithful_kept']:.3f}"
    )
    for e in results["errors"]:
        print(f"  {e['outcome']}: [{e['category']}] {e['sentence']}  {'; '.join(e['reasons'])}")
    print(f"results: {path}")


if __name__ == "__main__":
    main()
