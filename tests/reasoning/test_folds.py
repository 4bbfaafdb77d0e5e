"""Cohort folds for out-of-fold calibration: fold 0 is the old hold-out, the folds split every cohort once."""

from __future__ import annotations

import hashlib

import pytest

from kgdx.reasoning.train import TrainConfig, held_out_by, held_out_cohort

NAMES = [f"cohort{i}" for i in range(2000)] + ["ABCA4", "FBN1", "SCN1A"]


def _old_rule(cohort: str, share: float, seed: int = 0) -> bool:
    """``held_out_cohort`` before folds existed (the shipped checkpoint's ``--holdout 0.2``)."""
    h = int.from_bytes(hashlib.sha256(f"{seed}:{cohort}".encode()).digest()[:8], "big")
    return h / 2**64 < share


@pytest.mark.parametrize("seed", [0, 3])
def test_fold_0_is_the_old_hold_out(seed):
    for share in (0.2, 0.25, 0.5):
        assert [held_out_cohort(c, share, seed, 0) for c in NAMES] == [_old_rule(c, share, seed) for c in NAMES]
        assert [held_out_cohort(c, share, seed) for c in NAMES] == [_old_rule(c, share, seed) for c in NAMES]


@pytest.mark.parametrize("k", [2, 4, 5])
def test_k_folds_hold_out_every_cohort_exactly_once(k):
    counts = [sum(held_out_cohort(c, 1 / k, 0, fold) for fold in range(k)) for c in NAMES]
    assert set(counts) == {1}
    sizes = [sum(held_out_cohort(c, 1 / k, 0, fold) for c in NAMES) for fold in range(k)]
    assert all(abs(s - len(NAMES) / k) < 0.15 * len(NAMES) / k for s in sizes)
    assert not any(held_out_cohort(c, 1 / k, 0, k) for c in NAMES)  # no fold past the last


def test_a_checkpoints_train_config_says_which_cohorts_it_held_out():
    assert TrainConfig().holdout == 0.2 and TrainConfig().holdout_fold == 0
    old = {"seed": 0}  # saved before holdout was recorded: --holdout 0.2, fold 0
    fold3 = {"seed": 0, "holdout": 0.2, "holdout_fold": 3}
    assert [held_out_by(old, c) for c in NAMES] == [_old_rule(c, 0.2) for c in NAMES]
    assert [held_out_by(fold3, c) for c in NAMES] == [held_out_cohort(c, 0.2, 0, 3) for c in NAMES]
