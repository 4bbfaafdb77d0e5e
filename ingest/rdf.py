"""RDF (Turtle, N-Triples, RDF/XML, JSON-LD …) in the kgdx vocabulary read back as records.

It reads what :func:`kgdx.kg.rdf.to_rdf` writes, and any RDF that follows the same conventions:

- a node is a subject typed ``kgdx:<NodeType>`` whose IRI falls under one of that type's
  prefixes in the schema (``http://purl.obolibrary.org/obo/HP_0001300`` → ``HP:0001300``); its
  properties are ``kgdx:<property>`` values (a list property as an RDF collection, which keeps
  its order, or as repeated values, which are sorted);
- an edge is a triple ``<src> kgdx:<RELATIONSHIP> <dst>``; its properties hang on an
  ``rdf:Statement`` that reifies it (``rdf:subject``/``rdf:predicate``/``rdf:object``).

RDF is open-world, so everything else (other vocabularies' predicates, types outside the
schema, statements about triples that are not asserted) is counted in the report and skipped.
What breaks the kgdx vocabulary (a node IRI no prefix of its type covers, a scalar property
with two values, a value of the wrong type) is a :class:`~kgdx.errors.DataError` naming the file
and the subject; with ``strict=False`` it is skipped and counted. RDF parsers report lines only
for syntax errors, so those are the only errors with a line.

Example:
    >>> kg = read_rdf("kg.ttl", core_schema())  # doctest: +SKIP
    >>> MemoryStore(core_schema()).write(kg)  # doctest: +SKIP
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

from rdflib import RDF, RDFS, BNode, Graph, Literal, URIRef
from rdflib.util import guess_format

from kgdx.errors import DataError
from kgdx.ingest._result import SourceRecords
from kgdx.ingest.report import SourceReport
from kgdx.kg.rdf import KGDX, iri_to_curie
from kgdx.kg.records import Edge, Node, Origin, edge_key
from kgdx.kg.schema import PropertySpec, Schema

__all__ = ["read_rdf"]

_NS = str(KGDX)
# rdflib's namespace attributes are looked up through __getattr__ each time: fetch them once.
_TYPE, _LABEL, _NIL, _FIRST, _REST = RDF.type, RDFS.label, RDF.nil, RDF.first, RDF.rest
_SUBJECT, _PREDICATE, _OBJECT = RDF.subject, RDF.predicate, RDF.object
_NODE_SKIP = frozenset({_TYPE, _LABEL})
_STATEMENT_SKIP = frozenset({_TYPE, _SUBJECT, _PREDICATE, _OBJECT})


def _parse(path: Path, format: str | None) -> Graph:
    fmt = format or guess_format(str(path)) or "turtle"
    if not path.is_file():
        raise DataError("no such file", file=path)
    g = Graph()
    try:
        g.parse(str(path), format=fmt)
    except Exception as e:  # noqa: BLE001 - rdflib parsers raise many unrelated types
        line = getattr(e, "lines", None)
        if line is not None:
            line += 1
        elif hasattr(e, "getLineNumber"):
            line = e.getLineNumber()  # RDF/XML (SAX)
        why = getattr(e, "_why", None) or str(e).strip().splitlines()[0]
        raise DataError(f"invalid {fmt}: {why}", file=path, line=line) from None
    return g


def _local(term: Any) -> str | None:
    """The kgdx local name of a URIRef in the kgdx namespace, else ``None``."""
    if isinstance(term, URIRef) and str(term).startswith(_NS):
        return str(term)[len(_NS) :]
    return None


def _python(lit: Any) -> Any:
    if not isinstance(lit, Literal):
        raise ValueError(f"expected a literal, got {lit}")
    value = lit.toPython()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, Literal):  # a datatype rdflib does not know
        return str(value)
    return value


def read_rdf(path: str | Path, schema: Schema, *, format: str | None = None, strict: bool = True) -> SourceRecords:
    """Read RDF in the kgdx vocabulary as Node and Edge records.

    Args:
        path: The RDF file.
        schema: The schema whose node types, relationship types, properties and ``prefixes``
            the RDF uses.
        format: An rdflib parser name (default: from the extension, else Turtle).
        strict: Raise on a subject that breaks the kgdx vocabulary; ``False`` skips and counts it.

    Raises:
        DataError: for a syntax error (with its line), or (strict) a node or property that does
            not fit the schema, naming the file and subject.
    """
    path = Path(path)
    g = _parse(path, format)
    report = SourceReport(f"RDF ({path.name})")
    report.add_file(path)
    origin = Origin(str(path), None)

    # One pass over the triples: by subject, then by predicate (rdflib's per-pattern lookups are
    # far slower for the millions of triples of a full KG).
    by_subject: dict[Any, dict[Any, list]] = defaultdict(lambda: defaultdict(list))
    rel_preds = {KGDX[r]: r for r in schema.relationship_types}
    asserted: list[tuple[Any, str, Any]] = []
    for s_, p_, o_ in g:
        by_subject[s_][p_].append(o_)
        rel = rel_preds.get(p_)
        if rel is not None:
            asserted.append((s_, rel, o_))
    del g

    def bad(reason: str, subject: Any, field_: str | None = None) -> None:
        if strict:
            raise DataError(f"{reason} (subject {subject})", file=path, field=field_)
        report.skip(reason.split(":")[0], str(subject))

    def collection(head: Any) -> list | None:
        """The items of an RDF list, or ``None`` if ``head`` does not start one."""
        items = []
        seen = set()
        while head != _NIL:
            cell = by_subject.get(head)
            if not isinstance(head, BNode) or cell is None or head in seen:
                return None
            first, rest = cell.get(_FIRST, []), cell.get(_REST, [])
            if len(first) != 1 or len(rest) != 1:
                return None
            seen.add(head)
            items.append(first[0])
            head = rest[0]
        return items

    def values(objs: list, spec: PropertySpec, name: str) -> Any:
        try:
            if spec.type.endswith("_list"):
                items = collection(objs[0]) if len(objs) == 1 else None
                if items is None:
                    items = sorted(objs)  # repeated values have no order; make one
                return spec.coerce([_python(o) for o in items])
            if len(objs) != 1:
                raise ValueError(f"has {len(objs)} values, expected one")
            return spec.coerce(_python(objs[0]))
        except ValueError as e:
            raise ValueError(f"kgdx:{name} {e}") from None

    def props_of(subject: Any, specs: dict[str, PropertySpec], skip: set) -> dict[str, Any] | None:
        props: dict[str, Any] = {}
        for pred, objs in sorted(by_subject[subject].items(), key=lambda t: str(t[0])):
            if pred in skip:
                continue
            name = _local(pred)
            if name is None:
                report.skipped["predicate outside the kgdx vocabulary"] += 1
                continue
            spec = specs.get(name)
            if spec is None:
                if name in schema.relationship_types:
                    continue  # an edge from this node
                bad(f"unknown property kgdx:{name}", subject, name)
                continue
            try:
                props[name] = values(objs, spec, name)
            except ValueError as e:
                bad(str(e), subject, name)
                return None
        return props

    # -- nodes --------------------------------------------------------------------------------------
    nodes: dict[str, Node] = {}
    iri_of: dict[Any, str] = {}
    typed = sorted(
        ((subj, t) for subj, preds in by_subject.items() for t in preds.get(_TYPE, ())),
        key=lambda t: (str(t[0]), str(t[1])),
    )
    for subject, type_ in typed:
        label = _local(type_)
        if label is None:
            continue
        nt = schema.node_types.get(label)
        if nt is None:
            report.skipped["rdf:type kgdx class outside the schema"] += 1
            continue
        if not isinstance(subject, URIRef):
            bad(f"a {label} must be an IRI, not a blank node", subject)
            continue
        curie = iri_to_curie(str(subject), schema, nt.id_prefixes)
        if curie is None or not nt.id_regex.match(curie):
            bad(f"IRI of a {label} matches none of its id prefixes {list(nt.id_prefixes)}", subject, "id")
            continue
        props = props_of(subject, nt.properties, _NODE_SKIP)
        if props is None:
            continue
        if curie in nodes:
            bad(f"typed as both {nodes[curie].type} and {label}", subject, "type")
            continue
        nodes[curie] = Node(label, curie, props, origin)
        iri_of[subject] = curie

    # -- edge properties from reified statements ---------------------------------------------------
    asserted_set = set(asserted)
    statement_props: dict[tuple, dict[str, Any]] = defaultdict(dict)
    statements = sorted((subj for subj, preds in by_subject.items() if _PREDICATE in preds), key=str)
    for st in statements:
        preds = by_subject[st]
        rel = _local(preds[_PREDICATE][0]) if len(preds[_PREDICATE]) == 1 else None
        if rel not in schema.relationship_types:
            continue
        subj, obj = preds.get(_SUBJECT, []), preds.get(_OBJECT, [])
        if len(subj) != 1 or len(obj) != 1:
            bad("an rdf:Statement needs one rdf:subject and one rdf:object", st)
            continue
        if (subj[0], rel, obj[0]) not in asserted_set:
            report.skipped["statement about a triple that is not asserted"] += 1
            continue
        props = props_of(st, schema.relationship_types[rel].properties, _STATEMENT_SKIP)
        if props is not None:
            statement_props[(subj[0], rel, obj[0])].update(props)

    # -- edges ------------------------------------------------------------------------------------
    edges: dict[tuple[str, str, str], Edge] = {}
    owned = tuple(p for nt in schema.node_types.values() for p in nt.id_prefixes)
    for s_, rel, o_ in sorted(asserted, key=lambda t: (str(t[0]), t[1], str(t[2]))):
        rt = schema.relationship_types[rel]
        ends = []
        for term in (s_, o_):
            curie = iri_of.get(term)
            if curie is None and isinstance(term, URIRef):
                curie = iri_to_curie(str(term), schema, owned)
            ends.append(curie)
        if None in ends:
            bad(f"an end of a kgdx:{rel} triple is under no node prefix", f"{s_} {o_}", rel)
            continue
        props = statement_props.get((s_, rel, o_), {})
        key = edge_key(rel, ends[0], ends[1], rt.symmetric)
        prev = edges.get(key)
        merged = {**prev.props, **props} if prev is not None else props
        edges[key] = Edge(rel, key[0], key[2], merged, origin)

    return SourceRecords.collect(nodes.values(), edges.values(), report)
