"""Loss log (JSONL, one line per logged step) and the loss plot (PNG) of a pretraining run.

Why JSONL: a resumed run appends to the same file, a crashed run leaves every line written so
far, and pandas, jq or a notebook read it directly. The plot shows each loss against the step,
raw and smoothed, so a glance says whether pretraining is learning.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["LossLog", "read_loss_log", "plot_losses"]


class LossLog:
    """Append-only JSONL log of step metrics."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, record: dict[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record, sort_keys=True) + "\n")

    def truncate_after(self, step: int) -> None:
        """Drop lines past ``step`` (a resumed run redoes those steps)."""
        if not self.path.is_file():
            return
        keep = [r for r in read_loss_log(self.path) if r.get("step", 0) <= step]
        self.path.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in keep), encoding="utf-8")


def read_loss_log(path: str | Path) -> list[dict[str, Any]]:
    """All records of a loss log, skipping a torn last line."""
    out = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def _smooth(values: list[float], k: int) -> list[float]:
    out, acc = [], 0.0
    for i, v in enumerate(values):
        acc += v
        if i >= k:
            acc -= values[i - k]
        out.append(acc / min(i + 1, k))
    return out


def plot_losses(log_path: str | Path, png_path: str | Path, *, title: str = "pretraining losses") -> Path:
    """Plot every loss in the log (one panel each) to ``png_path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    recs = read_loss_log(log_path)
    keys = [k for k in ("total", "moco_slice", "moco_scan", "itc", "mae", "report") if any(k in r for r in recs)]
    if not keys:
        raise ValueError(f"no losses in {log_path}")
    fig, axes = plt.subplots(1, len(keys), figsize=(3.2 * len(keys), 3.0), squeeze=False)
    for ax, k in zip(axes[0], keys):
        pts = [(r["step"], r[k]) for r in recs if k in r]
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        ax.plot(xs, ys, color="0.75", lw=0.8)
        ax.plot(xs, _smooth(ys, max(1, len(ys) // 20)), color="C0", lw=1.5)
        ax.set_title(k)
        ax.set_xlabel("step")
    fig.suptitle(title)
    fig.tight_layout()
    out = Path(png_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
