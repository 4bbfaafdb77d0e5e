"""Patients are drawn from the KG: frequencies, INDICATES-driven labs, mimics, and safety-filtered treatments."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kgdx.kg.module import load_module
from kgdx.kg.records import Node
from kgdx.synth.config import SynthConfig
from kgdx.synth.kg_source import load_kg_source
from kgdx.synth.labs import lab_direction
from kgdx.synth.patient import PatientSampler, case_rngs

BACTERIAL, VIRAL, COVID, PE = "MONDO:0004652", "MONDO:0006012", "MONDO:0100096", "MONDO:0005279"
PCT, LYMPH, DDIMER = "LOINC:33959-8", "LOINC:731-0", "LOINC:48065-7"


@pytest.fixture(scope="module")
def kg():
    return load_kg_source("respiratory")


def _patients(kg, n: int, **difficulty):
    weights = difficulty.pop("weights", None)
    cfg = SynthConfig.parse({"difficulty": difficulty, "disease_weights": weights})
    s = PatientSampler(kg, cfg)
    return s, [s.sample(i, case_rngs(0, i)["patient"]) for i in range(n)]


def test_the_module_is_the_source(kg) -> None:
    mod = load_module(Path(__file__).parents[2] / "kg" / "modules" / "respiratory")
    nodes = [r for r in mod.records() if isinstance(r, Node)]
    diag = {n.id for n in nodes if n.type == "Disease" and n.props.get("category") == "respiratory"}
    assert set(kg.diseases) == diag and len(diag) == 24
    for n in nodes:
        if n.type == "LabTest":
            lab = kg.labs[n.id]
            assert (lab.unit, lab.ref_low, lab.ref_high) == (n.props["unit"], n.props["ref_low"], n.props["ref_high"])
    assert kg.name("HP:0002202") == "Pleural effusion"


def test_a_custom_module_drives_the_patients(tmp_path: Path) -> None:
    root = tmp_path / "toy"
    (root / "data").mkdir(parents=True)
    (root / "module.yaml").write_text("name: toy\nversion: '0.1'\ndata: [data/toy.yaml]\n")
    (root / "data" / "toy.yaml").write_text(
        "nodes:\n"
        "  - {type: Disease, id: 'KGDX:TOY_A', name: toy disease A, category: toy}\n"
        "  - {type: Disease, id: 'KGDX:TOY_B', name: toy disease B, category: toy}\n"
        "  - {type: LabTest, id: 'LOINC:33959-8', name: Procalcitonin, unit: ng/mL, ref_low: 0.0, ref_high: 0.1}\n"
        "edges:\n"
        "  - {type: HAS_PHENOTYPE, src: 'KGDX:TOY_A', dst: 'HP:0002202', frequency: 1.0, source: t}\n"
        "  - {type: HAS_PHENOTYPE, src: 'KGDX:TOY_A', dst: 'HP:0032308', frequency: 1.0, source: t}\n"
        "  - {type: HAS_PHENOTYPE, src: 'KGDX:TOY_B', dst: 'HP:0001945', frequency: 1.0, source: t}\n"
        "  - {type: INDICATES, src: 'LOINC:33959-8', dst: 'HP:0032308', direction: high, source: t}\n"
    )
    kg = load_kg_source(str(root))
    cfg = SynthConfig.parse(
        {
            "module": str(root),
            "difficulty": {
                "second_disease_rate": 0,
                "noise_symptoms": 0,
                "incidental_ct_findings": 0,
                "symptom_dropout": 0,
                "lab_false_abnormal_rate": 0,
                "lab_noise_cv": 0,
                "condition_rate": 0,
                "ct_ambiguity": 0,
            },
        }
    )
    s = PatientSampler(kg, cfg)
    for i in range(20):
        p = s.sample(i, case_rngs(1, i)["patient"])
        ((d, _),) = p.diseases
        pct = next(v for v in p.labs if v.loinc == PCT)
        if d == "KGDX:TOY_A":
            assert p.ct_findings == ["HP:0002202"] and pct.direction == "high"
        else:
            assert p.present("clinical") == ["HP:0001945"] and p.ct_findings == [] and pct.direction == "normal"


def test_labs_tell_apart_what_the_ct_cannot(kg) -> None:
    def rate(disease: str, loinc: str, direction: str) -> float:
        _, ps = _patients(kg, 120, weights={disease: 1.0}, lab_missing_rate=0)
        return float(np.mean([next(v for v in p.labs if v.loinc == loinc).direction == direction for p in ps]))

    assert rate(BACTERIAL, PCT, "high") > rate(VIRAL, PCT, "high") + 0.3
    assert rate(COVID, LYMPH, "low") > 0.6
    assert rate(PE, DDIMER, "high") > 0.6


def test_lab_values_and_lab_phenotypes_agree(kg) -> None:
    s, ps = _patients(kg, 60)
    for p in ps:
        shown = set()
        for v in p.labs:
            lab = kg.labs[v.loinc]
            assert v.direction == lab_direction(v.value, lab.ref_low, lab.ref_high)
            shown |= {hp for d, hp in lab.indicates if d == v.direction}
        assert set(p.present("lab")) == shown


def test_ct_mimic_merges_the_nearest_profile(kg) -> None:
    s, ps = _patients(kg, 40, ct_ambiguity=1.0)
    for p in ps:
        assert p.ct_mimic == s.mimic[p.diseases[0][0]] != p.diseases[0][0]
    _, none = _patients(kg, 20, ct_ambiguity=0.0)
    assert all(p.ct_mimic is None for p in none)
    assert s.mimic[COVID] in (VIRAL, BACTERIAL, "MONDO:0019121")  # a pneumonia, by CT profile


def test_no_two_diseases_share_a_specific_parent(kg) -> None:
    s, ps = _patients(kg, 200, second_disease_rate=1.0)
    assert all(len(p.diseases) == 2 for p in ps)
    pneumonia = "MONDO:0005249"
    for p in ps:
        a, b = (d for d, _ in p.diseases)
        assert not (pneumonia in kg.ancestors(a) and pneumonia in kg.ancestors(b))


def test_treatments_honour_the_kg_safety_edges(kg) -> None:
    _, ps = _patients(kg, 200, unsafe_drug_rate=1.0, condition_rate=1.0)
    flagged = 0
    for p in ps:
        dis = {d for d, _ in p.diseases}
        conditions = dis | set(p.present())
        current = {d.id for d in p.drugs.current}
        treats = {(t.drug, t.disease) for t in kg.treatments}
        for t in p.drugs.treatments:
            assert (t["drug"], t["disease"]) in treats and t["disease"] in dis
            hard = {"absolute", "contraindicated"} if t["cautions"] else {"absolute", "relative"}
            assert not any(c.target in conditions and c.severity in hard for c in kg.contraindications_of(t["drug"]))
            for o in current - {t["drug"]}:
                it = kg.interaction(t["drug"], o)
                assert it is None or it.severity not in (hard | ({"major"} if not t["cautions"] else set()))
        for d in dis - {t["disease"] for t in p.drugs.treatments}:  # untreated only if every drug is ruled out
            assert all(
                any(c.target in conditions and c.severity == "absolute" for c in kg.contraindications_of(t.drug))
                or any(
                    kg.interaction(t.drug, o) is not None and kg.interaction(t.drug, o).severity == "contraindicated"
                    for o in current
                )
                for t in kg.treatments_for(d)
            ), (p.id, d)
        for w in p.drugs.withheld:
            assert w["reasons"]
        for d in p.drugs.current:
            for f in d.flags:
                if f.kind == "contraindicated_in":
                    assert f.other in conditions
                else:
                    assert kg.interaction(d.id, f.other) is not None
        flagged += any(d.flags for d in p.drugs.current)
    assert flagged > 0.8 * len(ps)


def test_severity_and_definitional_findings(kg) -> None:
    _, ps = _patients(kg, 60, weights={"MONDO:0002037": 1.0}, ct_finding_dropout=1.0)
    assert all("HP:0002202" in p.ct_findings for p in ps)  # a pleural effusion patient always shows it
    assert all(0 <= p.severity <= 1 for p in ps)
