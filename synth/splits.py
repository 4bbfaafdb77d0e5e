"""Train / validation / test splits, and the held-out-disease split.

A case that has any held-out disease (primary or secondary) goes to ``held_out``; no such case is
ever in ``train``, ``validation`` or ``test``, so a model trained on ``train`` has never seen those
diseases. Every other case goes to a split by a hash of ``(seed, case id)`` against the
configured fractions: the split of a case does not depend on how many cases were generated, on
the worker count, or on the order cases finished in.
"""

from __future__ import annotations

import hashlib

from kgdx.ingest.cohort import SPLITS
from kgdx.synth.config import SplitConfig

__all__ = ["SPLITS", "assign_split"]


def assign_split(case_id: str, diseases: list[str], seed: int, cfg: SplitConfig) -> str:
    """The split of one case.

    Example:
        >>> assign_split("synth-000001", ["MONDO:0019121"], 0, SplitConfig())
        'held_out'
    """
    if set(diseases) & set(cfg.held_out_diseases):
        return "held_out"
    h = hashlib.sha256(f"{seed}:{case_id}".encode()).digest()
    u = int.from_bytes(h[:8], "big") / 2**64
    if u < cfg.train:
        return "train"
    if u < cfg.train + cfg.validation:
        return "validation"
    return "test"
