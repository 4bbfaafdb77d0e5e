"""Hetionet-style JSON (the ``hetionet-v1.0.json`` layout) mapped to the kgdx schema.

The document has ``nodes`` and ``edges`` lists (plus metagraph keys that are not needed here)::

    {"nodes": [{"kind": "Disease", "identifier": "DOID:0050156", "name": "idiopathic pulmonary
                fibrosis", "data": {"source": "Disease Ontology", ...}}, ...],
     "edges": [{"source_id": ["Compound", "DB00563"], "target_id": ["Disease", "DOID:0050156"],
                "kind": "treats", "direction": "both", "data": {"source": "PharmacotherapyDB"}}]}

The bundled mapping (``ingest/mappings/hetionet.yaml``) says which kinds become which of our
types. An edge is kept when its kind is mapped and both ends map; its ``source`` names Hetionet,
the edge kind and Hetionet's own sources, e.g. ``Hetionet v1.0 treats (PharmacotherapyDB)``.
``.json.bz2`` and ``.json.gz`` files are read directly.

A malformed node or edge (a missing key, an edge to a node the file does not list, an id that
does not fit its mapped type) is a :class:`~kgdx.errors.DataError` naming the file, line and
field; with ``strict=False`` it is skipped and counted.

Example:
    >>> het = read_hetionet("hetionet-v1.0.json.bz2")  # doctest: +SKIP
    >>> het.report.records["TREATS"]  # doctest: +SKIP
    755
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kgdx.errors import DataError
from kgdx.ingest._jsondoc import JsonDoc, JsonPath
from kgdx.ingest._mapping import SourceMapping, bundled_mapping, check_rules, load_mapping
from kgdx.ingest._result import SourceRecords
from kgdx.ingest.report import SourceReport
from kgdx.kg.records import Edge, Node, Origin, edge_key
from kgdx.kg.schema import Schema, core_schema

__all__ = ["HetionetMapping", "read_hetionet", "load_hetionet_mapping"]

_VERSION = re.compile(r"v(\d+(?:\.\d+)*)")


class HetionetMapping(SourceMapping):
    """A Hetionet mapping file: node rules keyed by node ``kind``, relation rules by edge ``kind``."""

    name: str = "Hetionet"


def load_hetionet_mapping(path: str | Path | None = None, schema: Schema | None = None) -> HetionetMapping:
    """Read and check a Hetionet mapping file (default: the bundled ``hetionet.yaml``).

    Raises:
        SchemaError: for a rule the schema does not allow, naming the file and key.
    """
    path = Path(path) if path is not None else bundled_mapping("hetionet")
    mapping = load_mapping(path, HetionetMapping)
    check_rules(mapping.nodes, mapping.relations, schema or core_schema(), path)
    return mapping


@dataclass
class _Context:
    path: Path
    mapping: HetionetMapping
    schema: Schema
    tables: dict[str, dict[str, str]]
    report: SourceReport
    bad: Callable[..., None]
    nodes: dict[str, Node] = field(default_factory=dict)
    known: dict[tuple[str, str], str | None] = field(default_factory=dict)  # (kind, identifier) -> our id


def read_hetionet(
    path: str | Path,
    mapping: HetionetMapping | str | Path | None = None,
    *,
    schema: Schema | None = None,
    id_maps: Mapping[str, Mapping[str, str]] | None = None,
    strict: bool = True,
    version: str | None = None,
) -> SourceRecords:
    """Read a Hetionet-style JSON file.

    Args:
        path: The JSON file (``.bz2``/``.gz``/``.xz`` are decompressed).
        mapping: A mapping, or the path of a mapping file (default: the bundled one).
        schema: The schema records must meet (default: core).
        id_maps: For ``lookup`` kinds: kind → {Hetionet identifier → our CURIE}, e.g.
            ``{"Symptom": {"D005334": "HP:0001945"}}``.
        strict: Raise on a malformed node or edge; ``False`` skips and counts it.
        version: The Hetionet release for provenance (default: from the file name, ``v1.0``).

    Raises:
        DataError: for invalid JSON or (strict) a malformed element, naming the file and line.
        SchemaError: for a bad mapping file.
    """
    schema = schema or core_schema()
    if not isinstance(mapping, HetionetMapping):
        mapping = load_hetionet_mapping(mapping, schema)
    path = Path(path)
    if version is None:
        m = _VERSION.search(path.name)
        version = f"v{m.group(1)}" if m else None
    label = f"{mapping.name} {version}" if version else mapping.name
    doc = JsonDoc(path)
    report = SourceReport(f"{label} ({path.name})", version=version)
    report.add_file(path)
    tables = {k: dict(v) for k, v in (id_maps or {}).items()}

    def bad(reason: str, line: int, field_: str | None = None) -> None:
        if strict:
            raise DataError(reason, file=path, line=line, field=field_)
        report.skip(reason.split(":")[0], f"{path}:{line}")

    ctx = _Context(path, mapping, schema, tables, report, bad)
    known = ctx.known
    pending: list[tuple[dict, int]] = []
    saw: set[str] = set()

    def descend(where: JsonPath) -> str | None:
        if where == ():
            return "{"
        if where in (("nodes",), ("edges",)):
            saw.add(str(where[0]))
            return "["
        return None

    for where, value, line in doc.walk(descend):
        if len(where) == 2 and where[0] == "nodes":
            _node(value, line, ctx)
        elif len(where) == 2 and where[0] == "edges":
            edge = _edge_shape(value, line, bad)
            if edge is None:
                continue
            rel = mapping.relations.get(edge["kind"])
            if rel is None:
                report.skipped[f"relation not mapped: {edge['kind']}"] += 1
            elif rel.to is None:
                report.skipped[f"relation skipped: {edge['kind']} ({rel.skip})"] += 1
            else:
                pending.append((edge, line))  # resolved once every node has been seen
    if "nodes" not in saw:
        raise DataError("not a Hetionet JSON document: no 'nodes' list", file=path, line=1)

    edges: dict[tuple[str, str, str], Edge] = {}
    for edge, line in pending:
        rel = mapping.relations[edge["kind"]]
        ends = []
        for key in ("source_id", "target_id"):
            kind, ident = edge[key]
            ref = (kind, str(ident))
            if ref not in known:
                bad(f"edge end not among the nodes: {key} {kind} {ident!r}", line, key)
                break
            ends.append((known[ref], kind))
        if len(ends) < 2:
            continue
        (a, ak), (b, bk) = ends
        if a is None or b is None:
            report.skipped["edge to an unmapped node"] += 1
            continue
        if ak == rel.src and bk == rel.dst:
            s, d = a, b
        elif ak == rel.dst and bk == rel.src:
            s, d = b, a
        else:
            report.skipped[f"{edge['kind']} between unexpected kinds {ak}, {bk}"] += 1
            continue
        if rel.src == rel.dst and rel.parent in ("source", "x"):
            s, d = d, s  # IS_A points from the child to the parent
        rt = schema.relationship_types[rel.to]
        if s == d and (rt.symmetric or rt.hierarchy):
            report.skipped["self-loop"] += 1
            continue
        k = edge_key(rel.to, s, d, rt.symmetric)
        if k in edges:
            report.skipped["duplicate edge"] += 1
            continue
        sources = _sources(edge.get("data"))
        provenance = f"{label} {edge['kind']}" + (f" ({', '.join(sources)})" if sources else "")
        edges[k] = Edge(rel.to, k[0], k[2], {**rel.props, "source": provenance}, Origin(str(path), line))

    return SourceRecords.collect(ctx.nodes.values(), edges.values(), report)


def _node(value: Any, line: int, ctx: _Context) -> None:
    if not isinstance(value, dict):
        ctx.bad("a node must be an object", line)
        return
    kind, ident, name = value.get("kind"), value.get("identifier"), value.get("name")
    if not isinstance(kind, str) or not kind:
        ctx.bad("a node needs a string 'kind'", line, "kind")
        return
    if isinstance(ident, bool) or not isinstance(ident, (str, int)) or ident == "":
        ctx.bad("a node needs an 'identifier' (string or integer)", line, "identifier")
        return
    if not isinstance(name, str):
        ctx.bad("a node needs a string 'name'", line, "name")
        return
    ref = (kind, str(ident))
    rule = ctx.mapping.nodes.get(kind)
    if rule is None:
        ctx.report.skipped[f"node kind not mapped: {kind}"] += 1
        ctx.known[ref] = None
        return
    curie = rule.convert(str(ident), ctx.schema, ctx.tables.get(kind))
    if curie is None:
        if rule.lookup:
            ctx.report.skipped[f"{kind} id not in the id map"] += 1
        else:
            ctx.bad(f"bad {kind} identifier: {ident!r}", line, "identifier")
        ctx.known[ref] = None  # lenient: its edges are counted as edges to an unmapped node
        return
    ctx.known[ref] = curie
    if rule.emits and curie not in ctx.nodes:
        ctx.nodes[curie] = rule.node(curie, name, Origin(str(ctx.path), line))


def _edge_shape(value: Any, line: int, bad: Callable[..., None]) -> dict | None:
    if not isinstance(value, dict):
        bad("an edge must be an object", line)
        return None
    if not isinstance(value.get("kind"), str) or not value["kind"]:
        bad("an edge needs a string 'kind'", line, "kind")
        return None
    for key in ("source_id", "target_id"):
        ref = value.get(key)
        if (
            not isinstance(ref, list)
            or len(ref) != 2
            or not isinstance(ref[0], str)
            or isinstance(ref[1], bool)
            or not isinstance(ref[1], (str, int))
        ):
            bad(f"'{key}' must be [kind, identifier]", line, key)
            return None
    return value


def _sources(data: Any) -> list[str]:
    if not isinstance(data, dict):
        return []
    out = []
    for key in ("source", "sources"):
        v = data.get(key)
        if isinstance(v, str) and v:
            out.append(v)
        elif isinstance(v, list):
            out.extend(s for s in v if isinstance(s, str) and s)
    return list(dict.fromkeys(out))
