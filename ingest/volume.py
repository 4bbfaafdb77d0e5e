"""The :class:`Volume` type and :func:`read_volume`, the one entry point for CT volumes.

Axis convention (every volume kgdx hands on follows it):

* ``Volume.array`` is ``float32`` Hounsfield units with axes ``(z, y, x)``, the order that
  SimpleITK's ``GetArrayFromImage`` and MONAI's channel-first slices use.
* After :func:`orient_lps` (done by every reader) the patient axes are DICOM **LPS**:
  ``x`` grows towards the patient's **L**\\ eft, ``y`` towards **P**\\ osterior and ``z``
  towards **S**\\ uperior. So ``array[0]`` is the most inferior axial slice and an axial slice
  ``array[k]`` displays in the radiological convention (patient's right on the image's left,
  anterior at the top) without flips.
* ``spacing`` is in millimetres in array order ``(z, y, x)``; ``origin`` is the LPS position in
  millimetres of voxel ``array[0, 0, 0]`` as ``(x, y, z)`` (the DICOM/ITK order of a point);
  ``direction`` is the ITK 3 × 3 direction matrix whose columns are the x, y and z axes.

:func:`write_volume` writes an LPS ``(z, y, x)`` array so that :func:`read_volume` gives it back.

This module needs only numpy to import; SimpleITK and nibabel are imported where they are used,
so ``ingest`` stays importable on a machine without the ``ml`` extra.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kgdx.errors import DataError

if TYPE_CHECKING:  # pragma: no cover
    import SimpleITK as sitk

__all__ = [
    "Volume",
    "read_volume",
    "write_volume",
    "orient_lps",
    "resample_volume",
    "check_voxels",
    "IMAGE_SUFFIXES",
    "DICOM_SUFFIXES",
]

#: File suffixes read through SimpleITK (NIfTI, NRRD, MetaImage).
IMAGE_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd")
#: File suffixes taken as single DICOM files (a folder is always read as a DICOM series).
DICOM_SUFFIXES = (".dcm", ".dicom", ".ima")

#: HU of air; the fill value when a volume is padded or resampled outside its field of view.
AIR_HU = -1024.0


def _sitk() -> Any:
    try:
        import SimpleITK
    except ImportError as e:  # pragma: no cover - depends on the install
        raise ImportError('reading CT volumes needs SimpleITK: pip install "kgdx[ml]"') from e
    return SimpleITK


@dataclass(frozen=True, eq=False)
class Volume:
    """A CT volume in Hounsfield units with its geometry, source and de-identified metadata.

    Args:
        array: ``float32`` HU voxels, shape ``(z, y, x)``.
        spacing: Voxel size in mm, ``(z, y, x)``.
        origin: LPS position in mm of voxel ``[0, 0, 0]``, ``(x, y, z)``.
        direction: ITK direction matrix (3 × 3, columns are the x, y, z axes).
        source: The file or folder it was read from, for error messages.
        metadata: De-identified facts about the acquisition (modality, kernel, slice count ...).

    Example:
        >>> import numpy as np
        >>> v = Volume(np.full((4, 8, 8), -1000, np.float32), spacing=(5.0, 0.7, 0.7))
        >>> v.shape, v.spacing
        ((4, 8, 8), (5.0, 0.7, 0.7))
    """

    array: np.ndarray
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    direction: tuple[float, ...] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
    source: Path | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        arr = np.asarray(self.array)
        if arr.ndim != 3:
            raise DataError(f"a CT volume must be 3-D (z, y, x), got shape {arr.shape}", file=self.source)
        if min(arr.shape) < 1:
            raise DataError(f"the volume is empty, shape {arr.shape}", file=self.source)
        if len(self.spacing) != 3 or any(not np.isfinite(s) or s <= 0 for s in self.spacing):
            raise DataError(f"spacing must be three positive mm values (z, y, x), got {self.spacing}", file=self.source)
        if len(self.direction) != 9:
            raise DataError(
                f"direction must have 9 entries (a 3 x 3 matrix), got {len(self.direction)}", file=self.source
            )
        object.__setattr__(self, "array", check_voxels(arr.astype(np.float32, copy=False), self.source))
        object.__setattr__(self, "spacing", tuple(float(s) for s in self.spacing))
        object.__setattr__(self, "origin", tuple(float(s) for s in self.origin))
        object.__setattr__(self, "direction", tuple(float(s) for s in self.direction))
        if self.source is not None:
            object.__setattr__(self, "source", Path(self.source))

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(z, y, x)`` voxel counts."""
        return tuple(self.array.shape)  # type: ignore[return-value]

    @property
    def orientation(self) -> str:
        """The three-letter DICOM orientation code of the axes, e.g. ``"LPS"``."""
        return _sitk().DICOMOrientImageFilter.GetOrientationFromDirectionCosines(self.direction)

    def __repr__(self) -> str:
        src = self.source.name if self.source is not None else None
        sp = ", ".join(f"{s:g}" for s in self.spacing)
        return (
            f"Volume(shape={self.shape}, spacing=({sp}), HU=[{self.array.min():.0f}, {self.array.max():.0f}], "
            f"source={src!r})"
        )

    def to_sitk(self) -> sitk.Image:
        """This volume as a SimpleITK image (geometry included)."""
        s = _sitk()
        img = s.GetImageFromArray(self.array)
        img.SetSpacing(tuple(reversed(self.spacing)))  # ITK wants (x, y, z)
        img.SetOrigin(self.origin)
        img.SetDirection(self.direction)
        return img

    @classmethod
    def from_sitk(
        cls, image: sitk.Image, *, source: str | Path | None = None, metadata: Mapping[str, Any] | None = None
    ) -> Volume:
        """Wrap a 3-D single-component SimpleITK image (its voxels already in HU)."""
        s = _sitk()
        if image.GetDimension() != 3:
            raise DataError(f"expected a 3-D image, got {image.GetDimension()}-D", file=source)
        if image.GetNumberOfComponentsPerPixel() != 1:
            raise DataError(
                f"expected one value per voxel, got {image.GetNumberOfComponentsPerPixel()} (a vector or RGB image)",
                file=source,
            )
        arr = s.GetArrayFromImage(image)  # (z, y, x)
        return cls(
            arr,
            spacing=tuple(reversed(image.GetSpacing())),
            origin=image.GetOrigin(),
            direction=image.GetDirection(),
            source=Path(source) if source is not None else None,
            metadata=dict(metadata or {}),
        )


