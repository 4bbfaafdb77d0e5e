"""Extending the KG with disease modules, and undoing it: the flow behind ``kgdx kg extend``,
``kgdx kg remove`` and ``kgdx kg modules``, and the front door's :func:`kgdx.extend_kg`.

A module is applied to the embedded KG (its snapshot is rewritten atomically, with the module
registry in the manifest), to Neo4j (the registry and schema live in the database), or to both.
:mod:`kgdx.kg.extend` does the work on one store; this module opens and saves the stores.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from kgdx.kg import extend as ext
from kgdx.kg.module import load_module

__all__ = ["extend_kg", "remove_module", "list_modules", "ModuleOutcome", "Target"]

Target = Literal["memory", "neo4j", "both"]


@dataclass
class ModuleOutcome:
    """What happened to one store: the plan, and what was applied or removed (``None``: nothing)."""

    store: str
    module: str
    version: str
    plan: ext.ModulePlan | None = None
    applied: ext.AppliedModule | None = None
    dry_run: bool = False

    def warnings(self) -> list[str]:
        """One line per disease the module adds that the KG already has under another id."""
        if self.plan is None:
            return []
        return [f"{self.store}: warning: {d.message()}" for d in self.plan.duplicates]

    def describe(self) -> str:
        """One line for the user."""
        name = f"{self.store}: {self.module} {self.version}"
        p = self.plan
        if self.dry_run and p is not None:
            if p.already_applied:
                return f"{name}: applied already; nothing would change"
            new_types = sorted(p.additions.node_types) + sorted(p.additions.relationship_types) if p.additions else []
            return (
                f"{name}: valid; would add {len(p.new_nodes)} nodes and {len(p.new_edges)} relationships, "
                f"change {len(p.previous_nodes)} nodes and {len(p.previous_edges)} relationships, "
                f"new types {new_types}"
            )
        if self.applied is None:
            return f"{name} is applied already; nothing changed"
        s = self.applied.summary()
        return (
            f"{self.store}: applied {self.module} {self.version}: {s['nodes_added']} nodes and "
            f"{s['edges_added']} relationships added, {s['nodes_changed']} nodes and "
            f"{s['edges_changed']} relationships changed; new types {s['new_types']}"
        )


class _Snapshot:
    """The embedded KG with its module registry; :meth:`save` writes both atomically."""

    def __init__(self) -> None:
        from kgdx.app.stores import ensure_snapshot
        from kgdx.kg.snapshot import load_snapshot, read_manifest

        self.path = ensure_snapshot()
        self.manifest = read_manifest(self.path)
        self.store = load_snapshot(self.path, validate=False)
        self.registry = ext.SnapshotRegistry(self.manifest)

    def save(self) -> None:
        from kgdx.kg.snapshot import save_snapshot

        keep = {k: v for k, v in self.manifest.items() if k not in ("counts", "schema")}
        save_snapshot(self.store, self.path, {**keep, self.registry.KEY: self.registry.state})


def _targets(store: Target) -> list[str]:
    if store not in ("memory", "neo4j", "both"):
        from kgdx.errors import ConfigError

        raise ConfigError(f"unknown store {store!r}; use 'memory', 'neo4j' or 'both'", field="store")
    return ["memory", "neo4j"] if store == "both" else [store]


def extend_kg(path: str | Path, *, store: Target = "memory", dry_run: bool = False) -> list[ModuleOutcome]:
    """Validate a disease module against the current schema and apply it to the embedded KG, to
    Neo4j or to both. A conflict is refused before anything is written; applying twice changes
    nothing; ``dry_run`` only reports what would change. A disease the module adds under a new
    id that the KG already has is a warning (``outcome.warnings()``), not a refusal.

    Raises:
        SchemaError: for a module that does not fit the schema, naming the file and key.
    """
    from kgdx.app.stores import SCHEMA_META_KEY, open_neo4j

    module = load_module(path)
    out = []
    for target in _targets(store):
        if target == "memory":
            snap = _Snapshot()
            kg_store, registry = snap.store, snap.registry
        else:
            kg_store = open_neo4j()
            registry = ext.MetaRegistry(kg_store)
        try:
            if dry_run:
                out.append(
                    ModuleOutcome(
                        target, module.name, module.version, ext.plan(kg_store, module, registry), dry_run=True
                    )
                )
                continue
            applied, plan = ext.apply(kg_store, module, registry)
            if applied is not None:
                if target == "memory":
                    snap.save()
                else:
                    kg_store.set_meta(SCHEMA_META_KEY, kg_store.schema.to_dict())
            out.append(ModuleOutcome(target, module.name, module.version, plan, applied))
        finally:
            if target == "neo4j":
                kg_store.close()
    return out


def remove_module(name: str, *, store: Target = "memory") -> list[ext.AppliedModule]:
    """Remove an applied module: exactly what it added goes, what it changed is restored."""
    from kgdx.app.stores import SCHEMA_META_KEY, open_neo4j

    gone = []
    for target in _targets(store):
        if target == "memory":
            snap = _Snapshot()
            gone.append(ext.remove(snap.store, name, snap.registry))
            snap.save()
        else:
            with open_neo4j() as neo:
                gone.append(ext.remove(neo, name, ext.MetaRegistry(neo)))
                neo.set_meta(SCHEMA_META_KEY, neo.schema.to_dict())
    return gone


def list_modules(store: Literal["memory", "neo4j"] = "memory") -> list[dict[str, Any]]:
    """The modules in the KG: those built into the default build, and those applied since."""
    from kgdx.app.stores import ensure_snapshot, open_neo4j
    from kgdx.kg.snapshot import read_manifest

    if store == "memory":
        manifest = read_manifest(ensure_snapshot())
        built_in = manifest.get("modules", [])
        applied = ext.SnapshotRegistry(manifest).load()["modules"]
    else:
        with open_neo4j() as neo:
            built_in = []
            applied = ext.MetaRegistry(neo).load()["modules"]
    rows = [{"name": m["name"], "version": m["version"], "how": "built in"} for m in built_in]
    rows += [{**ext.AppliedModule(**m).summary(), "how": "applied"} for m in applied]
    return rows
