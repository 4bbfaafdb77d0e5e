"""Lobes and fissures: where each lung splits into its lobes, and the pleural lines between them.

Each fissure is a gently undulating surface ``z = f(x, y)`` (LPS mm; ``y`` grows posterior):

* the **oblique (major) fissures** run from high at the back (about the level of the fourth
  thoracic vertebra, 5–7 cm below the apex) to low at the front (the anterior diaphragm), so the
  lower lobe lies behind and below them; the left one starts a little higher;
* the **horizontal (minor) fissure** of the right lung is roughly level with the fourth costal
  cartilage (2–4 cm below the carina) and exists only in front of the right oblique fissure: it
  separates the upper lobe from the middle lobe.

The left upper lobe's lingula has no fissure of its own; :func:`lobe_name` calls the anterior
part of the left upper lobe below the horizontal-fissure level "lingula" when describing where a
lesion lies.

Fissures are drawn as visceral pleura seen edge-on: about 0.5 mm of soft tissue, which a voxel
of 2–3 mm shows as a faint line a few hundred HU above the lung beside it, and which thick
slices blur further, as on real CT.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np

from kgdx.synth._geometry import Grid, smooth_field

__all__ = ["Lobe", "LOBE_NAMES", "lobe_map", "lobe_name"]


class Lobe(IntEnum):
    """Lobe numbers in the phantom's lobe map (0 is not lung)."""

    RUL = 1
    RML = 2
    RLL = 3
    LUL = 4
    LLL = 5


#: How a report names each lobe.
LOBE_NAMES: dict[int, str] = {
    Lobe.RUL: "right upper lobe",
    Lobe.RML: "right middle lobe",
    Lobe.RLL: "right lower lobe",
    Lobe.LUL: "left upper lobe",
    Lobe.LLL: "left lower lobe",
}

#: Visceral pleura of a fissure, both layers (mm).
FISSURE_MM = 0.5


def _surface(grid: Grid, y_front: float, y_back: float, z_front: float, z_back: float, wobble: np.ndarray):
    """``z`` of an oblique plane through (``y_front``, ``z_front``) and (``y_back``, ``z_back``),
    plus ``wobble`` (a (y, x) map in mm), and the cosine of its tilt."""
    y = grid.y[:, None]
    slope = (z_back - z_front) / max(1e-3, y_back - y_front)
    z = z_front + slope * (y - y_front) + wobble
    return z.astype(np.float32), float(1.0 / np.sqrt(1.0 + slope * slope))


def lobe_map(
    grid: Grid,
    lung_r: np.ndarray,
    lung_l: np.ndarray,
    *,
    apex_z: float,
    carina_z: float,
    dome_r_z: float,
    dome_l_z: float,
    y_front: float,
    y_back: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """The lobe of every lung voxel, and the fissures' partial-volume fraction.

    Args:
        grid: The voxel grid.
        lung_r, lung_l: Boolean masks of each lung.
        apex_z, carina_z, dome_r_z, dome_l_z: Heights (mm) of the lung apex, the carina and the
            diaphragm domes.
        y_front, y_back: The front and back of the thoracic cavity (mm).
        rng: The case's image generator (fissure positions and undulation).

    Returns:
        ``(lobes, fissure)``: ``uint8`` :class:`Lobe` numbers (0 outside the lungs) and a
        ``float32`` fraction of each voxel covered by fissure pleura.
    """
    shape = grid.shape
    wob = [smooth_field((1, shape[1], shape[2]), rng, (1, 4, 4))[0] * 6.0 for _ in range(3)]
    zr_back = apex_z - rng.uniform(55.0, 75.0)
    zl_back = zr_back + rng.uniform(0.0, 12.0)
    obl_r, cos_r = _surface(grid, y_front, y_back, dome_r_z + rng.uniform(-5.0, 15.0), zr_back, wob[0])
    obl_l, cos_l = _surface(grid, y_front, y_back, dome_l_z + rng.uniform(-5.0, 15.0), zl_back, wob[1])
    zh = carina_z - rng.uniform(20.0, 40.0)
    hor = (zh + 0.08 * (grid.y[:, None] - y_front) + 0.5 * wob[2]).astype(np.float32)

    z = grid.z[:, None, None]
    lobes = np.zeros(shape, np.uint8)
    below_r = z < obl_r[None]
    lobes[lung_r & below_r] = Lobe.RLL
    lobes[lung_r & ~below_r & (z < hor[None])] = Lobe.RML
    lobes[lung_r & ~below_r & (z >= hor[None])] = Lobe.RUL
    below_l = z < obl_l[None]
    lobes[lung_l & below_l] = Lobe.LLL
    lobes[lung_l & ~below_l] = Lobe.LUL

    # Signed distance (mm) to each fissure along its normal, then a thin sheet's fraction.
    vz, vy = grid.spacing[0], grid.spacing[1]
    fissure = np.zeros(shape, np.float32)
    for surf, cos, mask in (
        (obl_r, cos_r, lung_r),
        (obl_l, cos_l, lung_l),
        (hor, 1.0, lung_r & ~below_r),
    ):
        d = np.abs(z - surf[None]) * cos
        sin = float(np.sqrt(max(0.0, 1.0 - cos * cos)))
        v = cos * vz + sin * vy  # the voxel's extent across the sheet
        f = np.clip((0.5 * v + 0.5 * FISSURE_MM - d) / v, 0.0, 1.0) * min(1.0, FISSURE_MM / v) * 2.0
        np.maximum(fissure, np.where(mask, np.minimum(f, 1.0), 0.0), out=fissure)
    return lobes, fissure


def lobe_name(lobe: int, *, z: float | None = None, y: float | None = None, lingula_z: float | None = None) -> str:
    """A report's name for a lobe; the left upper lobe's anterior-inferior part is the lingula."""
    if lobe == Lobe.LUL and z is not None and lingula_z is not None and z < lingula_z:
        return "lingula"
    return LOBE_NAMES.get(int(lobe), "lung")
