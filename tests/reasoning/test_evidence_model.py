"""Evidence propagation and the EvidenceGNN readout: shapes, exact attributions, batching."""

from __future__ import annotations

import pytest
import torch

from kgdx.reasoning.evidence import DISEASE_FEATURES, HAS_FINDING_FEATURES, CaseEvidence, EvidenceExtractor
from kgdx.reasoning.model import _GENE, EvidenceGNN, EvidenceGNNConfig


def test_messages(tiny_index):
    ix = tiny_index
    ex = EvidenceExtractor(ix, ic_floor=0.0)
    t = ix.phenotype_index
    ev = ex([t["HP:0002090"], t["HP:0002105"]], [t["HP:0025179"]])
    assert ev.finding_feat.shape[1] == len(HAS_FINDING_FEATURES) and ev.disease_feat.shape == (4, len(DISEASE_FEATURES))
    cf, covid = ix.disease_index["OMIM:219700"], ix.disease_index["MONDO:0100096"]
    feats = {(int(d), int(c)): f for d, c, f in zip(ev.finding_disease, ev.finding_index, ev.finding_feat)}
    assert feats[(cf, 0)][HAS_FINDING_FEATURES.index("has_term")] == 1  # CF has Pneumonia
    assert feats[(cf, 1)][HAS_FINDING_FEATURES.index("contradicted")] == 1  # CF is known to lack haemoptysis
    assert feats[(covid, 0)][HAS_FINDING_FEATURES.index("has_term")] == 0  # COVID shares only ancestors
    assert feats[(covid, 0)][HAS_FINDING_FEATURES.index("match_ic")] > 0
    exc = {(int(d), int(c)) for d, c in zip(ev.lacking_disease, ev.lacking_index)}
    assert (covid, 0) in exc  # COVID has ground-glass, which the patient lacks
    assert repr(ex).startswith("EvidenceExtractor(phenotypes=11, diseases=4")


def test_attribution_adds_up_and_batches(tiny_index):
    ex = EvidenceExtractor(tiny_index, ic_floor=0.0)
    t = tiny_index.phenotype_index
    torch.manual_seed(0)
    model = EvidenceGNN(EvidenceGNNConfig(hidden=8))
    a = ex([t["HP:0002090"], t["HP:0012735"]], [t["HP:0025179"]], weights=[1.0, 0.5])
    b = ex([t["HP:0025179"]], [])
    att = model.attribute(a)
    assert torch.allclose(att.score, model(a)[0], atol=1e-5)
    assert att.observed.shape == (2, 4) and att.excluded.shape == (1, 4)
    both = model(CaseEvidence.batch([a, b]))
    assert both.shape == (2, 4)
    assert torch.allclose(both[0], model(a)[0], atol=1e-5) and torch.allclose(both[1], model(b)[0], atol=1e-5)
    with pytest.raises(ValueError, match="one case"):
        model.attribute(CaseEvidence.batch([a, b]))


def test_model_arguments_and_repr():
    m = EvidenceGNN(EvidenceGNNConfig(hidden=4, layers=1))
    assert repr(m).startswith("EvidenceGNN(hidden=4, layers=1, use_excluded=True")
    with pytest.raises(ValueError, match="got 0"):
        EvidenceGNN(EvidenceGNNConfig(hidden=0))
    before = [p.clone() for p in m.parameters()]
    m.reset_parameters()
    assert any(not torch.equal(a, b) for a, b in zip(before, m.parameters()))


def _violations(model: EvidenceGNN, ex: EvidenceExtractor, trials: int, seed: int) -> int:
    """How often adding one excluded finding raised some disease's score, over random cases."""
    g = torch.Generator().manual_seed(seed)
    T, bad = ex.index.num_phenotypes, 0
    for _ in range(trials):
        perm = torch.randperm(T, generator=g).tolist()
        n_obs, n_exc = int(torch.randint(1, 4, (1,), generator=g)), int(torch.randint(0, 3, (1,), generator=g))
        obs, exc, extra = perm[:n_obs], perm[n_obs : n_obs + n_exc], perm[n_obs + n_exc]
        weights = torch.rand(n_obs, generator=g).clamp(min=0.05).tolist()
        before = model(ex(obs, exc, weights=weights))[0]
        after = model(ex(obs, [*exc, extra], weights=weights))[0]
        bad += bool((after > before + 1e-5).any())
    return bad


def test_an_excluded_finding_never_raises_a_disease(tiny_index):
    """Whatever the weights (random here, so any sign a training set could reward), a finding the
    patient lacks can only lower a disease's score; with the guard off the same cases break it."""
    ex = EvidenceExtractor(tiny_index, ic_floor=0.0)
    for seed in range(3):
        for floor in (None, 0.1):
            torch.manual_seed(seed)
            model = EvidenceGNN(EvidenceGNNConfig(hidden=8, absent_likelihood_floor=floor)).eval()
            assert _violations(model, ex, trials=150, seed=seed) == 0
    torch.manual_seed(0)
    unguarded = EvidenceGNN(EvidenceGNNConfig(hidden=8, monotone_excluded=False)).eval()
    assert _violations(unguarded, ex, trials=150, seed=0) > 0


