"""The text-messages benchmark's cue measure on the tiny KG (made-up embeddings)."""

from __future__ import annotations

import copy

import numpy as np

from benchmarks.text_messages import cues
from kgdx.reasoning.similar import similar_terms
from tests.reasoning.test_similar import DYSPNEA, EFFUSION, _embeddings


def test_cues_count_neighbour_only_matches_and_rank_by_text_profile(tiny_index):
    ix = copy.copy(tiny_index)
    emb = _embeddings(ix, {(DYSPNEA, EFFUSION): 0.8})
    ix.similar, ix.text_embedding = similar_terms(ix, emb), emb.astype(np.float16)
    t, d = ix.phenotype_index, ix.disease_index
    # Dyspnoea shares only uninformative ancestors with the effusion diseases, but is a neighbour.
    out = cues(ix, [([t[DYSPNEA]], [], d["MONDO:0005249"]), ([t[DYSPNEA]], [], None)])
    assert out["cases"] == 1 and out["findings"] == 1
    assert out["neighbour_only_gold"] == 1.0
    # Pleural effusion weighs more in the other effusion disease's (smaller) profile: second.
    assert out["text_profile_alone"] == {"top1": 0.0, "top10": 1.0, "median_rank": 2.0}
