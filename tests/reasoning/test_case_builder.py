"""Cases built by the CaseBuilder: CT-head findings, report and note linking, labs, embeddings;
the CT finding head trained on a tiny cohort and read back through KGDX_CT_MODEL and
``kgdx diagnose --ct``."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

pytest.importorskip("nibabel")

from kgdx.encoders.ct_findings import CT_FINDING_IDS
from kgdx.errors import ConfigError, DataError
from kgdx.ingest.case import Finding, PatientCase
from kgdx.ingest.labs import LabResult
from kgdx.ingest.volume import Volume
from kgdx.reasoning.case_builder import CaseBuilder, add_ct_findings, add_labs, report_for_linking
from kgdx.reasoning.checkpoint import load_checkpoint
from kgdx.reasoning.diagnoser import Diagnoser
from kgdx.settings import get_settings

GGO, EFFUSION, PNEUMONIA, COUGH, FEVER, HEMOPTYSIS, CRP_HIGH = (
    "HP:0025179",
    "HP:0002202",
    "HP:0002090",
    "HP:0012735",
    "HP:0001945",
    "HP:0002105",
    "HP:0011227",
)
REPORT = (
    "CLINICAL INDICATION: Fever.\n\nFINDINGS: Ground glass opacity in both lungs. No hemoptysis.\n\n"
    "IMPRESSION: Possible pneumonia."
)

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def dx(tiny_store, tiny_trained):
    model, _ = load_checkpoint(tiny_trained[0] / "best.pt")
    return Diagnoser(tiny_store, model)


@pytest.fixture(scope="module")
def biased_ct(tmp_path_factory):
    """A ct-tiny checkpoint whose head ignores the image: GGO 0.9, pleural effusion 0.7, the rest ~0."""
    from kgdx.encoders import create_encoder, save_checkpoint

    enc = create_encoder("ct-tiny")
    last = enc.finding_head.net[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.fill_(-6.0)
        last.bias[CT_FINDING_IDS.index(GGO)] = math.log(0.9 / 0.1)
        last.bias[CT_FINDING_IDS.index(EFFUSION)] = math.log(0.7 / 0.3)
    return save_checkpoint(enc, tmp_path_factory.mktemp("ct") / "biased.pt")


def air(z: int = 8) -> Volume:
    return Volume(np.full((z, 32, 32), -1000, np.float32), spacing=(5.0, 5.0, 5.0))


def crp_case() -> PatientCase:
    return PatientCase("p", observed=[Finding(COUGH)], labs=[LabResult("LOINC:1988-5", 80.0, "mg/L", 0.0, 5.0, "CRP")])


def test_builder_fills_findings_with_origins_and_probabilities(dx, biased_ct):
    built = CaseBuilder(dx, ct_model=biased_ct).build(crp_case(), ct=air(), report=REPORT)
    obs = {(f.id, f.origin): f.probability for f in built.observed}
    assert obs[(COUGH, "phenopacket")] == 1.0
    assert obs[(GGO, "report")] == 0.99 and (GGO, "ct") not in obs  # a synonym match; the CT does not duplicate it
    assert obs[(PNEUMONIA, "report")] == 0.5  # hedged: half weight
    assert obs[(EFFUSION, "ct")] == pytest.approx(0.7, abs=1e-4)  # the head's output is the edge weight
    assert FEVER not in {f.id for f in built.observed}  # the indication is not a finding
    assert [(f.id, f.origin) for f in built.excluded] == [(HEMOPTYSIS, "report")]
    probs = built.extra["ct_probabilities"]
    assert probs[GGO] == pytest.approx(0.9, abs=1e-4) and len(probs) == 16
    assert probs[EFFUSION] == pytest.approx(0.7, abs=1e-4)
    assert built.texts["report"] == REPORT
    # Labs: the Diagnoser maps the high CRP through INDICATES when it ranks.
    r = dx.rank(built, k=2)
    labs = [f for f in r.case.observed if f.origin == "labs"]
    assert [(f.id, f.probability) for f in labs] == [(CRP_HIGH, 0.9)]
    assert r.top[0].id in dx.index.diseases


def test_all_report_sections_and_notes(dx, biased_ct):
    builder = CaseBuilder(dx, ct_model=biased_ct, report_sections=None)
    built = builder.build(PatientCase("q"), report=REPORT, note="Three days of fever and shortness of breath.")
    obs = {(f.id, f.origin) for f in built.observed}
    assert (FEVER, "report") in obs and ("HP:0002094", "note") in obs
    assert "ct_probabilities" not in built.extra and built.texts["note"].startswith("Three days")


def test_request_ids_and_text_never_read_as_a_file(dx, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("Ground glass opacity.")
    built = CaseBuilder(dx).build(observed=[GGO], excluded=[FEVER], drugs=["DRUGBANK:DB00682"], note=str(secret))
    assert [(f.id, f.origin) for f in built.observed] == [(GGO, "request")]  # the path is text, linked to nothing
    assert built.files == {} and built.drugs == ["DRUGBANK:DB00682"]
    from_file = CaseBuilder(dx).build(note=secret)
    assert from_file.id == "secret" and from_file.files["note"] == str(secret)
    assert [(f.id, f.origin) for f in from_file.observed] == [(GGO, "note")]


def test_modifiers_are_not_findings(tiny_store, tiny_trained, monkeypatch):
    """HPO modifiers ("Axial") are not phenotypic abnormalities: they never become findings."""
    from kgdx.encoders.linking import ConceptLinker
    from kgdx.kg.memory_store import MemoryStore
    from kgdx.kg.records import Edge, Node
    from kgdx.kg.testing import tiny_kg_records

    store = MemoryStore(tiny_store.schema)
    store.write(
        [
            *tiny_kg_records(),
            Node("Phenotype", "HP:0012823", {"name": "Clinical modifier"}),
            Node("Phenotype", "HP:0025287", {"name": "Axial"}),
            Edge("IS_A", "HP:0025287", "HP:0012823", {"source": "test"}),
        ]
    )
    model, _ = load_checkpoint(tiny_trained[0] / "best.pt")
    dx = Diagnoser(store, model)
    text = "FINDINGS: Axial ground glass opacity."
    assert [f.id for f in CaseBuilder(dx).build(report=text).observed] == [GGO]
    # Even with a linker whose vocabulary holds every phenotype, the builder keeps findings only.
    everything = ConceptLinker(store.iter_nodes("Phenotype"))
    assert "HP:0025287" in {m.concept_id for m in everything.link(text)}
    builder = CaseBuilder(dx)
    builder._linker = everything
    assert [f.id for f in builder.build(report=text).observed] == [GGO]


def test_embeddings(dx, biased_ct):
    builder = CaseBuilder(dx, ct_model=biased_ct)
    a, b = builder.build_many([crp_case(), PatientCase("empty")], cts=[air(), None], reports=[REPORT, None], embed=True)
    assert a.embeddings["ct"].shape == (64,) and a.embeddings["report"].shape == (384,)
    assert np.linalg.norm(a.embeddings["report"]) == pytest.approx(1.0, abs=1e-5)
    assert b.embeddings == {}
    assert builder.build(crp_case(), ct=air()).embeddings.keys() == {"ct"}  # the CT embedding is always kept


def test_helpers(tmp_path):
    case = PatientCase("c", observed=[Finding(GGO, origin="report")])
    added = add_ct_findings(case, {GGO: 0.95, EFFUSION: 0.6, PNEUMONIA: 0.01, COUGH: 0.3}, exclude_below=0.05)
    assert [(f.id, f.origin) for f in added] == [(EFFUSION, "ct"), (PNEUMONIA, "ct")]
    assert [(f.id, round(f.probability, 2)) for f in case.excluded] == [(PNEUMONIA, 0.99)]
    with pytest.raises(ValueError, match="'exclude_below' must be in"):
        add_ct_findings(case, {}, threshold=0.5, exclude_below=0.6)

    table = tmp_path / "labs.csv"
    table.write_text("loinc,value,unit,ref_low,ref_high\n1988-5,12,mg/L,0,5\n2345-7,,mg/dL,70,99\n")
    added = add_labs(case, table)
    assert [(x.loinc, x.value) for x in added] == [("LOINC:1988-5", 12.0)]

    assert (
        report_for_linking(REPORT) == "FINDINGS:\nGround glass opacity in both lungs. No hemoptysis.\n\n"
        "IMPRESSION:\nPossible pneumonia."
    )
    assert report_for_linking("No headings here.") == "No headings here."
    assert report_for_linking(REPORT, None) == REPORT


def test_errors(dx, monkeypatch, tmp_path):
    monkeypatch.delenv("KGDX_CT_MODEL", raising=False)
    get_settings.cache_clear()
    with pytest.raises(ConfigError, match="KGDX_CT_MODEL .*'ct-tiny-phantom', trained on synthetic phantoms only"):
        CaseBuilder(dx).build(ct=air())
    # The shipped phantom-trained head is found by name, and scores a volume.
    probs = CaseBuilder(dx, ct_model="ct-tiny-phantom").add_ct(PatientCase("p"), air())
    assert len(probs) == 16 and all(0.0 <= p <= 1.0 for p in probs.values())
    from kgdx.encoders import create_encoder, save_checkpoint

    no_head = save_checkpoint(create_encoder("ct-tiny", finding_head=False), tmp_path / "nohead.pt")
    with pytest.raises(ConfigError, match="no finding head"):
        CaseBuilder(dx, ct_model=no_head).build(ct=air())
    with pytest.raises(DataError, match="cannot read the report"):
        CaseBuilder(dx).build(report=tmp_path / "missing.txt")
    with pytest.raises(DataError, match="the note is empty"):
        CaseBuilder(dx).build(note="  ")
    with pytest.raises(ValueError, match="'ct_threshold'"):
        CaseBuilder(dx, ct_threshold=1.5)
    with pytest.raises(ValueError, match="'cts' has 1 entries for 2 cases"):
        CaseBuilder(dx).build_many([None, None], cts=[air()])


# -- the CT finding head, trained on a tiny cohort ---------------------------------------------------


@pytest.fixture(scope="module")
def tiny_cohort(tmp_path_factory):
    from kgdx.ingest.cohort import read_cohort
    from kgdx.synth import SynthConfig, generate_cohort

    out = tmp_path_factory.mktemp("cohort") / "c"
    cfg = SynthConfig.parse(
        {
            "volume": {"shape": [16, 32, 32]},
            "splits": {"train": 0.5, "validation": 0.25, "test": 0.25, "held_out_diseases": []},
        }
    )
    generate_cohort(out, 6, seed=3, cfg=cfg, workers=1)  # seed 3: two cases in each split
    return read_cohort(out)


@pytest.fixture(scope="module")
def ct_head(tiny_cohort, tmp_path_factory):
    from kgdx.encoders.train_ct_head import CTHeadConfig, train_ct_head

    torch.manual_seed(0)
    cfg = CTHeadConfig(epochs=1, head_epochs=2, batch_size=2, patience=2)
    return train_ct_head(tiny_cohort, tmp_path_factory.mktemp("head") / "ct-head.pt", cfg, progress=False)


def test_ct_head_training_writes_a_loadable_checkpoint(tiny_cohort, ct_head):
    from kgdx.encoders.factory import load_checkpoint as load_encoder
    from kgdx.encoders.train_ct_head import finding_targets, predict, preprocess_cohort

    assert [h["stage"] for h in ct_head["history"]] == [1, 2, 2] and ct_head["dense"] is True
    assert ct_head["train_cases"] == 2 and set(ct_head["validation"]["per_finding"]) == set(CT_FINDING_IDS)
    assert "test" in ct_head and len(ct_head["calibration"]["scale"]) == 16
    loaded = load_encoder(ct_head["path"])
    assert loaded.findings == CT_FINDING_IDS
    x = preprocess_cohort(tiny_cohort, tiny_cohort.ids("test"), loaded.cfg.preprocess)
    np.testing.assert_allclose(predict(loaded, x)[1], predict(ct_head["encoder"], x)[1], atol=1e-6)
    meta = torch.load(ct_head["path"], weights_only=False)["meta"]
    assert meta["cohort_seed"] == 3 and "train split only" in meta["labels"]
    rec = tiny_cohort.labels[tiny_cohort.ids("train")[0]]
    shown = {f["id"] for f in rec["ct_findings"] if f["present"] and f["drawn"]}
    assert {h for h, v in zip(CT_FINDING_IDS, finding_targets(rec, CT_FINDING_IDS)) if v} == shown


def test_ct_head_trains_its_lesion_detector_and_refuses_a_cohort_without_masks(tiny_cohort, ct_head, tmp_path):
    """ct-tiny has a lesion detector: training fits it (stage 3) and saves it with its stacking;
    a cohort with no lesion masks to learn it from is refused before any training."""
    import shutil

    from kgdx.encoders.train_ct_head import train_ct_head
    from kgdx.ingest.cohort import read_cohort

    head = ct_head["encoder"].finding_head
    assert head.detector is not None and len(ct_head["detector"]["stack_weight"]) == len(CT_FINDING_IDS)
    torch.testing.assert_close(
        head.stack_weight.detach(), torch.tensor(ct_head["detector"]["stack_weight"]), atol=1e-4, rtol=0
    )
    bare = tmp_path / "bare"
    shutil.copytree(tiny_cohort.root, bare)
    manifest = json.loads((bare / "manifest.json").read_text())
    manifest.pop("mask_labels")
    (bare / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(DataError, match="lesion detector .* learns from lesion masks, and the cohort has none"):
        train_ct_head(read_cohort(bare), tmp_path / "x.pt", progress=False)


def test_ct_head_through_kgdx_ct_model(dx, tiny_cohort, ct_head, monkeypatch):
    """KGDX_CT_MODEL reaches the same probabilities through CaseBuilder.add_ct (what
    ``kgdx diagnose --ct`` calls) as the trainer's own prediction."""
    from kgdx.encoders.train_ct_head import predict, preprocess_cohort

    cid = tiny_cohort.ids("test")[0]
    path = tiny_cohort.path(cid, "ct")
    expected = predict(ct_head["encoder"], preprocess_cohort(tiny_cohort, [cid], ct_head["encoder"].cfg.preprocess))[1][
        0
    ]
    monkeypatch.setenv("KGDX_CT_MODEL", ct_head["path"])
    get_settings.cache_clear()
    probs = CaseBuilder(dx).add_ct(PatientCase("x"), path)
    # preprocess_cohort keeps its inputs in float16; add_ct reads the volume in float32, and the
    # lesion detector's highest patch passes that rounding on (about 1e-4 here).
    np.testing.assert_allclose([probs[h] for h in CT_FINDING_IDS], expected, atol=5e-4)
    built = CaseBuilder(dx).build(ct=path)
    np.testing.assert_allclose([built.extra["ct_probabilities"][h] for h in CT_FINDING_IDS], expected, atol=5e-4)
    assert built.files["ct"] == str(path)
    get_settings.cache_clear()


