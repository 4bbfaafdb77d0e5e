"""Evidence propagation and the EvidenceGNN readout: shapes, exact attributions, batching."""

from __future__ import annotations

import pytest
import torch

from kgdx.reasoning.evidence import DISEASE_FEATURES, HAS_FINDING_FEATURES, CaseEvidence, EvidenceExtractor
from kgdx.reasoning.model import EvidenceGNN, EvidenceGNNConfig


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
