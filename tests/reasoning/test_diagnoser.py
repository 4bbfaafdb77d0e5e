"""Diagnoser on the tiny KG: training, ranking, explanations checked against the KG, safe drugs."""

from __future__ import annotations

import json

import pytest
import torch

from kgdx.errors import DataError
from kgdx.ingest.case import Finding, PatientCase
from kgdx.kg.memory_store import MemoryStore
from kgdx.kg.records import Edge
from kgdx.reasoning.checkpoint import load_checkpoint
from kgdx.reasoning.diagnoser import Diagnoser
from kgdx.reasoning.train import TrainConfig, train


@pytest.fixture(scope="module")
def dx(tiny_store, tiny_trained):
    out, _ = tiny_trained
    model, _ = load_checkpoint(out / "best.pt")
    return Diagnoser(tiny_store, model)


def covid_case(**kw) -> PatientCase:
    return PatientCase(
        "p1",
        observed=[Finding("HP:0025179"), Finding("HP:0001945"), Finding("HP:0012735")],
        excluded=[Finding("HP:0002202")],
        **kw,
    )


def test_training_writes_checkpoints_and_curves(tiny_trained):
    out, summary = tiny_trained
    assert (out / "best.pt").is_file() and (out / "last.pt").is_file()
    assert (out / "learning_curves.png").stat().st_size > 1000
    hist = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    assert [h["step"] for h in hist] == [30, 60] and summary["best_val_top1"] > 0.5
    _, info = load_checkpoint(out / "best.pt")
    assert info["train_config"]["steps"] == 60


def test_training_is_reproducible(tiny_store, tmp_path):
    cfg = TrainConfig(steps=8, batch_size=4, eval_every=8, val_cases=8, warmup=2, seed=5)
    train(tiny_store, cfg, tmp_path / "a", progress=False)
    train(tiny_store, cfg, tmp_path / "b", progress=False)
    a, _ = load_checkpoint(tmp_path / "a" / "last.pt")
    b, _ = load_checkpoint(tmp_path / "b" / "last.pt")
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_resume(tiny_store, tmp_path):
    cfg = TrainConfig(steps=8, batch_size=4, eval_every=4, val_cases=8, warmup=2)
    train(tiny_store, cfg, tmp_path, progress=False)
    cfg.steps = 12
    s = train(tiny_store, cfg, tmp_path, resume=True, progress=False)
    assert [h["step"] for h in s["history"]] == [4, 8, 12]


def test_rank_every_disease(dx):
    r = dx.rank(covid_case(), k=2)
    assert r.top[0].id == "MONDO:0100096" and len(r.top) == 2 and r.scores.shape == (4,)
    assert r.top[0].probability > r.top[1].probability
    assert r.to_dict()["diseases"][0]["name"] == "COVID-19"


def test_obsolete_and_unknown_ids(dx):
    case = PatientCase("p2", observed=[Finding("HP:0006520"), Finding("HP:9999999")])  # alt id of Pneumonia
    r = dx.rank(case)
    assert 0 in [len(r.observed) - 1]
    assert dx.index.phenotypes[r.observed[0]] == "HP:0002090"
    assert "HP:9999999" in r.case.unknown_ids and any("HP:9999999" in n for n in r.notes)
    with pytest.raises(DataError, match="no finding the KG knows"):
        dx.rank(PatientCase("p3", observed=[Finding("HP:9999998")]))


def test_labs_add_findings(dx):
    from kgdx.ingest.labs import LabResult

    case = covid_case(labs=[LabResult("LOINC:1988-5", 80.0, "mg/L", 0.0, 5.0, "CRP")])
    r = dx.rank(case)
    assert "HP:0011227" in [dx.index.phenotypes[t] for t in r.observed]
    assert any("adds HP:0011227" in n for n in r.notes)


def test_explanations_are_kg_paths(dx):
    r = dx.rank(covid_case(), k=3)
    e = dx.explain(r, top=2)
    assert e.validity == 1.0
    top = e.diseases[0]
    assert top.supports, "the top disease has supporting evidence"
    p = top.supports[0]
    assert p.nodes[0].id in {"HP:0025179", "HP:0001945", "HP:0012735"} and p.nodes[-1].id == "MONDO:0100096"
    assert p.edges[-1].type == "HAS_PHENOTYPE" and p.edges[-1].props["source"] == "kgdx test fixture"
    assert p.cypher.startswith("MATCH p = (n0:`Phenotype`") and "<-[:`HAS_PHENOTYPE`]-" in p.cypher
    assert all(store_has(dx.store, edge) for edge in e.cited_edges())
    text = e.to_text(cypher=True)
    assert "COVID-19 (MONDO:0100096)" in text and "MATCH p =" in text
    assert "```cypher" in e.to_markdown() and e.to_dict()["validity"] == 1.0


def store_has(store, edge) -> bool:
    return any(nb.edge.dst == edge.dst for nb in store.neighbours(edge.src, rel_types=[edge.type], direction="out"))


