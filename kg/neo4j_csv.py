"""CSV files for ``neo4j-admin database import full``: the fastest first load of a large KG.

The export is a folder::

    nodes/<Label>.csv            id:ID,:LABEL,name,synonyms:string[],…   one file per node type
    relationships/<TYPE>.csv     :START_ID,:END_ID,:TYPE,source,frequency:double,…
    schema.cypher                kgdx's constraints and indexes, to run after the import
    import.sh                    the exact neo4j-admin command for these files

Choices, and why:

- **One id space.** Every id is a CURIE whose prefix belongs to one node type, so ids are unique
  across labels and relationship files need no per-label id spaces (``IS_A`` joins four types,
  ``CONTRAINDICATED_IN`` two). ``id:ID`` also stores the id as the ``id`` property, as
  :class:`~kgdx.kg.neo4j_store.Neo4jStore` does.
- **Labels.** ``:LABEL`` is the schema label plus the ``KgdxNode`` marker that the named queries
  use (``Disease;KgdxNode``).
- **Types.** ``int`` → ``long``, ``float`` → ``double`` (neo4j-admin's ``float`` is 32-bit and
  would turn 0.895 into 0.8949999809; Bolt writes doubles), lists → ``string[]`` /
  ``long[]`` / ``double[]``.
- **Quoting.** Strings are always quoted, with ``"`` doubled (RFC 4180; neo4j-admin's default).
  An absent property is an empty unquoted field, so it stays absent. A newline inside a value
  turns on ``--multiline-fields=true``.
- **Arrays.** neo4j-admin cannot escape its array delimiter inside an element, so the delimiter
  is chosen to be absent from every element: ``;`` when possible, else ``|``, else U+001F
  (the ASCII unit separator); ``import.sh`` passes whichever was chosen.

Example:
    >>> result = to_neo4j_csv(store, "export/neo4j")  # doctest: +SKIP
    >>> print(result.script.read_text())  # doctest: +SKIP
"""

from __future__ import annotations

import math
import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kgdx.errors import ConfigError, DataError
from kgdx.kg.queries import NODE, schema_statements
from kgdx.kg.records import Edge, Node
from kgdx.kg.schema import PropertySpec, Schema
from kgdx.kg.store import KGStore, group_by_type

__all__ = ["Neo4jImport", "to_neo4j_csv", "CSV_TYPES", "DELIMITERS"]

#: Property kind → neo4j-admin header type (``None``: plain string column).
CSV_TYPES = {
    "str": None,
    "int": "long",
    "float": "double",
    "bool": "boolean",
    "str_list": "string[]",
    "int_list": "long[]",
    "float_list": "double[]",
}
#: Array delimiters tried in order; the first that no list element contains is used.
DELIMITERS = (";", "|", "\x1f")
_DATABASE = re.compile(r"^[A-Za-z][A-Za-z0-9.\-]{0,62}$")


@dataclass
class Neo4jImport:
    """What :func:`to_neo4j_csv` wrote."""

    directory: Path
    node_files: dict[str, Path] = field(default_factory=dict)
    relationship_files: dict[str, Path] = field(default_factory=dict)
    script: Path | None = None
    schema_file: Path | None = None
    command: list[str] = field(default_factory=list)
    array_delimiter: str = ";"
    multiline: bool = False
    rows: dict[str, int] = field(default_factory=dict)


def _delimiter_arg(ch: str) -> str:
    return ch if ch.isprintable() and ch not in " \t" else f"U+{ord(ch):04X}"


def _field(value: Any, kind: str, delim: str) -> str:
    if value is None:
        return ""
    if kind.endswith("_list"):
        if not value:
            return ""
        inner = kind[: -len("_list")]
        joined = delim.join(_scalar(v, inner) for v in value)
        return _quote(joined) if inner == "str" else joined
    text = _scalar(value, kind)
    return _quote(text) if kind == "str" else text


def _scalar(value: Any, kind: str) -> str:
    if kind == "bool":
        return "true" if value else "false"
    if kind == "float":
        v = float(value)
        return ("Infinity" if v > 0 else "-Infinity") if math.isinf(v) else repr(v)
    if kind == "int":
        return str(int(value))
    return str(value)


