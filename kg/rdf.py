"""The KG as RDF: CURIEs expanded by the schema's ``prefixes``, types and properties in a kgdx
vocabulary (https://kgdx.dev/schema/).

What a node and an edge look like (Turtle)::

    MONDO:0005180 a kgdx:Disease ;
        rdfs:label "Parkinson disease" ;
        kgdx:name "Parkinson disease" ;
        kgdx:synonyms ( "paralysis agitans" "PD" ) .

    MONDO:0005180 kgdx:HAS_PHENOTYPE HP:0001300 .
    <https://kgdx.dev/edge/MONDO:0005180/HAS_PHENOTYPE/HP:0001300> a rdf:Statement ;
        rdf:subject MONDO:0005180 ; rdf:predicate kgdx:HAS_PHENOTYPE ; rdf:object HP:0001300 ;
        kgdx:source "HPO phenotype.hpoa 2024-04-26" ; kgdx:frequency "0.545"^^xsd:double .

Why this shape:

- Each edge is asserted as a plain triple, so SPARQL paths (``?d kgdx:HAS_PHENOTYPE ?p``) work
  without knowing about edge properties.
- Its properties (``source``, ``frequency`` …) hang on a standard RDF reification of that
  triple (``rdf:Statement``). Every RDF tool reads it, it is what RDF 1.2 / RDF-star annotations
  mean, and it identifies an edge exactly as the KG does: by (src, type, dst). The statement has
  a readable, deterministic IRI, so exports diff cleanly. An edge-resource pattern (a node per
  edge, no direct triple) would lose the simple triple; RDF-star is not yet read by rdflib.
- List properties (synonyms, xrefs, alt_ids) are RDF collections, which keep their order; a
  multi-valued property would not.
- Floats are ``xsd:double`` written with Python's shortest round-trip form, ints ``xsd:integer``.
- ``rdfs:label`` repeats ``name`` for RDF browsers; the importer reads ``kgdx:name``.

Turtle is written by a streaming writer (the default KG has ~3M triples, too many for an
in-memory rdflib graph to serialise quickly); other formats (``xml``, ``nt``, ``json-ld`` …) go
through :func:`to_rdf_graph`. :func:`kgdx.ingest.rdf.read_rdf` reads either back.

Example:
    >>> to_rdf(store, "kg.ttl")  # doctest: +SKIP
    PosixPath('kg.ttl')
"""

from __future__ import annotations

import math
import os
import re
import tempfile
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote, unquote

from rdflib import RDF, RDFS, XSD, BNode, Graph, Literal, Namespace, URIRef
from rdflib.collection import Collection

from kgdx.errors import SchemaError
from kgdx.kg.records import Edge, Node
from kgdx.kg.schema import Schema
from kgdx.kg.store import KGStore

__all__ = [
    "KGDX",
    "EDGE_BASE",
    "check_prefixes",
    "curie_to_iri",
    "iri_to_curie",
    "edge_iri",
    "to_rdf",
    "to_rdf_graph",
]

#: The kgdx vocabulary: node types (``kgdx:Disease``), relationship types and properties.
KGDX = Namespace("https://kgdx.dev/schema/")
#: Base of the reified statements' IRIs: ``<EDGE_BASE><src>/<TYPE>/<dst>``.
EDGE_BASE = "https://kgdx.dev/edge/"

_SAFE = ":@!$&'()*+,;=-._~"  # unreserved and sub-delims stay as they are; the rest is %-encoded
_PN_LOCAL = re.compile(r"^[A-Za-z0-9_]([A-Za-z0-9_\-.]*[A-Za-z0-9_\-])?$")
_PN_PREFIX = re.compile(r"^[A-Za-z]([A-Za-z0-9_\-.]*[A-Za-z0-9_\-])?$")
_STD_PREFIXES = {"rdf": str(RDF), "rdfs": str(RDFS), "xsd": str(XSD), "kgdx": str(KGDX)}


def check_prefixes(schema: Schema) -> None:
    """Check that every node type's id prefixes have an IRI base in the schema's ``prefixes``.

    Raises:
        SchemaError: naming the node type and the prefix without one.
    """
    for label, nt in schema.node_types.items():
        for p in nt.id_prefixes:
            if p not in schema.prefixes:
                raise SchemaError(
                    f"node type {label!r} uses the id prefix {p!r}, which has no IRI base in the "
                    f"schema's 'prefixes'; RDF needs one",
                    field=f"prefixes.{p}",
                )


