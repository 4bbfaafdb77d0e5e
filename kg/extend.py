"""Applying and removing disease modules on a store, exactly and idempotently.

:func:`plan` validates a module against the store's current schema and data without writing:
its schema additions must merge (a type redefined differently, a relationship to an unknown type
or an id-prefix clash is refused, named), and every record must validate against the merged
schema and point at nodes that exist. :func:`apply` then migrates the store (constraints and
indexes for new types) and writes, recording in a registry exactly what the module added and the
previous properties of anything it changed, so :func:`remove` can undo exactly that. Applying
the same module twice changes nothing.

A module that adds a ``Disease`` under a new id which the KG already has under another is not
refused, but the plan names it (:class:`DuplicateDisease`, with the module file and line): by the
module's own xrefs, by an existing node's xrefs (the build gives HPO diseases their MONDO id), or
by an exact normalised name. Where the xrefs are one-to-one (:mod:`kgdx.kg.equivalence`), the
plan also links the two by ``EQUIVALENT_TO``, recorded as the module's, so removing the module
removes the link; a name alone never links.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from kgdx.errors import SchemaError
from kgdx.kg.equivalence import EquivalenceMapping, one_to_one_xrefs, resolve, vocabulary
from kgdx.kg.module import Module
from kgdx.kg.records import Edge, Node
from kgdx.kg.schema import Schema
from kgdx.kg.store import KGStore, normalise
from kgdx.kg.vocab import NodeLabel, RelType

__all__ = [
    "AppliedModule",
    "DuplicateDisease",
    "ModulePlan",
    "Registry",
    "SnapshotRegistry",
    "MetaRegistry",
    "plan",
    "apply",
    "remove",
    "module_digest",
]


@dataclass
class AppliedModule:
    """What one applied module added, and what it changed, in a store."""

    name: str
    version: str
    digest: str
    schema: dict[str, Any] | None
    nodes: list[str] = field(default_factory=list)
    edges: list[list[str]] = field(default_factory=list)
    previous_nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    previous_edges: list[dict[str, Any]] = field(default_factory=list)
    applied_at: str = ""

    def summary(self) -> dict[str, Any]:
        types = sorted((self.schema or {}).get("node_types", {})) + sorted(
            (self.schema or {}).get("relationship_types", {})
        )
        return {
            "name": self.name,
            "version": self.version,
            "digest": self.digest[:12],
            "new_types": types,
            "nodes_added": len(self.nodes),
            "edges_added": len(self.edges),
            "nodes_changed": len(self.previous_nodes),
            "edges_changed": len(self.previous_edges),
            "applied_at": self.applied_at,
        }


class Registry(Protocol):
    """Where a store keeps its applied modules and the schema they were applied to."""

    def load(self) -> dict[str, Any]: ...

    def save(self, state: dict[str, Any]) -> None: ...


class SnapshotRegistry:
    """The registry of an in-memory KG, kept in its snapshot's manifest.

    :meth:`save` only updates :attr:`state`; the caller writes it with the snapshot
    (``manifest["module_registry"]``), so KG and registry are replaced together, atomically.
    """

    KEY = "module_registry"

    def __init__(self, manifest: dict[str, Any]) -> None:
        self.state = manifest.get(self.KEY) or {"base_schema": None, "modules": []}

    def load(self) -> dict[str, Any]:
        return json.loads(json.dumps(self.state))

    def save(self, state: dict[str, Any]) -> None:
        self.state = state


class MetaRegistry:
    """A registry kept in the database itself (Neo4j ``KgdxMeta`` nodes)."""

    KEY = "modules"

    def __init__(self, store: Any) -> None:
        self.store = store

    def load(self) -> dict[str, Any]:
        return self.store.get_meta(self.KEY) or {"base_schema": None, "modules": []}

    def save(self, state: dict[str, Any]) -> None:
        self.store.set_meta(self.KEY, state)


def module_digest(module: Module) -> str:
    """A hash of the module's manifest, schema and data files: same digest, same module."""
    h = hashlib.sha256()
    files = [module.root / "module.yaml"] + ([module.root / module.schema_file] if module.schema_file else [])
    for f in files + module.data_files():
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()


