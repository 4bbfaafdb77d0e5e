"""Write volumes and label maps as NIfTI-1 that :func:`kgdx.ingest.volume.read_volume` reads back as LPS.

The array is ``(z, y, x)`` in LPS (see :mod:`kgdx.synth.phantom`). NIfTI stores ``(i, j, k)``
with a RAS affine, so the data are written transposed to ``(x, y, z)`` and the affine is
``diag(-sx, -sy, sz)`` plus the RAS position of voxel 0: the voxel axes point to the patient's
Left, Posterior and Superior (nibabel's ``aff2axcodes`` gives ``('L', 'P', 'S')``), and
``read_volume`` returns the same array with ``orientation == "LPS"``, no reorientation needed.
``qform`` and ``sform`` both carry the affine (code 1, scanner), units are mm.

Bytes are deterministic: the header has no time stamp, and ``.nii.gz`` is gzip-compressed here
with ``mtime=0`` and no file name in the gzip header, so the same array gives the same file.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

__all__ = ["lps_affine", "write_nifti"]


def lps_affine(spacing: tuple[float, float, float], origin_lps: tuple[float, float, float]) -> np.ndarray:
    """The NIfTI (RAS) affine of an LPS ``(z, y, x)`` array stored as ``(x, y, z)``.

    Args:
        spacing: mm ``(z, y, x)``.
        origin_lps: LPS position (x, y, z) of voxel ``[0, 0, 0]``.
    """
    sz, sy, sx = spacing
    ox, oy, oz = origin_lps
    aff = np.diag([-sx, -sy, sz, 1.0])
    aff[:3, 3] = [-ox, -oy, oz]
    return aff


def write_nifti(path: str | Path, array: np.ndarray, spacing: tuple[float, float, float],
                origin_lps: tuple[float, float, float], *, compress_level: int = 6, description: str = "") -> int:
    """Write ``array`` ``(z, y, x)`` to ``path`` (``.nii`` or ``.nii.gz``); return the bytes written."""
    import nibabel as nib

    path = Path(path)
    data = np.ascontiguousarray(np.asarray(array).transpose(2, 1, 0))  # (z, y, x) -> (x, y, z)
    aff = lps_affine(spacing, origin_lps)
    img = nib.Nifti1Image(data, aff)
    hdr = img.header
    hdr.set_xyzt_units("mm")
    img.set_qform(aff, code=1)
    img.set_sform(aff, code=1)
    hdr["descrip"] = description.encode()[:79]
    hdr.set_slope_inter(1.0, 0.0)
    raw = img.to_bytes()
    if path.name.endswith(".gz"):
        raw = gzip.compress(raw, compresslevel=compress_level, mtime=0)
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(raw)
    tmp.replace(path)
    return len(raw)
