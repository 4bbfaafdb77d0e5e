"""Fair ties: a tie is the expected hit under random tie-breaking, never the best position."""

from __future__ import annotations

import numpy as np
import pytest

from kgdx.reasoning.metrics import GoldRank, RankingMetrics, gold_rank


def test_gold_rank_and_ties():
    s = np.array([0.9, 0.5, 0.5, 0.5, 0.1])
    r = gold_rank(s, 2)
    assert (r.rank, r.ties) == (2, 2)
    assert r.hit(1) == 0 and r.hit(2) == pytest.approx(1 / 3) and r.hit(3) == pytest.approx(2 / 3) and r.hit(4) == 1
    assert r.reciprocal == pytest.approx((1 / 2 + 1 / 3 + 1 / 4) / 3)
    assert gold_rank(s, 0).hit(1) == 1.0


def test_all_tied_is_not_a_hit():
    r = gold_rank(np.zeros(100), 7)
    assert r.hit(1) == pytest.approx(0.01) and r.hit(10) == pytest.approx(0.1)


def test_summary_counts_cases_not_in_kg_as_misses():
    m = RankingMetrics()
    m.add(GoldRank(1, 0))
    m.add(GoldRank(3, 0))
    m.add(None)
    s = m.summary()
    assert (s["cases"], s["cases_in_kg"], s["cases_not_in_kg"]) == (3, 2, 1)
    assert s["overall"]["top1"] == pytest.approx(1 / 3, abs=1e-4) and s["in_kg"]["top1"] == 0.5
    assert s["in_kg"]["top3"] == 1.0 and s["overall"]["mrr"] == pytest.approx((1 + 1 / 3) / 3, abs=1e-4)