def test_drugs_respect_interactions(dx):
    r = dx.rank(covid_case(drugs=["DRUGBANK:DB00682"]), k=4)  # on warfarin
    removed = dx.suggest_drugs(r, safety="remove")
    assert "DRUGBANK:DB15661" not in [s.drug for s in removed]  # nirmatrelvir interacts with warfarin
    flagged = dx.suggest_drugs(r, safety="flag")
    nirm = next(s for s in flagged if s.drug == "DRUGBANK:DB15661")
    assert not nirm.safe and nirm.issues[0].kind == "interaction"
    assert "Warfarin" in nirm.issues[0].text and "INTERACTS_WITH" in nirm.issues[0].cypher
    assert nirm.treats[0]["disease"] == "MONDO:0100096"
    safe = dx.suggest_drugs(dx.rank(covid_case(), k=4))
    assert safe[0].drug == "DRUGBANK:DB15661" and safe[0].safe


def test_drugs_respect_contraindications(tiny_store, dx):
    store = MemoryStore(tiny_store.schema)
    store.write(
        [
            *tiny_store.iter_nodes(),
            *tiny_store.iter_edges(),
            Edge("CONTRAINDICATED_IN", "DRUGBANK:DB01211", "HP:0002086", {"source": "test", "severity": "relative"}),
        ]
    )
    d2 = Diagnoser(store, dx.model)
    case = PatientCase("p4", observed=[Finding("HP:0002090"), Finding("HP:0001945")])  # pneumonia, fever
    flagged = d2.suggest_drugs(d2.rank(case, k=4), safety="flag")
    clar = next(s for s in flagged if s.drug == "DRUGBANK:DB01211")
    assert clar.issues and clar.issues[0].kind == "contraindication"
    assert "HP:0002086" in clar.issues[0].text  # via Pneumonia IS_A … respiratory abnormality
    assert "DRUGBANK:DB01211" not in [s.drug for s in d2.suggest_drugs(d2.rank(case, k=4))]
    with pytest.raises(ValueError, match="safety"):
        d2.suggest_drugs(d2.rank(case), safety="maybe")


def test_gene_aware_mode(dx):
    case = PatientCase("p5", observed=[Finding("HP:0012735")], genes=["CFTR"])  # cough only: ambiguous
    plain = dx.rank(case, k=4)
    aware = dx.rank(case, k=4, use_genes=True)
    assert aware.top[0].id == "OMIM:219700"
    assert aware.scores[dx.index.disease_index["OMIM:219700"]] > plain.scores[dx.index.disease_index["OMIM:219700"]]
    gene_paths = [p for p in dx.explain(aware, top=1).diseases[0].supports if p.kind == "gene"]
    assert gene_paths and gene_paths[0].verified and gene_paths[0].edges[0].type == "ASSOCIATED_WITH"


def test_paths_never_revisit_a_node(dx):
    from kgdx.reasoning.explain import _without_loops

    # finding –IS_A→ parent ←IS_A– finding ←HAS_PHENOTYPE– disease: the detour is cut out.
    hops = [
        ("HP:4000004", "IS_A", "HP:4000001", True),
        ("HP:4000004", "IS_A", "HP:4000001", False),
        ("OMIM:619402", "HAS_PHENOTYPE", "HP:4000004", False),
    ]
    assert _without_loops(hops, "HP:4000004") == [hops[2]]
    assert _without_loops(hops[2:], "HP:4000004") == hops[2:]
    # Every path for every single-finding and pair case on the tiny KG: distinct nodes, verified.
    ids = dx.index.phenotypes
    checked = 0
    for i, a in enumerate(ids):
        for b in ids[i : i + 3]:
            case = PatientCase("q", observed=[Finding(a), Finding(b)] if a != b else [Finding(a)])
            for d in dx.explain(dx.rank(case, k=4), top=4).diseases:
                for p in d.paths:
                    node_ids = [n.id for n in p.nodes]
                    assert len(node_ids) == len(set(node_ids)), node_ids
                    assert p.verified, p.text()
                    checked += 1
    assert checked > 20


def test_a_finding_and_its_parent_with_equal_specificity_give_a_direct_path(tiny_store, dx):
    """The default KG's HP:4000004 and its parent HP:4000001 are each annotated to one disease, so
    they tie on information content; the path must still be finding ←HAS_PHENOTYPE– disease, not
    finding –IS_A→ parent ←IS_A– finding ←HAS_PHENOTYPE– disease (whose Cypher matches nothing)."""
    from kgdx.kg.records import Node

    src = {"source": "test"}
    store = MemoryStore(tiny_store.schema)
    store.write(
        [
            *tiny_store.iter_nodes(),
            *tiny_store.iter_edges(),
            Node("Phenotype", "HP:4000001", {"name": "parent"}),
            Node("Phenotype", "HP:4000004", {"name": "child"}),
            Node("Disease", "OMIM:619402", {"name": "rare"}),
            Edge("IS_A", "HP:4000001", "HP:0002086", src),
            Edge("IS_A", "HP:4000004", "HP:4000001", src),
            Edge("HAS_PHENOTYPE", "OMIM:619402", "HP:4000004", {**src, "frequency": 1.0}),
        ]
    )
    d2 = Diagnoser(store, dx.model)
    e = d2.explain(d2.rank(PatientCase("q", observed=[Finding("HP:4000004")]), k=3), top=3)
    path = next(p for d in e.diseases if d.disease.id == "OMIM:619402" for p in d.supports)
    assert [n.id for n in path.nodes] == ["HP:4000004", "OMIM:619402"] and path.verified
