"""Fixtures of the encoder tests: tiny phantoms, the offline text encoder, a small vocabulary."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from kgdx.kg.records import Node

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def text_encoder():
    from kgdx.encoders.text import TextEncoder

    return TextEncoder()


@pytest.fixture(scope="session")
def chest_vocab() -> list[Node]:
    """A dozen HPO terms (ids as in HPO) with a few synonyms, chest and neurology mixed."""
    rows = [
        ("HP:0002202", "Pleural effusion", []),
        ("HP:0002107", "Pneumothorax", []),
        ("HP:0033608", "Pulmonary nodule", ["Lung nodule"]),
        ("HP:0025179", "Ground-glass opacification", []),
        ("HP:0032177", "Parenchymal consolidation", ["Consolidation"]),
        ("HP:0002097", "Emphysema", []),
        ("HP:0002110", "Bronchiectasis", []),
        ("HP:0012735", "Cough", []),
        ("HP:0001945", "Fever", []),
        ("HP:0002094", "Dyspnea", ["Shortness of breath"]),
        ("HP:0002322", "Resting tremor", []),
        ("HP:0002067", "Bradykinesia", []),
        ("HP:0006536", "Chronic obstructive pulmonary disease", ["COPD"]),
    ]
    return [Node("Phenotype", i, {"name": n, **({"synonyms": s} if s else {})}) for i, n, s in rows]


@pytest.fixture
def phantom():
    from kgdx.encoders.testing import make_phantom

    return make_phantom((12, 40, 48), seed=3, nodule=True, effusion=True, emphysema=False)


@pytest.fixture
def synth_manifest(tmp_path: Path) -> Path:
    from kgdx.encoders.testing import write_pretrain_manifest

    return write_pretrain_manifest(tmp_path / "synth", 6, shape=(10, 32, 32))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
