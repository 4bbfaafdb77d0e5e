"""Diagnoser on the tiny KG: training, ranking, explanations checked against the KG, safe drugs."""

from __future__ import annotations

import json

import pytest
import torch

from kgdx.errors import DataError
from kgdx.ingest.case import Finding, PatientCase
from kgdx.kg.memory_store import MemoryStore
from kgdx.kg.records import Edge, Node
from kgdx.reasoning.checkpoint import load_checkpoint
from kgdx.reasoning.diagnoser import Diagnoser
from kgdx.reasoning.index import KGIndex
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


def test_training_on_real_cases_chooses_on_held_out_ones_and_calibrates(tiny_store, tiny_index, tmp_path):
    from kgdx.reasoning.train import held_out_cohort

    t, d = tiny_index.phenotype_index, tiny_index.disease_index
    cf = ([t["HP:0002090"], t["HP:0012735"]], [], d["OMIM:219700"])
    covid = ([t["HP:0025179"], t["HP:0001945"]], [], d["MONDO:0100096"])
    unknown = ([t["HP:0012735"]], [], None)  # a case whose disease the KG lacks
    cfg = TrainConfig(steps=8, batch_size=4, eval_every=4, val_cases=8, warmup=2, real_rate=0.5)
    s = train(tiny_store, cfg, tmp_path, real_cases=[cf, covid] * 3, holdout_cases=[cf, covid, unknown], progress=False)
    assert all("holdout" in h for h in s["history"]) and s["best_val_top1"] == max(
        h["holdout"]["top1"] for h in s["history"]
    )
    cal = s["calibration"]
    assert cal["cases"] == 3 and cal["not_in_kg"] == 1 and cal["temperature"] > 0
    model, info = load_checkpoint(tmp_path / "best.pt")
    assert info["calibration"]["cases"] == 3
    assert (model.config.temperature, model.config.other_logit) == (cal["temperature"], cal["other_logit"])
    with pytest.raises(ValueError, match="real_rate"):
        train(tiny_store, cfg, tmp_path / "none", real_cases=[unknown], progress=False)
    # whole cohorts, stably: the same name is always on the same side
    assert {held_out_cohort("ABCA4", 0.2) for _ in range(3)} == {held_out_cohort("ABCA4", 0.2)}
    assert 0.1 < sum(held_out_cohort(f"c{i}", 0.2) for i in range(1000)) / 1000 < 0.3


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


def test_equivalent_ids_rank_as_one_disease(tiny_store, dx):
    """An Orphanet twin of cystic fibrosis, joined by EQUIVALENT_TO: one ranked entity (OMIM id
    first) with pooled annotations; every id finds it; paths and treatments use the member id
    whose edge it is."""
    from kgdx.kg.records import Node

    src = {"source": "test"}
    store = MemoryStore(tiny_store.schema)
    store.write(
        [
            *tiny_store.iter_nodes(),
            *tiny_store.iter_edges(),
            Node("Disease", "ORPHA:586", {"name": "Cystic fibrosis (Orphanet)"}),
            Edge("EQUIVALENT_TO", "ORPHA:586", "OMIM:219700", {**src, "via": "MONDO:0009061"}),
            Edge("HAS_PHENOTYPE", "ORPHA:586", "HP:0002094", {**src, "frequency": 0.9}),
            Edge("TREATS", "DRUGBANK:DB00277", "ORPHA:586", {**src, "line": 1}),
        ]
    )
    d2 = Diagnoser(store, dx.model)
    ix = d2.index
    assert ix.num_diseases == 4 and ix.members[ix.disease_index["ORPHA:586"]] == ("OMIM:219700", "ORPHA:586")
    case = PatientCase("cf", observed=[Finding("HP:0012735"), Finding("HP:0002094"), Finding("HP:0002090")])
    r = d2.rank(case, k=4)
    ids = [d.id for d in r.top]
    assert "ORPHA:586" not in ids and len(set(ids)) == 4
    cf = next(d for d in r.top if d.id == "OMIM:219700")
    assert cf.members == ("OMIM:219700", "ORPHA:586") and "also ORPHA:586" in cf.label
    assert r.rank_of("ORPHA:586") == r.rank_of("OMIM:219700") is not None
    # Dyspnea is annotated only on the Orphanet id: its path ends there, and is verified.
    e = d2.explain(r, top=4)
    cf_paths = next(d for d in e.diseases if d.disease.id == "OMIM:219700").supports
    dyspnea = next(p for p in cf_paths if p.nodes[0].id == "HP:0002094")
    assert dyspnea.nodes[-1].id == "ORPHA:586" and dyspnea.verified and e.validity == 1.0
    theo = next(s for s in d2.suggest_drugs(r, k=10, safety="flag") if s.drug == "DRUGBANK:DB00277")
    assert theo.treats[0]["disease"] == "ORPHA:586"
    # Without the merge (the v1 view) the twin is its own row.
    assert KGIndex.from_store(store, merge_equivalents=False).num_diseases == 5


