"""Simulated cases follow the KG and are reproducible by seed."""

from __future__ import annotations

from kgdx.reasoning.simulate import CaseSimulator, SimulationConfig


def test_cases_follow_the_kg(tiny_index):
    sim = CaseSimulator(tiny_index, SimulationConfig(noise_terms=0, noise_excluded=0, imprecision=0), seed=1)
    ann = tiny_index.annotations
    for _ in range(50):
        c = sim.sample()
        own = set(ann.indices[ann.indptr[c.disease] : ann.indptr[c.disease + 1]].tolist())
        assert c.observed and set(c.observed) <= own
        assert not set(c.observed) & set(c.excluded)


def test_same_seed_same_cases(tiny_index):
    a = [CaseSimulator(tiny_index, seed=3).sample() for _ in range(1)]
    s1, s2 = CaseSimulator(tiny_index, seed=3), CaseSimulator(tiny_index, seed=3)
    assert [s1.sample() for _ in range(20)] == [s2.sample() for _ in range(20)]
    assert a


def test_gene_aware_cases(tiny_index):
    sim = CaseSimulator(tiny_index, SimulationConfig(gene_rate=1.0), seed=0)
    cf = tiny_index.disease_index["OMIM:219700"]
    c = sim.sample(cf)
    assert c.gene_diseases == [cf]
