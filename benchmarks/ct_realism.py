"""How far the synthetic phantoms are from real chest CT: HU histograms and texture of the lung,
the mediastinum and the tumour, phantoms against the two real CTs in ``../shared/data/ct``.

Every volume goes through the same steps, so that the comparison is of images, not of labels:

1. resampled in-plane to 2.5 mm (MONAI ``Resize`` with anti-aliasing, the encoder's own resizing)
   and kept at its slice spacing (5 mm for the real CTs and the default phantoms);
2. segmented by one rule: the **lungs** are air-like voxels (HU < −400) inside the body, in
   3-D components at least a fifth of the largest, eroded by one voxel; the **mediastinum** is,
   per row of each slice, the soft tissue (−250 to 250 HU) between the two lungs' medial edges;
   the **lesion** is the tumour mask (real) or the mass label (phantoms: solid tumours over
   3 cm, like the two real ones), eroded by one voxel when it is big enough;
3. measured: HU histograms and percentiles, and texture: grey-level co-occurrence (32 levels over
   a range per region, distance 1 voxel, four in-plane directions: contrast, homogeneity,
   energy, correlation), the median 3 × 3 local SD (noise and fine texture) and the mean
   gradient magnitude.

The gap is the 1-Wasserstein distance (HU) between each cohort's histogram and the pooled real
one, next to the distance between the two real scans themselves (how much two real scans differ).
Two scans are an anecdote: this shows where the phantoms are off, not how close they are to the
population of real CTs.

Usage::

    python -m benchmarks.ct_realism --cohort new=/path/to/cohort [--cohort old=/path/to/old] --cases 40

Writes ``benchmarks/results/ct_realism.json`` and ``benchmarks/results/ct_realism.png``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._common import RESULTS, machine, write_results

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "ct"
REGIONS = ("lung", "mediastinum", "lesion")
#: HU range of the co-occurrence grey levels, per region.
GLCM_RANGE = {"lung": (-1000.0, -600.0), "mediastinum": (-200.0, 150.0), "lesion": (-300.0, 150.0)}
BINS = np.arange(-1050, 301, 10)
INPLANE_MM = 2.5


def resample_inplane(a: np.ndarray, spacing: tuple[float, float, float], mm: float = INPLANE_MM) -> np.ndarray:
    """``(Z, Y, X)`` HU resampled in-plane to ``mm`` with MONAI's anti-aliased ``Resize``."""
    import torch
    from monai.transforms import Resize

    size = (max(8, round(a.shape[1] * spacing[1] / mm)), max(8, round(a.shape[2] * spacing[2] / mm)))
    return np.asarray(Resize(size, mode="bilinear", anti_aliasing=True)(torch.from_numpy(a.astype(np.float32))))


