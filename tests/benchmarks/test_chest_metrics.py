"""The chest benchmark's metrics on inputs whose answers are known: AUROC/AUPRC with ties and
undefined labels, top-k with fair ties, set overlap, and KG safety violations."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.lib.chest_metrics import (
    ViolationCount,
    auroc,
    average_precision,
    drug_violations,
    macro_scores,
    set_overlap,
    topk,
)
from kgdx.ingest.case import Finding, PatientCase

WARFARIN, CLARITHRO, THEO, NIRMA = "DRUGBANK:DB00682", "DRUGBANK:DB01211", "DRUGBANK:DB00277", "DRUGBANK:DB15661"


def test_auroc_known_values_and_ties():
    y = np.array([0, 0, 1, 1])
    assert auroc(y, np.array([0.1, 0.4, 0.35, 0.8])) == 0.75
    assert auroc(y, np.array([0.1, 0.2, 0.3, 0.4])) == 1.0
    assert auroc(y, np.array([0.4, 0.3, 0.2, 0.1])) == 0.0
    assert auroc(y, np.full(4, 0.3)) == 0.5  # a constant scorer, whatever the order
    assert auroc(y, np.array([0.1, 0.5, 0.5, 0.9])) == 0.875  # one positive–negative tie counts half
    assert auroc(np.array([1, 1]), np.array([0.2, 0.3])) is None
    with pytest.raises(ValueError, match="same length"):
        auroc(np.array([0, 1]), np.array([0.1]))


def test_average_precision_known_values():
    y = np.array([0, 0, 1, 1])
    assert average_precision(y, np.array([0.1, 0.4, 0.35, 0.8])) == pytest.approx(5 / 6)
    assert average_precision(y, np.array([0.1, 0.2, 0.3, 0.4])) == 1.0
    assert average_precision(np.array([0, 1, 0, 0]), np.full(4, 0.7)) == 0.25  # constant: the prevalence
    assert average_precision(np.zeros(3), np.arange(3.0)) is None


def test_agrees_with_sklearn():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    for _ in range(5):
        y = rng.random(60) < 0.3
        s = np.round(rng.random(60) + y * 0.3, 1)  # rounded: many ties
        assert auroc(y, s) == pytest.approx(metrics.roc_auc_score(y, s))
        assert average_precision(y, s) == pytest.approx(metrics.average_precision_score(y, s))


def test_macro_scores_skip_undefined_labels_and_keep_neginf_ties():
    Y = np.array([[1, 0, 0], [0, 1, 0], [1, 0, 0], [0, 1, 0]])
    S = np.array([[0.9, -np.inf, 0.1], [0.2, -np.inf, 0.3], [0.8, -np.inf, 0.5], [0.1, -np.inf, 0.2]])
    m = macro_scores(Y, S)
    assert m["labels"] == 2 and m["labels_without_both_classes"] == 1  # column 2 has no positive
    assert m["per_label_auroc"] == {0: 1.0, 1: 0.5}  # a label the model cannot score: ties, 0.5
    assert m["auroc"] == 0.75 and m["per_label_auprc"][1] == 0.5
    assert macro_scores(Y, S, columns=[0])["auroc"] == 1.0
    assert macro_scores(Y[:, 2:], S[:, 2:])["auroc"] is None


def test_topk_counts_ties_fairly():
    S = np.array([[3.0, 1.0, 2.0], [1.0, 1.0, 0.0], [0.0, 1.0, 2.0], [-np.inf, -np.inf, 5.0]])
    r = topk(S, [0, 0, 0, 0], ks=(1, 2, 3))
    # ranks: 1; tied first of two (top1 0.5, top2 1); 3rd; tied 2nd-3rd (top1 0, top2 0.5, top3 1)
    assert r["top1"] == pytest.approx((1 + 0.5 + 0 + 0) / 4)
    assert r["top2"] == pytest.approx((1 + 1 + 0 + 0.5) / 4)
    assert r["top3"] == 1.0
    assert r["mrr"] == pytest.approx((1 + 0.75 + 1 / 3 + (1 / 2 + 1 / 3) / 2) / 4)
    with pytest.raises(ValueError, match="'gold' has 1 entries for 4 rows"):
        topk(S, [0])


def test_set_overlap():
    assert set_overlap({"a", "b"}, {"b", "c"}) == {"jaccard": 1 / 3, "precision": 0.5, "recall": 0.5, "f1": 0.5}
    assert set_overlap([], []) == {"jaccard": 1.0, "precision": 1.0, "recall": 1.0, "f1": 1.0}
    assert set_overlap([], ["a"])["f1"] == 0.0 and set_overlap(["a"], [])["jaccard"] == 0.0
    assert set_overlap(["a", "a"], ["a"])["f1"] == 1.0


def test_drug_violations_on_the_tiny_kg(tiny_store):
    v = drug_violations(tiny_store, [CLARITHRO, WARFARIN], conditions={"HP:0002105"}, current_drugs=[THEO])
    got = {(x.drug, x.kind, x.other, x.severity, x.against) for x in v}
    assert got == {
        (CLARITHRO, "interaction", THEO, "major", "current_drug"),
        (WARFARIN, "contraindication", "HP:0002105", "relative", "condition"),
        (WARFARIN, "interaction", CLARITHRO, "major", "suggestion"),
    }
    assert drug_violations(tiny_store, [CLARITHRO, WARFARIN], among_suggestions=False) == []
    count = ViolationCount()
    count.add([CLARITHRO, WARFARIN], v)
    count.add([NIRMA], [])
    assert (count.suggestions, count.unsafe, count.rate) == (3, 2, 2 / 3)
    assert count.to_dict()["by_kind"] == {
        "contraindication:condition": 1,
        "interaction:current_drug": 1,
        "interaction:suggestion": 1,
    }


def test_removed_suggestions_never_violate(tiny_store, tiny_trained):
    """What the benchmark asserts: with safety='remove' no suggestion hits a KG safety edge against
    the record; with 'flag' the same unsafe one is kept and counted."""
    from kgdx.reasoning.checkpoint import load_checkpoint
    from kgdx.reasoning.diagnoser import Diagnoser

    model, _ = load_checkpoint(tiny_trained[0] / "best.pt")
    dx = Diagnoser(tiny_store, model)
    case = PatientCase(
        "p", observed=[Finding("HP:0025179"), Finding("HP:0001945"), Finding("HP:0012735")], drugs=[THEO]
    )
    r = dx.rank(case, k=4)
    counts = {}
    for safety in ("remove", "flag"):
        drugs = [s.drug for s in dx.suggest_drugs(r, safety=safety)]
        c = ViolationCount()
        c.add(drugs, drug_violations(tiny_store, drugs, conditions=case.conditions, current_drugs=case.drugs))
        counts[safety] = c
    assert counts["remove"].unsafe == 0 and counts["remove"].suggestions >= 1
    assert counts["flag"].unsafe == 1  # clarithromycin interacts with theophylline
