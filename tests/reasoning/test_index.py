"""KGIndex: the hierarchy closure and disease profiles the reasoning reads."""

from __future__ import annotations

import numpy as np
import pytest


def test_closure_and_profiles(tiny_index):
    ix = tiny_index
    pneumonia = ix.phenotype_index["HP:0002090"]
    anc = {ix.phenotypes[a] for a in ix.ancestors_of(pneumonia)}
    assert anc == {"HP:0002090", "HP:0002088", "HP:0002086", "HP:0000118"}
    cf = ix.disease_index["OMIM:219700"]
    rows, freq = ix.rows_reaching(ix.phenotype_index["HP:0002088"])  # abnormal lung morphology
    got = dict(zip(rows.tolist(), freq.tolist()))
    assert got[cf] == pytest.approx(0.6)  # through its Pneumonia annotation, propagated up
    assert got[ix.disease_index["MONDO:0100096"]] == pytest.approx(0.8)  # COVID: ground-glass (0.8) is the higher
    assert ix.excludes[cf, ix.phenotype_index["HP:0002105"]] == 1
    assert ix.disease_genes["CFTR"] == [cf]
    assert ix.annotations.shape == (4, 11) and ix.profile.shape == (4, 11)
    assert np.all(ix.ic >= 0) and ix.ic[ix.phenotype_index["HP:0000118"]] == ix.ic.min()
