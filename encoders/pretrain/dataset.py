"""(CT volume, report) pairs from a manifest, as two augmented views plus the report text.

The manifest is JSONL (one object per line) or CSV, with a ``volume`` path (file or DICOM folder,
relative to the manifest) and either the ``report`` text or a ``report_path``. Every line is
checked when the dataset is built, so a missing file or an empty report fails before the first
step, naming the manifest line, instead of hours into a run.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from kgdx.encoders.config import AugmentCfg, PreprocessCfg
from kgdx.encoders.preprocess import CTPreprocessor
from kgdx.errors import DataError
from kgdx.ingest.reports import parse_report, read_report
from kgdx.ingest.volume import read_volume

__all__ = ["CTReportPair", "read_manifest", "CTReportDataset", "collate_pairs"]


@dataclass(frozen=True)
class CTReportPair:
    """One manifest line: the volume path, the report text and where the line is."""

    volume: Path
    report: str
    line: int


def read_manifest(path: str | Path) -> list[CTReportPair]:
    """Read and check a JSONL or CSV manifest.

    Raises:
        DataError: naming the manifest and line for bad JSON, a missing column, a missing
            volume, or an empty report.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError("no such manifest", file=p)
    rows: list[tuple[int, dict[str, Any]]] = []
    text = p.read_text(encoding="utf-8-sig")
    if p.suffix.lower() == ".csv":
        reader = csv.DictReader(text.splitlines())
        rows = [(i, r) for i, r in enumerate(reader, start=2)]
    else:
        for i, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"not valid JSON: {e.msg}", file=p, line=i) from None
            if not isinstance(obj, dict):
                raise DataError("each line must be a JSON object", file=p, line=i)
            rows.append((i, obj))
    out = []
    for i, r in rows:
        vol = r.get("volume")
        if not vol:
            raise DataError("no 'volume' path", file=p, line=i, field="volume")
        vpath = Path(vol).expanduser()
        vpath = vpath if vpath.is_absolute() else p.parent / vpath
        if not vpath.exists():
            raise DataError(f"volume {vpath} does not exist", file=p, line=i, field="volume")
        if r.get("report_path"):
            rp = Path(r["report_path"]).expanduser()
            rp = rp if rp.is_absolute() else p.parent / rp
            report = read_report(rp).text
        else:
            report = r.get("report") or ""
            if not str(report).strip():
                raise DataError("the report is empty", file=p, line=i, field="report")
            parse_report(str(report), source=f"{p}:{i}")
        out.append(CTReportPair(vpath, str(report).strip(), i))
    if not out:
        raise DataError("the manifest lists no (volume, report) pairs", file=p)
    return out


class CTReportDataset(Dataset):
    """Two augmented views of each volume and its report, for MoCo, MAE, ITC and report generation.

    Args:
        manifest: JSONL/CSV manifest path (see :func:`read_manifest`).
        preprocess: Slice count, size and windows (from the model config).
        augment: Pretraining augmentations; ``None`` gives two identical, unaugmented views.
        cache: Keep each volume's deterministic base (``(S, H, W)`` HU) in memory after the
            first read, so later epochs only augment.
        seed: Seed of the augmentations (pass a different one per rank).
    """

    def __init__(
        self,
        manifest: str | Path,
        preprocess: PreprocessCfg,
        augment: AugmentCfg | None = None,
        *,
        cache: bool = True,
        seed: int = 0,
    ) -> None:
        self.manifest = Path(manifest)
        self.pairs = read_manifest(self.manifest)
        self.pre = CTPreprocessor(preprocess, augment, seed=seed)
        self.cache = cache
        self._base: dict[int, torch.Tensor] = {}

    def __len__(self) -> int:
        return len(self.pairs)

    def base(self, i: int) -> torch.Tensor:
        if i in self._base:
            return self._base[i]
        b = self.pre.base(read_volume(self.pairs[i].volume))
        if self.cache:
            self._base[i] = b
        return b

    def __getitem__(self, i: int) -> dict[str, Any]:
        base = self.base(i)
        return {
            "view1": self.pre.finish(base),
            "view2": self.pre.finish(base),
            "report": self.pairs[i].report,
            "index": i,
        }


def collate_pairs(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack views to ``(B, S, C, H, W)`` and keep reports as a list of str."""
    return {
        "view1": torch.stack([it["view1"] for it in items]),
        "view2": torch.stack([it["view2"] for it in items]),
        "report": [it["report"] for it in items],
        "index": torch.tensor([it["index"] for it in items]),
    }


def worker_init(worker_id: int) -> None:
    """Give each DataLoader worker its own augmentation stream (MONAI's random states)."""
    from monai.data.utils import set_rnd

    info = torch.utils.data.get_worker_info()
    if info is not None:
        set_rnd(info.dataset, seed=info.seed % (2**32))
