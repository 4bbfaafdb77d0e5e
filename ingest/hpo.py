"""The HPO ontology (``hp.obo``) as Phenotype nodes and ``IS_A`` edges, plus the id map.

Obsolete terms do not become nodes. Their ids, and every ``alt_id``, are kept on the current
term as ``alt_ids`` and in :class:`HpoIdMap`, so an obsolete id in a case or an annotation file
maps to its replacement (``replaced_by``) instead of being lost.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from kgdx.ingest._result import SourceRecords
from kgdx.ingest.obo import read_obo_header, read_obo_terms
from kgdx.ingest.report import SourceReport
from kgdx.kg.records import Edge, Node, Origin
from kgdx.kg.vocab import NodeLabel, RelType

__all__ = ["HpoIdMap", "HpoOntology", "read_hpo"]

_HP = re.compile(r"^HP:\d{7}$")


@dataclass
class HpoIdMap:
    """Maps any HPO id a user may hold to the current term id.

    ``current`` holds the live terms; ``alias`` maps alt ids and obsolete ids that have a
    replacement; ``obsolete`` holds obsolete ids without one.
    """

    current: set[str] = field(default_factory=set)
    alias: dict[str, str] = field(default_factory=dict)
    obsolete: set[str] = field(default_factory=set)

    def resolve(self, hp_id: str) -> str | None:
        """The current id for ``hp_id``, or ``None`` if it is unknown or obsolete without replacement."""
        if hp_id in self.current:
            return hp_id
        seen = set()
        while hp_id in self.alias and hp_id not in seen:  # replacements can chain
            seen.add(hp_id)
            hp_id = self.alias[hp_id]
            if hp_id in self.current:
                return hp_id
        return None

    def status(self, hp_id: str) -> str:
        """``current``, ``mapped`` (alt or replaced), ``obsolete`` or ``unknown``."""
        if hp_id in self.current:
            return "current"
        if self.resolve(hp_id) is not None:
            return "mapped"
        return "obsolete" if hp_id in self.obsolete or hp_id in self.alias else "unknown"


@dataclass
class HpoOntology(SourceRecords):
    """Phenotype nodes, ``IS_A`` edges and the id map of one HPO release."""

    idmap: HpoIdMap | None = None  # always set by read_hpo


def read_hpo(path: str | Path) -> HpoOntology:
    """Read ``hp.obo``.

    Raises:
        DataError: for a malformed line, naming the file and line.
    """
    path = Path(path)
    header = read_obo_header(path)
    version = header.get("data-version", "").rsplit("/", 1)[-1] or None
    report = SourceReport("HPO ontology (hp.obo)", version=version, release_date=version)
    report.add_file(path)
    source = f"HPO hp.obo {version}" if version else "HPO hp.obo"

    terms = [t for t in read_obo_terms(path) if _HP.match(t.id)]
    idmap = HpoIdMap()
    live = {t.id: t for t in terms if not t.obsolete}
    idmap.current = set(live)
    alt_ids: dict[str, list[str]] = {i: [] for i in live}
    for t in terms:
        if t.obsolete:
            target = next((r for r in t.replaced_by if r in live), None)
            if target is None:
                idmap.obsolete.add(t.id)
                report.skip("obsolete term without replacement")
            else:
                idmap.alias[t.id] = target
                alt_ids[target].append(t.id)
                report.mapped["obsolete term → replaced_by"] += 1
        for alt in t.alt_ids:
            owner = t.id if not t.obsolete else idmap.alias.get(t.id)
            if owner is not None and alt not in live:
                idmap.alias[alt] = owner
                alt_ids[owner].append(alt)

    nodes, edges = [], []
    for t in live.values():
        origin = Origin(str(path), t.line)
        props = {"name": t.name or t.id}
        synonyms = sorted({s for s in t.synonyms if s != t.name})
        if synonyms:
            props["synonyms"] = synonyms
        if t.definition:
            props["definition"] = t.definition
        if alt_ids[t.id]:
            props["alt_ids"] = sorted(set(alt_ids[t.id]))
        nodes.append(Node(NodeLabel.PHENOTYPE, t.id, props, origin))
        for parent in t.is_a:
            if parent in live:
                edges.append(Edge(RelType.IS_A, t.id, parent, {"source": source}, origin))
            else:
                report.skip("is_a to a term not in the release", f"{path}:{t.line}")
    report.records.update({NodeLabel.PHENOTYPE: len(nodes), RelType.IS_A: len(edges)})
    return HpoOntology(nodes, edges, report, idmap=idmap)
