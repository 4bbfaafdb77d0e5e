"""Every Cypher statement kgdx runs, in one module.

Values always travel as parameters. Labels and relationship types cannot be parameters in
Cypher, so the builders below interpolate them, and only after :func:`ident` has checked them
against the validated schema's naming rules. Each named query here has an in-memory twin in
:class:`kgdx.kg.memory_store.MemoryStore`; the contract tests assert both give the same answers.

Every KG node carries its schema label plus the marker label :data:`NODE`, indexed on ``id``, so
queries that do not know a node's type still find it through an index.
"""

from __future__ import annotations

import re

from kgdx.kg.schema import Schema

#: Marker label on every KG node (never a schema type).
NODE = "KgdxNode"
#: Label of the metadata nodes (applied modules, load state).
META = "KgdxMeta"

_IDENT = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def ident(name: str) -> str:
    """``name`` quoted as a Cypher identifier; refuses anything but a plain schema name."""
    if not _IDENT.match(name):
        raise ValueError(f"not a valid label or relationship type: {name!r}")
    return f"`{name}`"


# -- schema (constraints and indexes) ---------------------------------------------------------------


def schema_statements(schema: Schema) -> list[str]:
    """Constraints and indexes derived from the schema; each is idempotent (``IF NOT EXISTS``)."""
    out = [f"CREATE INDEX kgdx_node_id IF NOT EXISTS FOR (n:{ident(NODE)}) ON (n.id)"]
    out.append(
        f"CREATE FULLTEXT INDEX {LOOKUP_INDEX} IF NOT EXISTS FOR (n:{ident(NODE)}) "
        "ON EACH [n.id, n.alt_ids, n.name, n.synonyms]"
    )
    out.append(f"CREATE CONSTRAINT kgdx_meta_key IF NOT EXISTS FOR (n:{ident(META)}) REQUIRE n.key IS UNIQUE")
    for label, nt in sorted(schema.node_types.items()):
        q = ident(label)
        low = label.lower()
        out.append(f"CREATE CONSTRAINT kgdx_{low}_id IF NOT EXISTS FOR (n:{q}) REQUIRE n.id IS UNIQUE")
        for prop in nt.indexed:
            out.append(f"CREATE INDEX kgdx_{low}_{prop.lower()} IF NOT EXISTS FOR (n:{q}) ON (n.{ident(prop)})")
        if nt.fulltext:
            fields = ", ".join(f"n.{ident(p)}" for p in nt.fulltext)
            out.append(f"CREATE FULLTEXT INDEX kgdx_{low}_text IF NOT EXISTS FOR (n:{q}) ON EACH [{fields}]")
    return out


AWAIT_INDEXES = "CALL db.awaitIndexes($seconds)"


def drop_statements(labels: list[str]) -> list[str]:
    """Drop the constraints and indexes :func:`schema_statements` made for node types now gone."""
    out = []
    for label in labels:
        low = label.lower()
        out.append(f"DROP CONSTRAINT kgdx_{low}_id IF EXISTS")
        out.append(f"DROP INDEX kgdx_{low}_text IF EXISTS")
    return out


#: Names of kgdx's indexes on ``$label``, to drop them with the type.
OWNED_INDEXES = (
    "SHOW INDEXES YIELD name, labelsOrTypes WHERE name STARTS WITH 'kgdx_' AND $label IN labelsOrTypes RETURN name"
)


REPLACE_PROPERTIES = f"MATCH (n:{ident(NODE)} {{id: $id}}) SET n = $props SET n.id = $id"

# -- writes -----------------------------------------------------------------------------------------


def merge_nodes(label: str) -> str:
    """Upsert a batch of nodes of one label: ``$rows`` = [{id, props}]."""
    return f"UNWIND $rows AS row MERGE (n:{ident(label)} {{id: row.id}}) SET n:{ident(NODE)} SET n += row.props"


def merge_edges(rel_type: str, src_label: str, dst_label: str) -> str:
    """Upsert a batch of edges of one type between two labels: ``$rows`` = [{src, dst, props}]."""
    return (
        f"UNWIND $rows AS row "
        f"MATCH (a:{ident(src_label)} {{id: row.src}}) MATCH (b:{ident(dst_label)} {{id: row.dst}}) "
        f"MERGE (a)-[r:{ident(rel_type)}]->(b) SET r += row.props"
    )


def naive_merge_edge(rel_type: str, src_label: str, dst_label: str) -> str:
    """One edge per statement: the baseline the bulk loader is benchmarked against."""
    return (
        f"MATCH (a:{ident(src_label)} {{id: $src}}) MATCH (b:{ident(dst_label)} {{id: $dst}}) "
        f"MERGE (a)-[r:{ident(rel_type)}]->(b) SET r += $props"
    )


EXISTING_IDS = f"UNWIND $ids AS i MATCH (n:{ident(NODE)} {{id: i}}) RETURN n.id AS id"

