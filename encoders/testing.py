"""Tiny synthetic CT data for tests, benchmarks and smoke runs (numpy, scipy, SimpleITK, pydicom;
no torch): small phantoms, DICOM series with identifying headers, and pretraining manifests.

Why synthetic: tests must not need real scans, and a phantom whose report is generated from the
same random draw gives pretraining a real image–text signal to learn, so the benchmark's
"losses go down" is not just memorisation of noise.

The phantom is the synthetic cohort's chest (:mod:`kgdx.synth.phantom`: body wall, lungs,
mediastinum, vessels, bones) with, by chance, a solid nodule, a pleural effusion and emphysema,
drawn by the cohort's lesion code. :func:`synthetic_report` describes exactly those.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kgdx.ingest.volume import write_volume

__all__ = [
    "Phantom",
    "make_phantom",
    "synthetic_report",
    "write_dicom_series",
    "write_pretrain_manifest",
    "PHI",
]

#: Identifying values written into synthetic DICOM headers; a de-identification test checks
#: that none of them survive ingest.
PHI = {
    "PatientName": "Doe^Jane^Q",
    "PatientID": "MRN-4711-0815",
    "PatientBirthDate": "19470312",
    "StudyDate": "20230115",
    "SeriesDate": "20230115",
    "AcquisitionDate": "20230115",
    "ContentDate": "20230115",
    "StudyTime": "093412",
    "InstitutionName": "Saint Elsewhere General Hospital",
    "InstitutionAddress": "1 Hospital Road, Springfield",
    "ReferringPhysicianName": "House^Gregory",
    "OperatorsName": "Tech^Alice",
    "AccessionNumber": "ACC-99887766",
    "StudyID": "STUDY-5544",
    "StationName": "CT-ROOM-3",
    "DeviceSerialNumber": "SN-12345-XYZ",
    "StudyDescription": "CT CHEST for Jane Doe",
    "OtherPatientIDs": "ALT-ID-31337",
    "PatientAddress": "42 Elm Street, Springfield",
}


#: The findings a test phantom may show, as the HPO ids of the synthetic cohort's lesion catalogue.
FINDINGS = {"nodule": "HP:0033608", "effusion": "HP:0002202", "emphysema": "HP:0002097"}


@dataclass(frozen=True)
class Phantom:
    """A synthetic volume in HU ``(z, y, x)`` with what it shows."""

    array: np.ndarray
    spacing: tuple[float, float, float]
    nodule: bool
    effusion: bool
    emphysema: bool
    nodule_mm: float
    side: str


def make_phantom(
    shape: tuple[int, int, int] = (24, 64, 64),
    spacing: tuple[float, float, float] | None = None,
    *,
    seed: int = 0,
    nodule: bool | None = None,
    effusion: bool | None = None,
    emphysema: bool | None = None,
    noise_hu: float = 20.0,
) -> Phantom:
    """A small chest phantom from the synthetic cohort's generator (:mod:`kgdx.synth.phantom`),
    with any of a solid nodule, a pleural effusion and emphysema drawn by its lesion code. Findings
    left as ``None`` are drawn at random (p = 0.5). The same seed gives the same phantom.

    Args:
        shape: ``(z, y, x)`` voxels.
        spacing: ``(z, y, x)`` mm; default: an adult chest's extent (300 × 380 × 380 mm) over ``shape``.
        seed: Random seed.
        noise_hu: Standard deviation of the image noise.
    """
    from kgdx.synth.acquisition import Acquisition, acquire
    from kgdx.synth.lesions import draw_findings
    from kgdx.synth.phantom import make_phantom as draw_chest

    if spacing is None:
        spacing = (300.0 / shape[0], 380.0 / shape[1], 380.0 / shape[2])
    rng = np.random.default_rng(seed)
    flags = {
        k: bool(rng.random() < 0.5) if v is None else v
        for k, v in (("nodule", nodule), ("effusion", effusion), ("emphysema", emphysema))
    }
    ph = draw_chest(tuple(shape), tuple(spacing), rng)
    _, drawn = draw_findings(ph, [FINDINGS[k] for k, on in flags.items() if on], 0.7, rng)
    image = acquire(ph.hu, tuple(spacing), Acquisition(float(spacing[0]), "standard", noise_hu), rng)
    info = drawn.get(FINDINGS["nodule"]) or drawn.get(FINDINGS["effusion"])
    side = {"R": "right", "L": "left"}.get(info.sides[0], "right") if info and info.sides else "right"
    size = drawn[FINDINGS["nodule"]].size_mm if FINDINGS["nodule"] in drawn else None
    return Phantom(
        image.astype(np.float32),
        tuple(spacing),
        flags["nodule"],
        flags["effusion"],
        flags["emphysema"],
        float(round(size or 0.0)),
        side,
    )


def synthetic_report(p: Phantom) -> str:
    """A two-section radiology report that states exactly the phantom's findings."""
    findings = []
    findings.append(
        f"There is a {p.nodule_mm:.0f} mm solid pulmonary nodule in the {p.side} lung."
        if p.nodule
        else "No pulmonary nodule."
    )
    findings.append(f"Small {p.side} pleural effusion." if p.effusion else "No pleural effusion.")
    findings.append("Centrilobular emphysema." if p.emphysema else "No emphysema.")
    impression = [
        s
        for s, on in (
            (f"{p.side.capitalize()} pulmonary nodule.", p.nodule),
            ("Pleural effusion.", p.effusion),
            ("Emphysema.", p.emphysema),
        )
        if on
    ]
    return "FINDINGS: " + " ".join(findings) + "\nIMPRESSION: " + (" ".join(impression) or "No acute abnormality.")


