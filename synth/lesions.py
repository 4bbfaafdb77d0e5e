"""Lesion patterns drawn into a phantom, each with its voxels in one label map.

Every drawn finding writes its :data:`~kgdx.synth.findings.LABEL_OF` value into ``labels`` where
it shows, and changes the HU there:

* **ground-glass opacity** raises the lung to about −550 HU and keeps vessels visible;
* **consolidation** fills the lung to 25–45 HU and hides vessels; **air bronchograms** are
  air-filled bronchi drawn inside it;
* **nodules** (solid, part-solid with a solid core, or ground-glass; lobulated) and **masses**
  (spiculated, peripheral or central);
* **cavities**: a thick soft-tissue wall round an air lumen, some with an air–fluid level;
* **pleural effusion**: fluid (5–20 HU) in the dependent (posterior) pleural space, deepest at
  the base; **pneumothorax**: air in the non-dependent (anterior, apical) pleural space with the
  visceral pleural line; **pleural thickening**: a soft-tissue band along the wall;
* **emphysema**: low-attenuation areas (−960 to −990 HU), upper-zone predominant, vessels lost;
* **reticulation** and **interlobular septal thickening**: networks of fine lines (the edges of a
  random cell tiling: ~8 mm cells for reticulation, ~15 mm secondary lobules for septa);
  **honeycombing**: stacked subpleural basal air cysts with walls;
* **tree-in-bud**: clusters of small branching opacities with budding tips in the periphery;
* **bronchiectasis**: dilated, thick-walled bronchi (lumen wider than the artery beside it);
* **mosaic attenuation**: geographic lobular areas of lower attenuation with thinner vessels;
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

from kgdx.synth._geometry import Point, ellipsoid, smooth_field, tube
from kgdx.synth.findings import LABEL_OF, spec
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
    """The lobe a point lies in, approximated from its side, height and front-back position."""
    k, j, i = ph.grid.index(p)
    h = float(ph.height()[k, 0, 0])
    dep = float(ph.dependency()[0, j, 0])
    if p[0] < 0:
        if h >= 0.62:
            return "right upper lobe"
        if h >= 0.32 and dep < 0.5:
            return "right middle lobe"
        return "right lower lobe"
    if h >= 0.55:
        return "left upper lobe"
    if h >= 0.32 and dep < 0.45:
        return "lingula"
    return "left lower lobe"


class _Canvas:
    def __init__(self, ph: Phantom, rng: np.random.Generator, severity: float, hints: set[str]):
        self.ph = ph
        self.rng = rng
        self.s = float(severity)
        self.hints = hints
        self.labels = np.zeros(ph.hu.shape, np.uint8)
        self.hu = ph.hu
        t = ph.tissue
        self.lung = np.isin(t, _LUNG) & (ph.rho() < 1.0)
        self.lung_side = {"R": self.lung & ph.side_mask("R"), "L": self.lung & ph.side_mask("L")}

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
            m = m & (d >= depth[0]) & (d <= depth[1])
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
    n = 1 + int(round(cv.s * 4 + cv.rng.uniform(-0.5, 0.5)))
    peripheral = cv.rng.random() < 0.6
    for _ in range(max(1, n)):
        side = cv.rng.choice(["R", "L"])
        p = cv.pick_any(cv.zone(side, (0.0, 0.8), depth=(0, 30) if peripheral else None, free=True), cv.zone(side))
        r = cv.rng.uniform(14, 22) + 26 * cv.s
        b = cv.blob(p, (r, r * cv.rng.uniform(0.6, 1.0), r * cv.rng.uniform(0.7, 1.2)), 0.5)
        if b is None:
            continue
        sl, inside = b
        m = inside & cv.lung[sl]
        level = cv.rng.uniform(-640, -470)
        new = np.maximum(cv.hu[sl], level + 0.5 * (cv.hu[sl] + 820.0))
        info.voxels += cv.paint(sl, m, info.label, new)
        _note(cv, info, p)
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
    zone = cv.zone(height=(0.35, 1.0))
    f = smooth_field(cv.hu.shape, cv.rng, tuple(max(2, n // 5) for n in cv.hu.shape))
    frac = 0.06 + 0.22 * cv.s
    vals = f[zone]
    if vals.size == 0:
        return
    thr = np.quantile(vals, 1 - frac)
    m = zone & (f > thr)
    if cv.rng.random() < 0.3:  # paraseptal: a subpleural rim as well
        m |= zone & (cv.ph.wall_depth() < 6) & (f > np.quantile(vals, 0.6))
    new = -975.0 + 10.0 * f
    info.voxels += cv.paint((slice(None),) * 3, m, info.label, new)
    _note_mask(cv, info, m)
    info.subtype = "centrilobular, upper-zone predominant"


def _mosaic(cv: _Canvas, info: LesionInfo) -> None:
    zone = cv.zone()
    f = smooth_field(cv.hu.shape, cv.rng, tuple(max(2, n // 6) for n in cv.hu.shape))
    vals = f[zone]
    if vals.size == 0:
        return
    m = zone & (f > np.quantile(vals, 0.6 - 0.15 * cv.s))
    lung_level = -840.0
    new = cv.hu - 75.0
    vessel = cv.ph.tissue == Tissue.VESSEL
    new = np.where(vessel, cv.hu - 0.45 * (cv.hu - lung_level), new)  # thinner vessels in the lucent lobules
    info.voxels += cv.paint((slice(None),) * 3, m, info.label, new)
    _note_mask(cv, info, m)


def _consolidation(cv: _Canvas, info: LesionInfo, bronchogram: int | None, infos: dict[str, LesionInfo]) -> None:
    n = 1 + int(cv.rng.random() < 0.25 + 0.4 * cv.s)
    dependent = cv.rng.random() < 0.5
    for _ in range(n):
        side = str(cv.rng.choice(["R", "L"]))
        hr = cv.height_range((0.0, 0.6) if dependent else (0.0, 0.9))
        p = cv.pick_any(
            cv.zone(side, hr, dep=(0.45, 1.0) if dependent else None, depth=(4, 40), free=True),
            cv.zone(side, hr),
            cv.zone(side),
        )
        r = cv.rng.uniform(16, 24) + 22 * cv.s
        b = cv.blob(p, (r, r * cv.rng.uniform(0.7, 1.0), r * cv.rng.uniform(0.8, 1.3)), 0.45)
        if b is None:
            continue
        sl, inside = b
        m = inside & cv.lung[sl]
        vals = cv.rng.uniform(25, 45) + 6.0 * cv.rng.standard_normal(m.shape).astype(np.float32)
        got = cv.paint(sl, m, info.label, vals)
        info.voxels += got
        _note(cv, info, p)
        if bronchogram is not None and got:
            _air_bronchograms(cv, sl, m, p, bronchogram, infos)
    info.count = n
    info.subtype = "dependent" if dependent else "lobar/segmental"


def _air_bronchograms(
    cv: _Canvas, sl, region: np.ndarray, centre: Point, label: int, infos: dict[str, LesionInfo]
) -> None:
    g = cv.ph.grid
    side = cv.side_of(centre)
    hilum = np.array(cv.ph.hila[side], np.float32)
    c = np.array(centre, np.float32)
    entry = c + 0.6 * (hilum - c) / max(1.0, float(np.linalg.norm(hilum - c))) * 25.0
    zs, ys, xs = sl
    kk, jj, ii = np.nonzero(region)
    if kk.size == 0:
        return
    info = infos.setdefault("air_bronchogram", LesionInfo("air_bronchogram", "HP:0033662", label))
    for _ in range(3 + int(cv.rng.integers(0, 3))):
        t = int(cv.rng.integers(kk.size))
        tgt = (float(g.x[xs][ii[t]]), float(g.y[ys][jj[t]]), float(g.z[zs][kk[t]]))
        tb = tube(g, tuple(map(float, entry)), tgt, 2.8, 2.0)
        if tb is None:
            continue
        tsl, frac, _, _ = tb
        inside = np.zeros(cv.hu.shape, bool)
        inside[sl] = region
        inside[sl] &= cv.labels[sl] == infos["consolidation"].label
        m = (frac > 0.45) & inside[tsl]
        vals = cv.hu[tsl] * (1 - frac) - 920.0 * frac
        info.voxels += cv.paint(tsl, m, label, vals)
    _note(cv, info, centre)


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
    sides = ["R", "L"] if cv.rng.random() < 0.25 + 0.5 * cv.s else [str(cv.rng.choice(["R", "L"]))]
    an = cv.ph.anatomy
    g = cv.ph.grid
    h = cv.ph.height()
    dep = cv.ph.dependency()
    y3 = g.y[None, :, None]
    back = an.cavity_yc + an.cavity_b
    for side in sides:
        depth = cv.rng.uniform(12, 20) + 35 * cv.s
        top = 0.45 + 0.3 * cv.s  # how high up the posterior wall the fluid climbs
        d_z = depth * np.clip((top - h) / top, 0, 1) ** 1.3  # deepest at the base, nothing above `top`
        rho = cv.ph.rho()
        # Fluid lies behind a roughly horizontal surface, within the posterior pleural space.
        m = cv.lung_side[side] & ((y3 > back - d_z) | (rho > 1 - d_z / (2.2 * an.cavity_b)) & (dep > 0.55))
        m &= d_z > 1.0
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
    m = cv.zone(side, (0.0, 0.7), depth=(-5, t)) & (cv.ph.dependency() > cv.rng.uniform(0.2, 0.5))
    info.voxels += cv.paint((slice(None),) * 3, m, info.label, 40.0)
    info.sides.append(side)
    info.lobes.append("right" if side == "R" else "left")
    info.size_mm = round(float(t), 1)


def _tree_in_bud(cv: _Canvas, info: LesionInfo) -> None:
    g = cv.ph.grid
    clusters = 1 + int(cv.rng.random() < 0.3 + 0.5 * cv.s) + int(cv.s > 0.7)
    for _ in range(clusters):
        hr = cv.height_range((0.0, 1.0))
        c = np.array(cv.pick_any(cv.zone(height=hr, depth=(2, 25), free=True), cv.zone(height=hr)), np.float32)
        got = 0
        for _ in range(int(cv.rng.integers(8, 15))):
            base = c + cv.rng.normal(0, 10, 3).astype(np.float32)
            stem_dir = cv.rng.normal(size=3).astype(np.float32)
            stem_dir /= np.linalg.norm(stem_dir)
            tip = base + stem_dir * cv.rng.uniform(7, 12)
            parts = [(base, tip, 1.7, 1.4)]
            for _ in range(int(cv.rng.integers(2, 4))):
                v = stem_dir + cv.rng.normal(0, 0.8, 3).astype(np.float32)
                v /= np.linalg.norm(v)
                parts.append((tip, tip + v * cv.rng.uniform(5, 8), 1.4, 1.2))
            for a, b, r0, r1 in parts:
                for seg in ((a, b, r0, r1), (b, b + 1e-3, 2.6, 2.6)):  # branch, then its bud
                    tb = tube(g, tuple(map(float, seg[0])), tuple(map(float, seg[1])), seg[2], seg[3])
                    if tb is None:
                        continue
                    sl, frac, _, _ = tb
                    m = (frac > 0.35) & cv.lung[sl]
                    got += cv.paint(sl, m, info.label, np.maximum(cv.hu[sl], cv.hu[sl] * (1 - frac) - 60.0 * frac))
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
    an = cv.ph.anatomy
    lm = cv.ph.landmarks
    tr = lm["trachea"]
    car = lm["carina"]
    if hilar:
        stations = {"right hilar": cv.ph.hila["R"], "left hilar": cv.ph.hila["L"]}
    else:
        stations = {
            "right paratracheal": (tr[0] - 16.0, tr[1] - 2.0, car[2] + 22.0),
            "left paratracheal": (tr[0] + 14.0, tr[1] + 2.0, car[2] + 20.0),
            "subcarinal": (car[0] + 2.0, car[1] + 14.0, car[2] - 16.0),
            "aortopulmonary window": (16.0, tr[1] - 8.0, car[2] + 6.0),
            "prevascular": (4.0, an.cavity_yc - 0.62 * an.cavity_b, car[2] + 18.0),
        }
    names = sorted(stations)
    order = cv.rng.permutation(len(names))
    want = 1 + int(round(cv.s * (len(names) - 1) * cv.rng.uniform(0.4, 1.0)))
    sizes = []
    for o in order:
        if len(sizes) >= want:
            break
        name = names[int(o)]
        c = np.array(stations[name], np.float32) + cv.rng.normal(0, 3, 3).astype(np.float32)
        if hilar:  # beside the hilar vessels, towards the lung
            c[0] += -10.0 if name.startswith("right") else 10.0
            c[1] -= 6.0
        short = cv.rng.uniform(11, 16) + 12 * cv.s
        semi = (short / 2, short / 2 * cv.rng.uniform(1.0, 1.3), short / 2 * cv.rng.uniform(1.2, 1.6))
        e = ellipsoid(cv.ph.grid, tuple(map(float, c)), semi)
        if e is None:
            continue
        sl, q = e
        t = cv.ph.tissue[sl]
        ok = np.isin(t, (Tissue.FAT,) + _LUNG) if hilar else (t == Tissue.FAT)
        m = (q < 1) & ok & (cv.ph.rho()[sl] < 1)
        got = cv.paint(sl, m, info.label, 42.0 + 4.0 * cv.rng.standard_normal(m.shape).astype(np.float32))
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
    c, semi = cv.ph.landmarks["heart"], cv.ph.landmarks["heart_semi"]
    e = ellipsoid(cv.ph.grid, c, semi)
    if e is None:
        return
    sl, q = e
    m = (q < 1) & (cv.ph.tissue[sl] == Tissue.BLOOD)
    cv.labels[sl][m] = info.label
    info.voxels += int(m.sum())
    info.size_mm = round(float(2 * semi[0]), 0)


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
