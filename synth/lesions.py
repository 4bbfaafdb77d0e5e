"""Lesion patterns drawn into a phantom, each with its voxels in one label map.

Every drawn finding writes its :data:`~kgdx.synth.findings.LABEL_OF` value into ``labels`` where
it shows, and changes the HU there, following its radiology (Fleischner Society glossary,
Hansell et al., *Radiology* 2008):

* **ground-glass opacity**: hazy areas (about −650 to −450 HU) through which vessels stay
  visible, geographic, with some secondary lobules spared (lobular sparing), peripheral or
  diffuse;
* **consolidation**: one or two lung *segments* (the territories of the lobe's arterial
  subtrees) or a whole lobe filled to 25–45 HU, stopping sharply at the fissures and hiding
  the vessels; **air bronchograms** are the lobe's own bronchi left air-filled inside it
  (without them the bronchi are fluid-filled too);
* **nodules**: solid, part-solid (a solid core in ground glass) or pure ground-glass, lobulated,
  6–30 mm; **masses**: over 3 cm, spiculated, peripheral or central at the hilum;
* **cavities**: a thick soft-tissue wall round an air lumen, some with an air–fluid level;
* **pleural effusion**: fluid (5–20 HU) in the dependent posterior pleural space, deepest at the
  base, whose surface curves up along the chest wall (a meniscus); **pneumothorax**: air in the
  non-dependent (anterior, apical) pleural space with the visceral pleural line;
  **pleural thickening**: a soft-tissue band along the wall;
* **emphysema**: centrilobular (small lucencies without walls round their lobular artery,
  upper-zone predominant), paraseptal (subpleural bullae in a row) or panlobular (diffuse
  low attenuation with pruned vessels, lower zones), −960 to −990 HU;
* **reticulation** and **interlobular septal thickening**: networks of fine lines (the edges of a
  random cell tiling: ~8 mm cells for reticulation, ~16 mm secondary lobules for septa);
  **honeycombing**: stacked subpleural basal air cysts with walls (the fibrotic end stage,
  drawn with reticulation round it when both are present);
* **tree-in-bud**: the lobe's small peripheral branches filled (soft tissue) with a bud at each
  tip: centrilobular branching opacities;
* **bronchiectasis**: the lobe's bronchi dilated (lumen wider than the artery beside it) with
  thick walls, reaching the periphery;
* **mosaic attenuation**: secondary lobules in geographic groups, 75 HU darker with thinner vessels;
* **atelectasis**: a plate-like band of collapsed lung; **pulmonary cysts**: thin-walled air spaces;
* **lymphadenopathy**: enlarged nodes (40 HU) in the mediastinal fat at the usual stations, or at
  the hila; **cardiomegaly**: the enlarged heart the phantom drew.

Later patterns overwrite earlier ones where they meet; a finding whose voxels were all covered
is drawn again in free lung, so every present drawn finding keeps at least one voxel.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from kgdx.synth._geometry import Point, edt_inside, ellipsoid, rotated_ellipsoid, smooth_field, tube
from kgdx.synth.findings import LABEL_OF, spec
from kgdx.synth.lungs import Lobe, lobe_name
from kgdx.synth.phantom import Phantom, Tissue

__all__ = ["LesionInfo", "draw_findings", "DRAW_ORDER", "lobe_of"]

#: Drawing order (keys): diffuse patterns first, focal and pleural ones last.
DRAW_ORDER: tuple[str, ...] = (
    "cardiomegaly",
    "mosaic",
    "emphysema",
    "ggo",
    "septal",
    "reticulation",
    "honeycombing",
    "bronchiectasis",
    "tree_in_bud",
    "consolidation",
    "atelectasis",
    "cyst",
    "nodule",
    "mass",
    "cavity",
    "effusion",
    "pleural_thickening",
    "pneumothorax",
    "hilar_ln",
    "mediastinal_ln",
)

_LUNG = (Tissue.LUNG_R, Tissue.LUNG_L, Tissue.VESSEL, Tissue.AIRWAY, Tissue.BRONCHIAL_WALL)


@dataclass
class LesionInfo:
    """Where and how a finding was drawn, for the report and the labels."""

    key: str
    hpo_id: str
    label: int
    sides: list[str] = field(default_factory=list)
    lobes: list[str] = field(default_factory=list)
    size_mm: float | None = None
    count: int = 1
    subtype: str | None = None
    voxels: int = 0

    def to_dict(self) -> dict:
        return {
            "sides": self.sides,
            "lobes": self.lobes,
            "size_mm": self.size_mm,
            "count": self.count,
            "subtype": self.subtype,
            "voxels": self.voxels,
        }


def lobe_of(ph: Phantom, p: Point) -> str:
    """The lobe a point lies in (the nearest lung voxel's when it is just outside the lungs)."""
    k, j, i = ph.grid.index(p)
    lobe = int(ph.lobes[k, j, i]) if ph.lobes is not None else 0
    if lobe == 0 and ph.lobes is not None:
        r = 3
        box = ph.lobes[max(0, k - r) : k + r + 1, max(0, j - r) : j + r + 1, max(0, i - r) : i + r + 1]
        vals = box[box > 0]
        if vals.size:
            lobe = int(np.bincount(vals).argmax())
    if lobe == 0:
        lobe = Lobe.RLL if p[0] < 0 else Lobe.LLL
    return lobe_name(lobe, z=p[2], lingula_z=ph.landmarks.get("lingula_z"))  # type: ignore[arg-type]


class _Canvas:
    def __init__(self, ph: Phantom, rng: np.random.Generator, severity: float, hints: set[str]):
        self.ph = ph
        self.rng = rng
        self.s = float(severity)
        self.hints = hints
        self.labels = np.zeros(ph.hu.shape, np.uint8)
        self.hu = ph.hu
        self.lung = ph.lung().copy()
        self.lung_side = {"R": ph.lung("R"), "L": ph.lung("L")}
        self.min_depth = 1.01 * min(ph.grid.spacing)  # the shallowest depth a voxel can have

    # -------------------------------------------------------------------- placement

    def zone(
        self,
        side: str | None = None,
        height: tuple[float, float] = (0, 1),
        depth: tuple[float, float] | None = None,
        dep: tuple[float, float] | None = None,
        free: bool = False,
    ) -> np.ndarray:
        m = self.lung_side[side] if side else self.lung
        h = self.ph.height()
        m = m & (h >= height[0]) & (h <= height[1])
        if depth is not None:
            d = self.ph.wall_depth()
            m = m & (d >= depth[0]) & (d <= max(depth[1], self.min_depth))
        if dep is not None:
            dd = self.ph.dependency()
            m = m & (dd >= dep[0]) & (dd <= dep[1])
        if free:
            m = m & (self.labels == 0)
        return m

    def pick(self, mask: np.ndarray) -> Point | None:
        idx = np.flatnonzero(mask)
        if idx.size == 0:
            return None
        k, j, i = np.unravel_index(int(idx[self.rng.integers(idx.size)]), mask.shape)
        return self.ph.grid.point(k, j, i)

    def pick_any(self, *masks: np.ndarray) -> Point:
        for m in masks:
            p = self.pick(m)
            if p is not None:
                return p
        p = self.pick(self.lung)
        if p is None:
            raise RuntimeError("the phantom has no lung voxels")
        return p

    def side_of(self, p: Point) -> str:
        return "R" if p[0] < 0 else "L"

    def height_range(self, default: tuple[float, float]) -> tuple[float, float]:
        return (0.72, 1.0) if "apical" in self.hints else default

    # -------------------------------------------------------------------- painting

    def paint(self, sl, mask: np.ndarray, label: int, value) -> int:
        """Set HU (a number or an array over the box) and the label where ``mask``; return the voxel count."""
        if not mask.any():
            return 0
        hu = self.hu[sl]
        hu[mask] = value if np.isscalar(value) else np.asarray(value)[mask]
        self.labels[sl][mask] = label
        return int(mask.sum())

    def blob(self, centre: Point, semi: Point, roughness: float = 0.35):
        """``(slices, inside)`` of an irregular ellipsoidal blob."""
        e = ellipsoid(self.ph.grid, centre, semi)
        if e is None:
            return None
        sl, q = e
        if roughness > 0:
            f = smooth_field(q.shape, self.rng, tuple(max(2, n // 3) for n in q.shape))
            q = q + roughness * f
        return sl, q < 1.0


# ------------------------------------------------------------------------ patterns


def _ggo(cv: _Canvas, info: LesionInfo) -> None:
    n = 1 + int(round(cv.s * 3 + cv.rng.uniform(-0.5, 0.5)))
    peripheral = cv.rng.random() < 0.6
    region = np.zeros(cv.hu.shape, bool)
    for _ in range(max(1, n)):
        side = str(cv.rng.choice(["R", "L"]))
        p = cv.pick_any(cv.zone(side, (0.0, 0.85), depth=(0, 30) if peripheral else None, free=True), cv.zone(side))
        r = cv.rng.uniform(16, 26) + 30 * cv.s
        b = cv.blob(p, (r, r * cv.rng.uniform(0.6, 1.0), r * cv.rng.uniform(0.7, 1.2)), 0.6)
        if b is None:
            continue
        sl, inside = b
        region[sl] |= inside & cv.lung[sl]
        _note(cv, info, p)
    if peripheral:
        region &= cv.ph.wall_depth() < 25.0 + 40.0 * cv.s
    # Lobular sparing: some secondary lobules inside the area stay normal.
    cells = _cells(cv, region, 16.0)
    if cells is not None:
        spared = cv.rng.random(int(cells.max()) + 1) < 0.2
        keep = region.copy()
        keep[region] = ~spared[cells[region]]
        region = keep if keep.any() else region
    level = cv.rng.uniform(-660, -460)
    new = np.maximum(cv.hu, level + 0.5 * (cv.hu + 840.0))  # vessels stay visible through it
    info.voxels += cv.paint((slice(None),) * 3, region, info.label, new)
    info.count = n
    info.subtype = "peripheral" if peripheral else "diffuse"


def _network(
    cv: _Canvas, zone: np.ndarray, cell_mm: float, width_mm: float, density: float
) -> tuple[tuple, np.ndarray]:
    """Voxels of ``zone`` on the edges of a random cell tiling (Voronoi ridges)."""
    idx = np.flatnonzero(zone)
    if idx.size == 0:
        return (slice(None),) * 3, np.zeros(zone.shape, bool)
    k, j, i = np.unravel_index(idx, zone.shape)
    g = cv.ph.grid
    pts = np.stack([g.x[i], g.y[j], g.z[k]], axis=1)
    lo, hi = pts.min(0) - cell_mm, pts.max(0) + cell_mm
    n_seeds = int(np.prod((hi - lo) / cell_mm)) + 4
    seeds = cv.rng.uniform(lo, hi, size=(min(n_seeds, 20000), 3))
    d, _ = cKDTree(seeds).query(pts, k=2)
    ridge = (d[:, 1] - d[:, 0]) < width_mm
    keep = ridge & (cv.rng.random(ridge.size) < density)
    out = np.zeros(zone.shape, bool)
    out.flat[idx[keep]] = True
    return (slice(None),) * 3, out


def _septal(cv: _Canvas, info: LesionInfo) -> None:
    zone = cv.zone(height=(0.0, 0.5 + 0.35 * cv.s), depth=(0, 10 + 18 * cv.s))
    if cv.rng.random() < 0.4:
        zone &= cv.ph.side_mask(str(cv.rng.choice(["R", "L"])))
    sl, m = _network(cv, zone, 16.0, 1.5, 0.75)
    if not m.any():
        sl, m = _network(cv, cv.zone(), 16.0, 2.5, 1.0)
    new = np.maximum(cv.hu, -420.0)
    info.voxels += cv.paint(sl, m, info.label, new)
    _note_mask(cv, info, m)
    info.subtype = "smooth"


def _reticulation(cv: _Canvas, info: LesionInfo) -> None:
    zone = cv.zone(height=(0.0, 0.3 + 0.3 * cv.s), depth=(0, 7 + 12 * cv.s)) & (cv.ph.dependency() > 0.3 - 0.3 * cv.s)
    sl, m = _network(cv, zone, 8.0, 1.5, 0.7)
    if not m.any():
        sl, m = _network(cv, cv.zone(height=(0, 0.6)), 8.0, 2.2, 1.0)
    new = np.maximum(cv.hu, -430.0)
    info.voxels += cv.paint(sl, m, info.label, new)
    _note_mask(cv, info, m)
    info.subtype = "subpleural basal"


def _honeycombing(cv: _Canvas, info: LesionInfo) -> None:
    zone = cv.zone(height=(0.0, 0.22 + 0.18 * cv.s), depth=(0, 6 + 8 * cv.s), dep=(0.45, 1.0))
    if not zone.any():
        zone = cv.zone(height=(0.0, 0.5), depth=(0, 25))
    idx = np.flatnonzero(zone)
    if idx.size == 0:
        return
    g = cv.ph.grid
    k, j, i = np.unravel_index(idx, zone.shape)
    pts = np.stack([g.x[i], g.y[j], g.z[k]], axis=1)
    n = max(4, int(idx.size * (0.08 + 0.12 * cv.s) / 4))
    centres = pts[cv.rng.choice(len(pts), size=min(n, len(pts)), replace=False)]
    radii = cv.rng.uniform(2.8, 4.8, size=len(centres))
    d, w = cKDTree(centres).query(pts, k=1)
    rel = d / radii[w]
    lumen = rel < 1.0
    wall = (rel >= 1.0) & (d < radii[w] + 1.8)
    vals = np.where(lumen, -950.0, -150.0)
    sel = lumen | wall
    m = np.zeros(zone.shape, bool)
    m.flat[idx[sel]] = True
    full = np.zeros(zone.shape, np.float32)
    full.flat[idx[sel]] = vals[sel]
    info.voxels += cv.paint((slice(None),) * 3, m, info.label, full)
    _note_mask(cv, info, m)
    info.count = len(centres)


def _emphysema(cv: _Canvas, info: LesionInfo) -> None:
    """Centrilobular (upper zones), paraseptal (subpleural) or panlobular (lower zones)."""
    kind = str(cv.rng.choice(["centrilobular", "paraseptal", "panlobular"], p=[0.6, 0.25, 0.15]))
    vessel = cv.ph.vessel_frac.astype(np.float32) if cv.ph.vessel_frac is not None else np.zeros(cv.hu.shape)
    if kind == "panlobular":
        zone = cv.zone(height=(0.0, 0.6))
        f = smooth_field(cv.hu.shape, cv.rng, tuple(max(2, n // 6) for n in cv.hu.shape))
        m = zone & (f > np.quantile(f[zone], 0.55 - 0.35 * cv.s)) if zone.any() else zone
        m &= vessel < 0.5  # pruned, but the larger vessels remain
        new = -965.0 + 8.0 * f
    else:
        if kind == "centrilobular":
            zone = cv.zone(height=(0.45, 1.0))
            share, r_lo, r_hi = 0.04 + 0.22 * cv.s, 2.0, 5.0 + 3.0 * cv.s  # of the zone's volume
        else:
            zone = cv.zone(height=(0.3, 1.0), depth=(0, 12))
            share, r_lo, r_hi = 0.06 + 0.2 * cv.s, 4.0, 8.0 + 6.0 * cv.s
        m = _holes(cv, zone, share, r_lo, r_hi)
        m &= vessel < 0.6  # the lobular artery stays as a dot in a centrilobular lucency
        new = np.full(cv.hu.shape, -980.0, np.float32)
    info.voxels += cv.paint((slice(None),) * 3, m, info.label, new)
    _note_mask(cv, info, m)
    info.subtype = kind


def _mosaic(cv: _Canvas, info: LesionInfo) -> None:
    """Geographic groups of secondary lobules 75 HU darker, with thinner vessels."""
    zone = cv.zone()
    cells = _cells(cv, zone, 22.0)
    if cells is None:
        return
    f = smooth_field(cv.hu.shape, cv.rng, tuple(max(2, n // 6) for n in cv.hu.shape))
    n_cells = int(cells.max()) + 1
    # A cell is lucent when the geographic field is high at its centre (cells cluster in groups).
    score = np.zeros(n_cells)
    np.add.at(score, cells[zone], f[zone])
    score /= np.maximum(np.bincount(cells[zone], minlength=n_cells), 1)
    lucent = score > np.quantile(score, 0.6 - 0.15 * cv.s)
    m = zone.copy()
    m[zone] = lucent[cells[zone]]
    new = cv.hu - 75.0
    vessel = cv.ph.tissue == Tissue.VESSEL
    new = np.where(vessel, cv.hu - 0.45 * (cv.hu + 850.0), new)
    info.voxels += cv.paint((slice(None),) * 3, m, info.label, new)
    _note_mask(cv, info, m)


def _consolidation(cv: _Canvas, info: LesionInfo, bronchogram: int | None, infos: dict[str, LesionInfo]) -> None:
    """One or two segments of a lobe, or the whole lobe, filled; it stops at the fissures."""
    dependent = cv.rng.random() < 0.5
    n = 1 + int(cv.rng.random() < 0.2 + 0.4 * cv.s)
    lobar = cv.rng.random() < 0.15 + 0.35 * cv.s
    lobes = [int(v) for v in Lobe]
    weights = np.array([1.0, 0.8, 1.6, 1.0, 1.6]) if dependent else np.ones(5)
    if "apical" in cv.hints:
        weights = np.array([2.5, 0.3, 0.6, 2.5, 0.6])
    for _ in range(n):
        lobe = int(cv.rng.choice(lobes, p=weights / weights.sum()))
        terr = _territory(cv, lobe)
        if terr is None:
            continue
        in_lobe = terr >= 0
        if lobar:
            region = in_lobe
        else:
            segs = np.unique(terr[in_lobe])
            pick = cv.rng.choice(segs, size=min(len(segs), 1 + int(cv.rng.random() < 0.3)), replace=False)
            region = np.isin(terr, pick) & in_lobe
        # Airspace disease rarely fills a segment to its edge away from the fissures: an irregular
        # margin, eaten into by up to ~10 mm where a smooth random field says so.
        f = smooth_field(cv.hu.shape, cv.rng, tuple(max(2, k // 4) for k in cv.hu.shape))
        region &= edt_inside(region, cv.ph.grid.spacing) + 10.0 * (f - 0.3 + 0.5 * cv.s) > 0.0
        if dependent:
            region &= cv.ph.dependency() > 0.35 - 0.3 * cv.s
        region &= cv.labels == 0
        if not region.any():
            p = cv.pick_any(cv.zone(free=True), cv.zone())
            b = cv.blob(p, (18.0, 15.0, 18.0), 0.4)
            if b is None:
                continue
            sl, inside = b
            region = np.zeros(cv.hu.shape, bool)
            region[sl] = inside & cv.lung[sl]
        vals = cv.rng.uniform(25, 45) + 6.0 * cv.rng.standard_normal(cv.hu.shape).astype(np.float32)
        air = (
            cv.ph.airway_frac.astype(np.float32) if cv.ph.airway_frac is not None else np.zeros(cv.hu.shape, np.float32)
        )
        got = cv.paint((slice(None),) * 3, region, info.label, vals)
        info.voxels += got
        kk, jj, ii = np.nonzero(region)
        if kk.size:
            mid = kk.size // 2
            _note(cv, info, cv.ph.grid.point(int(kk[mid]), int(jj[mid]), int(ii[mid])))
        if bronchogram is not None and got:
            _air_bronchograms(cv, region, air, bronchogram, infos)
    info.count = n
    info.subtype = "lobar" if lobar else ("dependent segmental" if dependent else "segmental")


def _air_bronchograms(
    cv: _Canvas, region: np.ndarray, air: np.ndarray, label: int, infos: dict[str, LesionInfo]
) -> None:
    """The consolidated region's own bronchi stay air-filled; where it holds too few, bronchi are
    drawn from its hilar side into it (branching towards its far edge)."""
    info = infos.setdefault("air_bronchogram", LesionInfo("air_bronchogram", "HP:0033662", label))
    inside = region & (cv.labels == infos["consolidation"].label)
    m = inside & (air > 0.3)
    if int(m.sum()) < 4:
        g = cv.ph.grid
        kk, jj, ii = np.nonzero(inside)
        if kk.size == 0:
            return
        c = np.array([g.x[ii].mean(), g.y[jj].mean(), g.z[kk].mean()], np.float32)
        side = "R" if c[0] < 0 else "L"
        hilum = np.array(cv.ph.hila[side], np.float32)
        entry = c + 0.5 * (hilum - c)
        for _ in range(3 + int(cv.rng.integers(0, 3))):
            t = int(cv.rng.integers(kk.size))
            tgt = (float(g.x[ii[t]]), float(g.y[jj[t]]), float(g.z[kk[t]]))
            tb = tube(g, tuple(map(float, entry)), tgt, 2.6, 1.8)
            if tb is None:
                continue
            tsl, frac, _, _ = tb
            np.maximum(air[tsl], frac * inside[tsl], out=air[tsl])
        m = inside & (air > 0.3)
    vals = cv.hu * (1 - air) - 950.0 * air
    info.voxels += cv.paint((slice(None),) * 3, m, label, vals)
    kk, jj, ii = np.nonzero(m)
    if kk.size:
        _note(cv, info, cv.ph.grid.point(int(kk[0]), int(jj[0]), int(ii[0])))


def _nodule(cv: _Canvas, info: LesionInfo, halo: bool) -> None:
    multiple = "multiple" in cv.hints
    n = int(cv.rng.integers(3, 6 + int(6 * cv.s))) if multiple else (1 if cv.rng.random() < 0.8 else 2)
    kind = cv.rng.choice(["solid", "part-solid", "ground-glass"], p=[0.6, 0.25, 0.15])
    sizes = []
    for _ in range(n):
        hr = cv.height_range((0.0, 0.5) if multiple else (0.0, 1.0))
        p = cv.pick_any(cv.zone(height=hr, depth=(3, 60), free=True), cv.zone(height=hr), cv.zone())
        r = max(cv.rng.uniform(3.0, 6.0 + 8.0 * cv.s), 0.7 * cv.ph.grid.voxel_mm)
        r_out = r + (cv.rng.uniform(3, 6) if halo else 0.0)
        b = cv.blob(p, (r_out, r_out, r_out), 0.25)
        if b is None:
            continue
        sl, inside = b
        e = ellipsoid(cv.ph.grid, p, (r_out, r_out, r_out))
        q = e[1] * (r_out / r) ** 2 if e is not None else None
        m = inside & cv.lung[sl]
        if kind == "solid" or q is None:
            vals = np.where(q < 1, 35.0, -520.0) if (halo and q is not None) else np.full(m.shape, 35.0, np.float32)
        elif kind == "part-solid":
            vals = np.where(q < 0.35, 35.0, -480.0)
        else:
            vals = np.full(m.shape, -540.0, np.float32)
        vals = np.maximum(cv.hu[sl], vals) if kind != "solid" else vals
        info.voxels += cv.paint(sl, m, info.label, vals)
        sizes.append(2 * r)
        _note(cv, info, p)
    info.count = n
    info.size_mm = round(float(max(sizes)), 1) if sizes else None
    info.subtype = str(kind)


def _mass(cv: _Canvas, info: LesionInfo) -> None:
    central = "central" in cv.hints or cv.rng.random() < 0.35
    side = str(cv.rng.choice(["R", "L"]))
    if central:
        h = np.array(cv.ph.hila[side])
        lateral = np.array([-1.0 if side == "R" else 1.0, 0.0, 0.0])
        p = tuple(map(float, h + lateral * cv.rng.uniform(12, 25) + cv.rng.normal(0, 8, 3)))
    else:
        p = cv.pick_any(cv.zone(side, cv.height_range((0.3, 1.0)), depth=(15, 60), free=True), cv.zone(side))
    r = cv.rng.uniform(15, 22) + 14 * cv.s
    b = cv.blob(p, (r, r * cv.rng.uniform(0.8, 1.0), r * cv.rng.uniform(0.8, 1.2)), 0.3)
    total = 0
    if b is not None:
        sl, inside = b
        m = inside & (cv.lung[sl] | np.isin(cv.ph.tissue[sl], (Tissue.FAT,)) & (cv.ph.rho()[sl] < 1))
        total += cv.paint(sl, m, info.label, 32.0 + 5.0 * cv.rng.standard_normal(m.shape).astype(np.float32))
    for _ in range(int(cv.rng.integers(5, 11))):  # spicules
        v = cv.rng.normal(size=3)
        v /= np.linalg.norm(v)
        a = tuple(float(c + 0.8 * r * vi) for c, vi in zip(p, v))
        bpt = tuple(float(c + (r + cv.rng.uniform(6, 16)) * vi) for c, vi in zip(p, v))
        tb = tube(cv.ph.grid, a, bpt, 1.6, 0.6)
        if tb is None:
            continue
        sl, frac, _, _ = tb
        m = (frac > 0.5) & cv.lung[sl]
        total += cv.paint(sl, m, info.label, cv.hu[sl] * (1 - frac) + 30.0 * frac)
    info.voxels += total
    info.size_mm = round(2 * r, 1)
    info.subtype = "central" if central else "peripheral spiculated"
    _note(cv, info, p)


def _cavity(cv: _Canvas, info: LesionInfo) -> None:
    side = str(cv.rng.choice(["R", "L"]))
    hr = cv.height_range((0.0, 1.0))
    p = cv.pick_any(cv.zone(side, hr, depth=(8, 60), free=True), cv.zone(side, hr), cv.zone(side))
    r = cv.rng.uniform(9, 14) + 12 * cv.s
    wall = cv.rng.uniform(3.0, 7.0)
    e = ellipsoid(cv.ph.grid, p, (r, r, r * cv.rng.uniform(0.9, 1.2)))
    if e is None:
        return
    sl, q = e
    rr = np.sqrt(q) * r
    m = (q < 1) & (cv.lung[sl] | (cv.labels[sl] > 0))
    vals = np.where(rr < r - wall, -960.0, 35.0).astype(np.float32)
    fluid = cv.rng.random() < 0.4
    if fluid:
        y = cv.ph.grid.coords(sl)[1]
        vals = np.where((rr < r - wall) & (y > p[1] + 0.3 * (r - wall)), 15.0, vals)
    info.voxels += cv.paint(sl, m, info.label, vals)
    info.size_mm = round(2 * r, 1)
    info.subtype = f"wall {wall:.0f} mm" + (", air-fluid level" if fluid else "")
    _note(cv, info, p)


def _effusion(cv: _Canvas, info: LesionInfo) -> None:
    """Fluid in the dependent (posterior, supine) pleural space: a level surface, deepest at the
    base, curving up along the chest wall (the meniscus)."""
    sides = ["R", "L"] if cv.rng.random() < 0.25 + 0.5 * cv.s else [str(cv.rng.choice(["R", "L"]))]
    an = cv.ph.anatomy
    g = cv.ph.grid
    h = cv.ph.height()
    y3 = g.y[None, :, None]
    wd = cv.ph.wall_depth()
    for side in sides:
        depth = cv.rng.uniform(14, 22) + 40 * cv.s  # mm of fluid at the base, front to back
        top = 0.4 + 0.35 * cv.s  # how high up the back the fluid climbs (relative lung height)
        d_z = depth * np.clip((top - h) / top, 0, 1) ** 0.8
        meniscus = 0.6 * d_z * np.exp(-wd / 9.0)
        m = cv.lung_side[side] & (y3 > an.y_back - d_z - meniscus) & (d_z > 1.0)
        vals = cv.rng.uniform(5, 20) + 3.0 * cv.rng.standard_normal(cv.hu.shape).astype(np.float32)
        info.voxels += cv.paint((slice(None),) * 3, m, info.label, vals)
        info.sides.append(side)
        info.lobes.append("right" if side == "R" else "left")
    info.size_mm = None
    info.subtype = "bilateral" if len(sides) == 2 else "unilateral"


def _pneumothorax(cv: _Canvas, info: LesionInfo) -> None:
    side = str(cv.rng.choice(["R", "L"]))
    an = cv.ph.anatomy
    g = cv.ph.grid
    y3 = g.y[None, :, None]
    front = an.cavity_yc - an.cavity_b
    d = cv.rng.uniform(8, 14) + 25 * cv.s
    rho = cv.ph.rho()
    m = cv.lung_side[side] & ((y3 < front + d) | ((cv.ph.height() > 0.85) & (rho > 1 - d / (2 * an.cavity_a))))
    info.voxels += cv.paint((slice(None),) * 3, m, info.label, -1000.0)
    line = ndimage.binary_dilation(m, iterations=1) & ~m & cv.lung_side[side]
    cv.hu[line] = np.maximum(cv.hu[line], -350.0)  # the visceral pleural line
    info.sides.append(side)
    info.lobes.append("right" if side == "R" else "left")
    info.size_mm = round(float(d), 0)
    info.subtype = "small" if d < 20 else "moderate"


def _pleural_thickening(cv: _Canvas, info: LesionInfo) -> None:
    side = str(cv.rng.choice(["R", "L"]))
    t = cv.rng.uniform(3.0, 5.0) + 5 * cv.s
    m = cv.zone(side, (0.0, 0.75), depth=(0, t)) & (cv.ph.dependency() > cv.rng.uniform(0.2, 0.5))
    if not m.any():
        m = cv.zone(side, depth=(0, t))
    info.voxels += cv.paint((slice(None),) * 3, m, info.label, 40.0)
    info.sides.append(side)
    info.lobes.append("right" if side == "R" else "left")
    info.size_mm = round(float(t), 1)


def _tree_in_bud(cv: _Canvas, info: LesionInfo) -> None:
    """Impacted small airways: the terminal branches of one or more segments, filled, with buds."""
    g = cv.ph.grid
    clusters = 1 + int(cv.rng.random() < 0.3 + 0.5 * cv.s) + int(cv.s > 0.7)
    arteries = [t for t in cv.ph.trees if t.kind == "artery" and t.branches]
    for _ in range(clusters):
        got = 0
        hr = cv.height_range((0.0, 1.0))
        c = np.array(cv.pick_any(cv.zone(height=hr, depth=(2, 30), free=True), cv.zone(height=hr)), np.float32)
        leaves = [b for t in arteries for b in t.branches if b.leaf and np.linalg.norm(np.subtract(b.b, c)) < 30.0]
        if len(leaves) < 4:  # a coarse grid: branches round the centre instead
            leaves = []
            for _ in range(int(cv.rng.integers(8, 14))):
                base = c + cv.rng.normal(0, 10, 3).astype(np.float32)
                v = cv.rng.normal(size=3).astype(np.float32)
                v /= np.linalg.norm(v)
                leaves.append(_Twig(tuple(map(float, base)), tuple(map(float, base + v * cv.rng.uniform(7, 12)))))
        for br in leaves:
            a, b = np.array(br.a, np.float32), np.array(br.b, np.float32)
            d = b - a
            d /= max(1e-6, float(np.linalg.norm(d)))
            parts = [(a + 0.3 * (b - a), b, 1.6, 1.3)]
            for _ in range(int(cv.rng.integers(1, 3))):
                v = d + cv.rng.normal(0, 0.8, 3).astype(np.float32)
                v /= np.linalg.norm(v)
                parts.append((b, b + v * cv.rng.uniform(4, 7), 1.3, 1.1))
            for p0, p1, r0, r1 in parts:
                for seg in ((p0, p1, r0, r1), (p1, p1 + 1e-3, 2.4, 2.4)):  # branch, then its bud
                    tb = tube(g, tuple(map(float, seg[0])), tuple(map(float, seg[1])), seg[2], seg[3])
                    if tb is None:
                        continue
                    sl, frac, _, _ = tb
                    m = (frac > 0.35) & cv.lung[sl]
                    got += cv.paint(sl, m, info.label, np.maximum(cv.hu[sl], cv.hu[sl] * (1 - frac) - 40.0 * frac))
        info.voxels += got
        _note(cv, info, tuple(map(float, c)))
    info.count = clusters


def _bronchiectasis(cv: _Canvas, info: LesionInfo) -> None:
    g = cv.ph.grid
    cands = [b for b in cv.ph.bronchi if b[2] < 3.5]  # segmental bronchi
    if not cands:
        cands = list(cv.ph.bronchi)
    lower = [b for b in cands if b[1][2] < cv.ph.hila[b[3]][2]]
    pool = lower if lower and cv.rng.random() < 0.7 else cands
    n = min(len(pool), 2 + int(round(5 * cv.s)))
    for t in cv.rng.choice(len(pool), size=n, replace=False):
        a, b, _, side = pool[int(t)]
        a_, b_ = np.array(a), np.array(b)
        b_ext = a_ + 1.5 * (b_ - a_)  # dilated bronchi reach the periphery
        lumen = cv.rng.uniform(3.0, 4.5) + 1.5 * cv.s
        wall = cv.rng.uniform(1.5, 2.5)
        tb = tube(g, tuple(map(float, a_)), tuple(map(float, b_ext)), lumen, lumen * 0.85, margin=wall)
        if tb is None:
            continue
        sl, frac, dist, rad = tb
        in_lung = cv.lung[sl] | (cv.labels[sl] > 0)
        wall_m = (dist < rad + wall) & (frac <= 0.5) & in_lung
        lum_m = (frac > 0.5) & in_lung
        info.voxels += cv.paint(sl, wall_m, info.label, 25.0)
        info.voxels += cv.paint(sl, lum_m, info.label, -980.0)
        _note(cv, info, tuple(map(float, b_)))
    info.count = n
    info.subtype = "cylindrical" if cv.s < 0.6 else "varicose"


def _atelectasis(cv: _Canvas, info: LesionInfo) -> None:
    g = cv.ph.grid
    side = str(cv.rng.choice(["R", "L"]))
    c = cv.pick_any(cv.zone(side, (0.0, 0.45), depth=(5, 40), free=True), cv.zone(side))
    n = cv.rng.normal(size=3)
    n[2] = abs(n[2]) + 2.0  # plates lie roughly horizontal
    n /= np.linalg.norm(n)
    R = cv.rng.uniform(20, 30) + 15 * cv.s
    t = cv.rng.uniform(4, 7)
    sl = g.box(tuple(ci - R for ci in c), tuple(ci + R for ci in c))
    if sl is None:
        return
    z, y, x = g.coords(sl)
    px, py, pz = x - c[0], y - c[1], z - c[2]
    dn = px * n[0] + py * n[1] + pz * n[2]
    m = (np.abs(dn) < t / 2 + g.spacing[0] / 2) & (px**2 + py**2 + pz**2 < R**2) & cv.lung[sl]
    info.voxels += cv.paint(sl, m, info.label, cv.rng.uniform(-80, 10))
    info.subtype = "plate-like"
    _note(cv, info, c)


def _cyst(cv: _Canvas, info: LesionInfo) -> None:
    n = int(cv.rng.integers(1, 3 + int(4 * cv.s)))
    for _ in range(n):
        p = cv.pick_any(cv.zone(height=(0.3, 1.0), depth=(5, 60), free=True), cv.zone())
        r = cv.rng.uniform(5, 9) + 6 * cv.s
        e = ellipsoid(cv.ph.grid, p, (r + 1.5, r + 1.5, r + 1.5))
        if e is None:
            continue
        sl, q = e
        rr = np.sqrt(q) * (r + 1.5)
        m = (q < 1) & cv.lung[sl]
        info.voxels += cv.paint(sl, m, info.label, np.where(rr < r, -990.0, -250.0))
        info.size_mm = round(max(info.size_mm or 0, 2 * r), 1)
        _note(cv, info, p)
    info.count = n


def _lymph_nodes(cv: _Canvas, info: LesionInfo, hilar: bool) -> None:
    lm = cv.ph.landmarks
    if hilar:
        stations = {"right hilar": cv.ph.hila["R"], "left hilar": cv.ph.hila["L"]}
    else:
        stations = {k.split(":", 1)[1]: v for k, v in lm.items() if k.startswith("station:")}
    names = sorted(stations)
    order = cv.rng.permutation(len(names))
    want = 1 + int(round(cv.s * (len(names) - 1) * cv.rng.uniform(0.4, 1.0)))
    sizes = []
    t_all = cv.ph.tissue
    for o in order:
        if len(sizes) >= want:
            break
        name = names[int(o)]
        base = np.array(stations[name], np.float32)
        if hilar:  # beside the hilar vessels, towards the lung
            base[0] += -10.0 if name.startswith("right") else 10.0
            base[1] -= 6.0
        short = cv.rng.uniform(11, 16) + 12 * cv.s
        semi = (short / 2, short / 2 * cv.rng.uniform(1.0, 1.3), short / 2 * cv.rng.uniform(1.2, 1.6))
        got = 0
        for _ in range(4):  # nodes sit in the fat: try a few positions round the station
            c = base + cv.rng.normal(0, 3 if got == 0 else 6, 3).astype(np.float32)
            e = ellipsoid(cv.ph.grid, tuple(map(float, c)), semi)
            if e is None:
                continue
            sl, q = e
            t = t_all[sl]
            ok = np.isin(t, (Tissue.FAT,) + _LUNG) if hilar else (t == Tissue.FAT)
            m = (q < 1) & ok & (cv.ph.rho()[sl] < 1)
            if int(m.sum()) >= max(1, int(0.25 * (q < 1).sum())):
                got = cv.paint(sl, m, info.label, 42.0 + 4.0 * cv.rng.standard_normal(m.shape).astype(np.float32))
                break
        if got:
            info.voxels += got
            sizes.append(short)
            info.lobes.append(name)
            side = "R" if name.startswith("right") else "L" if name.startswith("left") else None
            if side and side not in info.sides:
                info.sides.append(side)
    info.count = len(sizes)
    info.size_mm = round(float(max(sizes)), 1) if sizes else None


def _cardiomegaly(cv: _Canvas, info: LesionInfo) -> None:
    lm = cv.ph.landmarks
    e = rotated_ellipsoid(cv.ph.grid, lm["heart"], lm["heart_semi"], lm["heart_rot"])
    if e is None:
        return
    sl, q, _ = e
    m = (q < 1) & (cv.ph.tissue[sl] == Tissue.BLOOD)
    cv.labels[sl][m] = info.label
    info.voxels += int(m.sum())
    info.size_mm = round(float(2 * lm["heart_semi"][0]), 0)


# ------------------------------------------------------------------------ helpers


@dataclass(frozen=True)
class _Twig:
    a: Point
    b: Point


def _cells(cv: _Canvas, mask: np.ndarray, cell_mm: float) -> np.ndarray | None:
    """A random tiling of ``mask`` into cells of about ``cell_mm`` (secondary lobules): the cell
    number of each voxel (``-1`` outside the mask), or ``None`` for an empty mask."""
    idx = np.flatnonzero(mask)
    if idx.size == 0:
        return None
    g = cv.ph.grid
    k, j, i = np.unravel_index(idx, mask.shape)
    pts = np.stack([g.x[i], g.y[j], g.z[k]], axis=1)
    lo, hi = pts.min(0) - cell_mm / 2, pts.max(0) + cell_mm / 2
    n = int(np.clip(np.prod((hi - lo) / cell_mm), 1, 20000))
    seeds = cv.rng.uniform(lo, hi, size=(n, 3))
    _, near = cKDTree(seeds).query(pts, k=1)
    out = np.full(mask.shape, -1, np.int32)
    out.flat[idx] = near
    return out


def _territory(cv: _Canvas, lobe: int) -> np.ndarray | None:
    """The segment (arterial subtree) supplying each voxel of ``lobe``; ``-1`` elsewhere."""
    tree = next((t for t in cv.ph.trees if t.kind == "artery" and t.lobe == lobe and len(t.points)), None)
    m = cv.ph.lobes == lobe
    idx = np.flatnonzero(m)
    if idx.size == 0:
        return None
    out = np.full(m.shape, -1, np.int32)
    if tree is None or (tree.point_segment < 0).all():
        out.flat[idx] = 0
        return out
    g = cv.ph.grid
    k, j, i = np.unravel_index(idx, m.shape)
    pts = np.stack([g.x[i], g.y[j], g.z[k]], axis=1)
    _, near = cKDTree(tree.points).query(pts, k=1)
    seg = tree.point_segment[near]
    out.flat[idx] = np.where(seg >= 0, seg, 0)
    return out


def _holes(cv: _Canvas, zone: np.ndarray, share: float, r_lo: float, r_hi: float) -> np.ndarray:
    """Random spherical holes in ``zone`` covering about ``share`` of it, radii ``r_lo``–``r_hi`` mm."""
    idx = np.flatnonzero(zone)
    out = np.zeros(zone.shape, bool)
    if idx.size == 0:
        return out
    g = cv.ph.grid
    mean_vol = np.pi / 3 * (r_hi**4 - r_lo**4) / max(1e-6, r_hi - r_lo)  # E[4/3 π r³], r uniform
    # Overlapping holes cover 1 - exp(-n v / V) of the zone.
    n_want = -np.log(max(1e-3, 1.0 - share)) * idx.size * float(np.prod(g.spacing)) / mean_vol
    n = int(np.clip(cv.rng.poisson(n_want), 3, 5000))
    k, j, i = np.unravel_index(idx, zone.shape)
    pts = np.stack([g.x[i], g.y[j], g.z[k]], axis=1)
    centres = pts[cv.rng.choice(len(pts), size=min(n, len(pts)), replace=False)]
    radii = np.maximum(cv.rng.uniform(r_lo, r_hi, len(centres)), 0.55 * g.voxel_mm)
    d, w = cKDTree(centres).query(pts, k=1)
    out.flat[idx[d < radii[w]]] = True
    return out


# ------------------------------------------------------------------------ bookkeeping


def _note(cv: _Canvas, info: LesionInfo, p: Point) -> None:
    side = cv.side_of(p)
    if side not in info.sides:
        info.sides.append(side)
    lobe = lobe_of(cv.ph, p)
    if lobe not in info.lobes:
        info.lobes.append(lobe)


def _note_mask(cv: _Canvas, info: LesionInfo, m: np.ndarray) -> None:
    for side in ("R", "L"):
        part = m & cv.ph.side_mask(side)
        if part.any():
            if side not in info.sides:
                info.sides.append(side)
            kk = np.nonzero(part.any(axis=(1, 2)))[0]
            h = float(cv.ph.height()[int(np.median(kk)), 0, 0])
            zone = "upper" if h > 0.62 else "mid" if h > 0.32 else "lower"
            name = f"{'right' if side == 'R' else 'left'} {zone} zone"
            if name not in info.lobes:
                info.lobes.append(name)


def draw_findings(
    ph: Phantom, findings: list[str], severity: float, rng: np.random.Generator, hints: set[str] | None = None
) -> tuple[np.ndarray, dict[str, LesionInfo]]:
    """Draw the CT findings ``findings`` (HPO ids with a mask label) into ``ph.hu``.

    Args:
        ph: The phantom; its HU are changed in place.
        findings: HPO ids to draw (ids without a mask label are ignored).
        severity: 0–1; scales extent, size and count.
        rng: The case's generator for the image.
        hints: Placement hints from the rest of the case: ``apical`` (upper-zone disease),
            ``central`` (a hilar mass), ``multiple`` (many nodules), ``halo`` (ground-glass rim
            round nodules).

    Returns:
        ``(labels, infos)``: the ``uint8`` label map and, per drawn HPO id, a :class:`LesionInfo`
        with its voxel count in the final map.
    """
    hints = set(hints or ())
    cv = _Canvas(ph, rng, severity, hints)
    want = {spec(h).key: h for h in findings if h in LABEL_OF}
    infos: dict[str, LesionInfo] = {}

    def run(key: str) -> None:
        hp = want[key]
        info = infos.setdefault(key, LesionInfo(key, hp, LABEL_OF[hp]))
        if key == "consolidation":
            _consolidation(cv, info, LABEL_OF["HP:0033662"] if "air_bronchogram" in want else None, infos)
        elif key == "nodule":
            _nodule(cv, info, "halo" in hints)
        elif key in ("mediastinal_ln", "hilar_ln"):
            _lymph_nodes(cv, info, key == "hilar_ln")
        else:
            _DRAW[key](cv, info)

    for key in DRAW_ORDER:
        if key in want:
            run(key)
    # Re-draw, in free lung, any finding that later patterns covered completely.
    for _ in range(3):
        counts = np.bincount(cv.labels.ravel(), minlength=32)
        lost = [k for k in DRAW_ORDER if k in want and counts[LABEL_OF[want[k]]] == 0]
        if "air_bronchogram" in want and counts[LABEL_OF["HP:0033662"]] == 0:
            lost.append("consolidation")
        if not lost:
            break
        for key in lost:
            cv.hints.discard("central")
            run(key)
    counts = np.bincount(cv.labels.ravel(), minlength=32)
    out: dict[str, LesionInfo] = {}
    for info in infos.values():
        info.voxels = int(counts[info.label])
        out[info.hpo_id] = info
    return cv.labels, out


_DRAW = {
    "ggo": _ggo,
    "septal": _septal,
    "reticulation": _reticulation,
    "honeycombing": _honeycombing,
    "emphysema": _emphysema,
    "mosaic": _mosaic,
    "mass": _mass,
    "cavity": _cavity,
    "effusion": _effusion,
    "pneumothorax": _pneumothorax,
    "pleural_thickening": _pleural_thickening,
    "tree_in_bud": _tree_in_bud,
    "bronchiectasis": _bronchiectasis,
    "atelectasis": _atelectasis,
    "cyst": _cyst,
    "cardiomegaly": _cardiomegaly,
}