def _quote(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _choose_delimiter(
    schema: Schema, nodes: Iterable[Node], edges: Iterable[Edge], requested: str | None
) -> tuple[str, bool]:
    """The array delimiter to use, and whether any string holds a newline."""
    used: set[str] = set()
    multiline = False

    def scan(props: dict[str, Any], specs: dict[str, PropertySpec]) -> None:
        nonlocal multiline
        for k, v in props.items():
            spec = specs.get(k)
            if spec is None or v is None:
                continue
            items = v if spec.type == "str_list" else [v] if spec.type == "str" else []
            for s in items:
                if "\n" in s or "\r" in s:
                    multiline = True
                if spec.type == "str_list":
                    used.update(ch for ch in DELIMITERS + ((requested,) if requested else ()) if ch in s)

    for n in nodes:
        scan(n.props, schema.node_types[n.type].properties)
    for e in edges:
        scan(e.props, schema.relationship_types[e.type].properties)
    if requested is not None:
        if len(requested) != 1:
            raise ConfigError(f"'array_delimiter' must be one character (got {requested!r})")
        if requested in used:
            raise DataError(
                f"a list element contains the array delimiter {requested!r}; "
                f"leave 'array_delimiter' unset to choose a safe one"
            )
        return requested, multiline
    for ch in DELIMITERS:
        if ch not in used:
            return ch, multiline
    raise DataError(f"every array delimiter {list(DELIMITERS)} occurs inside some list element")


def _write(path: Path, header: list[str], rows: Iterable[list[str]]) -> int:
    n = 0
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write(",".join(header) + "\n")
        for row in rows:
            f.write(",".join(row) + "\n")
            n += 1
    return n


def _header(specs: dict[str, PropertySpec]) -> list[str]:
    out = []
    for name, spec in specs.items():
        t = CSV_TYPES[spec.type]
        out.append(name if t is None else f"{name}:{t}")
    return out


def to_neo4j_csv(
    store: KGStore, directory: str | Path, *, database: str = "neo4j", array_delimiter: str | None = None
) -> Neo4jImport:
    """Write the KG as neo4j-admin import CSV files plus ``import.sh`` and ``schema.cypher``.

    Args:
        store: Any KG store.
        directory: The output folder (created; files in it are replaced).
        database: The database name ``import.sh`` imports into by default.
        array_delimiter: Force this array delimiter (default: chosen to be safe, see above).

    Returns:
        The files written, the command and the row counts per file.

    Raises:
        ConfigError: for a bad database name or delimiter.
        DataError: if a forced delimiter occurs inside a list element.
    """
    if not _DATABASE.match(database):
        raise ConfigError(f"'database' must be a Neo4j database name (got {database!r})")
    schema = store.schema
    by_label, by_rel = group_by_type(store.iter_nodes()), group_by_type(store.iter_edges())  # one pass each
    delim, multiline = _choose_delimiter(
        schema, (n for g in by_label.values() for n in g), (e for g in by_rel.values() for e in g), array_delimiter
    )
    out = Path(directory)
    (out / "nodes").mkdir(parents=True, exist_ok=True)
    (out / "relationships").mkdir(parents=True, exist_ok=True)
    result = Neo4jImport(out, array_delimiter=delim, multiline=multiline)

    for label, nt in sorted(schema.node_types.items()):
        nodes = sorted(by_label.get(label, ()), key=lambda n: n.id)
        path = out / "nodes" / f"{label}.csv"
        path.unlink(missing_ok=True)
        if not nodes:
            continue
        specs = nt.properties
        labels = _quote(delim.join((label, NODE)))
        rows = (
            [_quote(n.id), labels, *(_field(n.props.get(k), s.type, delim) for k, s in specs.items())] for n in nodes
        )
        result.rows[f"nodes/{label}.csv"] = _write(path, ["id:ID", ":LABEL", *_header(specs)], rows)
        result.node_files[label] = path

    for rel, rt in sorted(schema.relationship_types.items()):
        edges = sorted(by_rel.get(rel, ()), key=lambda e: (e.src, e.dst))
        path = out / "relationships" / f"{rel}.csv"
        path.unlink(missing_ok=True)
        if not edges:
            continue
        specs = rt.properties
        rows = (
            [_quote(e.src), _quote(e.dst), rel, *(_field(e.props.get(k), s.type, delim) for k, s in specs.items())]
            for e in edges
        )
        result.rows[f"relationships/{rel}.csv"] = _write(path, [":START_ID", ":END_ID", ":TYPE", *_header(specs)], rows)
        result.relationship_files[rel] = path

    result.schema_file = out / "schema.cypher"
    result.schema_file.write_text(";\n".join(schema_statements(schema)) + ";\n", encoding="utf-8")
    options = ["--delimiter=,", f"--array-delimiter={_delimiter_arg(delim)}", '--quote="', "--id-type=string"]
    if multiline:
        options.append("--multiline-fields=true")
    result.command = [
        "neo4j-admin",
        "database",
        "import",
        "full",
        *(f"--nodes={p.resolve()}" for p in result.node_files.values()),
        *(f"--relationships={p.resolve()}" for p in result.relationship_files.values()),
        *options,
        database,
    ]
    result.script = out / "import.sh"
    result.script.write_text(_script(result, options, database), encoding="utf-8")
    result.script.chmod(0o755)
    return result


def _script(result: Neo4jImport, options: list[str], database: str) -> str:
    lines = [
        "#!/bin/sh",
        "# Bulk first load of a kgdx KG into an empty Neo4j 5 database (written by kgdx, kg/neo4j_csv.py).",
        "# Run it where Neo4j is installed, with the database stopped or not yet created:",
        "#   ./import.sh [database]        (default: " + database + "; NEO4J_ADMIN=path/to/neo4j-admin)",
        "# `import full` refuses a database that exists; add --overwrite-destination=true to replace one.",
        "# Then start the database (CREATE DATABASE name on Enterprise, if new) and create kgdx's",
        "# constraints and indexes:  cypher-shell -d <database> -f schema.cypher",
        "set -eu",
        'HERE="$(cd "$(dirname "$0")" && pwd)"',
        'NEO4J_ADMIN="${NEO4J_ADMIN:-neo4j-admin}"',
        f'DATABASE="${{1:-{database}}}"',
        '"$NEO4J_ADMIN" database import full \\',
    ]
    for flag, files in (("--nodes", result.node_files), ("--relationships", result.relationship_files)):
        for p in files.values():
            rel = p.relative_to(result.directory).as_posix()
            lines.append(f'  {flag}="$HERE/{rel}" \\')
    for opt in options:
        lines.append(f"  {shlex.quote(opt)} \\")
    lines.append('  "$DATABASE"')
    return "\n".join(lines) + "\n"