def check_voxels(array: np.ndarray, source: str | Path | None = None) -> np.ndarray:
    """Refuse NaN or infinite voxels, naming the file and how many there are.

    Why: a single NaN survives windowing (``clip`` keeps NaN) and turns every embedding of the
    scan into NaN, far from where it came in.
    """
    finite = np.isfinite(array)
    if not finite.all():
        bad = int(array.size - finite.sum())
        first = tuple(int(i) for i in np.argwhere(~finite)[0])
        raise DataError(f"{bad} voxel(s) are NaN or infinite (first at (z, y, x) = {first})", file=source)
    return array


def orient_lps(volume: Volume) -> Volume:
    """Reorient to the canonical LPS axes (see the module docstring); a no-op when already LPS.

    The permutation and flips come from SimpleITK's ``DICOMOrient``, so oblique scans are put on
    the closest LPS axes without resampling.
    """
    s = _sitk()
    if volume.orientation == "LPS":
        return volume
    img = s.DICOMOrient(volume.to_sitk(), "LPS")
    out = Volume.from_sitk(img, source=volume.source, metadata=volume.metadata)
    return out


def resample_volume(volume: Volume, spacing: tuple[float, float, float]) -> Volume:
    """Resample to a physical voxel size ``(z, y, x)`` in mm, linear, air outside the scan.

    Why optional: MedMPT picks 32 slices by index, whatever their thickness; physical
    resampling first makes thick and thin series comparable when a study mixes them.
    """
    if len(spacing) != 3 or any(s <= 0 for s in spacing):
        raise ValueError(f"'spacing' must be three positive mm values (z, y, x), got {spacing}")
    s = _sitk()
    img = volume.to_sitk()
    new_xyz = tuple(float(v) for v in reversed(spacing))
    size = [max(1, int(round(n * o / t))) for n, o, t in zip(img.GetSize(), img.GetSpacing(), new_xyz)]
    out = s.Resample(
        img, size, s.Transform(), s.sitkLinear, img.GetOrigin(), new_xyz, img.GetDirection(), AIR_HU, s.sitkFloat32
    )
    return Volume.from_sitk(out, source=volume.source, metadata=volume.metadata)