def test_kgdx_diagnose_with_ct(env, tiny_trained, tiny_cohort, ct_head, biased_ct, monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from kgdx.app.cli import app

    runner = CliRunner()
    model = str(tiny_trained[0] / "best.pt")
    volume = str(tiny_cohort.path(tiny_cohort.ids("test")[0], "ct"))
    packet = tmp_path / "case.json"
    packet.write_text(
        json.dumps(
            {
                "id": "c1",
                "subject": {"id": "s", "sex": "FEMALE"},
                "phenotypicFeatures": [
                    {"type": {"id": COUGH, "label": "Cough"}},
                    {"type": {"id": FEVER, "label": "Fever"}},
                ],
                "metaData": {"created": "2025-01-01T00:00:00Z", "phenopacketSchemaVersion": "2.0"},
            }
        )
    )

    monkeypatch.setenv("KGDX_CT_MODEL", ct_head["path"])  # the trained head
    get_settings.cache_clear()
    r = runner.invoke(app, ["diagnose", str(packet), "--ct", volume, "--model", model, "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["case"] == "c1"

    monkeypatch.setenv("KGDX_CT_MODEL", str(biased_ct))  # a CT-only case: the head's findings are the case
    get_settings.cache_clear()
    r = runner.invoke(app, ["diagnose", "--ct", volume, "--model", model, "--json", "--explain", "1", "--no-drugs"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    cited = {n["id"] for d in doc["explanation"]["diseases"] for p in d["supports"] for n in p["nodes"]}
    assert cited & {GGO, EFFUSION}

    monkeypatch.delenv("KGDX_CT_MODEL")
    get_settings.cache_clear()
    r = runner.invoke(app, ["diagnose", str(packet), "--ct", volume, "--model", model])
    assert r.exit_code != 0 and isinstance(r.exception, ConfigError)


def test_a_note_brings_drugs_orthostatic_bp_and_lists_what_it_took(dx):
    from kgdx.reasoning import CaseBuilder

    note = (
        "Fever and cough. Started clarithromycin last week; clarithromycin was stopped. On warfarin. "
        "BP supine 150/90, standing 110/70. No pleural effusion."
    )
    case = CaseBuilder(dx).build(note=note)
    assert case.drugs == ["DRUGBANK:DB00682"]  # the last mention of clarithromycin says it was stopped
    rows = case.extra["text_findings"]
    clar = [r for r in rows if r["id"] == "DRUGBANK:DB01211"]
    assert clar and all(r["use"] == "not a current drug (historical)" for r in clar)
    effusion = next(r for r in rows if r["id"] == "HP:0002202")
    assert effusion["assertion"] == "absent" and effusion["use"] == "HP:0002202 excluded" and effusion["span"]
    bp = next(r for r in rows if r["method"] == "vital-signs")
    assert bp["assertion"] == "present" and bp["text"] == "150/90, standing 110/70"
    # Orthostatic hypotension is not in the tiny KG: said so, not dropped silently.
    assert bp["use"] == "not used: not in the KG"
    doc = dx.rank(case, k=2).to_dict()
    assert doc["drugs"] == ["DRUGBANK:DB00682"] and len(doc["extracted"]) == len(rows)


def test_a_note_gives_the_age_unless_the_case_has_one(dx):
    from kgdx.ingest.case import PatientCase
    from kgdx.reasoning import CaseBuilder

    note = "72-year-old woman, her 45-year-old daughter with her. Fever and cough."
    case = CaseBuilder(dx).build(note=note)
    assert case.age_years == 72.0
    row = next(r for r in case.extra["text_findings"] if r["id"] == "age")
    assert row["text"] == "72-year-old" and row["use"] == "the patient's age (drug safety)"
    recorded = CaseBuilder(dx).build(PatientCase("p", age_years=70.5), note=note)
    assert recorded.age_years == 70.5  # a phenopacket's age is recorded data: the note does not override it


def test_a_drug_stopped_later_in_its_sentence_is_not_current(dx):
    from kgdx.reasoning import CaseBuilder

    note = (
        "Fever and cough. Clarithromycin was started for a sinus infection and stopped after 6 weeks for a rash. "
        "Warfarin, INR stable, tremor stopped."
    )
    case = CaseBuilder(dx).build(note=note)
    assert case.drugs == ["DRUGBANK:DB00682"]  # "tremor stopped" is not about warfarin
    clar = next(r for r in case.extra["text_findings"] if r["id"] == "DRUGBANK:DB01211")
    assert clar["assertion"] == "historical" and clar["trigger"] == "and stopped"
    later = CaseBuilder(dx).build(
        note="Fever. Clarithromycin caused a rash that resolved after stopping it. On warfarin."
    )
    assert later.drugs == ["DRUGBANK:DB00682"]
    failed = CaseBuilder(dx).build(note="Fever and cough. Failed clarithromycin last winter. On warfarin.")
    assert failed.drugs == ["DRUGBANK:DB00682"]  # a drug tried and failed is not taken now


def test_unknown_drug_ids_with_a_note_are_no_error(dx):
    from kgdx.reasoning import CaseBuilder

    case = CaseBuilder(dx).build(drugs=["0", "DRUGBANK:DB99999"], note="Fever and cough.")
    assert case.drugs == ["0", "DRUGBANK:DB99999"] and case.observed


def test_a_note_keeps_the_most_specific_findings_and_what_the_patient_shows(dx):
    from kgdx.reasoning import CaseBuilder

    lung, pneumonia, ggo, cough = "HP:0002088", "HP:0002090", "HP:0025179", "HP:0012735"

    def build(note: str) -> tuple[dict[str, float], set[str], list[dict]]:
        case = CaseBuilder(dx).build(note=note)
        return {f.id: f.probability for f in case.observed}, {f.id for f in case.excluded}, case.extra

    # A general finding beside a more specific one adds nothing: it is listed, not used.
    observed, excluded, extra = build("Abnormal lung morphology on imaging. Pneumonia in the right lower lobe.")
    assert set(observed) == {pneumonia} and not excluded
    row = next(r for r in extra["text_findings"] if r["id"] == lung)
    assert row["use"] == f"{lung} not used: a more specific finding is observed"
    assert any(lung in n for n in extra["text_notes"])
    # A hedged specific finding does not replace a certain general one.
    observed, _, _ = build("Abnormal lung morphology. Possible pneumonia.")
    assert observed == {lung: 1.0, pneumonia: 0.5}
    # Ruling out the general finding contradicts a specific one the patient shows: the latter wins.
    observed, excluded, _ = build("No abnormal lung morphology. Ground glass opacity at both bases.")
    assert set(observed) == {ggo} and not excluded
    # An affirmed finding outweighs an earlier denial of the same finding, in either order.
    for note in ("No cough before the admission. Cough since Monday.", "Cough since Monday. No cough before."):
        observed, excluded, _ = build(note)
        assert set(observed) == {cough} and not excluded
