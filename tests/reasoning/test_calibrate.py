"""Calibration: the fitted temperature and "not in the KG" logit, the top-label map, ECE and the
reliability bins."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kgdx.reasoning.calibrate import (
    answers,
    expected_calibration_error,
    fit_calibration,
    fit_gene_weight,
    fit_rate_matched,
    fit_top_isotonic,
    fit_top_label,
    reliability,
    top_isotonic_probabilities,
    top_label_probabilities,
    with_top_probability,
)
from kgdx.reasoning.model import EvidenceGNN, EvidenceGNNConfig


def _sample(n: int, diseases: int, temperature: float, other: float, seed: int = 0):
    """Scores, and gold drawn from softmax([scores / T, other]): the truth a fit must recover."""
    rng = np.random.default_rng(seed)
    scores = rng.normal(0, 3, (n, diseases)).astype(np.float32)
    logits = np.concatenate([scores / temperature, np.full((n, 1), other)], 1)
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    gold = [int(rng.choice(diseases + 1, p=row)) for row in p]
    return scores, [None if g == diseases else g for g in gold]


def test_fit_recovers_a_known_temperature_and_other_logit():
    scores, gold = _sample(4000, 8, temperature=2.5, other=0.7)
    t, b = fit_calibration(scores, gold)
    assert t == pytest.approx(2.5, rel=0.1) and b == pytest.approx(0.7, abs=0.2)


def test_the_rate_matched_logit_gives_not_in_the_kg_its_share_of_the_cases():
    scores, gold = _sample(4000, 8, temperature=2.5, other=0.7, seed=2)
    t, b = fit_rate_matched(scores, gold)
    assert t == pytest.approx(2.5, rel=0.1)
    other = torch.softmax(torch.cat([torch.from_numpy(scores) / t, torch.full((len(gold), 1), b)], 1), 1)[:, -1]
    assert float(other.mean()) == pytest.approx(sum(g is None for g in gold) / len(gold), abs=1e-4)


def test_calibrated_probabilities_have_a_small_ece_and_the_raw_ones_do_not():
    scores, gold = _sample(4000, 8, temperature=3.0, other=-1.0, seed=1)
    model = EvidenceGNN(EvidenceGNNConfig(hidden=4))

    def ece() -> float:
        p, _ = model.probabilities(torch.from_numpy(scores))
        top = p.argmax(1).numpy()
        return expected_calibration_error(
            p.max(1).values.numpy(), top == np.array([-1 if g is None else g for g in gold])
        )

    raw = ece()
    model.config.temperature, model.config.other_logit = fit_calibration(scores, gold)
    assert ece() < 0.03 < raw


def test_probabilities_and_the_not_in_kg_mass():
    model = EvidenceGNN(EvidenceGNNConfig(hidden=4))
    s = torch.tensor([[2.0, 1.0, 0.0]])
    p, other = model.probabilities(s)
    assert torch.allclose(p, torch.softmax(s, -1)) and float(other) == 0.0
    model.config.temperature, model.config.other_logit = 2.0, 1.0
    p, other = model.probabilities(s)
    assert float(p.sum() + other) == pytest.approx(1.0) and float(other) > 0
    assert p.argsort(descending=True).tolist() == [[0, 1, 2]]  # the order never changes


def test_reliability_bins_and_bad_input():
    bins = reliability(np.array([0.05, 0.15, 0.95, 0.95]), np.array([0, 0, 1, 0]))
    assert len(bins) == 10 and sum(b["n"] for b in bins) == 4
    assert bins[9]["n"] == 2 and bins[9]["accuracy"] == 0.5
    assert expected_calibration_error(np.array([1.0, 0.0]), np.array([1, 0])) == 0.0
    with pytest.raises(ValueError, match="no cases"):
        expected_calibration_error(np.array([]), np.array([]))
    with pytest.raises(ValueError, match="as many gold"):
        fit_calibration(np.zeros((2, 3)), [0])


def _overconfident(n: int, seed: int) -> tuple[torch.Tensor, np.ndarray]:
    """Logits whose top outcome is right with probability sigmoid(0.5 · its log-odds): over-confident."""
    rng = np.random.default_rng(seed)
    logits = torch.from_numpy(rng.normal(0, 2.5, (n, 6)))
    conf = torch.softmax(logits, 1).max(1).values.numpy()
    right = rng.random(n) < 1 / (1 + np.exp(-0.5 * np.log(conf / (1 - conf))))
    return logits, right


def test_the_top_label_map_keeps_every_outcome_in_place_and_sums_to_one():
    logits = torch.tensor([[3.0, 1.0, 0.5, 2.0], [0.0, -1.0, 4.0, 4.0 - 1e-3], [80.0, 0.0, -1.0, -2.0]])
    for coef in ([1.0, 0.0, 0.0], [0.3, -0.2, -2.0], [2.0, 1.0, 3.0]):
        p = top_label_probabilities(logits, coef)
        assert torch.allclose(p.sum(1), torch.ones(3)) and bool((p >= 0).all())
        assert (
            torch.argsort(p, dim=1, descending=True, stable=True).tolist()
            == logits.argsort(1, descending=True).tolist()
        )
    # identity weights: the softmax itself
    assert torch.allclose(top_label_probabilities(logits[:1], [1.0, 0.0, 0.0]), torch.softmax(logits[:1], 1))
    # a top probability that would fall under the runner-up's is raised just above it
    p = with_top_probability(logits[1:2], torch.tensor([0.0]))
    assert p.argmax().item() == 2 and p[0, 2] > p[0, 3]


def test_the_top_label_map_is_monotone_in_the_top_outcomes_score():
    coef = [0.9, -0.4, 0.4]  # the margin weight may be negative; the sum is what the top's score sees
    lifts = torch.linspace(0, 8, 50)
    logits = torch.tensor([2.0, 1.0, 0.0, -1.0]).repeat(50, 1)
    logits[:, 0] += lifts
    top = top_label_probabilities(logits.double(), coef)[:, 0]
    assert bool((top.diff() >= 0).all()) and float(top[-1]) > float(top[0])


def test_a_map_fitted_on_one_set_calibrates_another_and_needs_both_outcomes():
    logits, right = _overconfident(3000, seed=0)
    coef = fit_top_label(logits, right)
    assert coef[0] == pytest.approx(0.5, abs=0.15) and abs(coef[1]) < 0.2  # recovers the truth
    test, right_test = _overconfident(3000, seed=1)
    conf = torch.softmax(test, 1).max(1).values.numpy()
    mapped = top_label_probabilities(test, coef).max(1).values.numpy()
    assert expected_calibration_error(mapped, right_test) < 0.03 < expected_calibration_error(conf, right_test)
    with pytest.raises(ValueError, match="right and wrong"):
        fit_top_label(logits[:5], np.ones(5, bool))
    with pytest.raises(ValueError, match="3 numbers"):
        top_label_probabilities(logits, [1.0, 0.0])


def test_answers_pick_not_in_the_kg_only_above_the_best_disease():
    p = np.array([[0.5, 0.2], [0.1, 0.2], [0.3, 0.3]])
    conf, best, other = answers(p, np.array([0.3, 0.7, 0.3]))
    assert conf.tolist() == [0.5, 0.7, 0.3] and best.tolist() == [0, 1, 0] and other.tolist() == [False, True, False]


def test_model_probabilities_with_the_map_and_a_checkpoint_round_trip(tmp_path):
    from kgdx.reasoning.checkpoint import load_checkpoint, save_checkpoint

    model = EvidenceGNN(EvidenceGNNConfig(hidden=4, temperature=1.5, other_logit=0.5, top_label=[0.8, -0.1, 0.2]))
    s = torch.tensor([[2.0, 1.0, 0.0], [0.0, 0.1, -3.0]])
    p, other = model.probabilities(s)
    assert torch.allclose(p.sum(1) + other, torch.ones(2))
    assert p.argsort(1, descending=True).tolist() == s.argsort(1, descending=True).tolist()
    save_checkpoint(model, tmp_path / "m.pt")
    back, _ = load_checkpoint(tmp_path / "m.pt")
    assert back.config == model.config and isinstance(back.config.top_label, list)
    p2, other2 = back.probabilities(s)
    assert torch.equal(p, p2) and torch.equal(other, other2)
    # a checkpoint from before the map (no `top_label` in its config) loads and has none
    blob = torch.load(tmp_path / "m.pt", weights_only=False)
    del blob["config"]["top_label"]
    torch.save(blob, tmp_path / "old.pt")
    old, _ = load_checkpoint(tmp_path / "old.pt")
    assert old.config.top_label is None and old.config.other_logit == 0.5
    p3, _ = old.probabilities(s)
    assert torch.allclose(p3, torch.softmax(torch.cat([s / 1.5, torch.full((2, 1), 0.5)], 1), 1)[:, :-1])


def test_the_isotonic_map_reads_its_table_keeps_every_outcome_in_place_and_round_trips(tmp_path):
    from sklearn.isotonic import IsotonicRegression

    from kgdx.reasoning.checkpoint import load_checkpoint, save_checkpoint

    scores, gold = _sample(2000, 8, temperature=3.0, other=-1.0, seed=4)
    logits = torch.from_numpy(scores) / 0.5  # over-confident: the map must pull the top answer down
    truth = np.array([-1 if g is None else g for g in gold])
    correct = logits.argmax(1).numpy() == truth
    table = fit_top_isotonic(logits, correct)
    conf = torch.softmax(logits, 1).max(1).values.numpy()
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(conf, correct)
    p = top_isotonic_probabilities(logits, table)
    assert torch.allclose(p.sum(1), torch.ones(len(p), dtype=p.dtype))
    assert (p.argmax(1) == logits.argmax(1)).all()
    raised = p.max(1).values.numpy() > iso.predict(conf) + 1e-6  # only where the runner-up forced it
    assert np.allclose(p.max(1).values.numpy()[~raised], iso.predict(conf)[~raised], atol=1e-6)
    gap = lambda q: abs(float(q.max(1).values.mean()) - correct.mean())  # noqa: E731
    assert gap(p) < gap(torch.softmax(logits, 1)) / 2  # the over-confidence mostly gone
    with pytest.raises(ValueError, match="as many values as knots"):
        top_isotonic_probabilities(logits, [[0.1, 0.5], [0.2]])

    s = torch.tensor([[2.0, 1.0, 0.0], [0.0, 0.1, -3.0]])
    model = EvidenceGNN(
        EvidenceGNNConfig(hidden=4, temperature=1.5, other_logit=0.5, top_isotonic=[[0.3, 0.6], [0.2, 0.9]])
    )
    p, other = model.probabilities(s)
    assert torch.allclose(p.sum(1) + other, torch.ones(2))
    assert p.argsort(1, descending=True).tolist() == s.argsort(1, descending=True).tolist()
    save_checkpoint(model, tmp_path / "m.pt")
    back, _ = load_checkpoint(tmp_path / "m.pt")
    assert back.config == model.config
    assert torch.equal(back.probabilities(s)[0], p)
    blob = torch.load(tmp_path / "m.pt", weights_only=False)
    del blob["config"]["top_isotonic"]  # a checkpoint from before the isotonic map
    torch.save(blob, tmp_path / "old.pt")
    assert load_checkpoint(tmp_path / "old.pt")[0].config.top_isotonic is None


def test_the_gene_weight_is_what_the_genes_are_worth():
    """A gene association that names the disease is worth much; one that names another, nothing."""
    rng = np.random.default_rng(0)
    scores = torch.from_numpy(rng.normal(size=(300, 50)).astype(np.float32))
    gold = [int(g) for g in rng.integers(50, size=300)]
    right = [[g] for g in gold]  # the gene points at the case's disease
    wrong = [[(g + 1) % 50] for g in gold]  # ... at another one
    assert fit_gene_weight(scores, right, gold) > 5.0
    assert fit_gene_weight(scores, wrong, gold) < 0.1
    mixed = [r if i % 2 else w for i, (r, w) in enumerate(zip(right, wrong))]
    w_mixed = fit_gene_weight(scores, mixed, gold)
    assert 0.1 < w_mixed < fit_gene_weight(scores, right, gold)
    # cases without genes, or whose disease is not in the KG, say nothing about the weight
    padded = fit_gene_weight(torch.cat([scores, scores[:10]]), [*mixed, *[[]] * 10], [*gold, *[None] * 10])
    assert padded == pytest.approx(w_mixed, rel=1e-3)
    with pytest.raises(ValueError, match="no case"):
        fit_gene_weight(scores[:2], [[], []], gold[:2])
