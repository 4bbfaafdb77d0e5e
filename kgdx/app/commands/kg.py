"""`kgdx kg …`: build, load, inspect, query and export the knowledge graph."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from kgdx.app.stores import open_neo4j, open_store
from kgdx.errors import ConfigError
from kgdx.settings import get_settings

app = typer.Typer(help="Build, load, query and export the knowledge graph.", no_args_is_help=True)
console = Console()


class StoreChoice(str, Enum):
    memory = "memory"
    neo4j = "neo4j"


StoreOpt = Annotated[
    StoreChoice | None,
    typer.Option(
        "--store", "-s", help="Which store to use: the embedded snapshot or Neo4j (default: KGDX_STORE, else memory)."
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


def _kind(store: StoreChoice | None) -> str | None:
    return store.value if store else None


@app.command()
def build(
    out: Annotated[Path | None, typer.Option(help="Snapshot folder (default: KGDX_HOME/kg/default).")] = None,
    hpo3: Annotated[bool, typer.Option(help="Add the newer HPO release that ships in the hpo3 package.")] = True,
    as_json: JsonOpt = False,
) -> None:
    """Build the default KG offline (HPO from installed packages + curated modules) and snapshot it.

    The snapshot is replaced atomically: if the build fails, the previous one stays as it was.
    A manifest beside it lists every source with its version, release date and file hashes.
    """
    from kgdx.app.build import build_default_kg

    target = out or get_settings().kg_dir
    result = build_default_kg(target, with_hpo3=hpo3, progress=not as_json)
    counts = result.store.counts().to_dict()
    if as_json:
        print(json.dumps({"path": str(result.path), **counts, "sources": result.manifest["sources"]}, indent=2))
        return
    _print_counts(counts, title=f"KG snapshot at {result.path}")
    skipped = {f"{s.name}: {k}": v for s in result.sources for k, v in s.skipped.items()}
    if skipped:
        console.print("[dim]skipped lines (lenient parsing), see manifest.json:[/dim]")
        for k, v in sorted(skipped.items()):
            console.print(f"  [dim]{v:>7,}  {k}[/dim]")


@app.command()
def load(
    snapshot: Annotated[
        Path | None, typer.Option(help="Snapshot folder to load (default: the built default KG).")
    ] = None,
    clear: Annotated[bool, typer.Option(help="Delete every KG node in the database first.")] = False,
    batch_size: Annotated[
        int | None, typer.Option(min=1, help="Rows per transaction (default: KGDX_BATCH_SIZE).")
    ] = None,
) -> None:
    """Load a KG snapshot into Neo4j (KGDX_NEO4J_URI): constraints, indexes, then batched MERGEs.

    Loading is idempotent: loading twice, or again after an interrupted load, gives exact counts
    with no duplicates.
    """
    from kgdx.app.stores import load_kg

    settings = get_settings()
    report = load_kg(snapshot, clear=clear, batch_size=batch_size)
    with open_neo4j(settings=settings) as neo:
        counts = neo.counts().to_dict()
    console.print(
        f"loaded {report.nodes:,} nodes and {report.edges:,} relationships in {report.seconds:.1f} s "
        f"({report.edges_per_second:,.0f} relationships/s) into {settings.neo4j_uri}"
    )
    _print_counts(counts, title="Neo4j")


@app.command()
def stats(store: StoreOpt = None, as_json: JsonOpt = False) -> None:
    """Counts per node label and relationship type, from either store (the same numbers)."""
    s = open_store(_kind(store), quiet=as_json)
    summary = s.summary()
    if as_json:
        print(json.dumps(summary, indent=2))
    else:
        _print_counts(
            summary,
            title=f"{type(s).__name__} — schema {summary['schema']['name']} "
            f"{summary['schema']['version']} {summary['schema']['modules'] or ''}",
        )


@app.command()
def cypher(
    query: Annotated[str, typer.Argument(help="A read-only Cypher query.")],
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="A parameter as key=value (value parsed as JSON if it can be)."),
    ] = None,
    timeout: Annotated[
        float | None, typer.Option(help="Seconds before the server stops the query (default: KGDX_QUERY_TIMEOUT_S).")
    ] = None,
    max_rows: Annotated[int | None, typer.Option(min=1, help="Row cap (default: KGDX_QUERY_MAX_ROWS).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Run read-only Cypher against Neo4j. Writes, schema and admin statements are refused.

    Example: kgdx kg cypher "MATCH (d:Disease)-[:HAS_PHENOTYPE]->(p {id: $p}) RETURN d.id, d.name LIMIT 5" -p p=HP:0002090
    """
    settings = get_settings()
    params = {}
    for item in param or []:
        if "=" not in item:
            raise ConfigError(f"--param needs key=value (got {item!r})")
        k, v = item.split("=", 1)
        try:
            params[k] = json.loads(v)
        except json.JSONDecodeError:
            params[k] = v
    with open_neo4j(settings=settings) as neo:
        result = neo.cypher(
            query, params, timeout=timeout or settings.query_timeout_s, max_rows=max_rows or settings.query_max_rows
        )
    if as_json:
        print(json.dumps(result.to_dict(), indent=2, default=str))
        return
    table = Table(*result.columns)
    for row in result.rows:
        table.add_row(*(json.dumps(v, default=str) if not isinstance(v, str) else v for v in row))
    console.print(table)
    note = f"{len(result.rows)} rows" + (
        f" (cut at the cap of {max_rows or settings.query_max_rows})" if result.truncated else ""
    )
    console.print(f"[dim]{note}[/dim]")