def _with_module_safety(tiny_store, extra_edges):
    """The tiny KG plus a module's CAN_INDUCE and RELIEVES relationship types and ``extra_edges``."""
    from kgdx.kg.schema import Schema

    module = Schema.from_dict(
        {
            "name": "safety-test",
            "version": "1",
            "relationship_types": {
                "CAN_INDUCE": {"source": ["Drug"], "target": ["Disease"], "properties": {"note": {"type": "str"}}},
                "RELIEVES": {"source": ["Drug"], "target": ["Phenotype"], "properties": {"note": {"type": "str"}}},
                "AVOID_IN": {
                    "source": ["Drug"],
                    "target": ["PatientGroup"],
                    "properties": {"severity": {"type": "str", "required": True}, "reason": {"type": "str"}},
                },
            },
            "prefixes": {"TESTGROUP": "https://example.org/group/"},
            "node_types": {
                "PatientGroup": {
                    "id_prefixes": ["TESTGROUP"],
                    "id_pattern": "^TESTGROUP:[A-Z]+$",
                    "properties": {
                        "name": {"type": "str", "required": True},
                        "min_age": {"type": "float"},
                        "max_age": {"type": "float"},
                    },
                }
            },
        },
        partial=True,
    )
    store = MemoryStore(tiny_store.schema.merge(module))
    store.write([*tiny_store.iter_nodes(), *tiny_store.iter_edges(), *extra_edges])
    return store


def test_withdraw_a_current_drug_that_can_induce_the_leading_diagnosis(tiny_store, dx):
    # Clarithromycin (a pneumonia treatment here) "can induce" COVID-19 in this made-up KG.
    store = _with_module_safety(
        tiny_store, [Edge("CAN_INDUCE", "DRUGBANK:DB01211", "MONDO:0100096", {"source": "test", "note": "made up"})]
    )
    d2 = Diagnoser(store, dx.model)
    r = d2.rank(covid_case(drugs=["DRUGBANK:DB01211"]), k=4)
    assert r.top[0].id == "MONDO:0100096"
    out = d2.suggest_drugs(r, safety="flag")
    first = out[0]
    assert first.action == "withdraw" and first.drug == "DRUGBANK:DB01211" and not first.safe
    assert first.issues[0].kind == "can-induce" and "CAN_INDUCE" in first.issues[0].cypher
    assert first.to_dict()["action"] == "withdraw"
    assert "DRUGBANK:DB01211" not in [s.drug for s in out[1:]]  # never also suggested
    # Not taking it: nothing to withdraw.
    assert all(s.action == "start" for s in d2.suggest_drugs(d2.rank(covid_case(), k=4), safety="flag"))


def test_symptomatic_drugs_only_for_patients_with_the_symptom(tiny_store, dx):
    # Nirmatrelvir "relieves" only Fever (HP:0001945) in this made-up KG.
    store = _with_module_safety(tiny_store, [Edge("RELIEVES", "DRUGBANK:DB15661", "HP:0001945", {"source": "test"})])
    d2 = Diagnoser(store, dx.model)
    with_fever = d2.suggest_drugs(d2.rank(covid_case(), k=4))
    assert "DRUGBANK:DB15661" in [s.drug for s in with_fever]
    no_fever = PatientCase(
        "p9", observed=[Finding("HP:0025179"), Finding("HP:0012735")], excluded=[Finding("HP:0001945")]
    )
    assert "DRUGBANK:DB15661" not in [s.drug for s in d2.suggest_drugs(d2.rank(no_fever, k=4))]


def test_a_drug_to_avoid_at_the_patients_age_is_not_started(tiny_store, dx):
    # Nirmatrelvir is "to be avoided" from 65 in this made-up KG.
    group = Node("PatientGroup", "TESTGROUP:OLDER", {"name": "Older adult", "min_age": 65.0})
    rule = Edge("AVOID_IN", "DRUGBANK:DB15661", "TESTGROUP:OLDER", {"source": "test", "severity": "relative"})
    store = _with_module_safety(tiny_store, [group, rule])
    d2 = Diagnoser(store, dx.model)

    def suggested(age):  # noqa: ANN001, ANN202
        return {s.drug: s for s in d2.suggest_drugs(d2.rank(covid_case(age_years=age), k=4), safety="flag")}

    old = suggested(71.0)["DRUGBANK:DB15661"]
    assert not old.safe and old.issues[0].kind == "age" and "AVOID_IN" in old.issues[0].cypher
    assert "the patient is 71" in old.issues[0].text
    assert suggested(64.0)["DRUGBANK:DB15661"].safe
    assert suggested(None)["DRUGBANK:DB15661"].safe  # no age: no age rule applies
    removed = d2.suggest_drugs(d2.rank(covid_case(age_years=71.0), k=4))
    assert "DRUGBANK:DB15661" not in [s.drug for s in removed]
    # Already taken at 71: reviewed, not stopped unasked; at 50, nothing to say.
    taking = d2.suggest_drugs(d2.rank(covid_case(age_years=71.0, drugs=["DRUGBANK:DB15661"]), k=4))
    review = [s for s in taking if s.drug == "DRUGBANK:DB15661"]
    assert [s.action for s in review] == ["review"] and review[0].issues[0].kind == "age"
    young = d2.suggest_drugs(d2.rank(covid_case(age_years=50.0, drugs=["DRUGBANK:DB15661"]), k=4))
    assert "DRUGBANK:DB15661" not in [s.drug for s in young]


