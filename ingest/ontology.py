"""MONDO, DOID and ChEBI ontologies (OBO or OBO-Graph JSON) as validated kgdx records.

- :func:`mondo_records`, :func:`doid_records`: ``Disease`` nodes (name, synonyms, definition,
  cross-references in our CURIEs) and ``IS_A`` edges child → parent.
- :func:`chebi_records`: ``Drug`` nodes for ChEBI ids, with their DrugBank cross-references.
- :func:`xref_index`: OMIM/ORPHA/DOID/DECIPHER id → MONDO id, so a disease read from HPO
  annotations as ``OMIM:168600`` can be joined to ``MONDO:0005180``.

Each reads ``.obo`` with :mod:`kgdx.ingest.obo` and ``.json`` (also ``.json.gz``) with
:mod:`kgdx.ingest.obograph`. Obsolete terms do not become nodes: an obsolete id with a live
``replaced_by`` is kept in the report's ``replaced_by`` map and in the result's ``aliases``
(alt_ids too), so ids found in cases can still be mapped.

Cross-references are normalised to the schema's prefixes (``Orphanet:``/``ORDO:`` → ``ORPHA:``,
``MIM:`` → ``OMIM:``, ``DrugBank:`` → ``DRUGBANK:``, IRIs contracted) and must match the id
pattern of the node's own type; the rest (UMLS, MeSH, NCIT, OMIMPS …) are counted in the report,
never guessed. Where a file marks which cross-references are exact (MONDO's
``{source="MONDO:equivalentTo"}`` qualifier, ``skos:exactMatch`` property values), only exact
ones are kept, since the ``xrefs`` property means "equivalent ids".

Example:
    >>> mondo = mondo_records("mondo.obo")  # doctest: +SKIP
    >>> store.write(mondo)  # doctest: +SKIP
    >>> xref_index(mondo)["OMIM:168600"]  # doctest: +SKIP
    'MONDO:0005180'
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from kgdx.errors import DataError
from kgdx.ingest._result import SourceRecords
from kgdx.ingest.obo import OboTerm, read_obo_header, read_obo_terms
from kgdx.ingest.obograph import contract_iri, read_obograph
from kgdx.ingest.report import SourceReport
from kgdx.kg.records import Edge, Node, Origin
from kgdx.kg.schema import Schema, core_schema
from kgdx.kg.vocab import NodeLabel, RelType

__all__ = [
    "OntologyReport",
    "mondo_records",
    "doid_records",
    "chebi_records",
    "ontology_records",
    "xref_index",
    "normalise_xref",
    "XREF_PREFIXES",
]

#: Source vocabularies' prefixes (lower-cased) and the schema prefix they map to.
XREF_PREFIXES: dict[str, str] = {
    "omim": "OMIM",
    "mim": "OMIM",
    "orphanet": "ORPHA",
    "ordo": "ORPHA",
    "orpha": "ORPHA",
    "doid": "DOID",
    "mondo": "MONDO",
    "decipher": "DECIPHER",
    "hp": "HP",
    "hpo": "HP",
    "chebi": "CHEBI",
    "drugbank": "DRUGBANK",
    "ncbigene": "NCBIGene",
    "hgnc": "HGNC",
    "uberon": "UBERON",
    "loinc": "LOINC",
    "atc": "ATC",
}
_EQUIVALENT = re.compile(r'source="MONDO:equivalentTo"')
_EXACT = ("skos:exactMatch", "http://www.w3.org/2004/02/skos/core#exactMatch")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_RELEASE = re.compile(r"releases/([^/]+)/")


@dataclass
class OntologyReport(SourceReport):
    """A :class:`~kgdx.ingest.report.SourceReport` that also keeps obsolete id → ``replaced_by``."""

    replaced_by: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "replaced_by": dict(sorted(self.replaced_by.items()))}


@dataclass(frozen=True)
class _Ontology:
    name: str  # MONDO
    prefix: str  # the term ids' CURIE prefix
    node_type: str  # the schema type its terms become
    qualified_xrefs: bool = False  # MONDO marks exact xrefs with {source="MONDO:equivalentTo"}


_MONDO = _Ontology("MONDO", "MONDO", NodeLabel.DISEASE, qualified_xrefs=True)
_DOID = _Ontology("DOID", "DOID", NodeLabel.DISEASE)
_CHEBI = _Ontology("ChEBI", "CHEBI", NodeLabel.DRUG)
_ONTOLOGIES = {o.name.lower(): o for o in (_MONDO, _DOID, _CHEBI)}


# -- ids ------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _core() -> Schema:
    return core_schema()


def _iri_bases(schema: Schema) -> list[tuple[str, str]]:
    return sorted(((iri, p) for p, iri in schema.prefixes.items()), key=lambda t: -len(t[0]))


def normalise_xref(xref: str, schema: Schema | None = None) -> str | None:
    """A cross-reference as a schema CURIE that matches its node type's id pattern, or ``None``.

    ``Orphanet:2828`` → ``ORPHA:2828``, ``MIM:168600`` → ``OMIM:168600``, ``DrugBank:DB01235``
    → ``DRUGBANK:DB01235``, ``http://purl.obolibrary.org/obo/DOID_14330`` → ``DOID:14330``;
    ``UMLS:C0030567`` or ``OMIMPS:168600`` → ``None``.
    """
    schema = schema or _core()
    xref = xref.strip()
    if "://" in xref:
        contracted = contract_iri(xref)
        if contracted == xref:
            for base, prefix in _iri_bases(schema):
                if xref.startswith(base) and len(xref) > len(base):
                    contracted = f"{prefix}:{xref[len(base) :]}"
                    break
        xref = contracted
    prefix, sep, local = xref.partition(":")
    ours = XREF_PREFIXES.get(prefix.lower())
    if not sep or ours is None:
        return None
    curie = f"{ours}:{local.strip()}"
    try:
        nt = schema.node_type_of(curie)
    except KeyError:
        return None
    return curie if nt.id_regex.match(curie) else None


def _version(header: dict[str, str]) -> str | None:
    """A release label from an OBO header: its date if it has one, else the release name."""
    for key in ("data-version", "version-info"):
        value = header.get(key)
        if value and _DATE.search(value):
            return _DATE.search(value).group(0)
    for key in ("data-version", "version-info"):
        value = header.get(key)
        if value:
            m = _RELEASE.search(value)
            if m:
                return m.group(1)
            last = value.rstrip("/").rsplit("/", 1)[-1]
            return re.sub(r"\.(obo|owl|json)$", "", last) or None
    return header.get("date") or None


# -- reading --------------------------------------------------------------------------------------


def _equivalent_xrefs(terms: list[OboTerm]) -> dict[str, set[str]]:
    """Term id → xrefs qualified ``{source="MONDO:equivalentTo"}`` (raw in ``tags["xref"]``)."""
    out: dict[str, set[str]] = {}
    for t in terms:
        found = {x.split(" ", 1)[0].strip('"') for x in t.tags.get("xref", ()) if _EQUIVALENT.search(x)}
        if found:
            out[t.id] = found
    return out


def _read_terms(path: Path) -> tuple[dict[str, str], list[OboTerm]]:
    name = path.name.lower()
    if name.endswith((".json", ".json.gz", ".json.bz2", ".json.xz")):
        graph = read_obograph(path)
        return graph.header, graph.terms
    if name.endswith(".obo"):
        return read_obo_header(path), list(read_obo_terms(path))
    raise DataError("unknown ontology format: expected .obo or OBO-Graph .json", file=path)


def _merge_duplicates(terms: list[OboTerm], report: SourceReport) -> list[OboTerm]:
    merged: dict[str, OboTerm] = {}
    for t in terms:
        prev = merged.get(t.id)
        if prev is None:
            merged[t.id] = t
            continue
        report.mapped["duplicate stanza merged"] += 1
        prev.merge(t)
    return list(merged.values())


def _exact_matches(term: OboTerm) -> list[str]:
    out = []
    for pv in term.tags.get("property_value", []):
        pred, _, value = pv.partition(" ")
        if pred in _EXACT and value:
            out.append(value.split(" ", 1)[0].strip('"'))
    return out


def ontology_records(
    path: str | Path, ontology: str, *, schema: Schema | None = None, drugbank_only: bool = True
) -> SourceRecords:
    """Read one of the supported ontologies (``"mondo"``, ``"doid"``, ``"chebi"``).

    Args:
        path: An ``.obo`` or OBO-Graph ``.json`` file.
        ontology: Which ontology the file holds.
        schema: The schema whose prefixes and id patterns records must meet (default: core).
        drugbank_only: ChEBI only: make Drug nodes just of entities with a DrugBank xref.

    Raises:
        DataError: for a malformed file, naming the file and line.
    """
    onto = _ONTOLOGIES.get(ontology.lower())
    if onto is None:
        raise ValueError(f"'ontology' must be one of {sorted(_ONTOLOGIES)} (got {ontology!r})")
    schema = schema or core_schema()
    path = Path(path)
    header, terms = _read_terms(path)
    version = _version(header)
    report = OntologyReport(
        f"{onto.name} ({path.name})",
        version=version,
        release_date=version if version and _DATE.fullmatch(version) else None,
    )
    report.add_file(path)
    source = " ".join(p for p in (onto.name, path.name, version) if p)
    node_type = schema.node_types[onto.node_type]

    own = [t for t in terms if t.id.startswith(onto.prefix + ":")]
    if len(own) < len(terms):
        report.skipped[f"term outside {onto.prefix} (imported or external class)"] += len(terms) - len(own)
    own = _merge_duplicates(own, report)
    valid = []
    for t in own:
        if node_type.id_regex.match(t.id):
            valid.append(t)
        else:
            report.skip(f"id does not match the {onto.node_type} pattern", f"{path}:{t.line}")
    live = {t.id: t for t in valid if not t.obsolete}

    equivalent = _equivalent_xrefs(valid) if onto.qualified_xrefs and path.suffix == ".obo" else {}
    exact = {t.id: _exact_matches(t) for t in live.values()}
    # MONDO says which xrefs are exact; then the others (broader, narrower, related) are left out.
    only_exact = onto.qualified_xrefs and (bool(equivalent) or any(exact.values()))

    aliases: dict[str, str] = {}
    every = {t.id: t for t in valid}
    for t in valid:
        if not t.obsolete:
            continue
        target = _resolve(t.replaced_by, live, every)
        if target is None:
            report.skip("obsolete term without a live replacement", f"{path}:{t.line}")
        else:
            report.replaced_by[t.id] = target
            aliases[t.id] = target
            report.mapped["obsolete term → replaced_by"] += 1
    for t in live.values():
        for alt in t.alt_ids:
            if alt not in live and alt not in aliases:
                aliases[alt] = t.id
                report.mapped["alt_id → term"] += 1

    nodes: list[Node] = []
    edges: list[Edge] = []
    for t in live.values():
        origin = Origin(str(path), t.line)
        xrefs: list[str] = []
        if only_exact:
            candidates = sorted(equivalent.get(t.id, ())) + exact[t.id]
            report.skipped["xref not marked as exact"] += len(set(t.xrefs) - set(candidates))
        else:
            candidates = t.xrefs + exact[t.id]
        for x in candidates:
            curie = normalise_xref(x, schema)
            if curie is None or schema.node_type_of(curie).label != onto.node_type:
                report.skip("xref outside the schema's vocabularies for this type", None)
            elif curie != t.id and curie not in xrefs:
                xrefs.append(curie)
        if onto is _CHEBI and drugbank_only and not any(x.startswith("DRUGBANK:") for x in xrefs):
            report.skip("ChEBI entity without a DrugBank xref", None)
            continue
        props: dict[str, Any] = {"name": t.name or t.id}
        synonyms = sorted({s for s in t.synonyms if s != t.name})
        if synonyms:
            props["synonyms"] = synonyms
        if t.definition and "definition" in node_type.properties:
            props["definition"] = t.definition
        if xrefs:
            props["xrefs"] = sorted(xrefs)
        nodes.append(Node(onto.node_type, t.id, props, origin))
        if onto.node_type not in schema.relationship_types[RelType.IS_A].source:
            continue
        parents: set[str] = set()
        for parent in t.is_a:
            if parent not in live and parent in aliases:
                parent = aliases[parent]
                report.mapped["is_a to an obsolete or alt id → current term"] += 1
            if parent in parents:
                continue
            if parent in live and parent != t.id:
                parents.add(parent)
                edges.append(Edge(RelType.IS_A, t.id, parent, {"source": source}, origin))
            else:
                report.skip("is_a to a term that is not a live term of the file", f"{path}:{t.line}")
    report.records[onto.node_type] = len(nodes)
    if onto.node_type in schema.relationship_types[RelType.IS_A].source:
        report.records[RelType.IS_A] = len(edges)
    return SourceRecords(nodes, edges, report, aliases)


def _resolve(replaced_by: list[str], live: dict[str, OboTerm], every: dict[str, OboTerm]) -> str | None:
    """The live term a chain of ``replaced_by`` ends in, if any."""
    seen: set[str] = set()
    queue = list(replaced_by)
    while queue:
        target = queue.pop(0)
        if target in live:
            return target
        if target in seen or target not in every:
            continue
        seen.add(target)
        queue.extend(every[target].replaced_by)
    return None


def mondo_records(path: str | Path, *, schema: Schema | None = None) -> SourceRecords:
    """MONDO (``mondo.obo`` or ``mondo.json``) as Disease nodes and IS_A edges."""
    return ontology_records(path, "mondo", schema=schema)


def doid_records(path: str | Path, *, schema: Schema | None = None) -> SourceRecords:
    """The Disease Ontology (``doid.obo`` or ``doid.json``) as Disease nodes and IS_A edges."""
    return ontology_records(path, "doid", schema=schema)


def chebi_records(path: str | Path, *, schema: Schema | None = None, drugbank_only: bool = True) -> SourceRecords:
    """ChEBI (``chebi.obo`` or ``chebi.json``) as Drug nodes with DrugBank xrefs.

    Args:
        drugbank_only: Keep only entities that DrugBank also lists (a DrugBank xref), so the
            Drug type holds drugs rather than every chemical entity; the rest are counted.
    """
    return ontology_records(path, "chebi", schema=schema, drugbank_only=drugbank_only)


def xref_index(
    records: Iterable[Node | Edge],
    *,
    target: str = "MONDO",
    prefixes: Iterable[str] = ("OMIM", "ORPHA", "DOID", "DECIPHER"),
    report: SourceReport | None = None,
) -> dict[str, str]:
    """Map other vocabularies' disease ids to ``target`` ids through the nodes' ``xrefs``.

    An id that two ``target`` terms both claim is ambiguous and left out (counted in ``report``
    when one is given), so nothing is guessed.

    Example:
        >>> xref_index([Node("Disease", "MONDO:0005180", {"name": "Parkinson disease",
        ...                                               "xrefs": ["OMIM:168600", "DOID:14330"]})])
        {'DOID:14330': 'MONDO:0005180', 'OMIM:168600': 'MONDO:0005180'}
    """
    wanted = tuple(f"{p}:" for p in prefixes)
    claims: dict[str, set[str]] = defaultdict(set)
    for r in records:
        if isinstance(r, Node) and r.id.startswith(f"{target}:"):
            for x in r.props.get("xrefs", ()):
                if x.startswith(wanted):
                    claims[x].add(r.id)
    out = {}
    for x, owners in sorted(claims.items()):
        if len(owners) == 1:
            out[x] = next(iter(owners))
        elif report is not None:
            report.skip(f"xref claimed by several {target} terms", x)
    return out
