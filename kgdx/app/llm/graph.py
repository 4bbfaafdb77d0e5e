"""A ``Neo4jGraph``-compatible view of the kgdx KG for LangChain's text-to-Cypher chains.

``langchain_neo4j.Neo4jGraph`` pointed at kgdx's database reads its schema by sampling, so the
helper labels show up (``KgdxNode`` on every node, ``KgdxMeta``), and it writes through the
driver. :class:`KgdxGraph` answers the same protocol (``GraphStore``: ``schema``,
``structured_schema``, ``query``, ``refresh_schema``), with two differences:

* the schema comes from kgdx's declarative schema (core plus applied modules): only domain labels,
  relationship types and properties, with :data:`SCHEMA_GUIDE` (how ids, directions and
  provenance work) so a model writes correct queries;
* ``query`` goes through kgdx's read-only path (guard, READ transaction, timeout, row cap), and
  ``add_graph_documents`` refuses.

Example:
    >>> from langchain_neo4j import GraphCypherQAChain                         # doctest: +SKIP
    >>> graph = KgdxGraph(open_neo4j())                                         # doctest: +SKIP
    >>> chain = GraphCypherQAChain.from_llm(model, graph=graph, allow_dangerous_requests=True)  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kgdx.errors import ConfigError, ReadOnlyQueryError

if TYPE_CHECKING:
    from kgdx.kg.schema import Schema

__all__ = ["KgdxGraph", "SCHEMA_GUIDE", "structured_schema", "format_schema"]

SCHEMA_GUIDE = """How to query the kgdx knowledge graph:
- Every node has a string `id` (a CURIE such as 'HP:0001945', 'MONDO:0004652', 'DRUGBANK:DB01211') \
and a `name`; match nodes by id: MATCH (d:Disease {id: 'MONDO:0004652'}).
- Names are not unique and not normalised; to find a node by name use toLower(n.name) = toLower($name) \
or the `synonyms` list.
- Relationships point one way, as listed: (:Disease)-[:HAS_PHENOTYPE]->(:Phenotype), \
(:Drug)-[:TREATS]->(:Disease), (:Drug)-[:CONTRAINDICATED_IN]->(:Disease|Phenotype), \
(:Gene)-[:ASSOCIATED_WITH]->(:Disease), (child)-[:IS_A]->(parent).
- INTERACTS_WITH and EQUIVALENT_TO are symmetric and stored once per pair: match them without a direction, \
(a:Drug)-[:INTERACTS_WITH]-(b:Drug).
- One disease may have several ids (OMIM, ORPHA, MONDO) joined by EQUIVALENT_TO; follow it to collect \
the annotations of all of them.
- HAS_PHENOTYPE.frequency is a share between 0 and 1. Every relationship has `source` (its provenance).
- Phenotypes form a hierarchy: a patient's finding also counts for its ancestors, \
(p:Phenotype)-[:IS_A*0..]->(ancestor:Phenotype).
- Queries are read-only and capped in time and rows; return only what is needed, with LIMIT."""

_TYPES = {
    "str": "STRING",
    "int": "INTEGER",
    "float": "FLOAT",
    "bool": "BOOLEAN",
    "str_list": "LIST",
    "int_list": "LIST",
    "float_list": "LIST",
}


def structured_schema(schema: Schema, present: tuple[set[str], set[str]] | None = None) -> dict[str, Any]:
    """``Neo4jGraph.structured_schema``'s shape from kgdx's schema: domain types only.

    Args:
        schema: The KG's schema (core plus modules).
        present: ``(labels, relationship types)`` the database holds; the others (e.g. the
            ``Patient`` type, which only cases use) are left out, so a model does not query them.
    """
    labels, rels = present or (set(schema.node_types), set(schema.relationship_types))
    node_props = {
        label: [{"property": "id", "type": "STRING"}]
        + [{"property": k, "type": _TYPES.get(p.type, "STRING")} for k, p in nt.properties.items()]
        for label, nt in sorted(schema.node_types.items())
        if label in labels
    }
    rel_props = {
        rel: [{"property": k, "type": _TYPES.get(p.type, "STRING")} for k, p in rt.properties.items()]
        for rel, rt in sorted(schema.relationship_types.items())
        if rel in rels
    }
    relationships = [
        {"start": s, "type": r, "end": t}
        for s, r, t in schema.edge_triples
        if r in rels and s in labels and t in labels
    ]
    return {
        "node_props": node_props,
        "rel_props": rel_props,
        "relationships": relationships,
        "metadata": {"constraint": [], "index": []},
    }


def format_schema(structured: dict[str, Any]) -> str:
    """The schema text, laid out as ``Neo4jGraph.schema`` is."""

    def props(items: dict[str, list[dict[str, str]]]) -> list[str]:
        out = []
        for name, ps in items.items():
            if ps:
                out.append(f"{name} {{" + ", ".join(f"{p['property']}: {p['type']}" for p in ps) + "}")
        return out

    rels = [f"(:{r['start']})-[:{r['type']}]->(:{r['end']})" for r in structured["relationships"]]
    return "\n".join(
        [
            "Node properties:",
            *props(structured["node_props"]),
            "Relationship properties:",
            *props(structured["rel_props"]),
            "The relationships:",
            *rels,
        ]
    )


class KgdxGraph:
    """Read-only, domain-only graph for LangChain (the ``GraphStore`` protocol).

    Args:
        store: A :class:`~kgdx.kg.neo4j_store.Neo4jStore` for :meth:`query` (any store gives the
            schema, with only the types it holds); ``None`` gives the schema's every type and a
            clear error on :meth:`query`.
        schema: The schema to show; the store's by default.
        guide: Text appended to the schema for the model; :data:`SCHEMA_GUIDE` by default.
    """

    def __init__(self, store: Any = None, *, schema: Schema | None = None, guide: str | None = SCHEMA_GUIDE) -> None:
        if store is None and schema is None:
            raise ValueError("give a 'store' or a 'schema'")
        self.store = store
        self._schema = schema
        self.guide = guide
        self.refresh_schema()

    def __repr__(self) -> str:
        n = len(self.structured_schema["node_props"])
        return f"KgdxGraph({type(self.store).__name__ if self.store is not None else 'no store'}, {n} labels)"

    def refresh_schema(self) -> None:
        """Re-read the schema (after a module was applied)."""
        schema = self._schema or self.store.schema
        present = None
        if self.store is not None:
            counts = self.store.counts()
            present = ({k for k, v in counts.nodes.items() if v}, {k for k, v in counts.relationships.items() if v})
        self.structured_schema = structured_schema(schema, present)
        text = format_schema(self.structured_schema)
        self.schema = f"{text}\n\n{self.guide}" if self.guide else text

    @property
    def get_schema(self) -> str:
        return self.schema

    @property
    def get_structured_schema(self) -> dict[str, Any]:
        return self.structured_schema

    def query(self, query: str, params: dict | None = None) -> list[dict[str, Any]]:
        """Rows as dicts, from kgdx's read-only path (refused writes raise ReadOnlyQueryError)."""
        if self.store is None or not hasattr(self.store, "cypher"):
            raise ConfigError("querying needs the Neo4j store (`kgdx neo4j start`, `kgdx kg load`)")
        result = self.store.cypher(query, params or {})
        return [dict(zip(result.columns, row)) for row in result.rows]

    def add_graph_documents(self, graph_documents: list[Any], include_source: bool = False) -> None:
        """Refused: the kgdx KG changes only through validated modules (``kgdx kg extend``)."""
        raise ReadOnlyQueryError("the kgdx graph is read-only here; extend it with a module (`kgdx kg extend`)")