@dataclass
class DuplicateDisease:
    """A disease the module adds under a new id that the KG already has under another id.

    Attributes:
        node_id, name: The module's new node.
        file, line: Where the module defines it.
        existing: The KG ids of the same disease (with their equivalence classes), sorted.
        reasons: How each was found, e.g. ``the module's xref ORPHA:683``.
        linked: The existing ids the plan links to the new node by ``EQUIVALENT_TO``.
    """

    node_id: str
    name: str
    file: str | None
    line: int | None
    existing: list[str]
    reasons: list[str]
    linked: list[str] = field(default_factory=list)

    def message(self) -> str:
        """One warning line for the user."""
        where = f"{self.file}:{self.line}: " if self.file else ""
        head = (
            f"{where}disease {self.node_id} ({self.name}) is new, but the KG already has it as "
            f"{', '.join(self.existing)} ({'; '.join(self.reasons)})"
        )
        if self.linked:
            return f"{head}; linked to {', '.join(self.linked)} by EQUIVALENT_TO"
        return f"{head}; not linked: if it is the same disease, use the existing id or give it an xref to it"


@dataclass
class ModulePlan:
    """A validated module, ready to apply: the merged schema and the records, with what is new."""

    module: Module
    digest: str
    schema: Schema
    additions: Schema | None
    nodes: list[Node]
    edges: list[Edge]
    new_nodes: list[str]
    new_edges: list[tuple[str, str, str]]
    previous_nodes: dict[str, dict[str, Any]]
    previous_edges: list[dict[str, Any]]
    already_applied: bool = False
    duplicates: list[DuplicateDisease] = field(default_factory=list)


def _existing_edge(store: KGStore, key: tuple[str, str, str]) -> Edge | None:
    src, rel, dst = key
    for nb in store.neighbours(src, rel_types=[rel], direction="out"):
        if nb.edge.dst == dst:
            return nb.edge
    return None


def plan(store: KGStore, module: Module, registry: Registry) -> ModulePlan:
    """Validate ``module`` against ``store`` without writing anything.

    Raises:
        SchemaError: if its schema conflicts with the store's, or a different version of it is
            applied already.
        RecordError: if a record breaks the merged schema or points at a missing node.
    """
    digest = module_digest(module)
    state = registry.load()
    for m in state["modules"]:
        if m["name"] == module.name:
            if m["digest"] == digest:
                return ModulePlan(module, digest, store.schema, None, [], [], [], [], {}, [], already_applied=True)
            raise SchemaError(
                f"module {module.name!r} version {m['version']} is applied already with other content; "
                f"remove it first (kgdx kg remove {module.name})"
            )
    additions = module.schema_additions()
    merged = store.schema.merge(additions) if additions is not None else store.schema
    nodes, edges = store.prepare(module.records(), schema=merged)
    existing = store.existing_ids({n.id for n in nodes} | {i for e in edges for i in (e.src, e.dst)})
    duplicates, links = _duplicate_diseases(store, module, nodes, edges, existing, merged)
    edges = edges + links
    previous_nodes = {n.id: store.node(n.id).props for n in nodes if n.id in existing}
    new_edges, previous_edges = [], []
    for e in edges:
        # An edge can only be there already if both its ends were.
        old = _existing_edge(store, e.key) if e.src in existing and e.dst in existing else None
        if old is None:
            new_edges.append(e.key)
        else:
            previous_edges.append({"key": list(e.key), "props": old.props})
    return ModulePlan(
        module,
        digest,
        merged,
        additions,
        nodes,
        edges,
        [n.id for n in nodes if n.id not in existing],
        new_edges,
        previous_nodes,
        previous_edges,
        duplicates=duplicates,
    )