DELETE_EDGES = (
    f"UNWIND $rows AS row MATCH (a:{ident(NODE)} {{id: row.src}})-[r]->(b:{ident(NODE)} {{id: row.dst}}) "
    "WHERE type(r) = row.type DELETE r"
)
DELETE_NODES = f"UNWIND $ids AS i MATCH (n:{ident(NODE)} {{id: i}}) DETACH DELETE n"
CLEAR = f"MATCH (n:{ident(NODE)}) CALL (n) {{ DETACH DELETE n }} IN TRANSACTIONS OF 10000 ROWS"

META_GET = f"MATCH (m:{ident(META)} {{key: $key}}) RETURN m.value AS value"
META_SET = f"MERGE (m:{ident(META)} {{key: $key}}) SET m.value = $value"
META_DELETE = f"MATCH (m:{ident(META)} {{key: $key}}) DELETE m"

# -- counts and scans -------------------------------------------------------------------------------


def count_nodes(label: str) -> str:
    return f"MATCH (n:{ident(label)}) RETURN count(n) AS n"


def count_edges(rel_type: str) -> str:
    return f"MATCH ()-[r:{ident(rel_type)}]->() RETURN count(r) AS n"


def scan_nodes(label: str) -> str:
    return f"MATCH (n:{ident(label)}) RETURN n.id AS id, properties(n) AS props"


def scan_edges(rel_type: str) -> str:
    return f"MATCH (a)-[r:{ident(rel_type)}]->(b) RETURN a.id AS src, b.id AS dst, properties(r) AS props"


# -- named queries ----------------------------------------------------------------------------------

_NODE_MAP = "{labels: labels(n), props: properties(n)}"
_RET_NODE = "RETURN labels(n) AS labels, properties(n) AS props"

NODE_BY_ID = f"MATCH (n:{ident(NODE)} {{id: $id}}) {_RET_NODE}"


def node_by_alt_id(labels: list[str]) -> str:
    """Nodes that list ``$id`` among their ``alt_ids`` (only labels that declare ``alt_ids``)."""
    parts = [f"MATCH (n:{ident(label)}) WHERE $id IN n.alt_ids {_RET_NODE}" for label in labels]
    return " UNION ".join(parts)


LOOKUP_INDEX = "kgdx_node_lookup"
_LOOKUP_WHERE = (
    "WHERE n.id = $text OR $text IN coalesce(n.alt_ids, []) "
    "OR toLower(trim(n.name)) = $norm "
    "OR any(s IN coalesce(n.synonyms, []) WHERE toLower(trim(s)) = $norm) "
)
#: Exact lookup by id, alternative id, name or synonym: the full-text index narrows the nodes to
#: those holding the words of ``$phrase`` (see :func:`lucene_phrase`), the WHERE keeps exact matches.
LOOKUP = f"CALL db.index.fulltext.queryNodes('{LOOKUP_INDEX}', $phrase) YIELD node AS n {_LOOKUP_WHERE}{_RET_NODE}"
#: The same without the index (a scan of every node), for text with no word to search for.
LOOKUP_SCAN = f"MATCH (n:{ident(NODE)}) {_LOOKUP_WHERE}{_RET_NODE}"


def lucene_phrase(text: str) -> str | None:
    """``text`` as a quoted Lucene phrase query, or ``None`` if it has no letter or digit (the
    analyzer would leave no word to look up)."""
    if not any(ch.isalnum() for ch in text):
        return None
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


_ARROWS = {"out": ("-", "->"), "in": ("<-", "-"), "both": ("-", "-")}


def neighbours(direction: str) -> str:
    """Edges at ``$id`` in a direction, filtered by ``$types`` and ``$labels`` (null = any)."""
    left, right = _ARROWS[direction]
    return (
        f"MATCH (a:{ident(NODE)} {{id: $id}}){left}[r]{right}(n) "
        "WHERE ($types IS NULL OR type(r) IN $types) "
        "AND ($labels IS NULL OR any(l IN labels(n) WHERE l IN $labels)) "
        "RETURN type(r) AS type, startNode(r).id AS src, endNode(r).id AS dst, properties(r) AS rprops, "
        "labels(n) AS labels, properties(n) AS props"
    )


INTERACTIONS = (
    "MATCH (a:`Drug`)-[r:`INTERACTS_WITH`]->(b:`Drug`) WHERE a.id IN $ids AND b.id IN $ids "
    "RETURN type(r) AS type, a.id AS src, b.id AS dst, properties(r) AS rprops"
)


#: A disease's equivalence class: itself and every node reachable over ``EQUIVALENT_TO`` edges in
#: either direction. The build keeps one id per vocabulary in a class, so classes are small and
#: the unbounded expansion stays cheap.
EQUIVALENCE_CLASS = (
    f"MATCH (d:{ident(NODE)} {{id: $id}}) "
    "OPTIONAL MATCH (d)-[:`EQUIVALENT_TO`*1..]-(m) "
    "WITH d, collect(DISTINCT m) AS ms "
    f"UNWIND [d] + ms AS x WITH DISTINCT x AS n {_RET_NODE}"
)


