"""Ranking metrics that count ties honestly.

When other diseases share the gold disease's score, the gold's position is uniform over the tied
block, so top-k is the expected hit rate under random tie-breaking and MRR the expected
reciprocal rank, never the best position in the block.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = ["GoldRank", "gold_rank", "RankingMetrics"]


@dataclass(frozen=True)
class GoldRank:
    """Where the gold disease landed: ``rank`` = 1 + diseases scored strictly higher; ``ties`` = other
    diseases with exactly its score."""

    rank: int
    ties: int

    def hit(self, k: int) -> float:
        """Expected top-``k`` hit under random tie-breaking."""
        return float(min(1.0, max(0.0, (k - (self.rank - 1)) / (self.ties + 1))))

    @property
    def reciprocal(self) -> float:
        """Expected reciprocal rank under random tie-breaking."""
        return float(np.mean(1.0 / np.arange(self.rank, self.rank + self.ties + 1)))


def gold_rank(scores: np.ndarray, gold: int) -> GoldRank:
    """The :class:`GoldRank` of index ``gold`` in ``scores`` (higher is better)."""
    g = scores[gold]
    return GoldRank(int((scores > g).sum()) + 1, int((scores == g).sum()) - 1)


@dataclass
class RankingMetrics:
    """Top-k and MRR over cases; cases whose disease is not in the KG count as misses overall."""

    ks: tuple[int, ...] = (1, 3, 10)
    ranks: list[GoldRank | None] = field(default_factory=list)

    def add(self, rank: GoldRank | None) -> None:
        self.ranks.append(rank)

    @property
    def n(self) -> int:
        return len(self.ranks)

    @property
    def n_in_kg(self) -> int:
        return sum(r is not None for r in self.ranks)

    def _summary(self, ranks: list[GoldRank | None]) -> dict[str, float]:
        n = max(len(ranks), 1)
        out = {f"top{k}": sum(r.hit(k) for r in ranks if r) / n for k in self.ks}
        out["mrr"] = sum(r.reciprocal for r in ranks if r) / n
        return {k: round(v, 4) for k, v in out.items()}

    def subset(self, indices: Iterable[int]) -> RankingMetrics:
        """The metrics of the cases at ``indices`` (positions in the order they were added)."""
        return RankingMetrics(self.ks, [self.ranks[i] for i in indices])

    def macro(self, groups: Sequence[str]) -> dict[str, float]:
        """Top-k and MRR averaged over groups (e.g. cohorts) instead of cases, so that a large
        cohort of near-identical cases counts once; ``groups[i]`` is the group of case ``i``."""
        members: dict[str, list[int]] = {}
        for i, g in enumerate(groups):
            members.setdefault(g, []).append(i)
        per_group = [self._summary([self.ranks[i] for i in ix]) for ix in members.values()]
        return {k: round(float(np.mean([s[k] for s in per_group])), 4) for k in per_group[0]} if per_group else {}

    def summary(self) -> dict[str, object]:
        return {
            "cases": self.n,
            "cases_in_kg": self.n_in_kg,
            "cases_not_in_kg": self.n - self.n_in_kg,
            "overall": self._summary(self.ranks),
            "in_kg": self._summary([r for r in self.ranks if r]),
        }
