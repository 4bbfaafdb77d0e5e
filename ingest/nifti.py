"""Read NIfTI (nibabel), NRRD and MetaImage (SimpleITK) CT volumes.

These formats carry no modality, so the voxels are taken to be HU as stored (the NIfTI
``scl_slope``/``scl_inter`` applied). What can be checked is: the file reads whole, it is a 3-D
scalar image (a 4-D file of one volume is squeezed), and no voxel is NaN or infinite.

Why nibabel for NIfTI: SimpleITK reads a truncated ``.nii``/``.nii.gz`` without complaint and
fills the missing part with zeros, while nibabel refuses it. Its RAS affine is turned into ITK's
LPS geometry here, so both readers give the same :class:`~kgdx.ingest.volume.Volume`.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from kgdx.errors import DataError
from kgdx.ingest.volume import Volume, _sitk

__all__ = ["read_image_file", "read_nifti"]

_RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0])


def _check_sizeof_hdr(p: Path) -> None:
    """Refuse a header whose first field is not 348 (NIfTI-1) or 540 (NIfTI-2) in either byte
    order: nibabel "fixes" it silently, but it means the header cannot be trusted."""
    try:
        opener = gzip.open if p.name.lower().endswith(".gz") else open
        with opener(p, "rb") as f:
            head = f.read(4)
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"cannot read the NIfTI file (corrupt or truncated?): {e}", file=p) from None
    if len(head) < 4:
        raise DataError("cannot read the NIfTI file: it is truncated (no header)", file=p)
    values = {struct.unpack("<i", head)[0], struct.unpack(">i", head)[0]}
    if not values & {348, 540}:
        raise DataError(
            f"corrupt NIfTI header: sizeof_hdr is {struct.unpack('<i', head)[0]}, not 348 or 540",
            file=p,
            field="sizeof_hdr",
        )


def read_nifti(path: str | Path) -> Volume:
    """Read a ``.nii``/``.nii.gz`` file with nibabel as a :class:`Volume` (not yet reoriented)."""
    p = Path(path)
    try:
        import nibabel as nib
    except ImportError as e:  # pragma: no cover
        raise ImportError('reading NIfTI needs nibabel: pip install "kgdx[ml]"') from e
    _check_sizeof_hdr(p)
    try:
        img = nib.load(str(p))
        data = np.asarray(img.dataobj, dtype=np.float32)  # applies scl_slope / scl_inter
    except (
        OSError,
        EOFError,
        ValueError,
        OverflowError,
        MemoryError,
        IndexError,
        TypeError,
        zlib.error,
        nib.filebasedimages.ImageFileError,
        nib.spatialimages.HeaderDataError,
    ) as e:
        raise DataError(f"cannot read the NIfTI file (corrupt or truncated?): {e}", file=p) from None
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise DataError(f"expected a 3-D CT volume, got a {data.ndim}-D image of shape {data.shape}", file=p)
    affine = np.asarray(img.affine, dtype=np.float64)
    zooms = np.linalg.norm(affine[:3, :3], axis=0)  # voxel size along i, j, k
    if np.any(zooms <= 0) or not np.all(np.isfinite(affine)):
        raise DataError(f"the NIfTI affine is degenerate: {affine.tolist()}", file=p)
    direction = _RAS_TO_LPS @ (affine[:3, :3] / zooms)
    origin = _RAS_TO_LPS @ affine[:3, 3]
    return Volume(
        np.ascontiguousarray(data.transpose(2, 1, 0)),  # nibabel (i, j, k) = (x, y, z) -> (z, y, x)
        spacing=(float(zooms[2]), float(zooms[1]), float(zooms[0])),
        origin=tuple(origin),
        direction=tuple(direction.ravel()),
        source=p,
        metadata={"format": "NIfTI", "modality": "CT"},
    )


def read_image_file(path: str | Path) -> Volume:
    """Read one NIfTI/NRRD/MetaImage file as a :class:`Volume` (not yet reoriented).

    Raises:
        DataError: naming the file when it is missing, corrupt or truncated, not 3-D scalar, or
            has NaN/inf voxels.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError("no such file", file=p)
    name = p.name.lower()
    if name.endswith((".nii", ".nii.gz")):
        return read_nifti(p)
    s = _sitk()
    try:
        reader = s.ImageFileReader()
        reader.SetFileName(str(p))
        reader.ReadImageInformation()
        dim = reader.GetDimension()
        size = reader.GetSize()
        img = reader.Execute()
    except RuntimeError as e:
        # ITK's message is a multi-line C++ trace; its last lines say what failed.
        detail = [ln.strip() for ln in str(e).splitlines() if ln.strip() and not ln.strip().startswith("sitk::")]
        raise DataError(
            f"cannot read the image (corrupt or truncated?): {' '.join(detail[-2:]) or e}", file=p
        ) from None
    if dim == 4 and size[3] == 1:
        img = img[:, :, :, 0]
    elif dim != 3:
        raise DataError(f"expected a 3-D CT volume, got a {dim}-D image of size {size}", file=p)
    meta = {"format": p.suffix.lstrip(".").upper(), "modality": "CT"}
    return Volume.from_sitk(s.Cast(img, s.sitkFloat32), source=p, metadata=meta)
