"""Plain node and edge records, and their validation against a schema.

Adapters yield these records and never touch a store; stores accept only records that
:func:`validate_records` has checked, so a record that breaks the schema is refused before
anything is written.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from kgdx.errors import RecordError
from kgdx.kg.schema import PROVENANCE, Schema

__all__ = ["Node", "Edge", "Origin", "validate_node", "validate_edge", "validate_records", "edge_key"]


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a record was read from, so an error can name the file and line."""

    file: str | None = None
    line: int | None = None


@dataclass(slots=True)
class Node:
    """A node: its type (label), CURIE id and properties."""

    type: str
    id: str
    props: dict[str, Any] = field(default_factory=dict)
    origin: Origin | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if type(self.type) is not str:  # a NodeLabel: records hold plain names
            self.type = str(self.type)

    @property
    def name(self) -> str:
        return self.props.get("name", self.id)


@dataclass(slots=True)
class Edge:
    """A relationship from ``src`` to ``dst`` (node ids) with properties.

    ``props["source"]`` is the provenance every edge must carry; the endpoint types follow from
    the ids' prefixes.
    """

    type: str
    src: str
    dst: str
    props: dict[str, Any] = field(default_factory=dict)
    origin: Origin | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if type(self.type) is not str:  # a RelType: records hold plain names
            self.type = str(self.type)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.src, self.type, self.dst)


def edge_key(rel_type: str, src: str, dst: str, symmetric: bool) -> tuple[str, str, str]:
    """The identity of an edge: one per (src, type, dst), unordered for symmetric types."""
    if symmetric and dst < src:
        src, dst = dst, src
    return (src, rel_type, dst)


def _fail(msg: str, record: Node | Edge, field_: str | None = None) -> RecordError:
    o = record.origin or Origin()
    kind = "node" if isinstance(record, Node) else "edge"
    ident = record.id if isinstance(record, Node) else f"({record.src})-[{record.type}]->({record.dst})"
    return RecordError(f"{kind} {ident}: {msg}", record=record, file=o.file, line=o.line, field=field_)


def _props(specs: dict, props: dict[str, Any], record: Node | Edge, owner: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in props.items():
        if value is None:
            continue
        spec = specs.get(key)
        if spec is None:
            raise _fail(f"{owner} has no property {key!r} (known: {sorted(specs)})", record, key)
        try:
            out[key] = spec.coerce(value)
        except ValueError as e:
            raise _fail(f"{owner}.{key}: {e}", record, key) from None
    for key, spec in specs.items():
        if spec.required and key not in out:
            raise _fail(f"{owner} requires property {key!r}", record, key)
    return out


def validate_node(node: Node, schema: Schema) -> Node:
    """Return ``node`` with coerced properties, or raise :class:`RecordError` naming it."""
    nt = schema.node_types.get(node.type)
    if nt is None:
        raise _fail(f"unknown node type {node.type!r} (known: {sorted(schema.node_types)})", node, "type")
    if not isinstance(node.id, str) or not nt.id_regex.match(node.id):
        raise _fail(f"id does not match the {node.type} pattern {nt.id_pattern}", node, "id")
    return Node(node.type, node.id, _props(nt.properties, node.props, node, node.type), node.origin)


def validate_edge(edge: Edge, schema: Schema) -> Edge:
    """Return ``edge`` with coerced properties and canonical direction, or raise :class:`RecordError`.

    The endpoint types come from the ids' prefixes, so an edge between the wrong types, or to an
    id no node type claims, is refused here.
    """
    rt = schema.relationship_types.get(edge.type)
    if rt is None:
        raise _fail(f"unknown relationship type {edge.type!r}", edge, "type")
    ends = []
    for which, node_id in (("src", edge.src), ("dst", edge.dst)):
        try:
            nt = schema.node_type_of(node_id)
        except (KeyError, AttributeError):
            raise _fail(f"{which} {node_id!r} has no known id prefix", edge, which) from None
        if not nt.id_regex.match(node_id):
            raise _fail(f"{which} {node_id!r} does not match the {nt.label} pattern", edge, which)
        ends.append(nt.label)
    if tuple(ends) not in rt.pairs:
        raise _fail(f"{edge.type} cannot join {ends[0]} to {ends[1]} (allowed: {list(rt.pairs)})", edge, "type")
    if edge.src == edge.dst and (rt.hierarchy or rt.symmetric):
        raise _fail("a node cannot relate to itself", edge, "dst")
    src, _, dst = edge_key(edge.type, edge.src, edge.dst, rt.symmetric)
    props = _props(rt.properties, edge.props, edge, edge.type)
    if not props[PROVENANCE].strip():
        raise _fail("the provenance 'source' is empty", edge, PROVENANCE)
    return Edge(edge.type, src, dst, props, edge.origin)


def validate_records(records: Iterable[Node | Edge], schema: Schema) -> Iterator[Node | Edge]:
    """Validate each record in turn; the first bad one raises :class:`RecordError`."""
    for r in records:
        if isinstance(r, Node):
            yield validate_node(r, schema)
        elif isinstance(r, Edge):
            yield validate_edge(r, schema)
        else:
            raise RecordError(f"not a Node or Edge: {r!r}", record=r)
