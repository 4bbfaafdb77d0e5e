"""The CT phantom: an adult chest built from anatomy, in noise-free HU.

Geometry and orientation (the same convention as :mod:`kgdx.ingest.volume`): arrays are ``(z, y, x)``
with ``x`` towards the patient's **left**, ``y`` towards **posterior** and ``z`` towards
**superior** (LPS), so ``array[0]`` is the most inferior slice and an axial slice displays in the
radiological convention without flips. Millimetre coordinates are centred on the volume.

What is drawn, outside in:

* **Chest wall**: a body outline that is rounder in front and flatter behind, subcutaneous fat
  (thicker in women, who also get breasts of fat and glandular tissue), a muscle layer with
  paraspinal muscles beside the spine, intercostal muscle; 12 pairs of **ribs** that run
  obliquely down and forwards from the spine (so an axial slice cuts each one over a short
  arc), with cortex, marrow and costal cartilages; the **sternum** (manubrium and body),
  **clavicles** and **scapulae**; the **spine**: vertebral bodies with discs, pedicles, laminae,
  spinous and transverse processes, and the spinal canal.
* **Thoracic cavity**: a bean-shaped outline with the vertebral body bulging into its back, so
  the lungs wrap round the spine in the paravertebral gutters; domed above, and floored by
  two **diaphragm** domes (the right higher) with deep posterior costophrenic recesses. Below
  them: liver, stomach with its fundal gas, spleen, kidneys, abdominal fat.
* **Mediastinum**: the **heart** as an ellipsoid tilted towards the left, front and down, in
  pericardial fat with an atrioventricular groove of epicardial fat and the left atrium behind;
  the **great vessels** (ascending aorta, arch with its three branches, descending aorta,
  pulmonary trunk and both pulmonary arteries, superior vena cava with both brachiocephalic
  veins, azygos arch, inferior vena cava); the **trachea** (lumen and cartilage wall), carina and
  main bronchi; the **oesophagus**; all in mediastinal fat.
* **Lungs** (:mod:`kgdx.synth.lungs`): five lobes split by oblique and horizontal fissures drawn
  as thin pleural lines; parenchyma about −860 HU in front to −800 HU in the dependent back (the
  supine gravity gradient) with a fine texture; and **trees** (:mod:`kgdx.synth.trees`):
  arteries with a bronchus beside each branch and veins between them, grown into every lobe
  from the hila and the left atrium, tapering by Murray's law to sub-millimetre branches that
  fade a centimetre short of the pleura.
* A patient **table** under the back, as on every scan.

Noise-free HU of each tissue (before partial volume and the acquisition, :data:`TISSUE_HU`):
air −1000; fat −120 to −80; muscle and other soft tissue 35–60; non-contrast blood 35–50; liver
50–65; cortical bone 600–950, marrow 180–320; cartilage 80–160; CSF and cord 5–35.

The phantom is drawn analytically on the voxel grid (implicit surfaces, tapered tubes with
partial-volume edges) in about a second at 64 × 160 × 160.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np

from kgdx.synth._geometry import Grid, Point, edt_from, edt_inside, ellipsoid, rotated_ellipsoid, smooth_field, tube
from kgdx.synth.lungs import Lobe, lobe_map
from kgdx.synth.trees import Tree, bronchi_along, grow_tree, render_branches

__all__ = ["Tissue", "TISSUE_HU", "Anatomy", "Phantom", "make_phantom", "sample_anatomy"]


class Tissue(IntEnum):
    """Tissue label of each phantom voxel (kept in memory for tests and lesion placement)."""

    AIR = 0
    FAT = 1
    SOFT = 2  # muscle, oesophagus, breast glandular tissue, other soft tissue
    BONE = 3  # cortical bone
    MARROW = 4
    LUNG_R = 5
    LUNG_L = 6
    VESSEL = 7  # pulmonary vessels inside the lungs
    AIRWAY = 8  # airway lumen
    BLOOD = 9  # heart and great vessels
    LIVER = 10
    ABDOMEN = 11  # stomach wall, spleen, kidneys
    GAS = 12  # gastric gas
    CSF = 13  # spinal canal
    CARTILAGE = 14
    BRONCHIAL_WALL = 15  # walls of the intrapulmonary bronchi (partial volume)
    TABLE = 16  # the scanner table, outside the body


#: Noise-free HU range of each tissue's voxels before partial-volume blending (low, high).
TISSUE_HU: dict[Tissue, tuple[float, float]] = {
    Tissue.AIR: (-1000.0, -1000.0),
    Tissue.FAT: (-125.0, -75.0),
    Tissue.SOFT: (15.0, 65.0),
    Tissue.BONE: (600.0, 950.0),
    Tissue.MARROW: (180.0, 320.0),
    Tissue.LUNG_R: (-900.0, -760.0),
    Tissue.LUNG_L: (-900.0, -760.0),
    Tissue.VESSEL: (-880.0, 45.0),
    Tissue.AIRWAY: (-1000.0, -200.0),  # partial volume with the wall at the edges
    Tissue.BLOOD: (35.0, 50.0),
    Tissue.LIVER: (50.0, 65.0),
    Tissue.ABDOMEN: (25.0, 50.0),
    Tissue.GAS: (-1000.0, -1000.0),
    Tissue.CSF: (5.0, 35.0),
    Tissue.CARTILAGE: (80.0, 160.0),
    Tissue.BRONCHIAL_WALL: (-880.0, 40.0),
    Tissue.TABLE: (-950.0, 150.0),
}

_LUNG_TISSUES = (Tissue.LUNG_R, Tissue.LUNG_L, Tissue.VESSEL, Tissue.BRONCHIAL_WALL)


@dataclass(frozen=True)
class Anatomy:
    """Per-patient anatomical parameters (mm, LPS, volume-centred).

    Attributes:
        cavity_a, cavity_b: Half-width and half-depth of the thoracic cavity at its widest.
        cavity_yc: ``y`` of the cavity's centre.
        cavity_n: Superellipse exponent of the cavity outline (2 is an ellipse).
        wall: Ribs and intercostal muscle (mm).
        muscle: Chest-wall muscle thickness.
        fat: Subcutaneous fat thickness.
        apex_z, carina_z, dome_r_z, dome_l_z: Heights of the lung apex, carina and diaphragm domes.
        vert_r: Radius of the vertebral bodies.
        heart_scale: > 1 for an enlarged heart (cardiomegaly).
        female: Sex (breasts, a little more fat).
        breasts: Whether breasts are drawn.
    """

    cavity_a: float
    cavity_b: float
    cavity_yc: float
    cavity_n: float
    wall: float
    muscle: float
    fat: float
    apex_z: float
    carina_z: float
    dome_r_z: float
    dome_l_z: float
    vert_r: float
    heart_scale: float = 1.0
    female: bool = False
    breasts: bool = False

    @property
    def body_a(self) -> float:
        """Half-width of the body."""
        return self.cavity_a + self.wall + self.muscle + self.fat

    @property
    def body_front(self) -> float:
        """``y`` of the anterior skin (without breasts)."""
        return self.cavity_yc - self.cavity_b - self.wall - 0.7 * self.muscle - self.fat

    @property
    def body_back(self) -> float:
        """``y`` of the posterior skin."""
        return self.spine_y + 56.0 + 0.8 * self.fat

    @property
    def spine_y(self) -> float:
        """``y`` of the centre of the vertebral bodies (their front bulges into the cavity)."""
        return self.cavity_yc + self.cavity_b - 24.0

    @property
    def y_front(self) -> float:
        """Front of the thoracic cavity (behind the sternum)."""
        return self.cavity_yc - self.cavity_b

    @property
    def y_back(self) -> float:
        """Back of the thoracic cavity (the posterior costophrenic gutters)."""
        return self.cavity_yc + self.cavity_b

    @property
    def trachea_y(self) -> float:
        return self.spine_y - self.vert_r - 19.0


def sample_anatomy(
    rng: np.random.Generator, fov_xy: float, *, heart_scale: float = 1.0, female: bool | None = None
) -> Anatomy:
    """Draw a plausible adult chest that fits the in-plane field of view ``fov_xy`` (mm)."""
    female = bool(rng.random() < 0.5) if female is None else female
    size = rng.uniform(0.88, 1.06) * (0.95 if female else 1.0)
    wall = rng.uniform(10.0, 14.0)
    muscle = rng.uniform(6.0, 13.0) * (0.85 if female else 1.0)
    fat = rng.uniform(4.0, 26.0) * (1.2 if female else 1.0)
    cav_a = 124.0 * size * rng.uniform(0.95, 1.05)
    # Keep the whole body inside the scan circle (a small FOV shrinks the patient, not the chest's shape).
    limit = 0.46 * fov_xy - wall - muscle - fat
    cav_a = min(cav_a, max(limit, 0.25 * fov_xy))
    cav_b = cav_a * rng.uniform(0.66, 0.78)
    apex = rng.uniform(112.0, 130.0)
    carina = apex - rng.uniform(82.0, 98.0)
    dome_r = apex - rng.uniform(165.0, 195.0)
    dome_l = dome_r - rng.uniform(8.0, 20.0)
    return Anatomy(
        cavity_a=float(cav_a),
        cavity_b=float(cav_b),
        cavity_yc=float(rng.uniform(-14.0, -4.0)),
        cavity_n=float(rng.uniform(2.0, 2.4)),
        wall=float(wall),
        muscle=float(muscle),
        fat=float(fat),
        apex_z=float(apex),
        carina_z=float(carina),
        dome_r_z=float(dome_r),
        dome_l_z=float(dome_l),
        vert_r=float(rng.uniform(15.0, 18.0)),
        heart_scale=float(heart_scale),
        female=female,
        breasts=female and bool(rng.random() < 0.85),
    )


@dataclass
class Phantom:
    """A drawn phantom: HU, tissue labels, lobes, trees, and the geometry lesions are placed by.

    Attributes:
        hu: ``float32`` HU, ``(z, y, x)``, noise-free and unblurred.
        tissue: ``uint8`` :class:`Tissue` labels.
        grid: The voxel grid.
        anatomy: The patient's parameters.
        hila: ``{"R": (x, y, z), "L": ...}`` hilum points.
        landmarks: Named points: ``carina``, ``trachea``, ``arch``, ``heart`` (centre),
            ``heart_semi`` (half-axes), the lymph-node stations ``station:<name>``, and
            ``lingula_z`` (the height below which the left upper lobe's front is the lingula).
        lobes: ``uint8`` :class:`~kgdx.synth.lungs.Lobe` of each lung voxel (0 elsewhere).
        trees: The lobes' artery, vein and bronchus trees.
        vessel_frac, airway_frac, wall_frac: ``float16`` partial-volume fractions of pulmonary
            vessels, bronchial lumen and bronchial wall.
        bronchi: Bronchus segments as ``(a, b, lumen_radius, side)``.
        vessels: Vessel segments as ``(a, b, r0, r1, side)``.
    """

    hu: np.ndarray
    tissue: np.ndarray
    grid: Grid
    anatomy: Anatomy
    hila: dict[str, Point]
    landmarks: dict[str, object] = field(default_factory=dict)
    lobes: np.ndarray | None = None
    trees: list[Tree] = field(default_factory=list)
    vessel_frac: np.ndarray | None = None
    airway_frac: np.ndarray | None = None
    wall_frac: np.ndarray | None = None
    bronchi: list[tuple[Point, Point, float, str]] = field(default_factory=list)
    vessels: list[tuple[Point, Point, float, float, str]] = field(default_factory=list)
    _cache: dict = field(default_factory=dict, repr=False)

    def lung(self, side: str | None = None) -> np.ndarray:
        """Boolean mask of lung parenchyma plus its vessels and bronchi (one side or both)."""
        key = ("lung", side)
        if key not in self._cache:
            m = self.lobes > 0 if self.lobes is not None else np.isin(self.tissue, _LUNG_TISSUES)
            if side is not None:
                m = m & (self.lobes <= Lobe.RLL if side == "R" else self.lobes >= Lobe.LUL)
            self._cache[key] = m
        return self._cache[key]

    def side_mask(self, side: str) -> np.ndarray:
        """Voxels on the patient's right (``R``: x < 0) or left."""
        x = self.grid.x[None, None, :]
        return np.broadcast_to((x < 0) if side == "R" else (x >= 0), self.hu.shape)

    def rho(self) -> np.ndarray:
        """Normalised radius of each voxel in the thoracic cavity's outline (1 at the chest wall)."""
        if "rho" not in self._cache:
            self._cache["rho"] = _cavity_rho(self.anatomy, self.grid).astype(np.float32)
        return self._cache["rho"]

    def wall_depth(self) -> np.ndarray:
        """Depth (mm) of each voxel below the costal pleura (the inner chest wall)."""
        if "depth" not in self._cache:
            cav = self.rho() < 1.0
            self._cache["depth"] = edt_inside(cav, self.grid.spacing)
        return self._cache["depth"]

    def height(self) -> np.ndarray:
        """Relative height of each slice within the lungs: 0 at the lowest lung slice, 1 at the apex."""
        if "h" not in self._cache:
            lung_z = np.nonzero(self.lung().any(axis=(1, 2)))[0]
            k0, k1 = (lung_z.min(), lung_z.max()) if lung_z.size else (0, self.hu.shape[0] - 1)
            h = (np.arange(self.hu.shape[0]) - k0) / max(1, k1 - k0)
            self._cache["h"] = np.clip(h, 0, 1).astype(np.float32)[:, None, None]
        return self._cache["h"]

    def dependency(self) -> np.ndarray:
        """0 at the front of the cavity, 1 at its back (supine: 1 is dependent)."""
        if "dep" not in self._cache:
            an = self.anatomy
            y = self.grid.y[None, :, None]
            d = (y - an.y_front) / (an.y_back - an.y_front)
            self._cache["dep"] = np.clip(d, 0, 1).astype(np.float32)
        return self._cache["dep"]

    def forget(self) -> None:
        """Drop cached masks after the tissue map changed."""
        self._cache.clear()


# -- shapes ---------------------------------------------------------------------------------------


def _cavity_scale(an: Anatomy, z: np.ndarray) -> np.ndarray:
    """Per-slice scale of the cavity outline: a dome above, widening gently towards the base."""
    top = an.apex_z
    start = top - 70.0
    # Narrower above, widest just above the domes (the chest is a truncated cone), then a dome.
    s = 0.84 + 0.16 * np.clip((start - z) / max(1.0, start - an.dome_r_z), 0.0, 1.0)
    up = z > start
    s[up] = 0.84 * np.sqrt(np.clip(1.0 - ((z[up] - start) / (top - start)) ** 2, 0.0, 1.0))
    return np.where(z >= top, 0.0, np.maximum(s, 0.0)).astype(np.float32)


def _superellipse(x: np.ndarray, y: np.ndarray, a, b, n) -> np.ndarray:  # noqa: ANN001
    """``(|x/a|^n + |y/b|^n)^(1/n)``: 1 on the outline."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return (np.abs(x / a) ** n + np.abs(y / b) ** n) ** (1.0 / n)


def _cavity_rho(an: Anatomy, grid: Grid) -> np.ndarray:
    s = _cavity_scale(an, grid.z)[:, None, None]
    x = grid.x[None, None, :]
    y = grid.y[None, :, None] - an.cavity_yc
    with np.errstate(divide="ignore", invalid="ignore"):
        r = _superellipse(x, y, np.maximum(an.cavity_a * s, 1e-3), np.maximum(an.cavity_b * s, 1e-3), an.cavity_n)
    return np.where(s > 0, r, 9.0)


def _body_rho(an: Anatomy, grid: Grid, inset: float = 0.0) -> np.ndarray:
    """Normalised radius of the body outline shrunk by ``inset`` mm: rounder in front, flat behind."""
    z = grid.z[:, None, None]
    taper = 1.0 - 0.3 * np.clip((z - an.apex_z) / 40.0, 0.0, 1.0)  # towards the neck
    a = (an.body_a - inset) * taper
    yc = 0.5 * (an.body_front + an.body_back)
    b = 0.5 * (an.body_back - an.body_front) - inset
    y = grid.y[None, :, None] - yc
    x = grid.x[None, None, :]
    n = np.where(y < 0, 2.15, 3.2)
    return _superellipse(x, y, a, b, n)


def _diaphragm(an: Anatomy, grid: Grid) -> np.ndarray:
    """Height (mm) of the diaphragm under each (y, x) column: two domes, lower centrally and
    dropping steeply behind into the posterior costophrenic recesses."""
    y = grid.y[:, None]
    x = grid.x[None, :]
    a, b, yc = an.cavity_a, an.cavity_b, an.cavity_yc
    out = []
    for dome, xd in ((an.dome_r_z, -0.45 * a), (an.dome_l_z, 0.47 * a)):
        q = ((x - xd) / (0.6 * a)) ** 2 + ((y - yc + 0.15 * b) / (0.9 * b)) ** 2
        back = 34.0 * np.clip((y - yc) / b, 0, None) ** 1.5
        out.append(np.maximum(dome - 42.0 * q - back, dome - 55.0))
    return np.where(x < 0, out[0], out[1]).astype(np.float32)


# -- drawing --------------------------------------------------------------------------------------


class _Draw:
    """The volumes being drawn and helpers to paint them."""

    def __init__(self, grid: Grid) -> None:
        self.grid = grid
        self.hu = np.full(grid.shape, -1000.0, np.float32)
        self.tissue = np.zeros(grid.shape, np.uint8)

    def put(self, mask: np.ndarray, t: Tissue, value, sl=(slice(None),) * 3) -> None:  # noqa: ANN001
        if not np.any(mask):
            return
        self.tissue[sl][mask] = t
        self.hu[sl][mask] = value if np.isscalar(value) else np.broadcast_to(value, mask.shape)[mask]

    def tube(self, a: Point, b: Point, r0: float, r1: float | None, t: Tissue, value: float, where=None) -> None:  # noqa: ANN001
        tb = tube(self.grid, a, b, r0, r1)
        if tb is None:
            return
        sl, frac, _, _ = tb
        m = frac > 0.5
        if where is not None:
            m &= where[sl]
        self.put(m, t, value, sl)

    def path(self, pts: list[Point], r: float, t: Tissue, value: float, where=None) -> None:  # noqa: ANN001
        for a, b in zip(pts[:-1], pts[1:]):
            self.tube(a, b, r, r, t, value, where)


def make_phantom(
    shape: tuple[int, int, int],
    spacing: tuple[float, float, float],
    rng: np.random.Generator,
    *,
    heart_scale: float = 1.0,
) -> Phantom:
    """Draw one patient's chest.

    Args:
        shape: Voxels ``(z, y, x)``.
        spacing: mm ``(z, y, x)``.
        rng: The case's random generator (anatomy, trees, texture).
        heart_scale: > 1 draws an enlarged heart (cardiomegaly).
    """
    grid = Grid(tuple(shape), tuple(float(s) for s in spacing))  # type: ignore[arg-type]
    an = sample_anatomy(rng, fov_xy=min(shape[1] * spacing[1], shape[2] * spacing[2]), heart_scale=heart_scale)
    d = _Draw(grid)
    z3, y3, x3 = grid.z[:, None, None], grid.y[None, :, None], grid.x[None, None, :]
    shp = grid.shape

    # Body: fat, then muscle, then the rib layer (intercostal muscle) round the cavity.
    body = _body_rho(an, grid) < 1.0
    d.put(np.broadcast_to(body, shp), Tissue.FAT, -108.0)
    muscle = _body_rho(an, grid, an.fat) < 1.0
    d.put(np.broadcast_to(muscle, shp), Tissue.SOFT, 48.0)
    yc_back = an.spine_y + an.vert_r + 14.0
    for sx in (-1.0, 1.0):  # paraspinal muscles
        q = ((x3 - sx * 30.0) / 23.0) ** 2 + ((y3 - yc_back - 8.0) / 20.0) ** 2
        d.put(np.broadcast_to((q < 1) & body, shp), Tissue.SOFT, 50.0)
    if an.breasts:
        _draw_breasts(d, an, rng)
    fat = d.tissue == Tissue.FAT
    d.hu[fat] += (smooth_field(shp, rng, (6, 10, 10)) * 10.0)[fat]

    # Thoracic cavity above the diaphragm; the abdomen below.
    rho = _cavity_rho(an, grid)
    dia = _diaphragm(an, grid)[None]
    below = z3 < dia
    notch = ((x3 / (an.vert_r + 5.0)) ** 2 + ((y3 - an.spine_y) / (an.vert_r + 5.0)) ** 2 < 1) | (
        (np.abs(x3) < an.vert_r + 3.0) & (y3 > an.spine_y)
    )
    cavity = (rho < 1.0) & ~notch
    thorax = cavity & ~below
    full = _superellipse(x3, y3 - an.cavity_yc, an.cavity_a, an.cavity_b, an.cavity_n) < 1.0
    abdomen = np.broadcast_to(full & ~notch, shp) & below & (z3 < an.apex_z - 60.0)
    _draw_abdomen(d, an, grid, abdomen, rng)
    d.put(thorax, Tissue.AIR, -1000.0)  # cleared; what the mediastinum leaves becomes lung

    # Mediastinum: its structures, wrapped in fat; the lungs fill the rest of the cavity.
    lm = _draw_mediastinum(d, an, grid, thorax, rng)
    medi = (thorax & (d.tissue != Tissue.AIR)) | (lm.pop("_pericardial_fat") & thorax)
    margin = 4.0 + 3.0 * smooth_field(shp, rng, (4, 6, 6))
    envelope = (edt_from(medi, grid.spacing, 12.0) < margin) & thorax
    # The anterior junction above the heart, the posterior one above the arch, and the prevascular fat.
    heart_top = lm["heart"][2] + 0.8 * lm["heart_semi"][2]
    bar = (
        (np.abs(x3 - 1.0) < 3.0)
        & thorax
        & (((y3 < an.cavity_yc) & (z3 > heart_top)) | ((y3 > an.trachea_y) & (z3 > lm["arch"][2])))
    )
    prevasc = (np.abs(x3 - 2.0) < 3.0 + 0.18 * (y3 - an.y_front)) & (y3 < lm["arch"][1] - 14.0) & (z3 > heart_top)
    envelope |= bar | (prevasc & thorax)
    envelope &= ~medi
    lung = thorax & ~envelope & ~medi
    lung_r = lung & (x3 < 0.0)
    lung_l = lung & (x3 >= 0.0)
    d.put(envelope & (d.tissue != Tissue.TABLE), Tissue.FAT, -104.0)
    d.hu[envelope] += (smooth_field(shp, rng, (8, 12, 12)) * 8.0)[envelope]
    d.put(lung_r, Tissue.LUNG_R, -850.0)
    d.put(lung_l, Tissue.LUNG_L, -850.0)

    # The hilar vessels and bronchi cross from the mediastinum into the lungs.
    for a, b, r, t, v in lm.pop("_hilar"):
        d.tube(a, b, r, r, t, v)

    _draw_bones(d, an, grid)
    _draw_table(d, an, grid)

    # Lobes and fissures, parenchyma, then the trees.
    lung_r = (d.tissue == Tissue.LUNG_R) & lung_r
    lung_l = (d.tissue == Tissue.LUNG_L) & lung_l
    lobes, fissure = lobe_map(
        grid,
        lung_r,
        lung_l,
        apex_z=an.apex_z,
        carina_z=an.carina_z,
        dome_r_z=an.dome_r_z,
        dome_l_z=an.dome_l_z,
        y_front=an.y_front,
        y_back=an.y_back,
        rng=rng,
    )
    lung_any = lobes > 0
    dep = np.clip((y3 - an.y_front) / (an.y_back - an.y_front), 0, 1)
    # Texture: slow density variation, and the sub-resolution vessels and lobules as a fine grain.
    tex = (
        smooth_field(shp, rng, (10, 14, 14)) * 12.0 + smooth_field(shp, rng, tuple(max(2, n // 2) for n in shp)) * 14.0
    )
    lung_hu = np.broadcast_to(-882.0 + 62.0 * dep, shp) + tex
    d.hu[lung_any] = lung_hu[lung_any]
    f = fissure[lung_any]
    d.hu[lung_any] = d.hu[lung_any] * (1 - f) + 40.0 * f

    ph = Phantom(d.hu, d.tissue, grid, an, lm.pop("_hila"), lm, lobes)
    _draw_trees(ph, rng)
    return ph


def _draw_breasts(d: _Draw, an: Anatomy, rng: np.random.Generator) -> None:
    grid = d.grid
    zc = an.carina_z - rng.uniform(55.0, 85.0)
    r = rng.uniform(55.0, 75.0)
    depth = rng.uniform(14.0, 32.0)
    gland = smooth_field(grid.shape, rng, (8, 12, 12))
    for sx in (-1.0, 1.0):
        c = (sx * rng.uniform(0.42, 0.55) * an.body_a, an.body_front + 0.6 * depth, zc)
        e = ellipsoid(grid, c, (r, depth, r * 0.9))
        if e is None:
            continue
        sl, q = e
        _, y, _ = grid.coords(sl)
        m = (q < 1) & (y < an.body_front + 12.0)
        d.put(m, Tissue.FAT, -95.0, sl)
        glandular = m & (gland[sl] > 0.15) & (q < 0.7)
        d.put(glandular, Tissue.SOFT, 25.0, sl)


def _draw_abdomen(d: _Draw, an: Anatomy, grid: Grid, abdomen: np.ndarray, rng: np.random.Generator) -> None:
    z3, y3, x3 = grid.z[:, None, None], grid.y[None, :, None], grid.x[None, None, :]
    d.put(abdomen, Tissue.FAT, -95.0)
    liver = abdomen & (x3 < 20.0 - 0.5 * (y3 - an.cavity_yc)) & (z3 > an.dome_r_z - 170.0)
    d.put(liver, Tissue.LIVER, 58.0)
    spleen = ellipsoid(grid, (0.72 * an.cavity_a, an.cavity_yc + 0.45 * an.cavity_b, an.dome_l_z - 45.0), (26, 38, 45))
    if spleen is not None:
        sl, q = spleen
        d.put((q < 1) & abdomen[sl], Tissue.ABDOMEN, 45.0, sl)
    st_c = (0.42 * an.cavity_a, an.cavity_yc - 0.25 * an.cavity_b, an.dome_l_z - 40.0)
    stomach = ellipsoid(grid, st_c, (42.0, 36.0, 40.0))
    if stomach is not None:
        sl, q = stomach
        z = grid.coords(sl)[0]
        m = (q < 1) & abdomen[sl]
        d.put(m & (q > 0.82), Tissue.ABDOMEN, 38.0, sl)  # wall
        d.put(m & (q <= 0.82), Tissue.ABDOMEN, 12.0, sl)  # contents
        level = st_c[2] + rng.uniform(10.0, 30.0)
        d.put(m & (q <= 0.82) & (z > level), Tissue.GAS, -1000.0, sl)  # the fundal air under the left dome
    for sx in (-1.0, 1.0):  # the kidneys' upper poles
        k = ellipsoid(grid, (sx * 58.0, an.spine_y - 2.0, an.dome_r_z - 95.0), (28.0, 24.0, 55.0))
        if k is not None:
            sl, q = k
            d.put((q < 1) & abdomen[sl], Tissue.ABDOMEN, 32.0, sl)


def _draw_mediastinum(d: _Draw, an: Anatomy, grid: Grid, thorax: np.ndarray, rng: np.random.Generator) -> dict:
    """Heart, great vessels, airways and oesophagus; returns landmarks and what later steps need."""
    B, A, C, S = Tissue.BLOOD, Tissue.AIRWAY, Tissue.CARTILAGE, Tissue.SOFT
    top = float(grid.z[-1]) + 20.0
    bottom = float(grid.z[0]) - 20.0
    car_z = an.carina_z
    tr_y = an.trachea_y
    cav_a, cav_b, yc = an.cavity_a, an.cavity_b, an.cavity_yc
    hs = an.heart_scale

    # Heart: an ellipsoid whose long axis points to the apex (left, front, down), in pericardial fat.
    heart_c = (22.0 + 8.0 * (hs - 1.0), yc - 0.3 * cav_b, an.dome_l_z + 46.0)
    heart_semi = (58.0 * hs, 43.0 * min(hs, 1.12), 47.0)
    yaw = np.radians(rng.uniform(38.0, 52.0))  # from the x axis towards anterior (-y)
    tilt = np.radians(rng.uniform(12.0, 25.0))
    axis = np.array([np.cos(yaw) * np.cos(tilt), -np.sin(yaw) * np.cos(tilt), -np.sin(tilt)])
    side = np.array([np.sin(yaw), np.cos(yaw), 0.0])
    up = np.cross(axis, side)
    rot = np.stack([axis, side, up], axis=1)  # columns: the ellipsoid's axes in LPS
    peri_fat = np.zeros(grid.shape, bool)
    fat_semi = (heart_semi[0] + rng.uniform(6.0, 12.0), heart_semi[1] + rng.uniform(3.0, 6.0), heart_semi[2] + 5.0)
    e = rotated_ellipsoid(grid, heart_c, fat_semi, rot)
    if e is not None:
        sl, q, _ = e
        irregular = smooth_field(q.shape, rng, tuple(max(2, n // 4) for n in q.shape))
        peri_fat[sl] = (q + 0.12 * irregular < 1) & thorax[sl]
        d.put(peri_fat[sl], Tissue.FAT, -105.0, sl)
    e = rotated_ellipsoid(grid, heart_c, heart_semi, rot)
    if e is not None:
        sl, q, local = e
        m = (q < 1) & thorax[sl]
        d.put(m, B, 40.0, sl)
        # The atrioventricular groove: a ring of epicardial fat a third of the way from the base.
        groove = m & (np.abs(local[0] + 0.3 * heart_semi[0]) < 3.5) & (q > 0.55)
        d.put(groove, Tissue.FAT, -90.0, sl)
    la_c = (6.0, heart_c[1] + 0.75 * heart_semi[1], heart_c[2] + 32.0)
    la = ellipsoid(grid, la_c, (34.0, 17.0, 19.0))
    if la is not None:
        sl, q = la
        d.put((q < 1) & thorax[sl], B, 40.0, sl)

    # Great vessels.
    asc_y = yc - 0.3 * cav_b
    arch_z = car_z + rng.uniform(22.0, 34.0)
    desc_x, desc_y = 21.0, an.spine_y - an.vert_r + 2.0
    r_ao = rng.uniform(13.0, 16.5)
    aorta = [
        (-2.0, heart_c[1] + 5.0, heart_c[2] + 25.0),
        (-3.0, asc_y, arch_z - 12.0),
        (2.0, asc_y + 10.0, arch_z + 2.0),
        (12.0, tr_y - 2.0, arch_z + 6.0),
        (desc_x, desc_y, arch_z - 8.0),
        (desc_x, desc_y, an.dome_l_z - 10.0),
        (6.0, an.spine_y - an.vert_r - 6.0, bottom),
    ]
    d.path(aorta[:3], r_ao, B, 42.0)
    d.path(aorta[2:5], 0.85 * r_ao, B, 42.0)
    d.path(aorta[4:], 0.78 * r_ao, B, 42.0)
    for a, b, r in (
        ((-4.0, asc_y + 8.0, arch_z + 4.0), (-16.0, tr_y - 12.0, top), 6.0),  # brachiocephalic artery
        ((5.0, tr_y - 8.0, arch_z + 8.0), (8.0, tr_y - 10.0, top), 4.5),  # left common carotid
        ((14.0, tr_y + 2.0, arch_z + 6.0), (26.0, tr_y + 2.0, top), 5.0),  # left subclavian
    ):
        d.tube(a, b, r, r, B, 42.0, thorax | (grid.z[:, None, None] > an.apex_z - 10))
    svc_top = (-26.0, asc_y + 4.0, arch_z + 14.0)
    d.tube(svc_top, (-24.0, asc_y + 10.0, heart_c[2] + 18.0), 10.0, 10.0, B, 38.0)  # SVC
    d.tube((36.0, tr_y - 22.0, arch_z + 28.0), svc_top, 5.5, 6.0, B, 38.0)  # left brachiocephalic vein
    d.tube((-34.0, tr_y - 14.0, top), svc_top, 6.0, 7.0, B, 38.0)  # right brachiocephalic vein
    az = [
        (-9.0, an.spine_y - an.vert_r - 2.0, an.dome_r_z - 20.0),
        (-11.0, an.spine_y - an.vert_r - 3.0, car_z + 4.0),
        (-22.0, tr_y + 2.0, car_z + 12.0),
        (-25.0, asc_y + 8.0, car_z + 10.0),
    ]
    d.path(az, 3.8, B, 38.0)  # azygos vein and its arch over the right main bronchus
    d.tube((-16.0, yc + 0.05 * cav_b, bottom), (-8.0, yc - 0.1 * cav_b, an.dome_r_z + 12.0), 11.0, 12.0, B, 38.0)  # IVC
    split = (8.0, tr_y - 14.0, car_z - 6.0)
    d.tube((12.0, yc - 0.5 * cav_b, heart_c[2] + 12.0), split, 14.0, 13.0, B, 40.0)  # pulmonary trunk

    hila = {
        "R": (-0.40 * cav_a, tr_y + 6.0, car_z - 20.0),
        "L": (0.38 * cav_a, tr_y + 10.0, car_z - 12.0),
    }
    hilar: list[tuple[Point, Point, float, Tissue, float]] = []
    rpa_mid = (-18.0, tr_y - 6.0, car_z - 12.0)
    hilar += [(split, rpa_mid, 11.0, B, 40.0), (rpa_mid, hila["R"], 9.5, B, 40.0)]
    lpa_mid = (24.0, tr_y + 2.0, car_z - 2.0)
    hilar += [(split, lpa_mid, 10.5, B, 40.0), (lpa_mid, hila["L"], 9.0, B, 40.0)]

    # Trachea (cartilage wall, air lumen), carina and main bronchi; the oesophagus behind.
    carina = (-2.0, tr_y + 3.0, car_z)
    r_tr = rng.uniform(7.5, 9.5)
    rb_end = (hila["R"][0] + 12.0, hila["R"][1] + 10.0, hila["R"][2] + 6.0)
    lb_end = (hila["L"][0] - 10.0, hila["L"][1] + 12.0, hila["L"][2] - 10.0)
    for a, b, r, w in (
        ((-2.0, tr_y, top), carina, r_tr, 2.2),
        (carina, rb_end, 0.75 * r_tr, 1.8),
        (carina, lb_end, 0.68 * r_tr, 1.8),
    ):
        tb = tube(grid, a, b, r, r, margin=w)
        if tb is None:
            continue
        sl, frac, dist, rad = tb
        wall = (dist < rad + w) & (frac <= 0.5) & (d.tissue[sl] != Tissue.BONE)
        d.put(wall, C, 110.0, sl)
        d.put(frac > 0.5, A, -1000.0, sl)
    oes_top = (6.0, an.spine_y - an.vert_r - 5.0, top)
    oes_bot = (22.0, an.spine_y - an.vert_r - 18.0, an.dome_l_z - 25.0)
    d.tube(oes_top, oes_bot, 8.0, 8.5, S, 42.0)
    if rng.random() < 0.35:
        d.tube(oes_top, oes_bot, 2.0, 2.5, A, -1000.0)

    ap_z = 0.5 * (arch_z + car_z)
    return {
        "carina": carina,
        "trachea": (-2.0, tr_y, car_z + 40.0),
        "arch": (6.0, asc_y + 10.0, arch_z),
        "heart": heart_c,
        "heart_semi": heart_semi,
        "heart_rot": rot,
        "lingula_z": float(car_z - 35.0),
        "la": la_c,
        "station:right paratracheal": (-2.0 - r_tr - 10.0, tr_y - 4.0, car_z + 20.0),
        "station:left paratracheal": (-2.0 + r_tr + 9.0, tr_y + 2.0, car_z + 16.0),
        "station:subcarinal": (0.0, tr_y + 12.0, car_z - 16.0),
        "station:aortopulmonary window": (16.0, tr_y - 6.0, ap_z),
        "station:prevascular": (2.0, asc_y - 16.0, arch_z + 6.0),
        "station:paraoesophageal": (14.0, an.spine_y - an.vert_r - 10.0, car_z - 45.0),
        "_pericardial_fat": peri_fat,
        "_hila": hila,
        "_hilar": hilar,
    }


def _draw_bones(d: _Draw, an: Anatomy, grid: Grid) -> None:
    """Spine, ribs with costal cartilages, sternum, clavicles and scapulae."""
    z3, y3, x3 = grid.z[:, None, None], grid.y[None, :, None], grid.x[None, None, :]
    shp = grid.shape
    inside = np.broadcast_to(d.tissue != Tissue.AIR, shp)
    vb_y, vr = an.spine_y, an.vert_r
    level = 25.0  # vertebra plus disc (mm)
    # Vertebral bodies (cortex, marrow) and discs.
    r2 = x3**2 + (y3 - vb_y) ** 2
    body = np.broadcast_to(r2 < vr**2, shp)
    d.put(body, Tissue.MARROW, 235.0)
    d.put(body & np.broadcast_to(r2 > (vr - 2.0) ** 2, shp), Tissue.BONE, 760.0)
    disc = np.broadcast_to(np.mod(z3 - an.carina_z, level) < 5.5, shp)
    d.put(body & disc, Tissue.CARTILAGE, 90.0)
    # Posterior elements: pedicles and laminae round the canal, spinous and transverse processes.
    canal_y = vb_y + vr + 9.0
    rc2 = x3**2 + (y3 - canal_y) ** 2
    ring = (rc2 < 15.0**2) & (rc2 >= 9.0**2) & (y3 > vb_y + vr - 4.0)
    phase = np.mod(z3 - an.carina_z, level)
    spinous = (np.abs(x3) < 3.5) & (y3 > canal_y + 12.0) & (y3 < canal_y + 38.0 - 0.4 * phase)
    transverse = (np.abs(np.abs(x3) - 24.0) < 13.0) & (np.abs(y3 - canal_y + 2.0) < 5.0) & (phase > 8.0) & (phase < 20)
    post = np.broadcast_to(ring | spinous | transverse, shp) & ~np.broadcast_to(disc, shp)
    d.put(post, Tissue.BONE, 700.0)
    d.put(np.broadcast_to(rc2 < 9.0**2, shp), Tissue.CSF, 22.0)

    # Ribs: 12 pairs from the spine round the cavity, falling as they run forwards.
    yy = y3 - an.cavity_yc
    theta = np.arctan2(yy, x3)
    r = np.sqrt(x3**2 + yy**2)
    s = _cavity_scale(an, grid.z)[:, None, None]
    rho_full = _superellipse(x3, yy, an.cavity_a, an.cavity_b, an.cavity_n)
    # Ribs below the diaphragm still follow the cavity outline (they enclose the upper abdomen).
    s = np.maximum(s, np.where(z3 < an.dome_r_z, 1.0, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        radial = r - r / np.maximum(rho_full, 1e-3) * s  # mm outside the slice's cavity outline
    phi = np.abs(np.angle(np.exp(1j * (theta - np.pi / 2))))  # 0 at the posterior midline, pi at the sternum
    drop = 38.0 * phi**1.3  # mm the rib falls from its head to the front
    top = an.apex_z - 4.0
    pos = top - (z3 + drop)
    k = np.clip(np.round(pos / level), 0, 11)
    dz = pos - k * level
    ends = np.array([2.75, 2.85, 2.9, 2.9, 2.9, 2.85, 2.8, 2.55, 2.4, 2.2, 1.75, 1.5])  # where each rib's bone stops
    end = ends[k.astype(int)]
    start = 0.22
    q = (dz / 6.0) ** 2 + ((radial - 6.5) / 4.0) ** 2
    rib = np.broadcast_to((q < 1) & (phi > start) & (phi < end), shp) & inside
    d.put(rib, Tissue.BONE, 800.0)
    d.put(rib & np.broadcast_to(q < 0.35, shp), Tissue.MARROW, 280.0)
    cart = np.broadcast_to((q < 0.8) & (phi >= end) & (phi < 2.98) & (k < 10), shp) & inside
    d.put(cart, Tissue.CARTILAGE, 125.0)
    # Sternum: manubrium above the sternal angle (about the carina's level), body below.
    st_y = an.y_front - 8.0
    halfw = np.where(z3 > an.carina_z + 5.0, 24.0, 14.0)
    st = (np.abs(x3) < halfw) & (np.abs(y3 - st_y) < 6.5) & (z3 > an.dome_r_z - 10.0) & (z3 < an.apex_z - 15.0)
    st = np.broadcast_to(st, shp)
    d.put(st, Tissue.BONE, 740.0)
    d.put(st & np.broadcast_to((np.abs(x3) < halfw - 2.5) & (np.abs(y3 - st_y) < 4.0), shp), Tissue.MARROW, 250.0)
    # Clavicles over the apices, from the manubrium out to the shoulders.
    for sx in (-1.0, 1.0):
        pts = [
            (sx * 16.0, st_y - 2.0, an.apex_z - 12.0),
            (sx * 0.55 * an.cavity_a, an.y_front - 4.0, an.apex_z + 2.0),
            (sx * 1.05 * an.cavity_a, an.cavity_yc - 0.1 * an.cavity_b, an.apex_z + 12.0),
        ]
        d.path(pts, 6.0, Tissue.BONE, 650.0)
        d.path(pts, 3.5, Tissue.MARROW, 260.0)
    # Scapulae: thin curved plates behind the upper ribs, on the back muscles.
    sc_top, sc_bot = an.apex_z + 20.0, an.apex_z - 140.0
    zf = np.clip((sc_top - z3) / (sc_top - sc_bot), 0, 1)
    width = 0.5 + 0.5 * np.clip(1.0 - zf, 0, 1)  # narrower towards the inferior angle
    sc = (
        (z3 < sc_top)
        & (z3 > sc_bot)
        & (phi > 0.45)
        & (phi < 0.45 + 0.9 * width)
        & (np.abs(radial - an.wall - 9.0) < 1.5 + 1.5 * (phi > 0.3 + 0.85 * width))
    )
    d.put(np.broadcast_to(sc, shp) & inside, Tissue.BONE, 680.0)


def _draw_table(d: _Draw, an: Anatomy, grid: Grid) -> None:
    """The scanner table: a shallow curved shell under the patient's back."""
    y3, x3 = grid.y[None, :, None], grid.x[None, None, :]
    y0 = an.body_back + 6.0
    curve = y0 + 0.0011 * x3**2
    half = 0.42 * grid.shape[2] * grid.spacing[2]
    shell = (np.abs(x3) < half) & (y3 > curve) & (y3 < curve + 3.0)
    foam = (np.abs(x3) < half) & (y3 >= curve + 3.0) & (y3 < curve + 18.0)
    base = (np.abs(x3) < half) & (y3 >= curve + 18.0) & (y3 < curve + 21.0)
    free = np.broadcast_to(d.tissue == Tissue.AIR, grid.shape)
    for m, v in ((shell, 100.0), (foam, -900.0), (base, 80.0)):
        d.put(np.broadcast_to(m, grid.shape) & free, Tissue.TABLE, v)


def _lobe_points(ph: Phantom, depth: np.ndarray, lobe: int, rng: np.random.Generator, *, cell_ml: float) -> np.ndarray:
    """Random territory points of a lobe, at least 8 mm inside its pleura (fewer on coarse grids)."""
    m = ph.lobes == lobe
    n_vox = int(m.sum())
    if n_vox == 0:
        return np.zeros((0, 3), np.float32)
    ml = n_vox * float(np.prod(ph.grid.spacing)) / 1000.0
    n = int(np.clip(round(ml / cell_ml), 3, 260))
    deep = np.flatnonzero(m & (depth > 6.0))
    idx = deep if deep.size >= n else np.flatnonzero(m)
    pick = rng.choice(idx, size=min(n, idx.size), replace=False)
    k, j, i = np.unravel_index(np.sort(pick), m.shape)
    g = ph.grid
    pts = np.stack([g.x[i], g.y[j], g.z[k]], axis=1).astype(np.float32)
    return pts + rng.uniform(-0.5, 0.5, pts.shape).astype(np.float32) * np.array(g.spacing[::-1], np.float32)


def _draw_trees(ph: Phantom, rng: np.random.Generator) -> None:
    """Arteries (with bronchi) from the hila and veins to the left atrium, in every lobe."""
    grid = ph.grid
    hu, tissue = ph.hu, ph.tissue
    lung_any = ph.lobes > 0
    depth = edt_inside(lung_any, grid.spacing)
    la = np.array(ph.landmarks["la"], np.float32)
    ostia = {
        "R-sup": la + np.array([-30.0, -2.0, 10.0], np.float32),
        "R-inf": la + np.array([-28.0, 6.0, -8.0], np.float32),
        "L-sup": la + np.array([30.0, -2.0, 12.0], np.float32),
        "L-inf": la + np.array([28.0, 6.0, -6.0], np.float32),
    }
    vein_root = {Lobe.RUL: "R-sup", Lobe.RML: "R-sup", Lobe.RLL: "R-inf", Lobe.LUL: "L-sup", Lobe.LLL: "L-inf"}
    vessel = np.zeros(hu.shape, np.float32)
    air = np.zeros(hu.shape, np.float32)
    wall = np.zeros(hu.shape, np.float32)
    for lobe in Lobe:
        side = "R" if lobe <= Lobe.RLL else "L"
        hilum = np.array(ph.hila[side], np.float32)
        pts = _lobe_points(ph, depth, lobe, rng, cell_ml=5.0)
        if len(pts) == 0:
            continue
        n = len(pts)
        art = grow_tree(hilum, pts, rng, kind="artery", lobe=int(lobe), r_root=0.95 * n ** (1 / 3))
        vpts = _lobe_points(ph, depth, lobe, rng, cell_ml=7.0)
        vein = grow_tree(
            ostia[vein_root[lobe]], vpts, rng, kind="vein", lobe=int(lobe), r_root=1.0 * len(vpts) ** (1 / 3)
        )
        bron = bronchi_along(art, min_radius=max(1.4, 0.45 * grid.voxel_mm))
        ph.trees += [art, vein, bron]
        render_branches(grid, art.branches + vein.branches, vessel)
        render_branches(grid, bron.branches, air, wall=0.2, wall_out=wall)
        for t in (art, vein):
            ph.vessels += [(b.a, b.b, b.r0, b.r1, side) for b in t.branches]
        ph.bronchi += [(b.a, b.b, b.r0, side) for b in bron.branches]
    # Blend into the lungs only: vessels towards 40 HU, bronchial walls to 30 HU, lumen to air.
    m = lung_any & (vessel > 0)
    hu[m] = hu[m] * (1 - vessel[m]) + 40.0 * vessel[m]
    tissue[m & (vessel > 0.1)] = Tissue.VESSEL
    wm = lung_any & (wall > 0)
    hu[wm] = hu[wm] * (1 - wall[wm]) + 30.0 * wall[wm]
    tissue[wm & (wall > 0.15) & (tissue != Tissue.VESSEL)] = Tissue.BRONCHIAL_WALL
    am = lung_any & (air > 0)
    hu[am] = hu[am] * (1 - air[am]) - 1000.0 * air[am]
    tissue[am & (air > 0.25)] = Tissue.AIRWAY
    ph.vessel_frac = (vessel * lung_any).astype(np.float16)
    ph.airway_frac = (air * lung_any).astype(np.float16)
    ph.wall_frac = (wall * lung_any).astype(np.float16)
    ph.forget()
