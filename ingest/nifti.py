"""Read NIfTI, NRRD and MetaImage CT volumes through SimpleITK.

These formats carry no modality, so the voxels are taken to be HU as stored (ITK applies the
NIfTI ``scl_slope``/``scl_inter``). What can be checked is: the file reads whole, it is a 3-D
scalar image (a 4-D series of one volume is squeezed), and no voxel is NaN or infinite.
"""

from __future__ import annotations

from pathlib import Path

from kg.errors import DataError
from ingest.volume import Volume, _sitk

__all__ = ["read_image_file"]


def read_image_file(path: str | Path) -> Volume:
    """Read one NIfTI/NRRD/MetaImage file as a :class:`Volume` (not yet reoriented).

    Raises:
        DataError: naming the file when it is missing, corrupt or truncated, not 3-D scalar, or
            has NaN/inf voxels.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError("no such file", file=p)
    s = _sitk()
    try:
        reader = s.ImageFileReader()
        reader.SetFileName(str(p))
        reader.ReadImageInformation()
        dim = reader.GetDimension()
        size = reader.GetSize()
        img = reader.Execute()
    except RuntimeError as e:
        # ITK's message is a multi-line C++ trace; its last line says what failed.
        detail = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
        raise DataError(f"cannot read the image (corrupt or truncated?): {detail[-1] if detail else e}", file=p) from None
    if dim == 4 and size[3] == 1:
        img = img[:, :, :, 0]
    elif dim != 3:
        raise DataError(f"expected a 3-D CT volume, got a {dim}-D image of size {size}", file=p)
    meta = {"format": "NIfTI" if ".nii" in p.name.lower() else p.suffix.lstrip(".").upper(), "modality": "CT"}
    return Volume.from_sitk(img, source=p, metadata=meta)
