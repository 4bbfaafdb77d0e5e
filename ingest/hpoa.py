"""HPO disease annotations (``phenotype.hpoa``) as Disease nodes and disease–phenotype edges.

Each phenotype-aspect row becomes a ``HAS_PHENOTYPE`` edge (``NOT`` rows become
``EXCLUDES_PHENOTYPE``) carrying a numeric frequency, the onset term, the sex, the evidence codes
and the references as provenance. Rows for the same disease and term are merged: n/m fractions
are pooled (Σn / Σm) and other frequencies averaged, so the result does not depend on row order.

The file's users expect lenient parsing, so by default a malformed row is skipped and counted in
the report; ``strict=True`` makes it an error naming the file and line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from kgdx.errors import DataError
from kgdx.files import open_text
from kgdx.ingest._result import SourceRecords
from kgdx.ingest.hpo import HpoIdMap
from kgdx.ingest.report import SourceReport
from kgdx.kg.records import Edge, Node, Origin
from kgdx.kg.vocab import NodeLabel, RelType

__all__ = ["FREQUENCY_TERMS", "parse_frequency", "read_hpoa"]

#: HPO frequency terms and the number each stands for (the midpoint of its range).
FREQUENCY_TERMS: dict[str, float] = {
    "HP:0040280": 1.0,  # Obligate (100%)
    "HP:0040281": 0.895,  # Very frequent (80-99%)
    "HP:0040282": 0.545,  # Frequent (30-79%)
    "HP:0040283": 0.17,  # Occasional (5-29%)
    "HP:0040284": 0.025,  # Very rare (1-4%)
    "HP:0040285": 0.0,  # Excluded (0%)
}

_COLUMNS = (
    "database_id",
    "disease_name",
    "qualifier",
    "hpo_id",
    "reference",
    "evidence",
    "onset",
    "frequency",
    "sex",
    "modifier",
    "aspect",
    "biocuration",
)
_DISEASE = re.compile(r"^(OMIM:\d{6}|ORPHA:\d+|DECIPHER:\d+)$")
_HP = re.compile(r"^HP:\d{7}$")
_FRACTION = re.compile(r"^(\d+)/(\d+)$")
_PERCENT = re.compile(r"^(\d+(?:\.\d+)?)%$")
_MAX_REFS = 5


def parse_frequency(text: str) -> tuple[float, int] | None:
    """A frequency cell as (value, weight): n/m → (n/m, m); a term or percentage → (value, 0).

    Returns ``None`` for an empty cell.

    Raises:
        ValueError: for a cell that is none of these.
    """
    text = text.strip()
    if not text:
        return None
    if text in FREQUENCY_TERMS:
        return FREQUENCY_TERMS[text], 0
    m = _FRACTION.match(text)
    if m:
        n, d = int(m.group(1)), int(m.group(2))
        if d == 0 or n > d:
            raise ValueError(f"impossible fraction {text!r}")
        return n / d, d
    m = _PERCENT.match(text)
    if m:
        v = float(m.group(1)) / 100
        if v > 1:
            raise ValueError(f"percentage above 100: {text!r}")
        return v, 0
    raise ValueError(f"unknown frequency {text!r}")


@dataclass
class _Pair:
    line: int
    excluded: bool
    fractions: list[tuple[int, int]] = field(default_factory=list)
    others: list[float] = field(default_factory=list)
    onset: str | None = None
    sexes: set[str] = field(default_factory=set)
    evidence: set[str] = field(default_factory=set)
    refs: set[str] = field(default_factory=set)

    def frequency(self) -> float | None:
        values = []
        if self.fractions:
            values.append(sum(n for n, _ in self.fractions) / sum(d for _, d in self.fractions))
        values.extend(self.others)
        return sum(values) / len(values) if values else None


def _header(path: Path) -> tuple[dict[str, str], int]:
    meta: dict[str, str] = {}
    with open_text(path) as f:
        for lineno, line in enumerate(f, 1):
            if line.startswith("#"):
                if ":" in line:
                    k, v = line[1:].split(":", 1)
                    meta[k.strip()] = v.strip()
                continue
            cols = tuple(line.rstrip("\n").split("\t"))
            if cols[: len(_COLUMNS)] != _COLUMNS:
                raise DataError(
                    f"not an HPO annotation file: expected the columns {list(_COLUMNS)}", file=path, line=lineno
                )
            return meta, lineno
    raise DataError("empty annotation file", file=path)


def read_hpoa(path: str | Path, idmap: HpoIdMap | None = None, *, strict: bool = False) -> SourceRecords:
    """Read ``phenotype.hpoa`` (phenotype aspect ``P``; other aspects are counted and skipped).

    Args:
        path: The annotation file.
        idmap: Maps obsolete and alternative HPO ids to current ones; rows whose term it does
            not know are skipped. Without it every well-formed id is kept.
        strict: Raise on a malformed row instead of skipping it.

    Raises:
        DataError: for a file that is not an HPO annotation file, or (strict) a malformed row,
            naming the file, line and column.
    """
    path = Path(path)
    meta, header_line = _header(path)
    version = meta.get("version") or meta.get("date")
    report = SourceReport("HPO annotations (phenotype.hpoa)", version=version, release_date=version)
    report.add_file(path)
    source = f"HPO phenotype.hpoa {version}" if version else "HPO phenotype.hpoa"

    def bad(reason: str, lineno: int, column: str | None = None) -> None:
        if strict:
            raise DataError(reason, file=path, line=lineno, field=column)
        report.skip(reason.split(":")[0], f"{path}:{lineno}")

    names: dict[str, tuple[str, int]] = {}
    pairs: dict[tuple[str, str], _Pair] = {}
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if lineno <= header_line or not line.strip():
                continue
            cols = line.rstrip("\n").split("\t")
            if len(cols) != len(_COLUMNS):
                bad(f"wrong number of columns: {len(cols)} instead of {len(_COLUMNS)}", lineno)
                continue
            row = dict(zip(_COLUMNS, cols))
            if row["aspect"] != "P":
                report.skip(f"aspect {row['aspect']} (not a phenotype)")
                continue
            disease, hp = row["database_id"], row["hpo_id"]
            if not _DISEASE.match(disease):
                bad(f"bad disease id: {disease!r}", lineno, "database_id")
                continue
            if not _HP.match(hp):
                bad(f"bad HPO id: {hp!r}", lineno, "hpo_id")
                continue
            if idmap is not None:
                current = idmap.resolve(hp)
                if current is None:
                    report.skip("HPO id unknown or obsolete without replacement", f"{path}:{lineno}")
                    continue
                if current != hp:
                    report.mapped["obsolete/alt HPO id → current"] += 1
                hp = current
            try:
                freq = parse_frequency(row["frequency"])
            except ValueError as e:
                bad(f"bad frequency: {e}", lineno, "frequency")
                continue
            excluded = row["qualifier"].strip().upper() == "NOT"
            names.setdefault(disease, (row["disease_name"].strip() or disease, lineno))
            pair = pairs.setdefault((disease, hp), _Pair(lineno, excluded))
            pair.excluded = pair.excluded and excluded  # any positive row makes it a phenotype
            if freq is not None and not excluded:
                value, weight = freq
                if weight:
                    pair.fractions.append((round(value * weight), weight))
                else:
                    pair.others.append(value)
            if row["onset"].startswith("HP:") and pair.onset is None:
                pair.onset = row["onset"]
            if row["sex"].strip():
                pair.sexes.add(row["sex"].strip().upper())
            if row["evidence"].strip():
                pair.evidence.add(row["evidence"].strip())
            for ref in row["reference"].split(";"):
                if ref.strip():
                    pair.refs.add(ref.strip())

    nodes = [Node(NodeLabel.DISEASE, d, {"name": n}, Origin(str(path), line)) for d, (n, line) in sorted(names.items())]
    edges = []
    for (disease, hp), p in sorted(pairs.items()):
        freq = p.frequency()
        refs = sorted(p.refs)
        provenance = source + (
            ": " + ";".join(refs[:_MAX_REFS]) + (";…" if len(refs) > _MAX_REFS else "") if refs else ""
        )
        props: dict = {"source": provenance}
        if p.evidence:
            props["evidence"] = ",".join(sorted(p.evidence))
        origin = Origin(str(path), p.line)
        if p.excluded or freq == 0.0:
            edges.append(Edge(RelType.EXCLUDES_PHENOTYPE, disease, hp, props, origin))
            continue
        if freq is not None:
            props["frequency"] = round(freq, 4)
        if p.onset:
            props["onset"] = p.onset
        if len(p.sexes) == 1 and next(iter(p.sexes)) in ("MALE", "FEMALE"):
            props["sex"] = next(iter(p.sexes))
        edges.append(Edge(RelType.HAS_PHENOTYPE, disease, hp, props, origin))
    report.records.update(
        {
            NodeLabel.DISEASE: len(nodes),
            RelType.HAS_PHENOTYPE: sum(e.type == RelType.HAS_PHENOTYPE for e in edges),
            RelType.EXCLUDES_PHENOTYPE: sum(e.type == RelType.EXCLUDES_PHENOTYPE for e in edges),
        }
    )
    return SourceRecords(nodes, edges, report)
