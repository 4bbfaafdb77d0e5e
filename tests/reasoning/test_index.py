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


def _same(a, b) -> None:
    assert a.phenotypes == b.phenotypes and a.diseases == b.diseases and a.members == b.members
    assert a.disease_names == b.disease_names and a.disease_genes == b.disease_genes and a.parents == b.parents
    np.testing.assert_array_equal(a.ic, b.ic)
    np.testing.assert_array_equal(a.background, b.background)
    for name in ("ancestors", "profile", "annotations", "excludes"):
        x, y = getattr(a, name), getattr(b, name)
        assert type(x) is type(y) and x.shape == y.shape and (x != y).nnz == 0


def test_save_and_load_give_the_same_index(tiny_index, tmp_path):
    from kgdx.reasoning.index import KGIndex

    _same(tiny_index, KGIndex.load(tiny_index.save(tmp_path / "ix.npz")))


def test_the_index_is_cached_beside_its_snapshot_and_never_stale(tiny_store, tiny_index, tmp_path):
    from kgdx.kg.records import Node
    from kgdx.kg.snapshot import load_snapshot, save_snapshot
    from kgdx.reasoning.index import KGIndex

    folder = save_snapshot(tiny_store, tmp_path / "kg")
    store = load_snapshot(folder, validate=False)
    assert store.snapshot_path == folder.resolve()
    first = KGIndex.for_store(store)
    cached = list((folder / "cache").glob("index-*.npz"))
    assert len(cached) == 1
    _same(first, tiny_index)
    _same(KGIndex.for_store(load_snapshot(folder, validate=False)), tiny_index)  # read back from the cache

    # A store changed after loading is indexed afresh, never from the cache of what was loaded.
    store.write([Node("Phenotype", "HP:9999999", {"name": "A new finding"})])
    assert store.snapshot_path is None
    assert "HP:9999999" in KGIndex.for_store(store).phenotype_index

    # A rewritten snapshot gets a new cache, and the old one goes.
    save_snapshot(store, folder)
    again = KGIndex.for_store(load_snapshot(folder, validate=False))
    assert "HP:9999999" in again.phenotype_index
    assert [p.name for p in (folder / "cache").glob("index-*.npz")] != [p.name for p in cached]