def test_two_interacting_current_drugs_are_flagged_for_review(dx):
    r = dx.rank(covid_case(drugs=["DRUGBANK:DB01211", "DRUGBANK:DB00682"]), k=4)  # clarithromycin + warfarin
    review = [s for s in dx.suggest_drugs(r, safety="flag") if s.action == "review"]
    assert len(review) == 1 and review[0].issues[0].kind == "interaction"
    assert "both current drugs" in review[0].issues[0].text and "INTERACTS_WITH" in review[0].issues[0].cypher


def test_withdraw_a_current_drug_when_the_patient_shows_a_core_finding_of_what_it_can_induce(tiny_store, dx):
    # Clarithromycin "can induce" cystic fibrosis in this made-up KG; CF ranks low for a COVID-19
    # patient, but its core finding Cough (frequency 0.9) is the patient's: withdraw and reassess.
    store = _with_module_safety(
        tiny_store, [Edge("CAN_INDUCE", "DRUGBANK:DB01211", "OMIM:219700", {"source": "test", "note": "made up"})]
    )
    d2 = Diagnoser(store, dx.model)
    r = d2.rank(covid_case(drugs=["DRUGBANK:DB01211"]), k=4)
    cf = next(d for d in r.top if d.id == "OMIM:219700")
    assert cf.rank > 1 and cf.probability < 0.25
    withdraw = [s for s in d2.suggest_drugs(r, safety="flag") if s.action == "withdraw"]
    assert [s.drug for s in withdraw] == ["DRUGBANK:DB01211"]
    issue = withdraw[0].issues[0]
    assert issue.kind == "can-induce" and "core finding Cough" in issue.text
    assert "CAN_INDUCE" in issue.cypher and "HAS_PHENOTYPE" in issue.cypher
    # Findings below the core frequency (Fever 0.7 is not CF's) or put there by a drug do not count.
    no_cough = PatientCase("p2", observed=[Finding("HP:0025179"), Finding("HP:0001945")], drugs=["DRUGBANK:DB01211"])
    exposure = PatientCase(
        "p3", observed=[Finding("HP:0025179"), Finding("HP:0012735", origin="drug")], drugs=["DRUGBANK:DB01211"]
    )
    for case in (no_cough, exposure):
        r = d2.rank(case, k=4)
        assert r.top[0].id != "OMIM:219700" and all(d.probability < 0.25 for d in r.top if d.id == "OMIM:219700")
        assert not [s for s in d2.suggest_drugs(r, safety="flag") if s.action == "withdraw"]


def test_of_two_contraindicated_current_drugs_the_one_that_treats_nothing_is_stopped(tiny_store, dx):
    # Nirmatrelvir treats COVID-19 (the leading diagnosis); theophylline treats nothing here. A
    # made-up contraindicated pair: keep the treatment, withdraw theophylline, citing both edges.
    pair = Edge(
        "INTERACTS_WITH",
        "DRUGBANK:DB15661",
        "DRUGBANK:DB00277",
        {"source": "test", "severity": "contraindicated", "mechanism": "made up"},
    )
    d2 = Diagnoser(_with_module_safety(tiny_store, [pair]), dx.model)
    r = d2.rank(covid_case(drugs=["DRUGBANK:DB15661", "DRUGBANK:DB00277"]), k=4)
    assert r.top[0].id == "MONDO:0100096"
    acted = [s for s in d2.suggest_drugs(r, safety="flag") if s.action != "start"]
    assert [(s.action, s.drug) for s in acted] == [("withdraw", "DRUGBANK:DB00277")]
    issue = acted[0].issues[0]
    assert [e.type for e in issue.edges] == ["INTERACTS_WITH", "TREATS"]
    assert "so stop theophylline" in issue.text.lower() and "a likely diagnosis" in issue.text
    assert issue.cypher.count("-[:`") == 2 and "MONDO:0100096" in issue.cypher
    # Only a contraindicated pair is resolved this way: the same pair as "major" stays a review.
    major = Edge(pair.type, pair.src, pair.dst, {**pair.props, "severity": "major"})
    d3 = Diagnoser(_with_module_safety(tiny_store, [major]), dx.model)
    r3 = d3.rank(covid_case(drugs=["DRUGBANK:DB15661", "DRUGBANK:DB00277"]), k=4)
    assert [s.action for s in d3.suggest_drugs(r3, safety="flag") if s.action != "start"] == ["review"]
