"""The CT phantom: a chest with body wall, bones, mediastinum, lungs, vessels and airways, in HU.

Geometry and orientation (the same convention as :mod:`kgdx.ingest.volume`): arrays are ``(z, y, x)``
with ``x`` towards the patient's **left**, ``y`` towards **posterior** and ``z`` towards
**superior** (LPS), so ``array[0]`` is the most inferior slice and an axial slice displays in the
radiological convention without flips. Millimetre coordinates are centred on the volume.

Tissues and their noise-free HU (:data:`TISSUE_HU`): air outside the body −1000; subcutaneous and
mediastinal fat about −100; chest-wall muscle and other soft tissue 40–60; cortical bone
700–900 and marrow 200–300; lung −850 (anterior) to −790 (dependent); heart and great vessels
(non-contrast blood) 40; pulmonary vessels blend to 40 at their centres; airway lumen −1000.
Each patient gets their own body size, fat, lung height, diaphragm, heart size and vessel tree.

The phantom is drawn analytically on the voxel grid (ellipses, tapered tubes with
partial-volume edges), so a case takes a fraction of a second at the default size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np

from kgdx.synth._geometry import Grid, Point, ellipsoid, smooth_field, tube

__all__ = ["Tissue", "TISSUE_HU", "Anatomy", "Phantom", "make_phantom", "sample_anatomy"]


class Tissue(IntEnum):
    """Tissue label of each phantom voxel (kept in memory for tests and lesion placement)."""

    AIR = 0
    FAT = 1
    SOFT = 2  # chest-wall muscle, oesophagus, other soft tissue
    BONE = 3  # cortical bone
    MARROW = 4
    LUNG_R = 5
    LUNG_L = 6
    VESSEL = 7  # pulmonary vessels inside the lungs
    AIRWAY = 8  # airway lumen
    BLOOD = 9  # heart and great vessels
    LIVER = 10
    ABDOMEN = 11
    GAS = 12  # gastric gas
    CSF = 13
    CARTILAGE = 14
    BRONCHIAL_WALL = 15  # walls of the intrapulmonary bronchi (partial volume)


#: Noise-free HU range of each tissue's voxels before partial-volume blending (low, high).
TISSUE_HU: dict[Tissue, tuple[float, float]] = {
    Tissue.AIR: (-1000.0, -1000.0),
    Tissue.FAT: (-120.0, -80.0),
    Tissue.SOFT: (35.0, 60.0),
    Tissue.BONE: (700.0, 950.0),
    Tissue.MARROW: (180.0, 320.0),
    Tissue.LUNG_R: (-880.0, -760.0),
    Tissue.LUNG_L: (-880.0, -760.0),
    Tissue.VESSEL: (-800.0, 45.0),
    Tissue.AIRWAY: (-1000.0, -200.0),  # partial volume with a vessel at the edges
    Tissue.BLOOD: (35.0, 50.0),
    Tissue.LIVER: (50.0, 65.0),
    Tissue.ABDOMEN: (30.0, 50.0),
    Tissue.GAS: (-1000.0, -1000.0),
    Tissue.CSF: (5.0, 15.0),
    Tissue.CARTILAGE: (80.0, 160.0),
    Tissue.BRONCHIAL_WALL: (-830.0, 40.0),
}


@dataclass(frozen=True)
class Anatomy:
    """Per-patient anatomical parameters (mm, LPS, volume-centred)."""

    body_a: float  # half-width of the body (x)
    body_b: float  # half-depth (y)
    fat: float  # subcutaneous fat thickness
    wall: float  # chest-wall muscle thickness
    apex_z: float
    dome_r_z: float
    dome_l_z: float
    heart_scale: float = 1.0

    @property
    def cavity_a(self) -> float:
        return self.body_a - self.fat - self.wall

    @property
    def cavity_b(self) -> float:
        return self.body_b - self.fat - self.wall - 5.0  # a thicker paraspinal wall behind

    @property
    def cavity_yc(self) -> float:
        return -5.0

    @property
    def carina_z(self) -> float:
        return self.apex_z - 95.0

    @property
    def spine_y(self) -> float:
        """Centre of the vertebral body."""
        return self.cavity_yc + self.cavity_b - 16.0


@dataclass
class Phantom:
    """A drawn phantom: HU, tissue labels, and the geometry lesions are placed by.

    Attributes:
        hu: ``float32`` HU, ``(z, y, x)``, noise-free and unblurred.
        tissue: ``uint8`` :class:`Tissue` labels.
        grid: The voxel grid.
        anatomy: The patient's parameters.
        hila: ``{"R": (x, y, z), "L": ...}`` hilum points.
        landmarks: Named points (``carina``, ``trachea`` top, ``arch``, ``heart`` centre) and
            ``heart_semi`` (the heart's half-axes).
        bronchi: Airway segments inside the lungs as ``(a, b, lumen_radius, side)``.
        vessels: Vessel segments as ``(a, b, r0, r1, side)``.
    """

    hu: np.ndarray
    tissue: np.ndarray
    grid: Grid
    anatomy: Anatomy
    hila: dict[str, Point]
    landmarks: dict[str, Point] = field(default_factory=dict)
    bronchi: list[tuple[Point, Point, float, str]] = field(default_factory=list)
    vessels: list[tuple[Point, Point, float, float, str]] = field(default_factory=list)
    _cache: dict = field(default_factory=dict, repr=False)

    def lung(self, side: str | None = None) -> np.ndarray:
        """Boolean mask of lung parenchyma plus its vessels and small airways (one side or both)."""
        key = ("lung", side)
        if key not in self._cache:
            t = self.tissue
            base = (t == Tissue.LUNG_R) | (t == Tissue.LUNG_L) | (t == Tissue.VESSEL) | (t == Tissue.BRONCHIAL_WALL)
            inner_air = (t == Tissue.AIRWAY) & self._cavity_interior()
            m = base | inner_air
            if side is not None:
                m &= self.side_mask(side)
            self._cache[key] = m
        return self._cache[key]

    def side_mask(self, side: str) -> np.ndarray:
        """Voxels on the patient's right (``R``: x < 0 side of the lungs' divide) or left."""
        x = self.grid.x[None, None, :]
        return np.broadcast_to((x < 0) if side == "R" else (x >= 0), self.hu.shape)

    def _cavity_interior(self) -> np.ndarray:
        if "cav" not in self._cache:
            self._cache["cav"] = self.rho() < 1.0
        return self._cache["cav"]

    def rho(self) -> np.ndarray:
        """Normalised elliptical radius of each voxel in the thoracic cavity (1 at the chest wall)."""
        if "rho" not in self._cache:
            a, b = _cavity_axes(self.anatomy, self.grid.z)
            y = self.grid.y[None, :, None] - self.anatomy.cavity_yc
            x = self.grid.x[None, None, :]
            with np.errstate(divide="ignore", invalid="ignore"):
                r = np.sqrt(
                    (x / np.maximum(a, 1e-3)[:, None, None]) ** 2 + (y / np.maximum(b, 1e-3)[:, None, None]) ** 2
                )
            r[(a <= 0)] = 9.0
            self._cache["rho"] = r.astype(np.float32)
        return self._cache["rho"]

    def wall_depth(self) -> np.ndarray:
        """Approximate depth (mm) of each voxel below the costal pleura."""
        if "depth" not in self._cache:
            a, b = _cavity_axes(self.anatomy, self.grid.z)
            scale = np.minimum(a, b)[:, None, None]
            self._cache["depth"] = ((1.0 - self.rho()) * scale).astype(np.float32)
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
            d = (y - (an.cavity_yc - an.cavity_b)) / (2 * an.cavity_b)
            self._cache["dep"] = np.clip(d, 0, 1).astype(np.float32)
        return self._cache["dep"]

    def forget(self) -> None:
        """Drop cached masks after the tissue map changed."""
        self._cache.clear()


def _cavity_axes(an: Anatomy, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cavity half-axes per slice: widening slightly towards the base, a dome towards the apex."""
    top = an.apex_z
    start = top - 70.0
    s = 1.0 + 0.07 * np.clip((start - z) / 150.0, -1.0, 1.0)
    up = z > start
    s[up] = np.sqrt(np.clip(1.0 - ((z[up] - start) / (top - start)) ** 2, 0.0, 1.0))
    s = np.where(z >= top, 0.0, np.maximum(s, 0.0))
    return an.cavity_a * s, an.cavity_b * s