def write_dicom_series(
    folder: str | Path,
    array: np.ndarray,
    *,
    spacing: tuple[float, float, float] = (2.5, 0.7, 0.7),
    positions: list[float] | None = None,
    modality: str = "CT",
    phi: dict[str, str] | None = None,
    slope: float = 1.0,
    intercept: float = -1024.0,
    series_uid: str | None = None,
    shuffle: bool = True,
    seed: int = 0,
) -> list[Path]:
    """Write ``array`` (HU, ``(z, y, x)``) as a CT series, one file per slice, with PHI in the headers.

    Args:
        positions: z position (mm) of each slice; defaults to ``k * spacing[0]``. Pass uneven or
            repeated values to make bad series.
        phi: Identifying header values; defaults to :data:`PHI`.
        shuffle: Write files in a random order so readers must sort by position.
        seed: Sets that order and the UIDs, so one call writes the same bytes every time (a
            seeded corpus of mutants then reproduces).
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    phi = PHI if phi is None else phi
    Z, Y, X = array.shape
    positions = [k * spacing[0] for k in range(Z)] if positions is None else positions

    def uid(*parts: object) -> str:
        return generate_uid(entropy_srcs=["kgdx.encoders.testing", str(seed), *map(str, parts)])

    series_uid = series_uid or uid("series")
    study_uid = uid("study", series_uid)
    frame_uid = uid("frame", series_uid)
    order = np.random.default_rng(seed).permutation(len(positions)) if shuffle else np.arange(len(positions))
    paths = []
    for n, k in enumerate(order):
        stored = np.round((array[min(k, Z - 1)] - intercept) / slope).astype(np.int16)
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = uid("instance", series_uid, n)
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.FrameOfReferenceUID = frame_uid
        ds.Modality = modality
        ds.Manufacturer = "SyntheticCo"
        ds.KVP = 120
        ds.SliceThickness = spacing[0]
        ds.ConvolutionKernel = "B30f"
        ds.InstanceNumber = int(k) + 1
        for kw, v in phi.items():
            setattr(ds, kw, v)
        ds.add_new(0x00091010, "LO", "private vendor note about Jane Doe")
        ds.ImagePositionPatient = [-0.5 * X * spacing[2], -0.5 * Y * spacing[1], float(positions[k])]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing = [spacing[1], spacing[2]]
        ds.Rows, ds.Columns = Y, X
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
        ds.PixelRepresentation = 1
        ds.RescaleSlope = slope
        ds.RescaleIntercept = intercept
        ds.PixelData = stored.tobytes()
        p = folder / f"IM{n:04d}.dcm"
        ds.save_as(p, enforce_file_format=True)
        paths.append(p)
    return paths


def write_pretrain_manifest(
    folder: str | Path, n: int = 8, *, shape: tuple[int, int, int] = (16, 48, 48), seed: int = 0
) -> Path:
    """Write ``n`` phantom NIfTI volumes with their reports and a JSONL manifest; return the manifest.

    Each manifest line is ``{"volume": "vol_000.nii.gz", "report": "..."}`` with the volume path
    relative to the manifest, the layout :class:`kgdx.encoders.pretrain.dataset.CTReportDataset` reads.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(n):
        ph = make_phantom(shape, seed=seed + i)
        rel = f"vol_{i:03d}.nii.gz"
        write_volume(folder / rel, ph.array, ph.spacing)
        lines.append(json.dumps({"volume": rel, "report": synthetic_report(ph)}))
    manifest = folder / "manifest.jsonl"
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return manifest
