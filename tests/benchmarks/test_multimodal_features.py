"""The fusion baselines' patient features and the modality ablation."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.lib.multimodal import lab_vector, patient_features, select_modalities
from kgdx.ingest.case import Finding, PatientCase
from kgdx.ingest.labs import LabResult

GGO, EFFUSION, COUGH, HEMOPTYSIS = "HP:0025179", "HP:0002202", "HP:0012735", "HP:0002105"


def test_lab_vector():
    labs = [
        LabResult("LOINC:1988-5", 2.5, "mg/L", 0.0, 5.0),
        LabResult("LOINC:11477-7", 1.0, "{presence}", 0.0, 0.0),
        LabResult("LOINC:2345-7", 120.0, "mg/dL"),
        LabResult("LOINC:718-7", None, "g/dL"),
    ]
    values, present = lab_vector(
        labs, ["LOINC:1988-5", "LOINC:11477-7", "LOINC:2345-7", "LOINC:718-7"], ranges={"LOINC:2345-7": (70.0, 99.0)}
    )
    assert values.tolist() == pytest.approx([0.0, 2.0, 2 * (120 - 70) / 29 - 1, 0.0])
    assert present.tolist() == [True, True, True, False]


def test_patient_features(tiny_store):
    case = PatientCase(
        "p",
        labs=[LabResult("LOINC:1988-5", 80.0, "mg/L", 0.0, 5.0)],
        embeddings={"ct": np.ones(4, np.float32), "report": np.zeros(384, np.float32)},
    )
    f = patient_features(tiny_store, [case, case])
    assert f["ct"].shape == (2, 4) and f["report"].shape == (2, 384)
    assert f["labs"].tolist() == [[10.0], [10.0]] and f["labs_present"].tolist() == [[True], [True]]  # clipped


def test_select_modalities():
    labs = [LabResult("LOINC:1988-5", 2.5, "mg/L", 0.0, 5.0)]
    full = PatientCase(
        "f",
        observed=[Finding(GGO, origin="report"), Finding(COUGH), Finding(EFFUSION, origin="ct")],
        excluded=[Finding(HEMOPTYSIS, origin="report")],
        labs=labs,
    )
    only = select_modalities(full, {"phenopacket", "ct"}, labs=False)
    assert [f.id for f in only.observed] == [COUGH, EFFUSION] and only.excluded == [] and only.labs == []
    assert len(full.observed) == 3 and len(full.labs) == 1  # the original is untouched