def _lowered(model: EvidenceGNN, ex: EvidenceExtractor, trials: int, seed: int) -> int:
    """How often raising one finding's probability lowered a disease annotated with that finding."""
    ix, g, bad = ex.index, torch.Generator().manual_seed(seed), 0
    annotated = list(zip(*(a.tolist() for a in ix.annotations.nonzero())))
    for _ in range(trials):
        d, t = annotated[int(torch.randint(len(annotated), (1,), generator=g))]
        others = [o for o in torch.randperm(ix.num_phenotypes, generator=g).tolist() if o != t][:2]
        lo, hi = sorted(torch.rand(2, generator=g).clamp(min=0.05).tolist())
        w = torch.rand(len(others), generator=g).clamp(min=0.05).tolist()
        before = model(ex([t, *others], [], weights=[lo, *w]))[0, d]
        after = model(ex([t, *others], [], weights=[hi, *w]))[0, d]
        bad += bool(after < before - 1e-5)
    return bad


def test_a_likelier_finding_never_lowers_a_disease_annotated_with_it(tiny_index):
    """Whatever the weights, raising a finding's probability never lowers a disease annotated with
    it (``monotone_observed``); with the guard off, random weights break it."""
    ex = EvidenceExtractor(tiny_index, ic_floor=0.0)
    for seed in range(3):
        for prior in (EvidenceGNNConfig.prior_weight, 0.0):
            torch.manual_seed(seed)
            model = EvidenceGNN(EvidenceGNNConfig(hidden=8, prior_weight=prior)).eval()
            assert _lowered(model, ex, trials=150, seed=seed) == 0
    broken = 0
    for seed in range(3):  # without the prior, whose overlap grows with the probability anyway
        torch.manual_seed(seed)
        unguarded = EvidenceGNN(EvidenceGNNConfig(hidden=8, prior_weight=0.0, monotone_observed=False)).eval()
        broken += _lowered(unguarded, ex, trials=150, seed=seed)
    assert broken > 0


def test_learned_prior_is_a_parameter_that_round_trips(tiny_index, tmp_path):
    from kgdx.reasoning.checkpoint import load_checkpoint, save_checkpoint

    ex = EvidenceExtractor(tiny_index, ic_floor=0.0)
    t = tiny_index.phenotype_index
    torch.manual_seed(0)
    model = EvidenceGNN(EvidenceGNNConfig(hidden=8, learned_prior=True, prior_weight=0.3))
    assert any(n == "prior_weight" for n, _ in model.named_parameters())
    with torch.no_grad():
        model.prior_weight.fill_(-1.0)  # clamped: more shared findings never lower a disease
    ev = ex([t["HP:0002090"]], [])
    assert torch.equal(model._prior(ev), ev.disease_feat[:, _GENE] * model.config.gene_weight)
    with torch.no_grad():
        model.prior_weight.fill_(0.7)
    save_checkpoint(model, tmp_path / "m.pt", meta={})
    loaded, _ = load_checkpoint(tmp_path / "m.pt")
    assert float(loaded.prior_weight) == pytest.approx(0.7)
    assert torch.allclose(loaded.eval()(ev), model.eval()(ev), atol=1e-6)


def test_an_absent_finding_lowers_a_disease_by_how_often_it_has_it(tiny_index):
    """The likelihood ratio of an absent finding: log(1 − f), floored, for each disease with it;
    nothing for a disease without it, and the attribution still adds up to the score."""
    ex = EvidenceExtractor(tiny_index, ic_floor=0.0)
    t, ix = tiny_index.phenotype_index, tiny_index
    torch.manual_seed(0)
    plain = EvidenceGNN(EvidenceGNNConfig(hidden=8)).eval()
    lr = EvidenceGNN(EvidenceGNNConfig(hidden=8, absent_likelihood_floor=0.1)).eval()
    lr.load_state_dict(plain.state_dict())
    ground_glass = t["HP:0025179"]
    ev = ex([t["HP:0002090"]], [ground_glass])
    gap = (plain(ev) - lr(ev))[0]
    rows, freq = ix.rows_reaching(ground_glass)
    f = dict(zip(rows.tolist(), freq.tolist()))
    for d in range(ix.num_diseases):
        want = -torch.log(torch.tensor(max(1.0 - f.get(d, 0.0), 0.1))).item()
        assert gap[d].item() == pytest.approx(want, abs=1e-5)
    assert gap[ix.disease_index["MONDO:0100096"]] > 0  # COVID has ground-glass at 0.8
    assert torch.allclose(lr.attribute(ev).score, lr(ev)[0], atol=1e-5)