#: Geometry a CT volume read from a file must have before it is encoded (check_geometry).
MIN_SLICES = 8
MIN_IN_PLANE = 16
MAX_VOXELS = 1024 * 1024 * 1024
#: Spacing bounds are wide enough for coarse synthetic and low-resolution research volumes (e.g.
#: 10 x 32 x 32 voxels over 320 x 360 mm is 32 mm slices, 11 mm pixels); only absurd headers fail.
SLICE_SPACING_MM = (0.1, 50.0)
PIXEL_SPACING_MM = (0.05, 25.0)
#: HU range that nearly every voxel of a real CT falls in; far more outside means corrupt pixels.
PLAUSIBLE_HU = (-1100.0, 3100.0)
MAX_IMPLAUSIBLE_SHARE = 0.05


def check_geometry(volume: Volume) -> Volume:
    """Refuse a volume no CT encoder should see: too few slices, too small in-plane, absurd
    spacing, or voxel values that are mostly outside any CT's HU range (corrupt pixel data).

    Raises:
        DataError: naming the source and what is wrong.
    """
    z, y, x = volume.shape
    src = volume.source
    if z < MIN_SLICES:
        raise DataError(
            f"{z} slice(s) of {y}x{x}: a CT volume needs at least {MIN_SLICES} slices (is this one image, "
            "or part of a series?)",
            file=src,
        )
    if min(y, x) < MIN_IN_PLANE:
        raise DataError(f"slices of {y}x{x} pixels: a CT slice needs at least {MIN_IN_PLANE}x{MIN_IN_PLANE}", file=src)
    if z * y * x > MAX_VOXELS:
        raise DataError(f"{z}x{y}x{x} voxels: more than the {MAX_VOXELS:,} kgdx reads", file=src)
    sz, sy, sx = volume.spacing
    lo, hi = SLICE_SPACING_MM
    if not lo <= sz <= hi:
        raise DataError(f"slice spacing {sz:g} mm is outside {lo:g}..{hi:g} mm: the header is wrong", file=src)
    lo, hi = PIXEL_SPACING_MM
    if not (lo <= sy <= hi and lo <= sx <= hi):
        raise DataError(f"pixel spacing {sy:g} x {sx:g} mm is outside {lo:g}..{hi:g} mm: the header is wrong", file=src)
    arr = volume.array
    sample = arr[:: max(1, z // 16)]  # a few slices are enough to tell corrupt data from CT
    low, high = PLAUSIBLE_HU
    share = float(np.mean((sample < low) | (sample > high)))
    if share > MAX_IMPLAUSIBLE_SHARE:
        raise DataError(
            f"{share:.0%} of the voxels lie outside {low:g}..{high:g} HU: the pixel data are corrupt, or this "
            "is not a CT in Hounsfield units",
            file=src,
        )
    return volume


def _suffix(path: Path) -> str:
    name = path.name.lower()
    return ".nii.gz" if name.endswith(".nii.gz") else path.suffix.lower()


def read_volume(
    path: str | Path,
    *,
    series_uid: str | None = None,
    deidentify: bool = True,
    orient: bool = True,
) -> Volume:
    """Read a CT volume from a DICOM folder or file, NIfTI, NRRD or MetaImage, in HU and LPS.

    Args:
        path: A folder of DICOM files (one series, or pick one with ``series_uid``), a single
            DICOM file of a series, or a ``.nii``/``.nii.gz``/``.nrrd``/``.mha`` file.
        series_uid: The SeriesInstanceUID to read when a DICOM folder holds several series.
        deidentify: Strip names, ids, dates and institution from DICOM headers (see
            :mod:`kgdx.ingest.deid`); on by default and only meant to be turned off for debugging.
        orient: Reorient to canonical LPS ``(z, y, x)``.

    Raises:
        DataError: naming the file, for a missing, corrupt or truncated file, a non-CT series,
            missing slices, inconsistent spacing, NaN/inf voxels, or geometry no CT has
            (:func:`check_geometry`). A duplicate DICOM slice is dropped with a
            :class:`~kgdx.errors.DataWarning`.
    """
    p = Path(path)
    if not p.exists():
        raise DataError("no such file or folder", file=p)
    suffix = _suffix(p)
    if p.is_dir() or suffix in DICOM_SUFFIXES:
        from kgdx.ingest.dicom import read_dicom_series

        vol = read_dicom_series(p, series_uid=series_uid, deidentify=deidentify)
    elif suffix in IMAGE_SUFFIXES:
        from kgdx.ingest.nifti import read_image_file

        vol = read_image_file(p)
    else:
        raise DataError(
            f"unknown volume format {suffix!r}; expected a DICOM folder or one of "
            f"{', '.join(DICOM_SUFFIXES + IMAGE_SUFFIXES)}",
            file=p,
        )
    check_geometry(vol)
    return orient_lps(vol) if orient else vol


def _lps_affine(spacing: tuple[float, float, float], origin_lps: tuple[float, float, float]) -> np.ndarray:
    """The NIfTI (RAS) affine of an LPS ``(z, y, x)`` array stored as ``(x, y, z)``."""
    sz, sy, sx = spacing
    ox, oy, oz = origin_lps
    aff = np.diag([-sx, -sy, sz, 1.0])
    aff[:3, 3] = [-ox, -oy, oz]
    return aff


def write_volume(
    path: str | Path,
    array: np.ndarray,
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0),
    origin_lps: tuple[float, float, float] = (0.0, 0.0, 0.0),
    *,
    compress_level: int = 6,
    description: str = "",
) -> Path:
    """Write an LPS ``(z, y, x)`` array with its ``spacing`` (mm, ``(z, y, x)``) and the LPS position
    of voxel 0, atomically; the format follows the suffix.

    NIfTI (``.nii``, ``.nii.gz``) is written with nibabel and is byte-for-byte deterministic: the
    data are stored as ``(x, y, z)`` with the RAS affine ``diag(-sx, -sy, sz)`` (axis codes
    L, P, S), qform and sform both set (code 1, scanner), no time stamp, and ``.gz`` compressed
    with ``mtime=0``. Other suffixes (``.nrrd``, ``.mha``) go through SimpleITK with the identity
    (LPS) direction.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    if path.name.endswith((".nii", ".nii.gz")):
        import gzip

        import nibabel as nib

        data = np.ascontiguousarray(np.asarray(array).transpose(2, 1, 0))  # (z, y, x) -> (x, y, z)
        aff = _lps_affine(spacing, origin_lps)
        img = nib.Nifti1Image(data, aff)
        img.header.set_xyzt_units("mm")
        img.set_qform(aff, code=1)
        img.set_sform(aff, code=1)
        img.header["descrip"] = description.encode()[:79]
        img.header.set_slope_inter(1.0, 0.0)
        raw = img.to_bytes()
        if path.name.endswith(".gz"):
            raw = gzip.compress(raw, compresslevel=compress_level, mtime=0)
        tmp.write_bytes(raw)
    elif path.suffix in (".nrrd", ".mha"):
        sitk = _sitk()
        img = sitk.GetImageFromArray(np.asarray(array))
        img.SetSpacing(tuple(float(s) for s in reversed(spacing)))
        img.SetOrigin(tuple(float(o) for o in origin_lps))
        tmp = path.with_name(f"{path.stem}.part{path.suffix}")  # the writer picks its format by suffix
        sitk.WriteImage(img, str(tmp))
    else:
        raise ValueError(f"write_volume writes .nii, .nii.gz, .nrrd or .mha, not {path.name!r}")
    tmp.replace(path)
    return path
