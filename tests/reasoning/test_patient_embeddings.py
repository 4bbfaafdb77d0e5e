"""The patient's encoder embeddings as a message to every disease (``patient_embeddings``): a
model gains it without changing, learns it from cases that carry embeddings, keeps its
attribution exact and its guards, and says what it added in the explanation."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from kgdx.errors import DataError
from kgdx.ingest.case import Finding, PatientCase
from kgdx.reasoning.checkpoint import load_checkpoint, save_checkpoint
from kgdx.reasoning.diagnoser import Diagnoser
from kgdx.reasoning.evidence import CaseEvidence, EvidenceExtractor
from kgdx.reasoning.explain import explain
from kgdx.reasoning.index import KGIndex
from kgdx.reasoning.model import EvidenceGNN, EvidenceGNNConfig
from kgdx.reasoning.similar import TEXT_WIDTH, disease_embeddings

WIDTHS = {"ct": 8, "report": TEXT_WIDTH}
CONFIG = EvidenceGNNConfig(hidden=8, patient_embeddings=WIDTHS, embedding_rank=4)
DYSPNEA, COUGH, FEVER = "HP:0002094", "HP:0012735", "HP:0001945"


@pytest.fixture(scope="module")
def text_index(tiny_index) -> KGIndex:
    """The tiny index with random unit text embeddings (MiniLM's width; no model is loaded)."""
    ix = copy.copy(tiny_index)
    emb = np.random.default_rng(0).normal(size=(ix.num_phenotypes, TEXT_WIDTH)).astype(np.float32)
    ix.text_embedding = (emb / np.linalg.norm(emb, axis=1, keepdims=True)).astype(np.float16)
    ix.similar = None
    return ix


def _extract(ix: KGIndex, embeddings: dict | None, observed=(DYSPNEA, COUGH), excluded=(FEVER,)) -> CaseEvidence:
    ex = EvidenceExtractor.for_model(ix, CONFIG)
    t = ix.phenotype_index
    return ex([t[o] for o in observed], [t[x] for x in excluded], embeddings=embeddings)


def _random_query(model: EvidenceGNN, seed: int = 0) -> EvidenceGNN:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for q in model.patient_query.values():
            q.weight.copy_(torch.randn(q.weight.shape, generator=g))
    return model


def _case_embeddings(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {m: rng.normal(size=w).astype(np.float32) for m, w in WIDTHS.items()}


def test_a_model_gains_the_message_without_changing(text_index):
    torch.manual_seed(0)
    base = EvidenceGNN(EvidenceGNNConfig(hidden=8)).eval()
    model = base.with_patient_embeddings(WIDTHS, rank=4)
    assert model.config == CONFIG and not model.training and not base.config.patient_embeddings
    ev = _extract(text_index, _case_embeddings(1))
    plain = EvidenceExtractor(text_index)(
        [text_index.phenotype_index[DYSPNEA], text_index.phenotype_index[COUGH]], [text_index.phenotype_index[FEVER]]
    )
    assert torch.allclose(model(ev), base(plain))


def test_attribution_adds_up_and_a_case_without_embeddings_gets_nothing(text_index):
    model = _random_query(EvidenceGNN(CONFIG)).eval()
    ev = _extract(text_index, _case_embeddings(2))
    att = model.attribute(ev)
    assert att.embedding.shape == (len(WIDTHS), text_index.num_diseases)
    assert torch.allclose(att.score, model(ev)[0], atol=1e-4)
    assert att.embedding.abs().sum() > 0
    assert torch.allclose(att.embedding.sum(1), torch.zeros(len(WIDTHS)), atol=1e-4)  # centred over diseases
    only_ct = model.attribute(_extract(text_index, {"ct": _case_embeddings(2)["ct"]}))
    assert torch.allclose(only_ct.embedding[0], att.embedding[0]) and only_ct.embedding[1].abs().max() == 0
    none = model.attribute(_extract(text_index, None))
    assert none.embedding.abs().max() == 0


def test_batches_score_as_single_cases(text_index):
    model = _random_query(EvidenceGNN(CONFIG)).eval()
    evs = [_extract(text_index, _case_embeddings(s)) for s in (3, 4)] + [_extract(text_index, None)]
    batched = model(CaseEvidence.batch(evs))
    for i, ev in enumerate(evs):
        assert torch.allclose(batched[i], model(ev)[0], atol=1e-5)
    with pytest.raises(ValueError, match="with and without"):
        CaseEvidence.batch([evs[0], EvidenceExtractor(text_index)([0])])


def test_the_guards_hold_with_embeddings(text_index):
    """An excluded finding never raises a disease; a likelier annotated finding never lowers it."""
    model = _random_query(EvidenceGNN(CONFIG), seed=5).eval()
    emb = _case_embeddings(6)
    without = model(_extract(text_index, emb, excluded=()))[0]
    with_excluded = model(_extract(text_index, emb, excluded=(FEVER,)))[0]
    assert (with_excluded <= without + 1e-5).all()


def test_a_wrong_width_names_the_embedding(text_index):
    with pytest.raises(DataError, match=r"embeddings\.ct.*8-d 'ct' embeddings; this case's is 5-d"):
        _extract(text_index, {"ct": np.zeros(5, np.float32)})
    with pytest.raises(ValueError, match="with_text"):
        EvidenceExtractor.for_model(dataclass_copy(text_index, text_embedding=None), CONFIG)


def dataclass_copy(ix: KGIndex, **changes) -> KGIndex:
    out = copy.copy(ix)
    for k, v in changes.items():
        setattr(out, k, v)
    return out


def test_the_message_is_learned_from_cases_that_carry_embeddings(text_index):
    """Cases whose report embedding is their disease's text profile plus noise, and whose findings
    say nothing: a few steps teach the model to rank the disease from the embedding alone."""
    ix = text_index
    profile = disease_embeddings(ix, np.asarray(ix.text_embedding, np.float32))
    rng = np.random.default_rng(0)
    gold = rng.integers(0, ix.num_diseases, size=64)
    evs = [
        _extract(ix, {"report": profile[g] + 0.3 * rng.normal(size=TEXT_WIDTH).astype(np.float32)}, (FEVER,), ())
        for g in gold
    ]
    torch.manual_seed(0)
    model = EvidenceGNN(CONFIG)

    def mean_rank() -> float:
        with torch.no_grad():
            s = model(CaseEvidence.batch(evs))
        return float((s > s[torch.arange(len(gold)), torch.from_numpy(gold)][:, None]).sum(1).float().mean())

    before = mean_rank()
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(60):
        loss = torch.nn.functional.cross_entropy(model(CaseEvidence.batch(evs)), torch.from_numpy(gold))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert mean_rank() < 0.25 * before


def test_checkpoint_round_trip(text_index, tmp_path):
    model = _random_query(EvidenceGNN(CONFIG))
    loaded, _ = load_checkpoint(save_checkpoint(model, tmp_path / "m.pt"))
    assert loaded.config.patient_embeddings == WIDTHS
    ev = _extract(text_index, _case_embeddings(7))
    assert torch.allclose(loaded.eval()(ev), model.eval()(ev))


def test_the_diagnoser_reads_the_case_embeddings_and_explains_them(tiny_store, text_index):
    model = _random_query(EvidenceGNN(CONFIG), seed=8).eval()
    dx = Diagnoser(tiny_store, model, index=text_index)
    case = PatientCase("emb", observed=[Finding(DYSPNEA), Finding(COUGH)], embeddings=_case_embeddings(9))
    plain = PatientCase("plain", observed=[Finding(DYSPNEA), Finding(COUGH)])
    ranked, flat = dx.rank(case, k=3), dx.rank(plain, k=3)
    assert not np.allclose(ranked.scores, flat.scores)
    d = text_index.disease_index[ranked.top[0].id]
    assert ranked.attribution.score[d] == pytest.approx(ranked.scores[d], abs=1e-4)
    ex = explain(dx, ranked, top=2)
    first = ex.diseases[0]
    assert set(first.embeddings) == set(WIDTHS)
    assert first.embeddings["ct"] == pytest.approx(float(ranked.attribution.embedding[0, d]), abs=1e-6)
    assert "ct embedding against the disease's text profile" in ex.to_text()
    assert ex.to_dict()["diseases"][0]["embeddings"].keys() == set(WIDTHS)
    assert not explain(dx, flat, top=1).diseases[0].embeddings  # no embedding: nothing shown


def test_the_case_builder_keeps_the_text_embeddings_a_model_reads(tiny_store, text_index):
    from kgdx.reasoning.case_builder import CaseBuilder

    report, note = "Impression: right lower lobe consolidation.", "Three days of fever.\n\nNo chest pain."
    reads = Diagnoser(tiny_store, EvidenceGNN(CONFIG), index=text_index)  # reads "ct" and "report"
    got = CaseBuilder(reads).build(report=report, note=note).embeddings
    assert got.keys() == {"report"} and got["report"].shape == (TEXT_WIDTH,)
    plain = Diagnoser(tiny_store, EvidenceGNN(EvidenceGNNConfig(hidden=8)), index=text_index)
    builder = CaseBuilder(plain)
    assert builder.build(report=report, note=note).embeddings == {}
    both = builder.build(report=report, note=note, embed=True).embeddings
    assert both.keys() == {"report", "note"} and np.linalg.norm(both["note"]) == pytest.approx(1.0, abs=1e-5)
    assert np.allclose(both["note"], builder.encode_notes([note])[0])
    assert not np.allclose(both["note"], both["report"])


def test_a_long_note_is_embedded_in_pieces_minilm_can_read():
    from kgdx.reasoning.case_builder import _pieces

    note = "History: tremor for two years. Worse at rest.\n\nExam: " + "rigid arm. " * 30 + "Plan: levodopa."
    pieces = _pieces(note)
    assert pieces[0] == "History: tremor for two years. Worse at rest."
    assert len(pieces) == 3 and all(len(p.split()) <= 60 for p in pieces)
    assert " ".join(pieces[1:]).split() == note.split("\n\n")[1].split()  # nothing lost
    assert _pieces("") == []
