"""PrimeKG-style ``kg.csv`` mapped to the kgdx schema by a mapping file.

``kg.csv`` has one edge per row with both ends spelled out::

    relation,display_relation,x_index,x_id,x_type,x_name,x_source,y_index,y_id,y_type,y_name,y_source
    indication,indication,14012,DB00988,drug,Dopamine,DrugBank,27165,8019,disease,Parkinson disease,MONDO

The bundled mapping (``ingest/mappings/primekg.yaml``) says which PrimeKG node types and
relations become which of ours; see that file for what is skipped and why. Nodes come from every
row whose end has a mapped type; edges from rows whose relation is mapped and whose ends both map.
PrimeKG lists each edge in both directions: rows are turned to the direction our type declares
and the copies collapse into one edge (counted as duplicates). Every edge's ``source`` names
PrimeKG, the relation and the ends' sources, e.g. ``PrimeKG kg.csv indication (DrugBank, MONDO)``.

A malformed row (wrong number of columns, an empty cell, an id that does not fit its mapped type)
is a :class:`~kgdx.errors.DataError` naming the file, line and column; with ``strict=False`` it is
skipped and counted instead. Unmapped node types and relations are always counted and skipped.

Example:
    >>> prime = read_primekg("kg.csv")  # doctest: +SKIP
    >>> prime.report.to_dict()["skipped"]  # doctest: +SKIP
"""

from __future__ import annotations

import csv
from pathlib import Path

from kgdx.errors import DataError, SchemaError
from kgdx.files import open_text
from kgdx.ingest._mapping import SourceMapping, bundled_mapping, check_rules, load_mapping
from kgdx.ingest._result import SourceRecords
from kgdx.ingest.report import SourceReport
from kgdx.kg.records import Edge, Node, Origin, edge_key
from kgdx.kg.schema import Schema, core_schema

__all__ = ["PrimeKGMapping", "COLUMNS", "read_primekg", "load_primekg_mapping"]

#: The columns of PrimeKG's kg.csv (in its order; the reader finds them by name).
COLUMNS = (
    "relation",
    "display_relation",
    "x_index",
    "x_id",
    "x_type",
    "x_name",
    "x_source",
    "y_index",
    "y_id",
    "y_type",
    "y_name",
    "y_source",
)
_NEEDED = ("relation", "x_id", "x_type", "x_name", "x_source", "y_id", "y_type", "y_name", "y_source")
# Positions in _NEEDED of each end's id, type, name and source, and the id's column name.
_SIDES = ((1, 2, 3, 4, "x_id"), (5, 6, 7, 8, "y_id"))
_UNSEEN = object()


class PrimeKGMapping(SourceMapping):
    """A PrimeKG mapping file: node rules keyed ``"<x_type>|<x_source>"``, relation rules keyed
    by ``relation``."""

    name: str = "PrimeKG"


def load_primekg_mapping(path: str | Path | None = None, schema: Schema | None = None) -> PrimeKGMapping:
    """Read and check a PrimeKG mapping file (default: the bundled ``primekg.yaml``).

    Raises:
        SchemaError: for a rule the schema does not allow, naming the file and key.
    """
    path = Path(path) if path is not None else bundled_mapping("primekg")
    mapping = load_mapping(path, PrimeKGMapping)
    for key in mapping.nodes:
        if "|" not in key:
            raise SchemaError(
                "node keys are '<x_type>|<x_source>', e.g. 'disease|MONDO'", file=path, field=f"nodes.{key}"
            )
    check_rules(mapping.nodes, mapping.relations, schema or core_schema(), path)
    return mapping


