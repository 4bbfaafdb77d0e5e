"""Reading a synthetic cohort folder back: its manifest, labels, splits and cases.

The folder is what :func:`kgdx.synth.generate_cohort` writes (see ``docs/synthetic-cohort.md``)::

    OUT/manifest.json              config, seed, versions, mask labels, counts, disk use
    OUT/splits.json                case ids per split, and the held-out diseases
    OUT/labels.jsonl               one gold record per case, in case order
    OUT/pretrain_manifest.jsonl    (volume, report_path) pairs of the train split, for `kgdx pretrain`
    OUT/phenopackets/<id>.json     GA4GH Phenopacket v2
    OUT/ct/<id>.nii.gz             CT volume, int16 HU, LPS
    OUT/masks/<id>.nii.gz          lesion label map, uint8
    OUT/reports/<id>.txt           radiology report

Reading needs no generator: this is an adapter like the others, and it imports without scipy.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from kgdx.errors import ConfigError, DataError

__all__ = ["Cohort", "read_cohort", "LAYOUT", "SPLITS"]

#: The splits of a cohort, in order.
SPLITS = ("train", "validation", "test", "held_out")

#: Folder and file name of each per-case file (``{id}`` is the case id).
LAYOUT = {
    "phenopacket": "phenopackets/{id}.json",
    "ct": "ct/{id}.nii.gz",
    "ct_mask": "masks/{id}.nii.gz",
    "report": "reports/{id}.txt",
}


class Cohort:
    """A generated cohort folder: its manifest, labels, splits and cases.

    Example:
        >>> c = read_cohort("cohort")                      # doctest: +SKIP
        >>> c.manifest["counts"]["cases"], len(c.labels)   # doctest: +SKIP
    """

    def __init__(self, root: str | Path):
        self.root = Path(root)
        try:
            self.manifest = json.loads((self.root / "manifest.json").read_text(encoding="utf-8"))
            self.splits = json.loads((self.root / "splits.json").read_text(encoding="utf-8"))
            lines = (self.root / "labels.jsonl").read_text(encoding="utf-8").splitlines()
        except OSError as e:
            raise DataError(f"not a synthetic cohort folder: {e.strerror or e}", file=self.root) from None
        except json.JSONDecodeError as e:
            raise DataError(f"a cohort file is not valid JSON: {e.msg}", file=self.root) from None
        self.labels = {r["id"]: r for r in (json.loads(x) for x in lines if x.strip())}

    def ids(self, split: str | None = None) -> list[str]:
        """Case ids, all or of one split (``train``, ``validation``, ``test``, ``held_out``)."""
        if split is None:
            return list(self.labels)
        if split not in SPLITS:
            raise ConfigError(f"unknown split {split!r}; known: {list(SPLITS)}", field="split")
        return list(self.splits.get(split, []))

    def path(self, case: str, kind: str = "phenopacket") -> Path:
        """The file of a case: ``phenopacket``, ``ct``, ``ct_mask`` or ``report``."""
        rec = self.labels.get(case)
        if rec is None:
            ids = list(self.labels)
            span = f"{ids[0]} .. {ids[-1]}" if ids else "none"
            raise DataError(f"no case {case!r} in this cohort (ids: {span})", file=self.root)
        if kind not in rec["files"]:
            raise DataError(f"unknown file kind {kind!r}; known: {sorted(rec['files'])}", file=self.root)
        return self.root / rec["files"][kind]

    def case(self, case: str, resolve=None):
        """A :class:`~kgdx.ingest.case.PatientCase` read with :func:`kgdx.ingest.phenopackets.read_phenopacket`;
        ``files`` are made absolute and ``texts["report"]`` holds the report."""
        from kgdx.ingest.phenopackets import read_phenopacket

        p = self.path(case)
        pc = read_phenopacket(p, resolve)
        pc.files = {k: str((p.parent / v).resolve()) for k, v in pc.files.items()}
        if "report" in pc.files:
            pc.texts["report"] = Path(pc.files["report"]).read_text(encoding="utf-8")
        return pc

    def cases(self, split: str | None = None, resolve=None) -> Iterator:
        for cid in self.ids(split):
            yield self.case(cid, resolve)

    def volume(self, case: str, kind: str = "ct"):
        """The CT (or, with ``kind="ct_mask"``, the label map) as an :class:`kgdx.ingest.volume.Volume`."""
        from kgdx.ingest.volume import read_volume

        return read_volume(self.path(case, kind))


def read_cohort(root: str | Path) -> Cohort:
    """Open a cohort folder written by :func:`generate_cohort`.

    Raises:
        DataError: when the folder lacks ``manifest.json``, ``splits.json`` or ``labels.jsonl``.
    """
    return Cohort(root)