class ExportFormat(str, Enum):
    pyg = "pyg"
    rdf = "rdf"
    networkx = "networkx"
    neo4j_csv = "neo4j-csv"
    jsonl = "jsonl"


@app.command()
def export(
    fmt: Annotated[
        ExportFormat,
        typer.Option(
            "--format",
            "-f",
            help=(
                "pyg: torch-saved {data: HeteroData, ids: id lists per type}; rdf: Turtle with CURIEs expanded; "
                "networkx: node-link JSON; neo4j-csv: a folder of neo4j-admin import CSVs plus import.sh; "
                "jsonl: one node or edge per line."
            ),
        ),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output file (a folder for neo4j-csv).")],
    store: StoreOpt = None,
) -> None:
    """Export the KG from either store."""
    s = open_store(_kind(store))
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt is ExportFormat.rdf:
        from kgdx.kg.rdf import to_rdf

        to_rdf(s, out)
    elif fmt is ExportFormat.networkx:
        import networkx as nx

        from kgdx.kg.nx_export import to_networkx

        out.write_text(json.dumps(nx.node_link_data(to_networkx(s), edges="edges"), default=str))
    elif fmt is ExportFormat.neo4j_csv:
        from kgdx.kg.neo4j_csv import to_neo4j_csv

        result = to_neo4j_csv(s, out)
        console.print(f"import with: {result.script or ' '.join(result.command)}")
    elif fmt is ExportFormat.pyg:
        import torch

        from kgdx.kg.pyg import to_hetero_data

        data, maps = to_hetero_data(s)
        torch.save({"data": data, "ids": {t: list(m.ids) for t, m in maps.items()}}, out)
    elif fmt is ExportFormat.jsonl:
        with out.open("w", encoding="utf-8") as f:
            for n in sorted(s.iter_nodes(), key=lambda n: (n.type, n.id)):
                f.write(
                    json.dumps({"kind": "node", "type": n.type, "id": n.id, "props": n.props}, sort_keys=True) + "\n"
                )
            for e in sorted(s.iter_edges(), key=lambda e: (e.type, e.src, e.dst)):
                f.write(
                    json.dumps(
                        {"kind": "edge", "type": e.type, "src": e.src, "dst": e.dst, "props": e.props}, sort_keys=True
                    )
                    + "\n"
                )
    console.print(f"wrote {out}")


@app.command()
def schema(
    as_yaml: Annotated[bool, typer.Option("--yaml", help="Print the schema as YAML.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Show the schema: node types with id patterns and properties, relationship types with ends."""
    from kgdx.kg.schema import Schema, core_schema

    path = get_settings().kg_dir / "schema.yaml"
    sch = Schema.from_yaml(path) if path.is_file() else core_schema()
    if as_yaml:
        print(sch.to_yaml())
        return
    if as_json:
        print(json.dumps(sch.to_dict(), indent=2))
        return
    nodes = Table("node type", "id pattern", "properties (* required)", title=f"schema {sch.name} {sch.version}")
    for label, nt in sorted(sch.node_types.items()):
        props = ", ".join(f"{k}{'*' if p.required else ''}:{p.type}" for k, p in nt.properties.items())
        nodes.add_row(label, nt.id_pattern, props)
    console.print(nodes)
    rels = Table("relationship", "from → to", "properties (* required)")
    for name, rt in sorted(sch.relationship_types.items()):
        ends = ", ".join(f"{s}→{t}" for s, t in rt.pairs)
        props = ", ".join(f"{k}{'*' if p.required else ''}:{p.type}" for k, p in rt.properties.items())
        rels.add_row(name, ends, props)
    console.print(rels)


@app.command()
def lookup(
    text: Annotated[str, typer.Argument(help="An id (current, alternative or obsolete), a name or a synonym.")],
    node_type: Annotated[list[str] | None, typer.Option("--type", "-t", help="Only these node types.")] = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Find nodes by id, name or synonym (case-insensitive), in either store."""
    s = open_store(_kind(store), quiet=as_json)
    found = s.lookup(text, types=node_type)  # ids and alternative ids too
    if as_json:
        print(json.dumps([{"type": n.type, "id": n.id, **n.props} for n in found], indent=2))
        return
    table = Table("type", "id", "name")
    for n in found:
        table.add_row(n.type, n.id, str(n.props.get("name", "")))
    console.print(table if found else f"nothing matches {text!r}")


def _print_counts(counts: dict, title: str) -> None:
    table = Table("kind", "type", "count", title=title)
    for label, n in sorted(counts["nodes"].items()):
        table.add_row("node", label, f"{n:,}")
    for rel, n in sorted(counts["relationships"].items()):
        table.add_row("relationship", rel, f"{n:,}")
    table.add_row("", "total", f"{counts['total_nodes']:,} nodes, {counts['total_relationships']:,} relationships")
    console.print(table)


class ModuleTarget(str, Enum):
    memory = "memory"
    neo4j = "neo4j"
    both = "both"


TargetOpt = Annotated[ModuleTarget, typer.Option("--store", "-s", help="Apply to the embedded KG, to Neo4j, or both.")]


@app.command()
def extend(
    path: Annotated[Path, typer.Argument(help="A module folder (with module.yaml).")],
    store: TargetOpt = ModuleTarget.memory,
    dry_run: Annotated[bool, typer.Option(help="Validate only: report what would change and write nothing.")] = False,
) -> None:
    """Validate a disease module against the current schema and apply it: new types (constraints and
    indexes in Neo4j) and data. A conflict is refused before anything is written; applying twice
    changes nothing. A disease the module adds under a new id that the KG already has (by an xref
    or the same name) is a warning naming the module file and line. See
    docs/writing-a-disease-module.md."""
    from kgdx.app.modules import extend_kg

    for outcome in extend_kg(path, store=store.value, dry_run=dry_run):
        console.print(outcome.describe())
        for line in outcome.warnings():
            console.print(line, style="yellow", markup=False, highlight=False, soft_wrap=True)


@app.command()
def modules(store: StoreOpt = None, as_json: JsonOpt = False) -> None:
    """List the modules in the KG: built into the default build, and applied with `kgdx kg extend`."""
    from kgdx.app.modules import list_modules

    kind = _kind(store) or get_settings().store
    rows = list_modules(kind)
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table("module", "version", "how", "added", "new types", title=f"modules ({kind})")
    for r in rows:
        added = f"{r['nodes_added']} nodes, {r['edges_added']} rels" if r["how"] == "applied" else ""
        table.add_row(r["name"], r["version"], r["how"], added, ", ".join(r.get("new_types", [])))
    console.print(table)


@app.command()
def remove(
    name: Annotated[str, typer.Argument(help="The name of an applied module.")],
    store: TargetOpt = ModuleTarget.memory,
) -> None:
    """Remove an applied module: exactly what it added goes, what it changed is restored."""
    from kgdx.app.modules import remove_module

    targets = ["memory", "neo4j"] if store is ModuleTarget.both else [store.value]
    for target, gone in zip(targets, remove_module(name, store=store.value)):
        console.print(
            f"{target}: removed {gone.name} {gone.version}: {len(gone.nodes)} nodes and {len(gone.edges)} "
            f"relationships deleted, {len(gone.previous_nodes) + len(gone.previous_edges)} records restored"
        )