def read_primekg(
    path: str | Path,
    mapping: PrimeKGMapping | str | Path | None = None,
    *,
    schema: Schema | None = None,
    strict: bool = True,
    version: str | None = None,
) -> SourceRecords:
    """Read a PrimeKG-style ``kg.csv``.

    Args:
        path: The CSV file.
        mapping: A mapping, or the path of a mapping file (default: the bundled one).
        schema: The schema records must meet (default: core).
        strict: Raise on a malformed row; ``False`` skips and counts it.
        version: The PrimeKG release, for provenance (kg.csv does not say).

    Raises:
        DataError: for a file without PrimeKG's columns, or (strict) a malformed row, naming the
            file, line and column.
        SchemaError: for a bad mapping file.
    """
    schema = schema or core_schema()
    if not isinstance(mapping, PrimeKGMapping):
        mapping = load_primekg_mapping(mapping, schema)
    path = Path(path)
    label = f"{mapping.name} {version}" if version else mapping.name
    report = SourceReport(f"{label} ({path.name})", version=version)

    def bad(reason: str, line: int, column: str | None = None) -> None:
        if strict:
            raise DataError(reason, file=path, line=line, field=column)
        report.skip(reason.split(":")[0], f"{path}:{line}")

    nodes: dict[str, Node] = {}
    edges: dict[tuple[str, str, str], Edge] = {}
    hierarchy: dict[tuple[str, str], tuple[str, dict, int]] = {}  # (child, parent) -> (our type, props, line)
    f = open_text(path, newline="")
    report.add_file(path)
    with f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            raise DataError("empty file", file=path, line=1)
        missing = [c for c in _NEEDED if c not in header]
        if missing:
            raise DataError(
                f"not a PrimeKG kg.csv: missing the columns {missing} (has {header[:12]})",
                file=path,
                line=1,
                field=missing[0],
            )
        idx = [header.index(name) for name in _NEEDED]
        width = len(header)
        # (type, source, raw id) -> (our id, type, source), or None for an unmapped type. Rows
        # repeat their ends millions of times, so each end is mapped (and its node made) once.
        resolved: dict[tuple[str, str, str], tuple[str, str, str] | None] = {}
        line = reader.line_num + 1
        for row in reader:
            start, line = line, reader.line_num + 1  # a quoted field may span lines
            if not row:
                continue
            if len(row) != width:
                bad(f"wrong number of columns: {len(row)} instead of {width}", start)
                continue
            cell = [row[i].strip() for i in idx]
            if not all(cell):
                empty = _NEEDED[cell.index("")]
                bad(f"empty cell: {empty}", start, empty)
                continue
            ends: list[tuple[str, str, str] | None] = []
            ok = True
            for i_id, i_type, i_name, i_src, column in _SIDES:
                key = (cell[i_type], cell[i_src], cell[i_id])
                end = resolved.get(key, _UNSEEN)
                if end is _UNSEEN:
                    rule = mapping.nodes.get(f"{key[0]}|{key[1]}")
                    if rule is None:
                        end = None
                    else:
                        curie = rule.convert(key[2], schema)
                        if curie is None:
                            bad(f"bad id for {key[0]}|{key[1]}: {key[2]!r}", start, column)
                            ok = False
                            break
                        end = (curie, key[0], key[1])
                        if rule.emits and curie not in nodes:
                            nodes[curie] = rule.node(curie, cell[i_name], Origin(str(path), start))
                    resolved[key] = end
                if end is None:
                    report.skipped[f"node type not mapped: {key[0]}|{key[1]}"] += 1
                ends.append(end)
            if not ok:
                continue
            relation = cell[0]
            rel = mapping.relations.get(relation)
            if rel is None:
                report.skipped[f"relation not mapped: {relation}"] += 1
                continue
            if rel.to is None:
                report.skipped[f"relation skipped: {relation} ({rel.skip})"] += 1
                continue
            if ends[0] is None or ends[1] is None:
                report.skipped["edge to an unmapped node type"] += 1
                continue
            (x, xk, xs), (y, yk, ys) = ends[0], ends[1]
            if rel.src == rel.dst:
                if xk != rel.src or yk != rel.src:
                    report.skipped[f"{relation} between unexpected node types {xk}, {yk}"] += 1
                    continue
                if rel.parent is not None:
                    child, parent = (y, x) if rel.parent in ("x", "source") else (x, y)
                    srcs = (ys, xs) if rel.parent in ("x", "source") else (xs, ys)
                    if (child, parent) not in hierarchy:
                        props = {**rel.props, "source": f"{label} kg.csv {relation} ({srcs[0]}, {srcs[1]})"}
                        hierarchy[(child, parent)] = (rel.to, props, start)
                    else:
                        report.skipped["duplicate row"] += 1
                    continue
                s, d, ss, ds = x, y, xs, ys
            elif xk == rel.src and yk == rel.dst:
                s, d, ss, ds = x, y, xs, ys
            elif xk == rel.dst and yk == rel.src:
                s, d, ss, ds = y, x, ys, xs
            else:
                report.skipped[f"{relation} between unexpected node types {xk}, {yk}"] += 1
                continue
            rt = schema.relationship_types[rel.to]
            key = edge_key(rel.to, s, d, rt.symmetric)
            if key in edges:
                report.skipped["duplicate row (PrimeKG lists each edge in both directions)"] += 1
                continue
            if s == d and (rt.symmetric or rt.hierarchy):
                report.skipped["self-loop"] += 1
                continue
            props = {**rel.props, "source": f"{label} kg.csv {relation} ({ss}, {ds})"}
            edges[key] = Edge(rel.to, key[0], key[2], props, Origin(str(path), start))

    for (child, parent), (rel_type, props, start) in hierarchy.items():
        if (parent, child) in hierarchy:
            report.skip("hierarchy pair listed in both directions: the parent is unknown", f"{path}:{start}")
            continue
        if child == parent:
            report.skipped["self-loop"] += 1
            continue
        edges[(child, rel_type, parent)] = Edge(rel_type, child, parent, props, Origin(str(path), start))

    return SourceRecords.collect(nodes.values(), edges.values(), report)