def _duplicate_diseases(
    store: KGStore, module: Module, nodes: list[Node], edges: list[Edge], existing: set[str], schema: Schema
) -> tuple[list[DuplicateDisease], list[Edge]]:
    """The module's new diseases that the KG already has, and the ``EQUIVALENT_TO`` edges that
    link those whose xrefs are one-to-one."""
    new = [n for n in nodes if n.type == NodeLabel.DISEASE and n.id not in existing]
    if not new:
        return [], []
    module_ids = {n.id for n in nodes}
    kg_diseases: set[str] = set()
    holders: dict[str, list[str]] = {}
    by_name: dict[str, list[str]] = {}
    for d in store.iter_nodes(NodeLabel.DISEASE):
        kg_diseases.add(d.id)
        for x in d.props.get("xrefs") or ():
            holders.setdefault(x, []).append(d.id)
        for text in (d.props.get("name"), *(d.props.get("synonyms") or ())):
            if text:
                by_name.setdefault(normalise(text), []).append(d.id)
    source = f"module {module.name} {module.version} xrefs"
    mappings = list(one_to_one_xrefs(new, known=kg_diseases | module_ids, source=source, kind="module xref").mappings)
    found: dict[str, dict[str, list[str]]] = {}
    for n in new:
        hits: dict[str, list[str]] = {}
        for x in n.props.get("xrefs") or ():
            if x in kg_diseases:
                hits.setdefault(x, []).append(f"the module's xref {x}")
        listed = sorted(holders.get(n.id, ()))
        for h in listed:
            hits.setdefault(h, []).append(f"{h} lists {n.id} in its xrefs")
        per_vocab: dict[str, list[str]] = {}
        for h in listed:
            per_vocab.setdefault(vocabulary(h), []).append(h)
        mappings += [
            EquivalenceMapping(hs[0], n.id, f"KG xrefs ({hs[0]} lists {n.id})", "KG xref", None, n.origin)
            for hs in per_vocab.values()
            if len(hs) == 1
        ]
        for h in sorted(set(by_name.get(normalise(n.props.get("name", "")), ())) - module_ids):
            hits.setdefault(h, []).append(f"same name as {h}")
        if hits:
            found[n.id] = hits
    declared = [e for e in edges if e.type == RelType.EQUIVALENT_TO]
    links = []
    if RelType.EQUIVALENT_TO in schema.relationship_types:  # a KG built before the type existed
        links = resolve(mappings, existing=[*store.iter_edges(RelType.EQUIVALENT_TO), *declared]).edges
    linked: dict[str, set[str]] = {}
    for e in links:
        for a, b in ((e.src, e.dst), (e.dst, e.src)):
            linked.setdefault(a, set()).add(b)
    out = []
    for n in new:
        hits = found.get(n.id)
        if not hits:
            continue
        members = {m.id for h in hits for m in store.equivalence_class(h)}
        reasons = [r for h in sorted(hits) for r in hits[h]]
        o = n.origin
        out.append(
            DuplicateDisease(
                n.id,
                n.props.get("name", ""),
                o.file if o else None,
                o.line if o else None,
                sorted(members),
                reasons,
                sorted(linked.get(n.id, set()) & kg_diseases),
            )
        )
    return out, links


def apply(store: KGStore, module: Module, registry: Registry) -> tuple[AppliedModule | None, ModulePlan]:
    """Validate, migrate and write ``module``; record it. Returns ``(None, plan)`` if it was applied already."""
    p = plan(store, module, registry)
    if p.already_applied:
        return None, p
    state = registry.load()
    if state.get("base_schema") is None:
        state["base_schema"] = store.schema.to_dict()
    if p.additions is not None:
        store.migrate(p.schema)
    store.write([*p.nodes, *p.edges])
    applied = AppliedModule(
        module.name,
        module.version,
        p.digest,
        p.additions.to_dict() if p.additions is not None else None,
        p.new_nodes,
        [list(k) for k in p.new_edges],
        p.previous_nodes,
        p.previous_edges,
        datetime.now(UTC).isoformat(timespec="seconds"),
    )
    state["modules"].append(asdict(applied))
    registry.save(state)
    return applied, p


def remove(store: KGStore, name: str, registry: Registry) -> AppliedModule:
    """Undo exactly what module ``name`` did: delete what it added, restore what it changed.

    Raises:
        SchemaError: if the module is not applied, or a module applied after it uses its types.
    """
    state = registry.load()
    names = [m["name"] for m in state["modules"]]
    if name not in names:
        raise SchemaError(f"module {name!r} is not applied (applied: {names or 'none'})")
    i = names.index(name)
    gone = AppliedModule(**state["modules"][i])
    later = [AppliedModule(**m) for m in state["modules"][i + 1 :]]
    schema = Schema.from_dict(state["base_schema"])
    for m in [AppliedModule(**m) for m in state["modules"][:i]] + later:
        if m.schema:
            schema = schema.merge(Schema.from_dict(m.schema, partial=True))
    store.delete(node_ids=gone.nodes, edge_keys=[tuple(k) for k in gone.edges])
    # Records the module changed get exactly their old properties back.
    for node_id, props in gone.previous_nodes.items():
        store.replace_properties(node_id, props)
    if gone.previous_edges:
        store.delete(edge_keys=[tuple(e["key"]) for e in gone.previous_edges])
        store.write([Edge(e["key"][1], e["key"][0], e["key"][2], e["props"]) for e in gone.previous_edges])
    store.migrate(schema)
    state["modules"].pop(i)
    registry.save(state)
    return gone