def curie_to_iri(curie: str, schema: Schema) -> str:
    """``MONDO:0005180`` → ``http://purl.obolibrary.org/obo/MONDO_0005180``."""
    prefix, _, local = curie.partition(":")
    try:
        base = schema.prefixes[prefix]
    except KeyError:
        raise SchemaError(
            f"the id prefix {prefix!r} of {curie!r} has no IRI base in the schema's 'prefixes'",
            field=f"prefixes.{prefix}",
        ) from None
    return base + quote(local, safe=_SAFE)


def iri_to_curie(iri: str, schema: Schema, prefixes: tuple[str, ...] | None = None) -> str | None:
    """The CURIE of an IRI under the longest matching base (among ``prefixes`` if given)."""
    best = None
    for p, base in schema.prefixes.items():
        fits = (prefixes is None or p in prefixes) and iri.startswith(base) and len(iri) > len(base)
        if fits and (best is None or len(base) > len(schema.prefixes[best])):
            best = p
    if best is None:
        return None
    return f"{best}:{unquote(iri[len(schema.prefixes[best]) :])}"


def edge_iri(edge: Edge) -> str:
    """The IRI of an edge's reified statement: ``https://kgdx.dev/edge/<src>/<TYPE>/<dst>``."""
    return f"{EDGE_BASE}{quote(edge.src, safe=_SAFE)}/{edge.type}/{quote(edge.dst, safe=_SAFE)}"


# -- values ---------------------------------------------------------------------------------------

_NEEDS_ESCAPE = re.compile(r'[\\"\x00-\x1f\x7f]')
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(text: str) -> str:
    """``text`` as the inside of a Turtle / N-Triples string literal."""
    if not _NEEDS_ESCAPE.search(text):
        return text
    return _NEEDS_ESCAPE.sub(lambda m: _ESCAPES.get(m.group(0), f"\\u{ord(m.group(0)):04X}"), text)


def _double(value: float) -> str:
    if math.isinf(value):
        return "INF" if value > 0 else "-INF"
    return repr(value)  # the shortest form that reads back as the same double


def _literal(value: Any) -> Literal:
    if isinstance(value, (bool, int)):
        return Literal(value)
    if isinstance(value, float):
        return Literal(_double(value), datatype=XSD.double)
    return Literal(str(value))


def _check_iri(iri: str) -> str:
    # Turtle IRIREFs cannot hold these; our IRIs are built from %-encoded ids, so this is a guard.
    if any(c in iri for c in '<>"{}|^`\\ ') or any(ord(c) <= 0x20 for c in iri):
        raise SchemaError(f"cannot write {iri!r} as an IRI: check the schema's 'prefixes'")
    return iri


def _ordered(props: dict[str, Any], specs: dict) -> list[tuple[str, Any]]:
    """Properties in schema order (then any others, sorted), without empty values."""
    keys = [*specs, *sorted(k for k in props if k not in specs)]
    return [(k, props[k]) for k in keys if props.get(k) is not None]


def _sorted(store: KGStore) -> tuple[list[Node], list[Edge]]:
    nodes = sorted(store.iter_nodes(), key=lambda n: (n.type, n.id))
    edges = sorted(store.iter_edges(), key=lambda e: (e.type, e.src, e.dst))
    return nodes, edges


# -- an rdflib graph, for small KGs and other formats ------------------------------------------------


def to_rdf_graph(store: KGStore) -> Graph:
    """The whole KG as an in-memory ``rdflib.Graph`` (for notebooks, SPARQL or other formats).

    Raises:
        SchemaError: if a node type's id prefix has no IRI base.
    """
    schema = store.schema
    check_prefixes(schema)
    g = Graph()
    for name, iri in _prefix_table(schema).items():
        g.bind(name, iri, override=True)
    nodes, edges = _sorted(store)

    def add(subject: URIRef, props: list[tuple[str, Any]]) -> None:
        for key, value in props:
            if isinstance(value, (list, tuple)):
                head = BNode()
                Collection(g, head, [_literal(v) for v in value])
                g.add((subject, KGDX[key], head))
            else:
                g.add((subject, KGDX[key], _literal(value)))

    for n in nodes:
        iri = URIRef(curie_to_iri(n.id, schema))
        g.add((iri, RDF.type, KGDX[n.type]))
        if "name" in n.props:
            g.add((iri, RDFS.label, _literal(n.props["name"])))
        add(iri, _ordered(n.props, schema.node_types[n.type].properties))
    for e in edges:
        src, dst = URIRef(curie_to_iri(e.src, schema)), URIRef(curie_to_iri(e.dst, schema))
        g.add((src, KGDX[e.type], dst))
        st = URIRef(edge_iri(e))
        for pred, obj in (
            (RDF.type, RDF.Statement),
            (RDF.subject, src),
            (RDF.predicate, KGDX[e.type]),
            (RDF.object, dst),
        ):
            g.add((st, pred, obj))
        add(st, _ordered(e.props, schema.relationship_types[e.type].properties))
    return g


