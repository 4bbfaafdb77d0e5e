"""Open the store the settings point at (the embedded snapshot or the Neo4j server), and load a
snapshot into Neo4j.

The embedded default needs a built KG; when there is none yet, :func:`open_store` builds it once
(about 20 s) so the first command a new user runs just works.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from kgdx.errors import ConfigError
from kgdx.settings import get_settings

if TYPE_CHECKING:  # the store modules load on use, so `kgdx --help` stays fast
    from kgdx.kg.memory_store import MemoryStore
    from kgdx.kg.schema import Schema
    from kgdx.kg.store import KGStore, WriteReport
    from kgdx.settings import Settings

__all__ = ["open_store", "open_memory", "open_neo4j", "ensure_snapshot", "load_kg"]

StoreKind = Literal["memory", "neo4j"]

#: Key under which the Neo4j store keeps the schema (core + applied modules) it was loaded with.
SCHEMA_META_KEY = "schema"


def ensure_snapshot(path: Path | None = None, *, settings: Settings | None = None, quiet: bool = False) -> Path:
    """The snapshot folder, built first if it does not exist yet."""
    settings = settings or get_settings()
    path = Path(path) if path else settings.kg_dir
    if not (path / "manifest.json").is_file():
        from kgdx.app.build import build_default_kg

        if not quiet:
            print(f"kgdx: no KG at {path} yet; building the default KG once (about 20 s)…", file=sys.stderr)
        build_default_kg(path, progress=not quiet)
    return path


def open_memory(path: Path | None = None, *, settings: Settings | None = None, quiet: bool = False) -> MemoryStore:
    """The embedded KG from its snapshot (built on first use)."""
    from kgdx.kg.snapshot import load_snapshot

    return load_snapshot(ensure_snapshot(path, settings=settings, quiet=quiet), validate=False)


def open_neo4j(schema: Schema | None = None, *, settings: Settings | None = None):  # noqa: ANN201 - Neo4jStore
    """A store on the configured Neo4j; its schema is the one recorded at load time, else the core."""
    from kgdx.kg.neo4j_store import Neo4jStore
    from kgdx.kg.schema import Schema, core_schema

    settings = settings or get_settings()
    store = Neo4jStore.from_settings(schema or core_schema(), settings)
    if schema is None:
        recorded = store.get_meta(SCHEMA_META_KEY)
        if recorded:
            store.adopt_schema(Schema.from_dict(recorded))
    warning = store.incomplete_load_warning()
    if warning:
        print(f"kgdx: warning: {warning}", file=sys.stderr)
    return store


def open_store(kind: StoreKind | None = None, *, settings: Settings | None = None, quiet: bool = False) -> KGStore:
    """The store of the given kind, or of ``KGDX_STORE`` (default ``memory``)."""
    settings = settings or get_settings()
    kind = kind or settings.store
    if kind == "memory":
        return open_memory(settings=settings, quiet=quiet)
    if kind == "neo4j":
        return open_neo4j(settings=settings)
    raise ConfigError(f"unknown store {kind!r}; use 'memory' or 'neo4j'")


def load_kg(
    snapshot: Path | None = None,
    *,
    clear: bool = False,
    batch_size: int | None = None,
    progress: bool = True,
    settings: Settings | None = None,
) -> WriteReport:
    """Load a KG snapshot (default: the built default KG) into Neo4j: constraints, indexes, then
    batched MERGEs, with the schema, the snapshot and its modules recorded in the database.

    Loading is idempotent: loading twice, or again after an interrupted load, gives exact counts
    with no duplicates. ``clear`` deletes every KG node first.
    """
    import time

    from kgdx.kg.extend import MetaRegistry, SnapshotRegistry
    from kgdx.kg.neo4j_store import LOAD_STATE_KEY, Neo4jStore
    from kgdx.kg.snapshot import load_snapshot, read_manifest

    settings = settings or get_settings()
    path = ensure_snapshot(snapshot, settings=settings, quiet=not progress)
    mem = load_snapshot(path, validate=False)
    manifest = read_manifest(path)
    with Neo4jStore.from_settings(mem.schema, settings) as neo:
        if batch_size:
            neo.batch_size = batch_size
        # Marked before anything changes and cleared only at the end: a load that is interrupted,
        # killed or fails leaves "loading", and every reader of the database says so.
        started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        neo.set_meta(LOAD_STATE_KEY, {"state": "loading", "started_at": started, "snapshot": str(path)})
        if clear:
            if progress:
                print("clearing the database…", file=sys.stderr)
            neo.clear()
        neo.ensure_schema()
        report = neo.write([*mem.iter_nodes(), *mem.iter_edges()], progress=progress)
        neo.set_meta(SCHEMA_META_KEY, mem.schema.to_dict())
        neo.set_meta("snapshot", {"path": str(path), "built_at": manifest.get("built_at")})
        # The database now holds exactly the snapshot, so it also holds the snapshot's modules.
        neo.set_meta(MetaRegistry.KEY, SnapshotRegistry(manifest).state)
        neo.set_meta(
            LOAD_STATE_KEY,
            {
                "state": "complete",
                "started_at": started,
                "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "snapshot": str(path),
            },
        )
    return report
