"""A PNG montage of a case: axial slices in the lung window with the lesion mask overlaid, plus a
coronal and a sagittal reformat, and a legend naming each label present. For people to look at.

Axial slices display in the radiological convention (the patient's right on the image's left,
anterior at the top), as the LPS arrays are stored; reformats show superior at the top.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kgdx.synth.findings import RENDERED

__all__ = ["render_montage", "render_case_montage", "LABEL_COLOURS"]

_NAMES = {s.label: s.key.replace("_", " ") for s in RENDERED}
#: RGB colour of each mask label in the overlay.
LABEL_COLOURS = {
    1: (0.30, 0.75, 0.93),
    2: (0.95, 0.35, 0.20),
    3: (1.00, 0.85, 0.10),
    4: (0.85, 0.10, 0.45),
    5: (0.20, 0.40, 1.00),
    6: (0.60, 0.30, 0.85),
    7: (0.95, 0.60, 0.85),
    8: (0.40, 0.90, 0.35),
    9: (1.00, 0.55, 0.00),
    10: (0.10, 0.85, 0.75),
    11: (0.75, 0.55, 0.35),
    12: (0.55, 0.95, 0.95),
    13: (0.90, 0.90, 0.90),
    14: (0.35, 0.55, 0.35),
    15: (1.00, 1.00, 0.55),
    16: (0.95, 0.80, 0.55),
    17: (0.65, 0.40, 0.20),
    18: (0.55, 0.55, 1.00),
    19: (0.30, 0.95, 0.55),
    20: (0.65, 0.65, 0.45),
    21: (0.85, 0.25, 0.25),
}


def _overlay(ax, img: np.ndarray, lab: np.ndarray, window: tuple[float, float], aspect: float, alpha: float) -> None:
    ax.imshow(img, cmap="gray", vmin=window[0], vmax=window[1], aspect=aspect, interpolation="nearest")
    if lab.any():
        rgba = np.zeros(lab.shape + (4,), np.float32)
        for v in np.unique(lab[lab > 0]):
            rgba[lab == v, :3] = LABEL_COLOURS.get(int(v), (1.0, 1.0, 1.0))
            rgba[lab == v, 3] = alpha
        ax.imshow(rgba, aspect=aspect, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def render_montage(
    ct: np.ndarray,
    mask: np.ndarray,
    spacing: tuple[float, float, float],
    out: str | Path,
    *,
    title: str | None = None,
    n_axial: int = 12,
    window: tuple[float, float] = (-1350.0, 150.0),
    alpha: float = 0.45,
    dpi: int = 80,
) -> Path:
    """Write a montage PNG of a ``(z, y, x)`` CT in HU with its label map.

    Args:
        ct: HU volume ``(z, y, x)``, LPS.
        mask: Label map of the same shape.
        spacing: mm ``(z, y, x)`` (for the reformats' aspect).
        out: PNG path.
        title: Figure title.
        n_axial: Number of axial slices (spread over the slices with lung, favouring lesions).
        window: Display window in HU (default: lung window, W 1500 / L -600).
        alpha: Mask opacity.
        dpi: Output resolution.

    Raises:
        ValueError: when the shapes differ or the volume is not 3-D.
    """
    # A bare Figure with the Agg canvas: no pyplot state, so the caller's backend (a notebook's
    # inline one, say) stays as it is.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    ct = np.asarray(ct)
    mask = np.asarray(mask)
    if ct.ndim != 3 or ct.shape != mask.shape:
        raise ValueError(f"'ct' and 'mask' must be 3-D of the same shape, got {ct.shape} and {mask.shape}")
    nz = ct.shape[0]
    body = (ct > -500).any(axis=(1, 2))
    lungish = ((ct < -600) & (ct > -980)).sum(axis=(1, 2))
    cand = np.nonzero(lungish > 0.02 * ct.shape[1] * ct.shape[2])[0]
    if cand.size == 0:
        cand = np.nonzero(body)[0] if body.any() else np.arange(nz)
    spread = np.unique(np.linspace(cand.min(), cand.max(), min(n_axial, cand.size)).round().astype(int))
    lesion_z = np.nonzero(mask.any(axis=(1, 2)))[0]
    slices = list(spread)
    if lesion_z.size:  # swap in slices through lesions, evenly
        pick = np.unique(
            np.linspace(lesion_z.min(), lesion_z.max(), min(n_axial // 2, lesion_z.size)).round().astype(int)
        )
        slices = sorted(set(spread[::2].tolist()) | set(pick.tolist()))[:n_axial]
    cols = 4
    rows = int(np.ceil(len(slices) / cols)) + 1
    fig = Figure(figsize=(cols * 3.2, rows * 3.2))
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols)
    axes = np.atleast_2d(axes)
    for ax in axes.flat:
        ax.axis("off")
    for ax, k in zip(axes.flat, slices):
        ax.axis("on")
        _overlay(ax, ct[k], mask[k], window, 1.0, alpha)
        ax.set_title(f"axial z={k}", fontsize=8)
    # Reformats through the lesion centroid (or the volume centre).
    if mask.any():
        kk, jj, ii = np.nonzero(mask)
        jc, ic = int(np.median(jj)), int(np.median(ii))
    else:
        jc, ic = ct.shape[1] // 2, ct.shape[2] // 2
    asp = spacing[0] / spacing[2]
    row = axes[-1]
    row[0].axis("on")
    _overlay(row[0], ct[::-1, jc, :], mask[::-1, jc, :], window, asp, alpha)
    row[0].set_title(f"coronal y={jc}", fontsize=8)
    row[1].axis("on")
    _overlay(row[1], ct[::-1, :, ic], mask[::-1, :, ic], window, spacing[0] / spacing[1], alpha)
    row[1].set_title(f"sagittal x={ic}", fontsize=8)
    row[2].axis("on")
    _overlay(row[2], ct[::-1, jc, :], np.zeros_like(mask[::-1, jc, :]), (-160.0, 240.0), asp, 0.0)
    row[2].set_title("coronal, mediastinal window", fontsize=8)
    present = sorted(int(v) for v in np.unique(mask) if v > 0)
    handles = [Patch(color=LABEL_COLOURS.get(v, (1, 1, 1)), label=f"{v} {_NAMES.get(v, '?')}") for v in present]
    if handles:
        row[3].legend(handles=handles, loc="center", fontsize=8, frameon=False)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi)
    return out


def render_case_montage(cohort: str | Path, case_id: str, out: str | Path | None = None, **kw) -> Path:
    """Montage of one case of a cohort folder, read back through :func:`kgdx.ingest.volume.read_volume`.

    The PNG goes to ``out`` or ``COHORT/montages/<case_id>.png``.
    """
    from kgdx.ingest.cohort import read_cohort

    c = read_cohort(cohort)
    ct = c.volume(case_id, "ct")
    mask = c.volume(case_id, "ct_mask")
    rec = c.labels[case_id]
    dis = ", ".join(d["name"] for d in rec["diseases"])
    found = ", ".join(f["key"] for f in rec["ct_findings"] if f["present"])
    title = f"{case_id}: {dis}\nCT findings: {found or 'none'}"
    out = Path(out) if out is not None else Path(cohort) / "montages" / f"{case_id}.png"
    return render_montage(ct.array, np.rint(mask.array).astype(np.uint8), ct.spacing, out, title=title, **kw)