# -- the streaming Turtle writer -------------------------------------------------------------------


def _prefix_table(schema: Schema) -> dict[str, str]:
    table = dict(_STD_PREFIXES)
    for p, iri in sorted(schema.prefixes.items()):
        if _PN_PREFIX.match(p) and p not in table:
            table[p] = iri
    return table


class _TurtleWriter:
    """Writes one block per node and two per edge, straight from the records."""

    def __init__(self, out: TextIO, schema: Schema) -> None:
        self.out = out
        self.schema = schema
        self.prefixes = _prefix_table(schema)
        self._terms: dict[str, str] = {}

    def header(self) -> None:
        schema = self.schema
        modules = f" + {', '.join(schema.modules)}" if schema.modules else ""
        self.out.write(f"# kgdx knowledge graph, schema {schema.name} {schema.version}{modules}\n")
        for p, iri in self.prefixes.items():
            self.out.write(f"@prefix {p}: <{_check_iri(iri)}> .\n")
        self.out.write("\n")

    def node_term(self, curie: str) -> str:
        """A node as a prefixed name (``MONDO:0005180``) when Turtle allows, else ``<IRI>``."""
        term = self._terms.get(curie)
        if term is None:
            prefix, _, local = curie.partition(":")
            if prefix in self.prefixes and prefix in self.schema.prefixes and _PN_LOCAL.match(local):
                term = curie
            else:
                term = f"<{_check_iri(curie_to_iri(curie, self.schema))}>"
            self._terms[curie] = term
        return term

    def value(self, value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int):
            return str(value)
        if isinstance(value, float):
            return f'"{_double(value)}"^^xsd:double'
        if isinstance(value, (list, tuple)):
            return "( " + " ".join(self.value(v) for v in value) + " )" if value else "rdf:nil"
        return f'"{_escape(str(value))}"'

    def block(self, lines: list[str], props: list[tuple[str, Any]]) -> None:
        lines += [f"    kgdx:{k} {self.value(v)}" for k, v in props]
        self.out.write(" ;\n".join(lines) + " .\n\n")

    def node(self, n: Node) -> None:
        lines = [f"{self.node_term(n.id)} a kgdx:{n.type}"]
        if "name" in n.props:
            lines.append(f"    rdfs:label {self.value(n.props['name'])}")
        self.block(lines, _ordered(n.props, self.schema.node_types[n.type].properties))

    def edge(self, e: Edge) -> None:
        s, d = self.node_term(e.src), self.node_term(e.dst)
        self.out.write(f"{s} kgdx:{e.type} {d} .\n")
        lines = [
            f"<{_check_iri(edge_iri(e))}> a rdf:Statement",
            f"    rdf:subject {s}",
            f"    rdf:predicate kgdx:{e.type}",
            f"    rdf:object {d}",
        ]
        self.block(lines, _ordered(e.props, self.schema.relationship_types[e.type].properties))


def to_rdf(store: KGStore, path: str | Path, format: str = "turtle") -> Path:
    """Write the KG as RDF.

    Args:
        store: Any KG store.
        path: The output file; written to a temporary sibling and moved into place at the end.
        format: ``turtle`` (streamed) or any rdflib serializer name (``xml``, ``nt``,
            ``json-ld`` …, built in memory).

    Returns:
        The path written.

    Raises:
        SchemaError: if a node type's id prefix has no IRI base in the schema's ``prefixes``,
            naming the prefix (checked before anything is written).
    """
    schema = store.schema
    check_prefixes(schema)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        if format in ("turtle", "ttl"):
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out:
                w = _TurtleWriter(out, schema)
                w.header()
                nodes, edges = _sorted(store)
                for n in nodes:
                    w.node(n)
                for e in edges:
                    w.edge(e)
        else:
            os.close(fd)
            to_rdf_graph(store).serialize(destination=tmp, format=format, encoding="utf-8")
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes the file private; an export is not
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
