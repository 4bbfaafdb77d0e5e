"""OBO-Graph JSON (``mondo.json``, ``doid.json``, ``chebi.json``) read into :class:`~kgdx.ingest.obo.OboTerm`.

The same terms come out as from the OBO flat-file parser, so everything downstream reads either
format. The mapping from the OBO-Graph layout:

========================================  =========================================
OBO-Graph                                 OboTerm
========================================  =========================================
``nodes[].id`` (IRI or CURIE)             ``id`` (OBO PURLs contracted: ``MONDO:0005180``)
``nodes[].lbl``                           ``name``
``meta.definition.val``                   ``definition``
``meta.synonyms[].val`` (``pred``)        ``synonyms`` (``exact_synonyms`` for hasExactSynonym)
``meta.xrefs[].val``                      ``xrefs``
``meta.deprecated``                       ``obsolete``
``meta.basicPropertyValues``              ``replaced_by`` (IAO:0100001), ``consider``,
                                          ``alt_ids`` (hasAlternativeId), the rest in
                                          ``tags["property_value"]`` as ``"skos:exactMatch X"``
``edges[]`` with ``pred`` is_a /          ``is_a`` of ``sub``; other predicates go to
``rdfs:subClassOf``                       ``tags["relationship"]`` as ``"pred obj"``
========================================  =========================================

Only ``CLASS`` nodes are terms (properties and individuals are skipped). A malformed element is
a :class:`~kgdx.errors.DataError` naming the file, its line and the field.

Example:
    >>> graph = read_obograph("mondo.json")  # doctest: +SKIP
    >>> graph.header["data-version"]  # doctest: +SKIP
    'http://purl.obolibrary.org/obo/mondo/releases/2024-01-03/mondo.owl'
    >>> contract_iri("http://purl.obolibrary.org/obo/MONDO_0005180")
    'MONDO:0005180'
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kgdx.errors import DataError
from kgdx.ingest._jsondoc import JsonDoc, JsonPath
from kgdx.ingest.obo import OboTerm

__all__ = ["OboGraph", "read_obograph", "read_obograph_terms", "read_obograph_header", "contract_iri"]

_OBO_PURL = re.compile(r"^https?://purl\.obolibrary\.org/obo/([A-Za-z][A-Za-z0-9]*)_([^/#]+)$")
_IDENTIFIERS = re.compile(r"^https?://identifiers\.org/([A-Za-z][A-Za-z0-9._]*)[/:]([^/#]+)$")
#: IRI bases that OBO ontologies use for non-OBO vocabularies, and their usual CURIE prefix.
_BASES = (
    ("http://www.geneontology.org/formats/oboInOwl#", "oboInOwl:"),
    ("http://www.w3.org/2004/02/skos/core#", "skos:"),
    ("http://www.w3.org/2000/01/rdf-schema#", "rdfs:"),
    ("http://www.w3.org/2002/07/owl#", "owl:"),
    ("http://purl.org/dc/elements/1.1/", "dc:"),
    ("http://purl.org/dc/terms/", "dcterms:"),
    ("http://www.orpha.net/ORDO/Orphanet_", "Orphanet:"),
    ("https://omim.org/entry/", "OMIM:"),
    ("http://omim.org/entry/", "OMIM:"),
)
_IS_A = frozenset({"is_a", "rdfs:subClassOf", "http://www.w3.org/2000/01/rdf-schema#subClassOf"})
_REPLACED_BY = "IAO:0100001"
_CONSIDER = "oboInOwl:consider"
_ALT_ID = "oboInOwl:hasAlternativeId"
_NAMESPACE = "oboInOwl:hasOBONamespace"
_HEADER = {
    "owl:versionInfo": "version-info",
    "dc:title": "title",
    "dcterms:title": "title",
    "oboInOwl:date": "date",
    "dcterms:date": "date",
}


def contract_iri(iri: str) -> str:
    """An OBO PURL (or a well-known IRI) as a CURIE; anything else unchanged.

    ``http://purl.obolibrary.org/obo/MONDO_0005180`` → ``MONDO:0005180``,
    ``http://www.orpha.net/ORDO/Orphanet_2828`` → ``Orphanet:2828``,
    ``http://identifiers.org/omim/168600`` → ``omim:168600``.
    """
    m = _OBO_PURL.match(iri)
    if m:
        return f"{m.group(1)}:{m.group(2)}"
    for base, prefix in _BASES:
        if iri.startswith(base) and len(iri) > len(base):
            return prefix + iri[len(base) :]
    m = _IDENTIFIERS.match(iri)
    if m:
        return f"{m.group(1)}:{m.group(2)}"
    return iri


@dataclass
class OboGraph:
    """The terms of an OBO-Graph document and its header (``ontology``, ``data-version`` …)."""

    header: dict[str, str] = field(default_factory=dict)
    terms: list[OboTerm] = field(default_factory=list)


class _Reader:
    def __init__(self, path: Path) -> None:
        self.doc = JsonDoc(path)
        self.path = path
        self.graph = OboGraph()
        self.saw_graphs = False
        self.by_id: dict[str, OboTerm] = {}

    def fail(self, message: str, line: int, field_: str | None = None) -> DataError:
        return DataError(message, file=self.path, line=line, field=field_)

    def descend(self, path: JsonPath) -> str | None:
        n = len(path)
        if n == 0:
            return "{"
        if path[0] != "graphs":
            return None
        self.saw_graphs = True
        if n == 1:
            return "["
        if n == 2:
            return "{"
        if n == 3 and path[2] in ("nodes", "edges"):
            return "["
        return None

    def read(self) -> OboGraph:
        edges: list[tuple[str, str, str, int]] = []
        for path, value, line in self.doc.walk(self.descend):
            if len(path) == 4 and path[2] == "nodes":
                self.node(value, line)
            elif len(path) == 4 and path[2] == "edges":
                edges.append(self.edge(value, line))
            elif len(path) == 3 and path[2] == "id" and isinstance(value, str):
                self.graph.header.setdefault("ontology", value)
            elif len(path) == 3 and path[2] == "meta":
                self.header(value, line)
        if not self.saw_graphs:
            raise DataError("not an OBO-Graph JSON document: no 'graphs' list", file=self.path, line=1)
        for sub, pred, obj, _ in edges:
            term = self.by_id.get(contract_iri(sub))
            if term is None:
                continue  # an axiom about a property or an external class
            if pred in _IS_A:
                term.is_a.append(contract_iri(obj))
            else:
                term.tags.setdefault("relationship", []).append(f"{contract_iri(pred)} {contract_iri(obj)}")
        return self.graph

    # -- elements --------------------------------------------------------------------------------

    def header(self, meta: Any, line: int) -> None:
        if not isinstance(meta, dict):
            raise self.fail("a graph's 'meta' must be an object", line, "meta")
        if isinstance(meta.get("version"), str):
            self.graph.header.setdefault("data-version", meta["version"])
        for pred, val in self.property_values(meta, line):
            key = _HEADER.get(pred)
            if key is not None and isinstance(val, str):
                self.graph.header.setdefault(key, val)

    def property_values(self, meta: dict, line: int) -> Iterator[tuple[str, Any]]:
        for i, pv in enumerate(self.items(meta, "basicPropertyValues", line)):
            if not isinstance(pv, dict) or not isinstance(pv.get("pred"), str) or "val" not in pv:
                raise self.fail("a property value needs 'pred' and 'val'", line, f"meta.basicPropertyValues[{i}]")
            yield contract_iri(pv["pred"]), pv["val"]

    def items(self, meta: dict, key: str, line: int) -> list:
        value = meta.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.fail(f"'meta.{key}' must be a list", line, f"meta.{key}")
        return value

    def text(self, value: Any, line: int, where: str) -> str:
        if isinstance(value, dict):
            value = value.get("val")
        if not isinstance(value, str):
            raise self.fail(f"expected a string value, got {value!r}"[:120], line, where)
        return value

    def node(self, node: Any, line: int) -> None:
        if not isinstance(node, dict):
            raise self.fail("a node must be an object", line)
        node_id = node.get("id")
        if not isinstance(node_id, str) or not node_id:
            raise self.fail("a node needs a string 'id'", line, "id")
        kind = node.get("type")
        meta = node.get("meta") or {}
        if not isinstance(meta, dict):
            raise self.fail("a node's 'meta' must be an object", line, "meta")
        if kind is not None and kind != "CLASS":
            return
        if kind is None and "lbl" not in node and not meta:
            return  # a bare reference to an external class
        term = OboTerm(id=contract_iri(node_id), line=line)
        if node.get("lbl") is not None:
            term.name = self.text(node["lbl"], line, "lbl")
        definition = meta.get("definition")
        if definition is not None:
            if not isinstance(definition, dict):
                raise self.fail("'meta.definition' must be an object", line, "meta.definition")
            if definition.get("val") is not None:
                term.definition = self.text(definition["val"], line, "meta.definition.val")
        for i, syn in enumerate(self.items(meta, "synonyms", line)):
            text = self.text(syn, line, f"meta.synonyms[{i}]")
            term.synonyms.append(text)
            if isinstance(syn, dict) and str(syn.get("pred", "")).endswith("hasExactSynonym"):
                term.exact_synonyms.append(text)
        for i, xref in enumerate(self.items(meta, "xrefs", line)):
            term.xrefs.append(self.text(xref, line, f"meta.xrefs[{i}]"))
        deprecated = meta.get("deprecated", False)
        if not isinstance(deprecated, bool):
            raise self.fail(f"'meta.deprecated' must be true or false, got {deprecated!r}", line, "meta.deprecated")
        term.obsolete = deprecated
        for key in ("subsets", "comments"):
            for i, v in enumerate(self.items(meta, key, line)):
                term.tags.setdefault(key[:-1], []).append(self.text(v, line, f"meta.{key}[{i}]"))
        for pred, val in self.property_values(meta, line):
            val = contract_iri(val) if isinstance(val, str) else val
            if pred == _REPLACED_BY:
                term.replaced_by.append(str(val))
            elif pred == _CONSIDER:
                term.consider.append(str(val))
            elif pred == _ALT_ID:
                term.alt_ids.append(str(val))
            elif pred == _NAMESPACE:
                term.tags.setdefault("namespace", []).append(str(val))
            else:
                term.tags.setdefault("property_value", []).append(f"{pred} {val}")
        self.add(term)

    def add(self, term: OboTerm) -> None:
        prev = self.by_id.get(term.id)
        if prev is None:
            self.by_id[term.id] = term
            self.graph.terms.append(term)
            return
        prev.merge(term)  # the same class in two graphs (or twice)

    def edge(self, edge: Any, line: int) -> tuple[str, str, str, int]:
        if not isinstance(edge, dict):
            raise self.fail("an edge must be an object", line)
        for key in ("sub", "pred", "obj"):
            if not isinstance(edge.get(key), str) or not edge[key]:
                raise self.fail(f"an edge needs a string '{key}'", line, key)
        return edge["sub"], edge["pred"], edge["obj"], line


def read_obograph(path: str | Path) -> OboGraph:
    """Read an OBO-Graph JSON file: every class (obsolete ones included) and the header.

    The header has ``ontology`` (the graph id), ``data-version`` (``meta.version``) and, when
    present, ``version-info``, ``title`` and ``date``.

    Raises:
        DataError: for invalid JSON or a malformed node or edge, naming the file, line and field.
    """
    return _Reader(Path(path)).read()


def read_obograph_terms(path: str | Path) -> Iterator[OboTerm]:
    """Yield each class of an OBO-Graph JSON file as an :class:`~kgdx.ingest.obo.OboTerm`."""
    yield from read_obograph(path).terms


def read_obograph_header(path: str | Path) -> dict[str, str]:
    """The header of an OBO-Graph JSON file (it reads the whole file; use :func:`read_obograph`
    to get terms and header in one pass)."""
    return read_obograph(path).header
