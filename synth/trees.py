"""Branching trees for the lungs: pulmonary arteries, pulmonary veins and bronchi, one tree per lobe.

How a tree grows (a space-filling recursive bisection, after Kitaoka et al., *J Appl Physiol*
1999, "A three-dimensional model of the human airway tree"): a lobe is sampled with points, one
per small territory of lung. A branch starts at its parent's end, runs part of the way towards
the centroid of the points it supplies, and splits them in two across their longest axis
(at an uneven share, so that branching is asymmetric as in real lungs); each half grows a
daughter from the branch's end. A single point ends in a terminal branch that reaches it.

Radii follow Murray's law: the flow a branch carries is proportional to the number of points
(the lung volume) it supplies, and ``r³ ∝ flow``, so ``r = r_root · (n / N)^(1/3)``. With the
lobar artery at about 4.5 mm radius and ~150 points per lobe, the terminal branches are about
0.9 mm, the smallest vessels a CT resolves, and they stop about a centimetre short of the
pleura (points are drawn at least ``min_depth_mm`` inside it), as real vessels fade there.

Bronchi run beside the arteries (the bronchovascular bundle): each artery branch of radius
above a threshold has a bronchus offset from it, with a lumen of 0.85 × the artery radius (a
normal bronchoarterial ratio) and a wall a fifth of the lumen diameter. Veins are grown as a
separate tree from their own points, so they run between the arteries, as veins do.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from kgdx.synth._geometry import Grid, tube

__all__ = ["Branch", "Tree", "grow_tree", "bronchi_along", "render_branches"]


@dataclass(frozen=True)
class Branch:
    """One straight tapered segment of a tree, in mm (x, y, z).

    Attributes:
        a: Start point.
        b: End point.
        r0: Radius at ``a``.
        r1: Radius at ``b``.
        generation: 0 for the tree's first (lobar) branch, +1 per split.
        segment: Which of the tree's four generation-2 subtrees (its "segments") it belongs to;
            -1 above them.
        leaf: A terminal branch.
    """

    a: tuple[float, float, float]
    b: tuple[float, float, float]
    r0: float
    r1: float
    generation: int
    segment: int = -1
    leaf: bool = False

    @property
    def length(self) -> float:
        return float(np.linalg.norm(np.subtract(self.b, self.a)))


@dataclass
class Tree:
    """The branches of one tree and the points (lung territories) it supplies.

    Attributes:
        kind: ``artery``, ``vein`` or ``bronchus``.
        lobe: The lobe's number (:class:`kgdx.synth.lungs.Lobe`).
        branches: All branches, parents before children.
        points: ``(N, 3)`` territory points (mm).
        point_segment: ``(N,)`` the segment each point belongs to.
    """

    kind: str
    lobe: int
    branches: list[Branch] = field(default_factory=list)
    points: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), np.float32))
    point_segment: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int16))


def grow_tree(
    root: np.ndarray,
    points: np.ndarray,
    rng: np.random.Generator,
    *,
    kind: str,
    lobe: int,
    r_root: float,
    first_reach: float = 0.3,
    reach: float = 0.45,
) -> Tree:
    """Grow a tree from ``root`` that supplies ``points`` (see the module docstring).

    Args:
        root: ``(3,)`` where the first branch starts (mm).
        points: ``(N, 3)`` territory points inside the lobe.
        rng: The case's image generator (split shares and small kinks).
        kind: ``artery`` or ``vein``.
        lobe: The lobe's number.
        r_root: Radius of the first branch (mm).
        first_reach: Share of the way to the centroid that the first branch runs.
        reach: The same for later branches.
    """
    pts = np.asarray(points, np.float32)
    tree = Tree(kind, lobe, points=pts, point_segment=np.full(len(pts), -1, np.int16))
    n_all = max(1, len(pts))
    if len(pts) == 0:
        return tree

    def radius(n: int) -> float:
        return float(r_root * (n / n_all) ** (1.0 / 3.0))

    # (start point, indices of the points, generation, segment)
    stack: list[tuple[np.ndarray, np.ndarray, int, int]] = [(np.asarray(root, np.float32), np.arange(len(pts)), 0, -1)]
    next_segment = 0
    while stack:
        start, idx, gen, seg = stack.pop()
        if gen == 2:
            seg, next_segment = next_segment, next_segment + 1
        if seg >= 0:
            tree.point_segment[idx] = seg
        n = len(idx)
        r = radius(n)
        if n == 1:
            end = pts[idx[0]]
            tree.branches.append(Branch(_t(start), _t(end), r, 0.8 * r, gen, seg, True))
            continue
        sub = pts[idx]
        c = sub.mean(axis=0)
        f = first_reach if gen == 0 else reach * float(rng.uniform(0.8, 1.15))
        end = start + f * (c - start)
        if gen > 0:  # small kinks: real branches are not straight lines
            end = end + rng.normal(0.0, 0.06 * float(np.linalg.norm(c - start)) + 0.3, 3).astype(np.float32)
        tree.branches.append(Branch(_t(start), _t(end), r, 0.92 * r, gen, seg))
        # Split across the longest axis of the supplied points, at an uneven share.
        centred = sub - c
        axis = np.linalg.svd(centred, full_matrices=False)[2][0] if n > 2 else centred[0]
        order = np.argsort(centred @ axis)
        k = int(np.clip(round(n * rng.uniform(0.3, 0.7)), 1, n - 1))
        stack.append((end, idx[order[k:]], gen + 1, seg))
        stack.append((end, idx[order[:k]], gen + 1, seg))
    return tree


def _t(p: np.ndarray) -> tuple[float, float, float]:
    return (float(p[0]), float(p[1]), float(p[2]))


def bronchi_along(arteries: Tree, *, min_radius: float = 1.0, lumen_ratio: float = 0.85) -> Tree:
    """The bronchi beside an artery tree: one bronchus per artery branch of radius ≥ ``min_radius``,
    offset sideways by the two radii and the wall (a bronchovascular bundle)."""
    out = Tree("bronchus", arteries.lobe, points=arteries.points, point_segment=arteries.point_segment)
    for br in arteries.branches:
        if br.r0 < min_radius:
            continue
        a, b = np.asarray(br.a, np.float32), np.asarray(br.b, np.float32)
        d = b - a
        d /= max(1e-6, float(np.linalg.norm(d)))
        ref = np.array([0.0, 0.0, 1.0], np.float32) if abs(d[2]) < 0.9 else np.array([1.0, 0.0, 0.0], np.float32)
        side = np.cross(d, ref)
        side /= max(1e-6, float(np.linalg.norm(side)))
        lumen0, lumen1 = lumen_ratio * br.r0, lumen_ratio * br.r1
        off = side * (br.r0 + lumen0 * 1.4 + 0.6)
        out.branches.append(Branch(_t(a + off), _t(b + off), lumen0, lumen1, br.generation, br.segment, br.leaf))
    return out


def render_branches(
    grid: Grid, branches: list[Branch], out: np.ndarray, *, wall: float = 0.0, wall_out: np.ndarray | None = None
) -> None:
    """Draw branches into ``out`` as partial-volume fractions (``np.maximum`` where they overlap).

    A tube thinner than a voxel is drawn faint, not as a full voxel: its fractions are scaled so
    that they add up to its true cross-section (``π r²`` per mm of length), which is how a 1 mm
    vessel looks in a 2 mm voxel. With ``wall`` > 0 (a share of the lumen diameter) the wall
    around each lumen goes into ``wall_out`` the same way.
    """
    v = grid.voxel_mm
    vox_vol = float(np.prod(grid.spacing))
    for br in branches:
        w = wall * 2 * max(br.r0, br.r1)
        tb = tube(grid, br.a, br.b, br.r0, br.r1, margin=w)
        if tb is None:
            continue
        sl, frac, dist, rad = tb
        _mass_scale(frac, br.length, br.r0, br.r1, vox_vol)
        np.maximum(out[sl], frac, out=out[sl])
        if wall_out is not None and w > 0:
            outer = np.clip((rad + w - dist) / v + 0.5, 0.0, 1.0)
            wf = np.clip(outer - frac, 0.0, 1.0)
            r_out0, r_out1 = br.r0 + w, br.r1 + w
            true = np.pi * ((r_out0**2 + r_out1**2) / 2 - (br.r0**2 + br.r1**2) / 2) * max(br.length, v)
            total = float(wf.sum()) * vox_vol
            if total > true > 0:
                wf *= true / total
            np.maximum(wall_out[sl], wf, out=wall_out[sl])


def _mass_scale(frac: np.ndarray, length: float, r0: float, r1: float, vox_vol: float) -> None:
    """Scale ``frac`` in place so that its volume is at most the tube's true volume."""
    true = np.pi * (r0 * r0 + r0 * r1 + r1 * r1) / 3.0 * max(length, 2 * max(r0, r1))
    total = float(frac.sum()) * vox_vol
    if total > true > 0:
        frac *= true / total