def evidence_paths(max_hops: int) -> str:
    """Simple paths of 1..max_hops edges of ``$types`` between ``$target`` and any of ``$concepts``.

    Variable-length bounds cannot be parameters, so ``max_hops`` (an int the store checked) is
    interpolated. Node-uniqueness makes the paths simple, as in the in-memory twin.
    """
    if not isinstance(max_hops, int) or not 1 <= max_hops <= 5:
        raise ValueError(f"max_hops must be an int from 1 to 5 (got {max_hops!r})")
    return (
        f"MATCH (t:{ident(NODE)} {{id: $target}}) "
        f"MATCH p = (t)-[rels*1..{max_hops}]-(c:{ident(NODE)}) "
        "WHERE c.id IN $concepts AND all(r IN rels WHERE type(r) IN $types) "
        "AND all(i IN range(0, size(nodes(p)) - 1) WHERE single(x IN nodes(p) WHERE x = nodes(p)[i])) "
        "WITH p LIMIT $cap "
        f"RETURN [n IN nodes(p) | {_NODE_MAP}] AS nodes, "
        "[r IN relationships(p) | {type: type(r), src: startNode(r).id, dst: endNode(r).id, props: properties(r)}] AS rels"
    )


EXPAND = (
    f"UNWIND $ids AS i MATCH (a:{ident(NODE)} {{id: i}})-[r]-(b) "
    "WHERE $types IS NULL OR type(r) IN $types RETURN DISTINCT b.id AS id"
)

INDUCED_EDGES = (
    f"UNWIND $ids AS i MATCH (a:{ident(NODE)} {{id: i}})-[r]->(b) "
    "WHERE b.id IN $ids AND ($types IS NULL OR type(r) IN $types) "
    "RETURN type(r) AS type, a.id AS src, b.id AS dst, properties(r) AS rprops"
)

NODES_BY_IDS = f"UNWIND $ids AS i MATCH (n:{ident(NODE)} {{id: i}}) {_RET_NODE}"

# -- the read-only user path ------------------------------------------------------------------------

#: Plan operators a user query may not use even when Neo4j calls the query read-only: LOAD CSV
#: reads the server's files and the network, CALL {...} IN TRANSACTIONS commits on its own, and
#: TERMINATE TRANSACTIONS and administration commands act on the server.
FORBIDDEN_OPERATORS = (
    "LoadCSV",
    "TransactionApply",
    "TransactionForeach",
    "TerminateTransactions",
    "AdministrationCommand",
)
#: Procedure namespaces a user query may not call: administration of the server.
FORBIDDEN_PROCEDURES = (
    "dbms.",
    "db.create",
    "db.clearQueryCaches",
    "db.checkpoint",
    "apoc.load.",
    "apoc.import.",
    "apoc.export.",
    "apoc.periodic.",
    "apoc.trigger.",
    "apoc.refactor.",
    "apoc.create.",
    "apoc.merge.",
    "apoc.cypher.run",
    "apoc.cypher.doIt",
    "apoc.schema.assert",
    "apoc.systemdb.",
)


def explain(query: str) -> str:
    """``query`` prefixed with EXPLAIN, which plans without running it."""
    head = query.lstrip()
    return query if head[:7].upper() == "EXPLAIN" else f"EXPLAIN {query}"


# -- explanations -----------------------------------------------------------------------------------

_LITERAL = re.compile(r"^[A-Za-z0-9_.:\-]+$")


def path_match(steps: list[tuple[str, str]], rels: list[tuple[str, bool]]) -> str:
    """A self-contained Cypher query that returns one KG path, for users to re-run.

    Args:
        steps: ``(label, id)`` of each node along the path.
        rels: ``(type, forward)`` of each relationship; ``forward`` if it points along the path.

    The ids are written inline (after checking they are plain CURIEs) so the query can be pasted
    into ``kgdx kg cypher`` or the Neo4j browser as it is.
    """
    if len(steps) != len(rels) + 1:
        raise ValueError(f"a path of {len(rels)} relationships needs {len(rels) + 1} nodes (got {len(steps)})")
    parts = []
    for i, (label, node_id) in enumerate(steps):
        if not _LITERAL.match(node_id):
            raise ValueError(f"not a plain id: {node_id!r}")
        parts.append(f"(n{i}:{ident(label)} {{id: '{node_id}'}})")
    out = parts[0]
    for (rel, forward), node in zip(rels, parts[1:]):
        out += f"-[:{ident(rel)}]->{node}" if forward else f"<-[:{ident(rel)}]-{node}"
    return f"MATCH p = {out} RETURN p"
