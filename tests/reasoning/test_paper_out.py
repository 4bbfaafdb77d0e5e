"""Leave-paper-out training evidence: the gold disease as if its case's paper had never been curated."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from kgdx.kg.memory_store import MemoryStore
from kgdx.kg.records import Edge
from kgdx.kg.schema import core_schema
from kgdx.kg.testing import tiny_kg_records
from kgdx.kg.vocab import RelType
from kgdx.reasoning.evidence import CaseEvidence, EvidenceExtractor
from kgdx.reasoning.index import KGIndex
from kgdx.reasoning.model import EvidenceGNN, EvidenceGNNConfig
from kgdx.reasoning.paper_out import PaperHoldout, case_paper
from kgdx.reasoning.train import TrainConfig, train

CF = "OMIM:219700"
# Cystic fibrosis: cough cites paper 111 alone, pneumonia cites 111 and 222, hemoptysis (added) cites 111.
CITES = {("HP:0012735", CF): "PMID:111", ("HP:0002090", CF): "PMID:111;PMID:222"}


def _store(drop_paper: bool = False) -> MemoryStore:
    """The tiny KG with papers on Cystic fibrosis's annotations; ``drop_paper`` leaves out what
    paper 111 alone gave, as a KG that never curated it would."""
    out = []
    for e in tiny_kg_records():
        if isinstance(e, Edge) and e.type == RelType.HAS_PHENOTYPE and (e.dst, e.src) in CITES:
            e = Edge(e.type, e.src, e.dst, {**e.props, "source": f"HPO phenotype.hpoa: {CITES[(e.dst, e.src)]}"})
            if drop_paper and CITES[(e.dst, e.src)] == "PMID:111":
                continue
        out.append(e)
    if not drop_paper:
        out.append(Edge(RelType.HAS_PHENOTYPE, CF, "HP:0002202", {"source": "hpoa: PMID:111", "frequency": 0.4}))
    store = MemoryStore(core_schema())
    store.write(out)
    return store


@pytest.fixture(scope="module")
def kg():
    store = _store()
    ix = KGIndex.from_store(store)
    ext = EvidenceExtractor(ix, ic_floor=0.0)
    return store, ix, ext, PaperHoldout(store, ix, ext)


def test_case_paper_reads_the_pmid_of_a_phenopacket_store_file():
    assert case_paper("train/CFTR/PMID_12345678_individual_3.json") == "12345678"
    assert case_paper("case.json") is None and case_paper(None) is None


def test_only_annotations_that_cite_the_paper_alone_are_dropped(kg):
    _, ix, _, holdout = kg
    g = ix.disease_index[CF]
    assert holdout.dropped(g, "111") == ["HP:0002202", "HP:0012735"]  # pneumonia also cites 222: kept
    assert holdout.dropped(g, "222") == [] and holdout.dropped(g, "999") == []


def test_the_gold_scores_as_on_a_kg_without_the_paper_and_every_other_disease_as_before(kg):
    _, ix, ext, holdout = kg
    reduced = KGIndex.from_store(_store(drop_paper=True))
    # The same term statistics, so only the annotations differ.
    reduced = dataclasses.replace(reduced, ic=ix.ic, background=ix.background)
    assert reduced.diseases == ix.diseases
    g = ix.disease_index[CF]
    torch.manual_seed(0)
    model = EvidenceGNN(EvidenceGNNConfig(hidden=8, ic_floor=0.0)).eval()
    obs, exc = ix.phenotype_ids(["HP:0012735", "HP:0002202", "HP:0001945"]), ix.phenotype_ids(["HP:0002105"])
    with torch.no_grad():
        left_out = model(holdout(obs, exc, g, "111"))[0]
        full = model(ext(obs, exc))[0]
        without = model(EvidenceExtractor(reduced, ic_floor=0.0)(obs, exc))[0]
    assert left_out[g] == pytest.approx(float(without[g]), abs=1e-5)
    assert left_out[g] < full[g]  # its shared annotations are gone
    others = [d for d in range(ix.num_diseases) if d != g]
    assert torch.allclose(left_out[others], full[others])
    # A case from another paper, or with none, sees the KG as it is.
    for paper in ("222", None):
        with torch.no_grad():
            assert torch.equal(model(holdout(obs, exc, g, paper))[0], full)


def test_training_leaves_the_paper_out_only_when_asked(kg, tmp_path, monkeypatch):
    store, ix, _, _ = kg
    g = ix.disease_index[CF]
    case = (ix.phenotype_ids(["HP:0012735", "HP:0002202"]), [], g)
    cfg = TrainConfig(steps=4, batch_size=4, eval_every=4, val_cases=8, warmup=1, real_rate=1.0, leave_paper_out=True)
    cfg.model = EvidenceGNNConfig(hidden=4, ic_floor=0.0)
    seen: list[tuple] = []
    original = PaperHoldout.__call__

    def spy(self, *a) -> CaseEvidence:  # noqa: ANN001
        seen.append(a)
        return original(self, *a)

    monkeypatch.setattr(PaperHoldout, "__call__", spy)
    train(store, cfg, tmp_path / "a", real_cases=[case], real_papers=["111"], progress=False, index=ix)
    assert seen and all(a[2:] == (g, "111") for a in seen)
    seen.clear()
    cfg.leave_paper_out = False
    train(store, cfg, tmp_path / "b", real_cases=[case], real_papers=["111"], progress=False, index=ix)
    assert not seen
    with pytest.raises(ValueError, match="1 real cases"):
        train(store, cfg, tmp_path / "c", real_cases=[case], real_papers=[], progress=False, index=ix)