def sample_anatomy(rng: np.random.Generator, fov_xy: float, *, heart_scale: float = 1.0) -> Anatomy:
    """Draw a plausible adult chest that fits the in-plane field of view."""
    size = rng.uniform(0.86, 1.06)
    body_a = min(150.0 * size * rng.uniform(0.95, 1.05), 0.46 * fov_xy)
    body_b = min(body_a * rng.uniform(0.70, 0.80), 0.42 * fov_xy)
    fat = rng.uniform(5.0, 22.0)
    wall = rng.uniform(8.0, 13.0)
    apex = rng.uniform(112.0, 132.0)
    dome_r = apex - rng.uniform(165.0, 200.0)
    dome_l = dome_r - rng.uniform(6.0, 16.0)
    return Anatomy(body_a, body_b, fat, wall, apex, dome_r, dome_l, heart_scale)


def _diaphragm(an: Anatomy, grid: Grid) -> np.ndarray:
    """Height (mm) of the diaphragm under each (y, x) column."""
    y = grid.y[:, None]
    x = grid.x[None, :]
    a, b, yc = an.cavity_a, an.cavity_b, an.cavity_yc
    out = []
    for dome, xd in ((an.dome_r_z, -0.45 * a), (an.dome_l_z, 0.45 * a)):
        q = ((x - xd) / (0.62 * a)) ** 2 + ((y - yc + 0.1 * b) / (0.95 * b)) ** 2
        out.append(np.maximum(dome - 40.0 * q - 22.0 * np.clip((y - yc) / b, 0, None), dome - 65.0))
    return np.where(x < 0, out[0], out[1]).astype(np.float32)


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
        rng: The case's random generator (anatomy, vessel tree, texture).
        heart_scale: > 1 draws an enlarged heart (cardiomegaly).
    """
    grid = Grid(tuple(shape), tuple(float(s) for s in spacing))  # type: ignore[arg-type]
    an = sample_anatomy(rng, fov_xy=min(shape[1] * spacing[1], shape[2] * spacing[2]), heart_scale=heart_scale)
    z3 = grid.z[:, None, None]
    y3 = grid.y[None, :, None]
    x3 = grid.x[None, None, :]
    hu = np.full(shape, -1000.0, np.float32)
    tissue = np.zeros(shape, np.uint8)

    def put(mask: np.ndarray, t: Tissue, value: float | np.ndarray, sl=(slice(None),) * 3) -> None:
        tissue[sl][mask] = t
        hu[sl][mask] = value if np.isscalar(value) else value[mask]

    # Body wall: fat, then muscle, as ellipses (a little narrower towards the neck).
    neck = np.clip((z3 - an.apex_z) / 60.0, 0, 1) * 0.12
    body = (x3 / (an.body_a * (1 - neck))) ** 2 + (y3 / an.body_b) ** 2 < 1
    put(np.broadcast_to(body, shape), Tissue.FAT, -100.0)
    inner = (x3 / (an.body_a * (1 - neck) - an.fat)) ** 2 + (y3 / (an.body_b - an.fat)) ** 2 < 1
    put(np.broadcast_to(inner, shape), Tissue.SOFT, 45.0)
    fat_tex = smooth_field(shape, rng, (6, 10, 10)) * 8.0
    fat = tissue == Tissue.FAT
    hu[fat] += fat_tex[fat]

    # Thoracic and abdominal cavity.
    ca, cb = _cavity_axes(an, grid.z)
    ca3, cb3 = ca[:, None, None], cb[:, None, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = np.sqrt((x3 / np.maximum(ca3, 1e-3)) ** 2 + ((y3 - an.cavity_yc) / np.maximum(cb3, 1e-3)) ** 2)
    cavity = (rho < 1) & (ca3 > 0)
    # Below the domes the cavity stays full width (the upper abdomen).
    abd_a, abd_b = an.cavity_a, an.cavity_b
    abd = (x3 / abd_a) ** 2 + ((y3 - an.cavity_yc) / abd_b) ** 2 < 1
    dia = _diaphragm(an, grid)[None]
    below = z3 < dia
    thorax = cavity & ~below
    abdomen = np.broadcast_to(abd, shape) & below
    liver = abdomen & (x3 < 15.0)
    put(abdomen, Tissue.ABDOMEN, 40.0)
    put(liver, Tissue.LIVER, 58.0)
    gas = ellipsoid(grid, (0.55 * abd_a, an.cavity_yc - 0.2 * abd_b, an.dome_l_z - 28.0), (22.0, 18.0, 12.0))
    if gas is not None:
        sl, q = gas
        put((q < 1) & abdomen[sl] & (grid.coords(sl)[0] > an.dome_l_z - 28.0), Tissue.GAS, -1000.0, sl)

    # Mediastinum envelope (fat), then lungs around it.
    heart_c = (22.0, an.cavity_yc - 0.28 * an.cavity_b, an.dome_l_z + 38.0)
    heart_semi = (60.0 * heart_scale, 46.0 * min(heart_scale, 1.12), 52.0)
    # Wider in front (thymic fat, great vessels) than behind, and wider at the heart's level.
    band_w = (20.0 + 6.0 * np.clip((an.carina_z + 20 - z3) / 40.0, 0, 1)) * (
        1.15 - 0.3 * np.clip((y3 - an.cavity_yc + an.cavity_b) / (2 * an.cavity_b), 0, 1)
    )
    vb_y = an.spine_y
    mediast = (np.abs(x3 - 4.0) < band_w) & (y3 < vb_y + 10) & thorax
    hq = ellipsoid(grid, heart_c, tuple(s + 6.0 for s in heart_semi))
    if hq is not None:
        sl, q = hq
        m = np.zeros(shape, bool)
        m[sl] = q < 1
        mediast |= m & thorax
    desc_x, desc_y = 24.0, vb_y - 10.0
    mediast |= ((x3 - desc_x) ** 2 + (y3 - desc_y) ** 2 < 17.0**2) & thorax
    mediast |= ((x3**2 + (y3 - vb_y) ** 2) < 22.0**2) & thorax
    put(thorax & ~mediast, Tissue.LUNG_R, -830.0)
    put(thorax & ~mediast & (x3 >= 0), Tissue.LUNG_L, -830.0)
    put(mediast, Tissue.FAT, -95.0)

    # Heart and great vessels (non-contrast blood), oesophagus, trachea and main bronchi.
    hb = ellipsoid(grid, heart_c, heart_semi)
    if hb is not None:
        sl, qh = hb
        put((qh < 1) & ~below[sl], Tissue.BLOOD, 40.0, sl)
    asc = (2.0, an.cavity_yc - 0.18 * an.cavity_b)
    arch_z = an.carina_z + 22.0
    vessels_big = [
        ((asc[0], asc[1], heart_c[2] + 25.0), (asc[0], asc[1], arch_z), 14.0),  # ascending aorta
        ((asc[0], asc[1], arch_z), (12.0, an.cavity_yc + 0.05 * an.cavity_b, arch_z + 10.0), 12.5),  # arch
        ((12.0, an.cavity_yc + 0.05 * an.cavity_b, arch_z + 10.0), (desc_x, desc_y, arch_z), 12.0),
        ((desc_x, desc_y, arch_z), (desc_x, desc_y, float(grid.z[0]) - 10.0), 11.5),  # descending aorta
        (
            (-26.0, an.cavity_yc - 0.1 * an.cavity_b, heart_c[2] + 15.0),
            (-26.0, an.cavity_yc - 0.1 * an.cavity_b, an.apex_z + 10.0),
            9.0,
        ),  # SVC
        (
            (20.0, heart_c[1] - 5.0, heart_c[2] + 30.0),
            (6.0, an.cavity_yc - 0.02 * an.cavity_b, an.carina_z - 10.0),
            13.0,
        ),
    ]
    hila = {
        "R": (-0.42 * an.cavity_a, an.cavity_yc + 0.02 * an.cavity_b, an.carina_z - 22.0),
        "L": (0.40 * an.cavity_a, an.cavity_yc + 0.05 * an.cavity_b, an.carina_z - 14.0),
    }
    pa_split = (6.0, an.cavity_yc - 0.02 * an.cavity_b, an.carina_z - 10.0)
    vessels_big += [(pa_split, hila["R"], 10.0), (pa_split, hila["L"], 10.0)]
    for a, b, r in vessels_big:
        tb = tube(grid, a, b, r)
        if tb is not None:
            sl, frac, _, _ = tb
            m = (frac > 0.5) & ~(below[sl])
            put(m, Tissue.BLOOD, 40.0, sl)
    oes = tube(grid, (6.0, vb_y - 24.0, an.apex_z + 40.0), (10.0, vb_y - 20.0, an.dome_l_z - 10.0), 7.5)
    if oes is not None:
        sl, frac, _, _ = oes
        put(frac > 0.5, Tissue.SOFT, 40.0, sl)
    tr_y = vb_y - 40.0
    carina = (-2.0, tr_y + 4.0, an.carina_z)
    airways_big = [
        ((-2.0, tr_y, float(grid.z[-1]) + 10.0), carina, 9.5, 2.5),
        (carina, (hila["R"][0] + 8.0, hila["R"][1] + 9.0, hila["R"][2] + 4.0), 6.5, 1.8),
        (carina, (hila["L"][0] - 8.0, hila["L"][1] + 9.0, hila["L"][2] - 6.0), 6.0, 1.8),
    ]
    for a, b, r, w in airways_big:
        tb = tube(grid, a, b, r, margin=w)
        if tb is not None:
            sl, frac, dist, rad = tb
            wall = (dist < rad + w) & (frac <= 0.5)
            put(wall & (tissue[sl] != Tissue.BONE), Tissue.CARTILAGE, 100.0, sl)
            put(frac > 0.5, Tissue.AIRWAY, -1000.0, sl)

    # Spine, sternum and ribs.
    _draw_bones(grid, an, hu, tissue, below)

    # Lung parenchyma: anterior-to-posterior gravity gradient plus a soft texture.
    lung = (tissue == Tissue.LUNG_R) | (tissue == Tissue.LUNG_L)
    dep = np.clip((y3 - (an.cavity_yc - an.cavity_b)) / (2 * an.cavity_b), 0, 1)
    tex = smooth_field(shape, rng, (10, 14, 14)) * 12.0
    lung_hu = -848.0 + 55.0 * dep + tex
    hu[lung] = np.broadcast_to(lung_hu, shape)[lung]

    landmarks = {
        "carina": carina,
        "trachea": (-2.0, tr_y, an.carina_z + 40.0),
        "arch": (12.0, an.cavity_yc, arch_z),
        "heart": heart_c,
        "heart_semi": heart_semi,
    }
    ph = Phantom(hu, tissue, grid, an, hila, landmarks)
    _draw_trees(ph, rng, carina)
    return ph


def _draw_bones(grid: Grid, an: Anatomy, hu: np.ndarray, tissue: np.ndarray, below: np.ndarray) -> None:
    z3 = grid.z[:, None, None]
    y3 = grid.y[None, :, None]
    x3 = grid.x[None, None, :]
    shape = hu.shape
    vb_y = an.spine_y
    r2 = x3**2 + (y3 - vb_y) ** 2
    disc = np.mod(z3 - an.carina_z, 28.0) < 6.0
    body = np.broadcast_to(r2 < 17.0**2, shape)
    cortex = body & np.broadcast_to(r2 > 14.0**2, shape)
    tissue[body] = Tissue.MARROW
    hu[body] = 230.0
    tissue[cortex] = Tissue.BONE
    hu[cortex] = 780.0
    d = body & np.broadcast_to(disc, shape)
    tissue[d] = Tissue.CARTILAGE
    hu[d] = 90.0
    canal_y = vb_y + 27.0
    rc2 = x3**2 + (y3 - canal_y) ** 2
    lamina = np.broadcast_to((rc2 < 14.0**2) & (rc2 >= 8.0**2) & (y3 > vb_y + 12.0), shape)
    spinous = np.broadcast_to((np.abs(x3) < 3.5) & (y3 > canal_y + 10.0) & (y3 < canal_y + 34.0), shape)
    for m in (lamina, spinous):
        tissue[m] = Tissue.BONE
        hu[m] = 720.0
    canal = np.broadcast_to(rc2 < 8.0**2, shape)
    tissue[canal] = Tissue.CSF
    hu[canal] = 10.0
    # Sternum: anterior midline, from the xiphoid to the manubrium.
    st_y = an.cavity_yc - an.cavity_b - 4.0
    st = (np.abs(x3) < 15.0) & (np.abs(y3 - st_y) < 7.0) & (z3 > an.dome_r_z - 5.0) & (z3 < an.apex_z - 20.0)
    st = np.broadcast_to(st, shape)
    st_core = np.broadcast_to((np.abs(x3) < 12.5) & (np.abs(y3 - st_y) < 4.5), shape) & st
    tissue[st] = Tissue.BONE
    hu[st] = 760.0
    tissue[st_core] = Tissue.MARROW
    hu[st_core] = 260.0
    # Ribs: 12 pairs hugging the cavity wall, sloping down from back to front.
    yy = y3 - an.cavity_yc
    theta = np.arctan2(yy, x3)  # (1, y, x)
    r = np.sqrt(x3**2 + yy**2)
    ca, cb = an.cavity_a, an.cavity_b
    edge = ca * cb / np.sqrt((cb * np.cos(theta)) ** 2 + (ca * np.sin(theta)) ** 2)
    radial = r - edge  # mm outside the (full-width) cavity wall
    # phi: angle from the posterior midline (posterior is +y, i.e. theta = +pi/2), 0 ... pi.
    phi = np.abs(np.angle(np.exp(1j * (theta - np.pi / 2))))
    slope = 60.0 / np.pi
    spacing = 24.0
    top = an.apex_z - 8.0
    pos = top - (z3 + slope * phi)
    k = np.clip(np.round(pos / spacing), 0, 11)
    dz = pos - k * spacing
    inrib = (phi > 0.28) & (phi < 2.75)
    cart = (phi >= 2.75) & (phi < 2.98)
    q = (dz / 5.0) ** 2 + ((radial - 7.0) / 4.5) ** 2
    rib = np.broadcast_to((q < 1) & inrib, shape) & (tissue != Tissue.AIR)
    core = rib & np.broadcast_to(q < 0.3, shape)
    ribc = np.broadcast_to((q < 1) & cart, shape) & (tissue != Tissue.AIR)
    tissue[rib] = Tissue.BONE
    hu[rib] = 820.0
    tissue[core] = Tissue.MARROW
    hu[core] = 300.0
    tissue[ribc] = Tissue.CARTILAGE
    hu[ribc] = 120.0


def _lung_points(ph: Phantom, side: str, rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` random lung voxel centres of one side as (x, y, z) mm."""
    t = Tissue.LUNG_R if side == "R" else Tissue.LUNG_L
    idx = np.flatnonzero(ph.tissue == t)
    if idx.size == 0:
        return np.zeros((0, 3), np.float32)
    pick = rng.choice(idx, size=min(n, idx.size), replace=False)  # random order, not sorted by z
    k, j, i = np.unravel_index(pick, ph.tissue.shape)
    return np.stack([ph.grid.x[i], ph.grid.y[j], ph.grid.z[k]], axis=1)


