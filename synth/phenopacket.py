"""A synthetic patient as a GA4GH Phenopacket v2 (JSON), checked against the schema.

What goes in, and what deliberately does not:

* ``phenotypicFeatures``: symptoms and signs from the history and examination (observed), a
  comorbid condition from the history (observed), and pertinent negatives (``excluded``). CT
  findings, lab-derived phenotypes and results of other tests are **not** listed: the image, the
  report and the measurements carry them, so each modality adds something the phenopacket lacks.
* ``measurements``: every lab value that is not missing, as a LOINC ``assay`` (the KG's id, e.g.
  ``LOINC:1988-5``) with a UCUM unit and the KG's reference range. Qualitative tests are
  quantities 0/1 with unit ``{presence}``.
* ``medicalActions``: current drugs (DrugBank ids), ``drugType: EHR_MEDICATION_LIST``.
* ``diseases``: the patient's diseases (MONDO ids), for evaluation only.
* ``files``: the CT volume (``kind: ct``), its lesion mask (``kind: ct_mask``) and the report
  (``kind: report``); URIs are relative to the phenopacket's own folder.
"""

from __future__ import annotations

from typing import Any

from kgdx.ingest.phenopackets import validate_phenopacket
from kgdx.synth.kg_source import KgSource

__all__ = ["build_phenopacket", "validate_phenopacket", "RESOURCES"]

#: metaData.resources: the vocabularies the ids come from.
RESOURCES = (
    {
        "id": "hp",
        "name": "human phenotype ontology",
        "url": "http://purl.obolibrary.org/obo/hp.owl",
        "version": "2025-01-16",
        "namespacePrefix": "HP",
        "iriPrefix": "http://purl.obolibrary.org/obo/HP_",
    },
    {
        "id": "mondo",
        "name": "Mondo Disease Ontology",
        "url": "http://purl.obolibrary.org/obo/mondo.obo",
        "version": "2024-07-02",
        "namespacePrefix": "MONDO",
        "iriPrefix": "http://purl.obolibrary.org/obo/MONDO_",
    },
    {
        "id": "loinc",
        "name": "Logical Observation Identifiers Names and Codes",
        "url": "https://loinc.org",
        "version": "2.77",
        "namespacePrefix": "LOINC",
        "iriPrefix": "https://loinc.org/",
    },
    {
        "id": "drugbank",
        "name": "DrugBank",
        "url": "https://go.drugbank.com",
        "version": "5.1",
        "namespacePrefix": "DRUGBANK",
        "iriPrefix": "https://go.drugbank.com/drugs/",
    },
    {
        "id": "ucum",
        "name": "Unified Code for Units of Measure",
        "url": "https://ucum.org",
        "version": "2.1",
        "namespacePrefix": "UCUM",
        "iriPrefix": "https://ucum.org/ucum#",
    },
)


def _oc(curie: str, label: str) -> dict[str, str]:
    return {"id": curie, "label": label}


def build_phenopacket(
    patient: Any, kg: KgSource, files: dict[str, str], *, created: str, report_language: str = "en"
) -> dict[str, Any]:
    """The phenopacket of a sampled patient (see the module docstring for what it holds).

    Args:
        patient: An :class:`kgdx.synth.patient.Patient`.
        kg: The KG facts (labels).
        files: ``{"ct": uri, "ct_mask": uri, "report": uri}``, relative to the phenopacket.
        created: ``metaData.created`` (fixed, for byte-identical output).
        report_language: ``en`` or ``zh``, recorded on the report file.
    """
    features = []
    for t in patient.phenotypes.values():
        if t.modality != "clinical" or t.recorded is None:
            continue
        f: dict[str, Any] = {"type": _oc(t.id, t.label)}
        if t.recorded == "excluded":
            f["excluded"] = True
        features.append(f)
    measurements = []
    for v in patient.labs:
        if v.missing:
            continue
        unit = _oc(f"UCUM:{v.unit}", v.unit)
        measurements.append(
            {
                "assay": _oc(v.loinc, v.name),
                "value": {
                    "quantity": {
                        "unit": unit,
                        "value": v.value,
                        "referenceRange": {"unit": unit, "low": v.ref_low, "high": v.ref_high},
                    }
                },
            }
        )
    actions = [
        {"treatment": {"agent": _oc(d.id, d.name), "drugType": "EHR_MEDICATION_LIST"}} for d in patient.drugs.current
    ]
    attrs = {
        "ct": {
            "kind": "ct",
            "fileFormat": "nifti",
            "modality": "CT",
            "orientation": "LPS",
            "description": "non-contrast chest CT, HU (int16)",
        },
        "ct_mask": {
            "kind": "ct_mask",
            "fileFormat": "nifti",
            "description": "lesion label map (uint8); values in docs/synthetic-cohort.md",
        },
        "report": {"kind": "report", "fileFormat": "txt", "language": report_language},
    }
    return {
        "id": patient.id,
        "subject": {
            "id": patient.id,
            "sex": patient.sex,
            "timeAtLastEncounter": {"age": {"iso8601duration": f"P{patient.age}Y"}},
        },
        "phenotypicFeatures": features,
        "measurements": measurements,
        "diseases": [{"term": _oc(d, kg.name(d))} for d, _ in patient.diseases],
        "medicalActions": actions,
        "files": [
            {"uri": uri, "individualToFileIdentifiers": {patient.id: patient.id}, "fileAttributes": attrs[kind]}
            for kind, uri in files.items()
        ],
        "metaData": {
            "created": created,
            "createdBy": "kgdx synth",
            "resources": list(RESOURCES),
            "phenopacketSchemaVersion": "2.0",
        },
    }
