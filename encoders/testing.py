"""Tiny synthetic CT data for tests, benchmarks and smoke runs (numpy, SimpleITK, pydicom; no torch).

Why synthetic: tests must not need real scans, and a phantom whose report is generated from the
same random draw gives pretraining a real image–text signal to learn, so the benchmark's
"losses go down" is not just memorisation of noise.

The phantom is a chest-like ellipse of soft tissue (40 HU) with two lungs (−850 HU), a spine
(700 HU), and, by chance, a solid nodule, a dependent pleural effusion and emphysematous
low-attenuation spots (−980 HU). :func:`synthetic_report` describes exactly those.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "Phantom",
    "make_phantom",
    "synthetic_report",
    "write_nifti",
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
    spacing: tuple[float, float, float] = (5.0, 5.0, 5.0),
    *,
    seed: int = 0,
    nodule: bool | None = None,
    effusion: bool | None = None,
    emphysema: bool | None = None,
    noise_hu: float = 20.0,
) -> Phantom:
    """Draw a chest-like phantom. Findings left as ``None`` are drawn at random (p = 0.5).

    Args:
        shape: ``(z, y, x)`` voxels.
        spacing: ``(z, y, x)`` mm (only used to size the nodule in the report).
        seed: Random seed; the same seed gives the same phantom and report.
    """
    rng = np.random.default_rng(seed)
    nodule = bool(rng.random() < 0.5) if nodule is None else nodule
    effusion = bool(rng.random() < 0.5) if effusion is None else effusion
    emphysema = bool(rng.random() < 0.5) if emphysema is None else emphysema
    Z, Y, X = shape
    z, y, x = np.meshgrid(np.linspace(-1, 1, Z), np.linspace(-1, 1, Y), np.linspace(-1, 1, X), indexing="ij")
    vol = np.full(shape, -1000.0, np.float32)
    body = (x / 0.9) ** 2 + (y / 0.7) ** 2 <= 1
    vol[body] = 40.0
    lungs = []
    for cx in (-0.42, 0.42):  # array x grows to the patient's left: cx < 0 is the right lung
        lung = ((x - cx) / 0.33) ** 2 + ((y + 0.05) / 0.5) ** 2 + (z / 1.05) ** 2 <= 1
        vol[lung] = -850.0
        lungs.append(lung)
    spine = (x / 0.12) ** 2 + ((y - 0.55) / 0.12) ** 2 <= 1
    vol[spine] = 700.0
    side = "right" if rng.random() < 0.5 else "left"
    lung = lungs[0] if side == "right" else lungs[1]
    nodule_mm = 0.0
    if emphysema:
        spots = (rng.random(shape) < 0.04) & lungs[0] | (rng.random(shape) < 0.04) & lungs[1]
        vol[spots] = -980.0
    if effusion:
        # Fluid lies dependent (posterior, large y) in the lower half of one lung.
        vol[lung & (y > 0.2) & (z < 0.2)] = 10.0
    if nodule:
        r = float(rng.uniform(0.08, 0.16))
        cx = -0.42 if side == "right" else 0.42
        cz = float(rng.uniform(-0.4, 0.6))
        ball = ((x - cx) / r) ** 2 + ((y + 0.1) / r) ** 2 + ((z - cz) / (r * X / Z)) ** 2 <= 1
        vol[ball & lung] = 30.0
        nodule_mm = round(r * X * spacing[2], 0)
    vol += rng.normal(0.0, noise_hu, shape).astype(np.float32)
    return Phantom(vol.astype(np.float32), spacing, nodule, effusion, emphysema, nodule_mm, side)


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
    impression = [s for s, on in ((f"{p.side.capitalize()} pulmonary nodule.", p.nodule),
                                  ("Pleural effusion.", p.effusion), ("Emphysema.", p.emphysema)) if on]
    return "FINDINGS: " + " ".join(findings) + "\nIMPRESSION: " + (" ".join(impression) or "No acute abnormality.")


def write_nifti(path: str | Path, array: np.ndarray, spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> Path:
    """Write a ``(z, y, x)`` array as NIfTI (or NRRD/MHA by suffix) with LPS identity direction."""
    import SimpleITK as sitk

    img = sitk.GetImageFromArray(np.asarray(array))
    img.SetSpacing(tuple(float(s) for s in reversed(spacing)))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(img, str(path))
    return path


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
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    phi = PHI if phi is None else phi
    Z, Y, X = array.shape
    positions = [k * spacing[0] for k in range(Z)] if positions is None else positions
    series_uid = series_uid or generate_uid()
    study_uid = generate_uid()
    frame_uid = generate_uid()
    order = np.random.default_rng(seed).permutation(len(positions)) if shuffle else np.arange(len(positions))
    paths = []
    for n, k in enumerate(order):
        stored = np.round((array[min(k, Z - 1)] - intercept) / slope).astype(np.int16)
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
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


def write_pretrain_manifest(folder: str | Path, n: int = 8, *, shape: tuple[int, int, int] = (16, 48, 48), seed: int = 0) -> Path:
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
        write_nifti(folder / rel, ph.array, ph.spacing)
        lines.append(json.dumps({"volume": rel, "report": synthetic_report(ph)}))
    manifest = folder / "manifest.jsonl"
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return manifest