def _draw_trees(ph: Phantom, rng: np.random.Generator, carina: Point) -> None:
    """Pulmonary arteries, veins and bronchi: three generations from each hilum to the periphery."""
    grid = ph.grid
    hu, tissue = ph.hu, ph.tissue
    lung_any = (tissue == Tissue.LUNG_R) | (tissue == Tissue.LUNG_L)
    vessel_frac = np.zeros(hu.shape, np.float32)
    air_frac = np.zeros(hu.shape, np.float32)
    wall_frac = np.zeros(hu.shape, np.float32)
    for side in ("R", "L"):
        hilum = np.array(ph.hila[side], np.float32)
        for kind in ("artery", "vein"):
            root = hilum + (np.array([0.0, 12.0, -18.0], np.float32) if kind == "vein" else 0.0)
            targets = _lung_points(ph, side, rng, 160)
            if len(targets) < 8:
                continue
            far = np.linalg.norm(targets - root, axis=1) > 40.0
            targets = targets[far][:72]
            n_c = 5
            centres = targets[rng.choice(len(targets), size=min(n_c, len(targets)), replace=False)]
            assign = np.argmin(np.linalg.norm(targets[:, None, :] - centres[None], axis=2), axis=1)
            for c in range(len(centres)):
                members = targets[assign == c]
                if not len(members):
                    continue
                lobar = root + 0.3 * (members.mean(axis=0) - root)
                segs = [(root, lobar, 5.5, 4.5)]
                n_sub = max(1, len(members) // 3)
                subs = members[rng.choice(len(members), size=n_sub, replace=False)]
                sub_of = np.argmin(np.linalg.norm(members[:, None, :] - subs[None], axis=2), axis=1)
                for s_i, sub in enumerate(subs):
                    seg = lobar + 0.45 * (sub - lobar) + rng.normal(0, 3.0, 3).astype(np.float32)
                    segs.append((lobar, seg, 3.6, 3.0))
                    for tgt in members[sub_of == s_i]:
                        mid = seg + 0.5 * (tgt - seg) + rng.normal(0, 3.0, 3).astype(np.float32)
                        segs += [(seg, mid, 2.4, 1.9), (mid, tgt, 1.8, 1.2)]
                for a, b, r0, r1 in segs:
                    a_t, b_t = tuple(map(float, a)), tuple(map(float, b))
                    tb = tube(grid, a_t, b_t, r0, r1)
                    if tb is not None:
                        sl, frac, _, _ = tb
                        np.maximum(vessel_frac[sl], frac, out=vessel_frac[sl])
                    ph.vessels.append((a_t, b_t, r0, r1, side))
                    if kind == "artery" and r0 >= 3.0:
                        # The bronchus runs beside its artery (bronchovascular bundle).
                        off = np.array([0.0, r0 + 3.5, 1.5], np.float32)
                        ab, bb = tuple(map(float, a + off)), tuple(map(float, b + off))
                        rl = 0.75 * r1
                        tb = tube(grid, ab, bb, 0.75 * r0, rl, margin=1.2)
                        if tb is not None:
                            sl, frac, dist, rad = tb
                            np.maximum(air_frac[sl], frac, out=air_frac[sl])
                            wf = np.clip((rad + 1.2 - dist) / grid.voxel_mm + 0.5, 0, 1) - frac
                            np.maximum(wall_frac[sl], wf, out=wall_frac[sl])
                        ph.bronchi.append((ab, bb, rl, side))
    # Blend into the lungs only: vessels towards 40 HU, bronchial walls to 30 HU, lumen to air.
    m = lung_any & (vessel_frac > 0)
    hu[m] = hu[m] * (1 - vessel_frac[m]) + 40.0 * vessel_frac[m]
    # A voxel is labelled by what covers more than a tenth of it, so 'lung' voxels stay lung-like.
    tissue[lung_any & (vessel_frac > 0.1)] = Tissue.VESSEL
    wm = lung_any & (wall_frac > 0)
    hu[wm] = hu[wm] * (1 - 0.6 * wall_frac[wm]) + 30.0 * 0.6 * wall_frac[wm]
    tissue[wm & (0.6 * wall_frac > 0.1) & (tissue != Tissue.VESSEL)] = Tissue.BRONCHIAL_WALL
    am = (lung_any | (tissue == Tissue.VESSEL) | (tissue == Tissue.BRONCHIAL_WALL)) & (air_frac > 0)
    hu[am] = hu[am] * (1 - air_frac[am]) - 1000.0 * air_frac[am]
    tissue[am & (air_frac > 0.25)] = Tissue.AIRWAY
    ph.forget()