def resample_mask(m: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    import torch
    from monai.transforms import Resize

    out = Resize(shape, mode="bilinear")(torch.from_numpy(m.astype(np.float32)))
    return np.asarray(out) > 0.5


def segment(a: np.ndarray) -> dict[str, np.ndarray]:
    """Lungs and mediastinum of a resampled volume (see the module docstring)."""
    from scipy import ndimage

    body = a > -400
    comp, n = ndimage.label(body.any(axis=0))
    if n:
        keep = comp == 1 + int(np.bincount(comp.ravel())[1:].argmax())
        body &= keep[None]
    filled = np.stack([ndimage.binary_fill_holes(s) for s in body])
    lungs = (a < -400) & filled
    lab, n = ndimage.label(lungs)
    if n:
        vol = np.bincount(lab.ravel())[1:]
        lungs = np.isin(lab, 1 + np.flatnonzero(vol >= 0.2 * vol.max()))
    lungs = ndimage.binary_erosion(lungs, iterations=1)
    medi = np.zeros_like(lungs)
    cx = a.shape[2] // 2
    for k in range(a.shape[0]):
        for j in range(a.shape[1]):
            row = lungs[k, j]
            right, left = np.flatnonzero(row[:cx]), np.flatnonzero(row[cx:]) + cx
            if right.size and left.size and left.min() - right.max() > 2:
                medi[k, j, right.max() + 2 : left.min() - 1] = True
    medi &= (a > -250) & (a < 250) & filled
    return {"lung": lungs, "mediastinum": medi}


def _pairs(arr: np.ndarray, dy: int, dx: int) -> tuple[np.ndarray, np.ndarray]:
    """Each voxel of ``arr (Z, Y, X)`` and its neighbour ``dy`` rows down and ``dx`` columns right."""
    h, w = arr.shape[1:]
    xa, xb = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    return arr[:, 0 : h - dy, xa], arr[:, dy:h, xb]


def glcm_features(img: np.ndarray, mask: np.ndarray, lo: float, hi: float, levels: int = 32) -> dict[str, float]:
    """Haralick features of the voxels in ``mask`` (pairs with both voxels inside), in-plane,
    distance 1, averaged over the 0°, 45°, 90° and 135° directions."""
    q = np.clip(((img - lo) / (hi - lo) * levels).astype(int), 0, levels - 1)
    feats = {"contrast": [], "homogeneity": [], "energy": [], "correlation": []}
    i_idx, j_idx = np.meshgrid(np.arange(levels), np.arange(levels), indexing="ij")
    for dy, dx in ((0, 1), (1, 1), (1, 0), (1, -1)):
        a, b = _pairs(q, dy, dx)
        ma, mb = _pairs(mask, dy, dx)
        both = ma & mb
        if both.sum() < 20:
            continue
        p = np.zeros((levels, levels))
        np.add.at(p, (a[both], b[both]), 1)
        p = p + p.T
        p /= p.sum()
        mu_i, mu_j = (i_idx * p).sum(), (j_idx * p).sum()
        sd_i = np.sqrt(((i_idx - mu_i) ** 2 * p).sum())
        sd_j = np.sqrt(((j_idx - mu_j) ** 2 * p).sum())
        feats["contrast"].append(((i_idx - j_idx) ** 2 * p).sum())
        feats["homogeneity"].append((p / (1 + np.abs(i_idx - j_idx))).sum())
        feats["energy"].append(np.sqrt((p**2).sum()))
        feats["correlation"].append(((i_idx - mu_i) * (j_idx - mu_j) * p).sum() / max(sd_i * sd_j, 1e-9))
    return {k: round(float(np.mean(v)), 4) if v else None for k, v in feats.items()}


def region_stats(img: np.ndarray, mask: np.ndarray, region: str) -> dict[str, Any]:
    from scipy import ndimage

    vals = img[mask]
    if vals.size < 30:
        return {"voxels": int(vals.size)}
    m = ndimage.uniform_filter(img, size=(1, 3, 3))
    m2 = ndimage.uniform_filter(img * img, size=(1, 3, 3))
    local_sd = np.sqrt(np.maximum(m2 - m * m, 0))[mask]
    gy, gx = np.gradient(img, axis=(1, 2))
    grad = np.hypot(gy, gx)[mask] / INPLANE_MM
    hist, _ = np.histogram(vals, bins=BINS)
    return {
        "voxels": int(vals.size),
        "mean": round(float(vals.mean()), 1),
        "sd": round(float(vals.std()), 1),
        "p5_p50_p95": [round(float(v), 1) for v in np.percentile(vals, [5, 50, 95])],
        "local_sd_median": round(float(np.median(local_sd)), 2),
        "gradient_hu_per_mm": round(float(grad.mean()), 2),
        "glcm": glcm_features(img, mask, *GLCM_RANGE[region]),
        "hist": hist.tolist(),
    }


def measure(a: np.ndarray, spacing: tuple[float, float, float], lesion: np.ndarray | None) -> dict[str, Any]:
    from scipy import ndimage

    img = resample_inplane(a, spacing)
    regions = segment(img)
    if lesion is not None and lesion.any():
        les = resample_mask(lesion, img.shape[1:])
        eroded = ndimage.binary_erosion(les, iterations=1)
        regions["lesion"] = eroded if eroded.sum() >= 30 else les
        regions["lung"] &= ~ndimage.binary_dilation(les, iterations=2)
    return {r: region_stats(img, m, r) for r, m in regions.items()}


def pool(measures: list[dict[str, Any]]) -> dict[str, Any]:
    """Pooled histograms and mean texture over several volumes, per region."""
    out: dict[str, Any] = {}
    for r in REGIONS:
        ms = [m[r] for m in measures if r in m and "hist" in m[r]]
        if not ms:
            continue
        hist = np.sum([m["hist"] for m in ms], axis=0)
        centres = (BINS[:-1] + BINS[1:]) / 2
        w = hist / max(hist.sum(), 1)
        out[r] = {
            "volumes": len(ms),
            "voxels": int(hist.sum()),
            "mean": round(float((w * centres).sum()), 1),
            "sd": round(float(np.sqrt((w * (centres - (w * centres).sum()) ** 2).sum())), 1),
            "local_sd_median": round(float(np.mean([m["local_sd_median"] for m in ms])), 2),
            "gradient_hu_per_mm": round(float(np.mean([m["gradient_hu_per_mm"] for m in ms])), 2),
            "glcm": {
                k: round(float(np.mean([m["glcm"][k] for m in ms if m["glcm"][k] is not None])), 4)
                for k in ms[0]["glcm"]
            },
            "hist": hist.tolist(),
        }
    return out


def wasserstein(h1: list[int], h2: list[int]) -> float:
    """1-Wasserstein distance (HU) between two histograms on :data:`BINS`."""
    c1 = np.cumsum(h1) / max(sum(h1), 1)
    c2 = np.cumsum(h2) / max(sum(h2), 1)
    return round(float(np.abs(c1 - c2).sum() * (BINS[1] - BINS[0])), 1)


def cohort_measures(root: Path, n: int) -> list[dict[str, Any]]:
    from kgdx.ingest.cohort import read_cohort

    c = read_cohort(root)
    ids = c.ids()
    tumour = [
        i for i in ids if any(f["key"] in ("nodule", "mass") and f["present"] for f in c.labels[i]["ct_findings"])
    ]
    pick = (tumour[: n // 2] + [i for i in ids if i not in tumour[: n // 2]])[:n]
    out = []
    for cid in pick:
        v, m = c.volume(cid), c.volume(cid, "ct_mask")
        lesion = np.rint(m.array).astype(int) == 4  # masses: solid tumours, like the two real ones
        out.append(measure(v.array, v.spacing, lesion))
        print(f"  {root.name} {cid}", file=sys.stderr, flush=True)
    return out


def plot(groups: dict[str, dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    centres = (BINS[:-1] + BINS[1:]) / 2
    fig, axes = plt.subplots(2, 3, figsize=(16, 8.5))
    xl = {"lung": (-1050, -300), "mediastinum": (-250, 250), "lesion": (-400, 250)}
    for ax, r in zip(axes[0], REGIONS):
        for name, g in groups.items():
            if r in g:
                h = np.asarray(g[r]["hist"], float)
                ax.plot(centres, h / max(h.sum(), 1), label=name, lw=1.6 if name.startswith("real") else 1.2)
        ax.set(title=f"{r}: HU histogram (2.5 mm in-plane)", xlabel="HU", xlim=xl[r])
        ax.legend(fontsize=8)
    feats = ["local_sd_median", "gradient_hu_per_mm", "contrast", "homogeneity", "energy", "correlation"]
    for ax, r in zip(axes[1], REGIONS):
        names = [n for n in groups if r in groups[n]]
        width = 0.8 / max(1, len(names))
        for i, name in enumerate(names):
            g = groups[name][r]
            vals = [g[f] if f in g else g["glcm"][f] for f in feats]
            ref = (
                [
                    groups["real (pooled)"][r][f]
                    if f in groups["real (pooled)"][r]
                    else groups["real (pooled)"][r]["glcm"][f]
                    for f in feats
                ]
                if "real (pooled)" in groups and r in groups["real (pooled)"]
                else vals
            )
            ax.bar(
                np.arange(len(feats)) + i * width, [v / rf if rf else 0 for v, rf in zip(vals, ref)], width, label=name
            )
        ax.axhline(1.0, color="grey", lw=0.8, ls="--")
        ax.set_xticks(
            np.arange(len(feats)) + width * (len(names) - 1) / 2,
            [f.replace("_", " ") for f in feats],
            rotation=30,
            fontsize=8,
        )
        ax.set(title=f"{r}: texture relative to real (pooled)", ylim=(0, 3))
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cohort", action="append", default=[], help="NAME=FOLDER of a synthetic cohort (repeatable)")
    ap.add_argument("--cases", type=int, default=40, help="volumes per cohort (half with a mass)")
    ap.add_argument("--real", type=Path, default=REAL, help="folder of the real CTs (lung1/lung2 image and label)")
    ap.add_argument("--out", default=None, help="JSON path (default benchmarks/results/ct_realism.json)")
    ap.add_argument("--plot", default=None, help="PNG path (default benchmarks/results/ct_realism.png)")
    args = ap.parse_args(argv)
    if not (args.real / "lung1_image.nrrd").is_file():
        print(f"the real CTs are not in {args.real}; nothing to compare against", file=sys.stderr)
        return 2
    from kgdx.ingest.volume import read_volume

    real: dict[str, dict[str, Any]] = {}
    for name in ("lung1", "lung2"):
        v = read_volume(args.real / f"{name}_image.nrrd")
        m = read_volume(args.real / f"{name}_label.nrrd")
        real[name] = measure(v.array, v.spacing, m.array > 0)
    groups: dict[str, dict[str, Any]] = {"real lung1": pool([real["lung1"]]), "real lung2": pool([real["lung2"]])}
    groups["real (pooled)"] = pool(list(real.values()))
    sources = {}
    for spec in args.cohort:
        name, _, folder = spec.partition("=")
        if not folder:
            ap.error(f"--cohort takes NAME=FOLDER (got {spec!r})")
        groups[f"phantoms: {name}"] = pool(cohort_measures(Path(folder), args.cases))
        sources[name] = folder
    gap = {}
    for r in REGIONS:
        ref = groups["real (pooled)"].get(r)
        if ref is None:
            continue
        gap[r] = {
            "real lung1 vs real lung2": wasserstein(groups["real lung1"][r]["hist"], groups["real lung2"][r]["hist"])
            if r in groups["real lung1"] and r in groups["real lung2"]
            else None,
            **{
                n: wasserstein(g[r]["hist"], ref["hist"])
                for n, g in groups.items()
                if n.startswith("phantoms") and r in g
            },
        }
    results = {
        "machine": machine(),
        "command": " ".join(sys.argv),
        "inplane_mm": INPLANE_MM,
        "cohorts": sources,
        "cases_per_cohort": args.cases,
        "wasserstein_hu_to_real": gap,
        "groups": {n: {r: {k: v for k, v in g[r].items() if k != "hist"} for r in g} for n, g in groups.items()},
        "histograms": {"bins_hu": BINS.tolist(), **{n: {r: g[r]["hist"] for r in g} for n, g in groups.items()}},
        "note": "two real scans are an anecdote: where the phantoms are off, not a population benchmark",
    }
    path = write_results("ct_realism", results, args.out)
    png = Path(args.plot) if args.plot else RESULTS / "ct_realism.png"
    plot(groups, png)
    for r, g in gap.items():
        print(f"{r:12s} Wasserstein-1 to the real CTs (HU): " + ", ".join(f"{k}: {v}" for k, v in g.items()))
    print(f"wrote {path} and {png}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
