"""De-identification of DICOM headers on ingest (a subset of the DICOM PS3.15 Basic Profile).

Why on ingest: kgdx keeps a de-identified header with each volume (for kernel, kVp and the like),
so nothing that names a patient, a clinician, a date or an institution may reach the volume's
metadata, a log line or a checkpoint.

What it does, recursively into sequences:

* removes every attribute listed in :data:`REMOVE_KEYWORDS` (names, ids, addresses, accession
  and study ids, institution, device serials, free-text descriptions and comments);
* removes every attribute whose VR can only hold such things: person names (``PN``), dates,
  times and date-times (``DA``, ``TM``, ``DT``), and free text (``LT``, ``ST``, ``UT``);
* removes every private (odd-group) attribute, since vendors put names and ids there;
* replaces every UID except the SOP Class and Transfer Syntax UIDs with a salted hash in the
  ``2.25`` root, so slices of a series still group together but cannot be traced back;
* records ``PatientIdentityRemoved = YES`` and the method.

Pixel data is not inspected: burned-in text in the image is out of scope (CT axial slices rarely
carry it; secondary captures, which do, are refused as non-CT anyway).
"""

from __future__ import annotations

import hashlib
from typing import Any

__all__ = ["deidentify", "REMOVE_KEYWORDS", "REMOVE_VRS", "KEEP_UIDS", "METHOD"]

#: Attributes removed outright (PS3.15 Table E.1-1, action X/Z/D, those CT headers carry).
REMOVE_KEYWORDS: frozenset[str] = frozenset(
    {
        "PatientName",
        "PatientID",
        "IssuerOfPatientID",
        "OtherPatientIDs",
        "OtherPatientIDsSequence",
        "OtherPatientNames",
        "PatientBirthDate",
        "PatientBirthTime",
        "PatientBirthName",
        "PatientMotherBirthName",
        "PatientAge",
        "PatientSex",
        "PatientSize",
        "PatientWeight",
        "PatientAddress",
        "PatientTelephoneNumbers",
        "PatientComments",
        "PatientReligiousPreference",
        "MilitaryRank",
        "BranchOfService",
        "EthnicGroup",
        "Occupation",
        "AdditionalPatientHistory",
        "MedicalRecordLocator",
        "MedicalAlerts",
        "Allergies",
        "CountryOfResidence",
        "RegionOfResidence",
        "InsurancePlanIdentification",
        "PatientInsurancePlanCodeSequence",
        "ReferencedPatientSequence",
        "InstitutionName",
        "InstitutionAddress",
        "InstitutionalDepartmentName",
        "InstitutionCodeSequence",
        "StationName",
        "DeviceSerialNumber",
        "ReferringPhysicianName",
        "ReferringPhysicianAddress",
        "ReferringPhysicianTelephoneNumbers",
        "ReferringPhysicianIdentificationSequence",
        "PerformingPhysicianName",
        "PerformingPhysicianIdentificationSequence",
        "PhysiciansOfRecord",
        "NameOfPhysiciansReadingStudy",
        "OperatorsName",
        "RequestingPhysician",
        "RequestingService",
        "AccessionNumber",
        "StudyID",
        "StudyDescription",
        "SeriesDescription",
        "ProtocolName",
        "ImageComments",
        "RequestedProcedureDescription",
        "RequestedProcedureID",
        "RequestAttributesSequence",
        "PerformedProcedureStepID",
        "PerformedProcedureStepDescription",
        "ScheduledProcedureStepID",
        "AdmissionID",
        "AdmittingDiagnosesDescription",
        "ContentCreatorName",
        "DerivationDescription",
        "FrameComments",
        "ReferencedStudySequence",
        "ReferencedPerformedProcedureStepSequence",
    }
)

#: Value representations removed wherever they occur: names, dates/times and free text.
REMOVE_VRS: frozenset[str] = frozenset({"PN", "DA", "TM", "DT", "LT", "ST", "UT"})

#: UIDs that identify a kind of object, not a patient, and so are kept.
KEEP_UIDS: frozenset[str] = frozenset(
    {"SOPClassUID", "TransferSyntaxUID", "MediaStorageSOPClassUID", "ReferencedSOPClassUID"}
)

#: Recorded in DeidentificationMethod (an LO, so at most 64 characters).
METHOD = "kgdx.ingest.deid: PS3.15 Basic Profile subset"


def _hash_uid(uid: str, salt: str) -> str:
    # 2.25.<decimal of a 128-bit value> is the DICOM root for UUID-derived UIDs (PS3.5 B.2).
    digest = hashlib.sha256(f"{salt}|{uid}".encode()).digest()[:16]
    return f"2.25.{int.from_bytes(digest, 'big')}"


def deidentify(dataset: Any, *, salt: str = "kgdx") -> Any:
    """De-identify a pydicom ``Dataset`` in place and return it.

    Args:
        dataset: A ``pydicom.Dataset`` (its ``file_meta`` is treated too).
        salt: Mixed into the UID hashes; keep it fixed within a project so series stay
            linkable across runs, and secret if re-identification by UID guessing matters.

    Example:
        >>> from pydicom import Dataset
        >>> ds = Dataset(); ds.PatientName = "Doe^Jane"; ds.Modality = "CT"
        >>> "PatientName" in deidentify(ds), ds.Modality
        (False, 'CT')
    """
    from pydicom.dataelem import DataElement

    def walk(ds: Any) -> None:
        ds.remove_private_tags()
        for elem in list(ds):
            kw = elem.keyword
            if kw in REMOVE_KEYWORDS or elem.VR in REMOVE_VRS:
                del ds[elem.tag]
            elif elem.VR == "SQ":
                for item in elem.value:
                    walk(item)
            elif elem.VR == "UI" and kw not in KEEP_UIDS and elem.value:
                if elem.VM > 1:
                    ds[elem.tag] = DataElement(elem.tag, "UI", [_hash_uid(str(u), salt) for u in elem.value])
                else:
                    ds[elem.tag] = DataElement(elem.tag, "UI", _hash_uid(str(elem.value), salt))

    walk(dataset)
    meta = getattr(dataset, "file_meta", None)
    if meta is not None and "MediaStorageSOPInstanceUID" in meta:
        meta.MediaStorageSOPInstanceUID = _hash_uid(str(meta.MediaStorageSOPInstanceUID), salt)
    dataset.PatientIdentityRemoved = "YES"
    dataset.DeidentificationMethod = METHOD
    return dataset
