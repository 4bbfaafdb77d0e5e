"""Read a CT DICOM series (one file per slice) with pydicom into a :class:`~kgdx.ingest.volume.Volume`.

The checks here are the ones that otherwise fail silently downstream:

* slices are ordered by their position along the slice normal (``ImagePositionPatient`` projected
  on the cross product of the ``ImageOrientationPatient`` vectors), never by file name or
  ``InstanceNumber``, which scanners and PACS exports do not keep reliably;
* two slices at the same position, a gap of one slice or more, and spacing that varies along
  the stack are refused, since a volume built from them has the wrong geometry;
* stored values become HU through ``RescaleSlope``/``RescaleIntercept`` slice by slice;
* only CT is accepted (an MR or PET series windowed as HU is noise to the encoder);
* the header kept with the volume is de-identified (:mod:`kgdx.ingest.deid`).

Every refusal is a :class:`~kgdx.errors.DataError` that names the file at fault.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kgdx.errors import DataError, DataWarning
from kgdx.ingest.volume import AIR_HU, Volume, _sitk

__all__ = ["read_dicom_series", "list_series", "CT_IMAGE_STORAGE", "KEPT_HEADER_KEYWORDS"]

#: SOP Class UID of (single-frame) CT Image Storage.
CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
ENHANCED_CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2.1"

#: Acquisition facts copied into ``Volume.metadata`` (after de-identification): none names anyone.
KEPT_HEADER_KEYWORDS = (
    "Modality",
    "Manufacturer",
    "ManufacturerModelName",
    "BodyPartExamined",
    "KVP",
    "SliceThickness",
    "ConvolutionKernel",
    "ContrastBolusAgent",
    "PatientPosition",
    "SeriesInstanceUID",
    "StudyInstanceUID",
    "PatientIdentityRemoved",
    "DeidentificationMethod",
)

_SKIP_NAMES = {"DICOMDIR", "LOCKFILE", "VERSION"}


@dataclass
class _Slice:
    path: Path
    ds: Any
    position: np.ndarray  # (3,) mm, LPS
    orientation: np.ndarray  # (6,)


def _pydicom() -> Any:
    try:
        import pydicom
    except ImportError as e:  # pragma: no cover
        raise ImportError('reading DICOM needs pydicom: pip install "kgdx[ml]"') from e
    return pydicom


def _files(path: Path) -> list[Path]:
    if path.is_file():
        return sorted(f for f in path.parent.iterdir() if f.is_file() and not _skip(f))
    files = sorted(f for f in path.rglob("*") if f.is_file() and not _skip(f))
    if not files:
        raise DataError("the folder holds no files", file=path)
    return files


def _skip(f: Path) -> bool:
    return f.name.startswith(".") or f.name.upper() in _SKIP_NAMES


def _read_header(f: Path) -> Any:
    pydicom = _pydicom()
    try:
        ds = pydicom.dcmread(f, stop_before_pixels=False)
        # pydicom decodes each element on first access; decode them all now, so that a corrupt
        # element (an unknown VR, a bad length) is refused here, naming the file, and not later
        # from whichever getattr touches it first.
        ds.walk(lambda _ds, _elem: None)
    except pydicom.errors.InvalidDicomError:
        raise DataError("not a DICOM file (no DICM preamble); remove it from the series folder", file=f) from None
    except Exception as e:  # noqa: BLE001 - pydicom raises many types for a corrupt file; each names it
        raise DataError(f"corrupt or truncated DICOM file: {e}", file=f) from None
    if "PixelData" not in ds:
        sop = getattr(ds, "SOPClassUID", None)
        raise DataError(f"no pixel data: the file is truncated, or not an image (SOP class {sop or 'missing'})", file=f)
    return ds


def list_series(path: str | Path) -> dict[str, list[Path]]:
    """Map each SeriesInstanceUID in a folder to its files (headers only; no pixels read)."""
    pydicom = _pydicom()
    out: dict[str, list[Path]] = {}
    for f in _files(Path(path)):
        try:
            uid = str(getattr(pydicom.dcmread(f, stop_before_pixels=True), "SeriesInstanceUID", ""))
        except Exception as e:  # noqa: BLE001 - every failure names the file
            raise DataError(f"cannot read the DICOM header: {e}", file=f) from None
        out.setdefault(uid, []).append(f)
    return out


def _require(ds: Any, keyword: str, f: Path) -> Any:
    value = getattr(ds, keyword, None)
    if value is None or value == "":
        raise DataError(f"the header lacks {keyword}, which a CT slice needs", file=f, field=keyword)
    return value


def _floats(ds: Any, keyword: str, f: Path) -> list[float]:
    """A required multi-valued numeric header field, as floats; a corrupt value names the field."""
    value = _require(ds, keyword, f)
    items = value if hasattr(value, "__iter__") and not isinstance(value, (str, bytes)) else [value]
    try:
        return [float(v) for v in items]
    except (ValueError, TypeError) as e:
        raise DataError(f"{keyword} is not a list of numbers ({e})", file=f, field=keyword) from None


def _int(ds: Any, keyword: str, f: Path) -> int:
    """A required integer header field; a corrupt value names the field."""
    value = _require(ds, keyword, f)
    try:
        return int(value)
    except (ValueError, TypeError) as e:
        raise DataError(f"{keyword} is not an integer ({e})", file=f, field=keyword) from None


def _pixels_hu(s: _Slice) -> np.ndarray:
    ds = s.ds
    try:
        px = ds.pixel_array
    except (ValueError, AttributeError, KeyError, EOFError, _pydicom().errors.BytesLengthException) as e:
        raise DataError(f"cannot decode the pixel data (truncated or corrupt?): {e}", file=s.path) from None
    except (NotImplementedError, RuntimeError) as e:
        ts = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "?")
        raise DataError(
            f"cannot decode transfer syntax {ts} ({e}); install a pydicom pixel handler such as pylibjpeg or gdcm",
            file=s.path,
        ) from None
    if px.ndim != 2:
        raise DataError(f"expected one 2-D frame per file, got pixel array of shape {px.shape}", file=s.path)
    hu = px.astype(np.float32)
    pad = getattr(ds, "PixelPaddingValue", None)
    try:
        slope = float(getattr(ds, "RescaleSlope", 1.0) or 1.0)
        intercept = float(getattr(ds, "RescaleIntercept", 0.0) or 0.0)
    except (ValueError, TypeError) as e:
        raise DataError(f"RescaleSlope/RescaleIntercept are not numbers ({e})", file=s.path) from None
    hu = hu * slope + intercept
    if pad is not None:
        # Padding marks voxels outside the reconstruction circle; call them air, not -3000 HU.
        hu[px == pad] = AIR_HU
    return hu


def _check_modality(ds: Any, f: Path) -> None:
    modality = str(getattr(ds, "Modality", "") or "")
    if modality != "CT":
        raise DataError(
            f"modality is {modality or 'missing'!r}, not 'CT'; kgdx reads CT series only", file=f, field="Modality"
        )
    sop = str(getattr(ds, "SOPClassUID", ""))
    try:
        frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
    except (ValueError, TypeError) as e:
        raise DataError(f"NumberOfFrames is not an integer ({e})", file=f, field="NumberOfFrames") from None
    if sop == ENHANCED_CT_IMAGE_STORAGE or frames > 1:
        raise DataError("multi-frame (Enhanced) CT is not supported; export the series as one file per slice", file=f)


def _sort_and_check(slices: Sequence[_Slice], rel_tol: float) -> tuple[list[_Slice], float]:
    """Order slices along the normal and return them with the slice spacing in mm."""
    ref = slices[0]
    for s in slices[1:]:
        if not np.allclose(s.orientation, ref.orientation, atol=1e-4):
            raise DataError(
                f"ImageOrientationPatient {list(s.orientation)} differs from {list(ref.orientation)} in {ref.path.name}; "
                "the files are not one stack",
                file=s.path,
                field="ImageOrientationPatient",
            )
    row, col = ref.orientation[:3], ref.orientation[3:]
    normal = np.cross(row, col)
    pos = np.array([float(np.dot(s.position, normal)) for s in slices])
    order = np.argsort(pos, kind="stable")
    ordered = [slices[i] for i in order]
    z = pos[order]
    gaps = np.diff(z)
    dupes = [i + 1 for i, g in enumerate(gaps) if g < 1e-3]
    if dupes:
        # Scanners and exports do write a slice twice; the copy adds nothing, so it is dropped.
        names = ", ".join(ordered[i].path.name for i in dupes)
        warnings.warn(
            f"{ordered[0].path.parent}: dropped {len(dupes)} duplicate slice(s) at a position another slice "
            f"already has: {names}",
            DataWarning,
            stacklevel=3,
        )
        keep = [i for i in range(len(ordered)) if i not in set(dupes)]
        ordered = [ordered[i] for i in keep]
        z = z[keep]
        gaps = np.diff(z)
        if len(ordered) < 2:
            raise DataError("after dropping duplicates, the series has only one slice", file=ordered[0].path)
    step = float(np.median(gaps))
    for i, g in enumerate(gaps):
        if g > step * (1.5 + rel_tol):
            missing = int(round(g / step)) - 1
            raise DataError(
                f"missing slice(s): a gap of {g:.3f} mm after {ordered[i].path.name} where the spacing is "
                f"{step:.3f} mm (about {missing} slice(s) missing)",
                file=ordered[i + 1].path,
                field="ImagePositionPatient",
            )
        if abs(g - step) > rel_tol * step:
            raise DataError(
                f"inconsistent slice spacing: {g:.3f} mm after {ordered[i].path.name}, but {step:.3f} mm elsewhere",
                file=ordered[i + 1].path,
                field="ImagePositionPatient",
            )
    return ordered, step


def _header_summary(ds: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kw in KEPT_HEADER_KEYWORDS:
        v = getattr(ds, kw, None)
        if v is None or v == "":
            continue
        if isinstance(v, (int, float, str)):
            out[kw] = v
        else:
            try:
                out[kw] = float(v) if kw in ("KVP", "SliceThickness") else str(v)
            except (TypeError, ValueError):
                out[kw] = str(v)
    return out


def read_dicom_series(
    path: str | Path,
    *,
    series_uid: str | None = None,
    deidentify: bool = True,
    spacing_rel_tol: float = 0.05,
) -> Volume:
    """Read one CT series as a :class:`Volume` in HU (not yet reoriented to LPS).

    Args:
        path: A folder holding the series (sub-folders are searched), or one file of it (its
            folder is read).
        series_uid: Which SeriesInstanceUID to read when the folder holds several.
        deidentify: De-identify the header before it is kept (see :mod:`kgdx.ingest.deid`).
        spacing_rel_tol: How far (relative) one slice gap may differ from the median gap.

    Raises:
        DataError: naming the file at fault (see the module docstring for the checks).
    """
    if not 0 < spacing_rel_tol < 0.5:
        raise ValueError(f"'spacing_rel_tol' must be in (0, 0.5), got {spacing_rel_tol}")
    p = Path(path)
    if not p.exists():
        raise DataError("no such file or folder", file=p)
    from kgdx.ingest.deid import deidentify as _deid

    by_series: dict[str, list[_Slice]] = {}
    for f in _files(p):
        ds = _read_header(f)
        uid = str(getattr(ds, "SeriesInstanceUID", ""))
        if series_uid is not None and uid != series_uid:
            continue
        _check_modality(ds, f)
        pos = np.array(_floats(ds, "ImagePositionPatient", f), dtype=np.float64)
        ori = np.array(_floats(ds, "ImageOrientationPatient", f), dtype=np.float64)
        if pos.shape != (3,) or ori.shape != (6,):
            raise DataError("ImagePositionPatient needs 3 values and ImageOrientationPatient 6", file=f)
        by_series.setdefault(uid, []).append(_Slice(f, ds, pos, ori))
    if not by_series:
        raise DataError(f"no slice of series {series_uid!r} found", file=p)
    if len(by_series) > 1:
        listing = ", ".join(f"{u or '<none>'} ({len(v)} files)" for u, v in by_series.items())
        raise DataError(f"the folder holds {len(by_series)} series: {listing}; pass series_uid to pick one", file=p)
    slices = next(iter(by_series.values()))
    if len(slices) < 2:
        raise DataError(
            "this is a single DICOM slice (one 2-D image); a CT volume needs the whole series: pass the folder "
            "holding all its slices",
            file=slices[0].path,
        )

    ref = slices[0]
    rows, cols = _int(ref.ds, "Rows", ref.path), _int(ref.ds, "Columns", ref.path)
    spacing_rc = _floats(ref.ds, "PixelSpacing", ref.path)
    for s in slices[1:]:
        if (_int(s.ds, "Rows", s.path), _int(s.ds, "Columns", s.path)) != (rows, cols):
            raise DataError(f"slice size {s.ds.Rows}x{s.ds.Columns} differs from {rows}x{cols}", file=s.path)
        if len(sp := _floats(s.ds, "PixelSpacing", s.path)) != len(spacing_rc) or not np.allclose(
            sp, spacing_rc, rtol=1e-4
        ):
            raise DataError(
                f"PixelSpacing {list(s.ds.PixelSpacing)} differs from {spacing_rc}", file=s.path, field="PixelSpacing"
            )

    ordered, dz = _sort_and_check(slices, spacing_rel_tol)
    array = np.stack([_pixels_hu(s) for s in ordered])  # (z, y, x): rows are y, columns are x

    row, col = ordered[0].orientation[:3], ordered[0].orientation[3:]
    direction = np.column_stack([row, col, np.cross(row, col)])  # ITK: columns are x, y, z axes
    header = ordered[0].ds
    if deidentify:  # only this header is kept; the others are dropped below
        _deid(header)
    meta = {"format": "DICOM", "num_files": len(ordered), **_header_summary(header)}
    for s in ordered:  # drop pixel buffers now that the array is built
        s.ds = None
    s_ = _sitk()
    img = s_.GetImageFromArray(array)
    img.SetSpacing((spacing_rc[1], spacing_rc[0], dz))  # PixelSpacing is (row gap = y, column gap = x)
    img.SetOrigin(tuple(float(v) for v in ordered[0].position))
    img.SetDirection(tuple(float(v) for v in direction.ravel()))
    return Volume.from_sitk(img, source=p, metadata=meta)
