"""The mapping files that turn another KG's node and relation types into ours.

PrimeKG and Hetionet adapters read a small YAML file (``ingest/mappings/*.yaml``) instead of
hard-coding their mappings, so a user can map one more relation, or map one less, without code.
Both files use the rules here; :func:`load_mapping` validates a file against the KG schema before
any data is read, and a bad rule is a :class:`~kgdx.errors.SchemaError` naming the file and key.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, Field, ValidationError, model_validator

from kgdx.errors import SchemaError
from kgdx.kg.records import Node, Origin
from kgdx.kg.schema import PROVENANCE, FrozenModel, Schema
from kgdx.kg.vocab import NodeLabel

__all__ = ["NodeRule", "RelationRule", "SourceMapping", "load_mapping", "bundled_mapping", "check_rules"]


class NodeRule(FrozenModel):
    """How one source node type becomes one of ours.

    Exactly one of ``prefix`` (the source id is the local part: ``DB01235`` → ``DRUGBANK:DB01235``,
    with ``pad`` zero-padding digits: ``1250`` → ``HP:0001250``), ``curie`` (the source id is
    already our CURIE) or ``lookup`` (ids map only through a table given at run time, e.g. MeSH →
    HP) says how the id is formed. ``emit`` is false for types whose nodes another adapter owns:
    edges to them are kept, their nodes are not written (so a source's names never overwrite the
    ontology's).
    """

    to: str
    prefix: str | None = None
    pad: int | None = Field(default=None, ge=1, le=12)
    curie: bool = False
    lookup: bool = False
    emit: bool | None = None

    @model_validator(mode="after")
    def _one_way(self) -> NodeRule:
        ways = [self.prefix is not None, self.curie, self.lookup]
        if sum(ways) != 1:
            raise ValueError("give exactly one of 'prefix', 'curie: true' or 'lookup: true'")
        if self.pad is not None and self.prefix is None:
            raise ValueError("'pad' needs 'prefix'")
        return self

    @property
    def emits(self) -> bool:
        return (not self.lookup) if self.emit is None else self.emit

    def node(self, curie: str, name: str, origin: Origin) -> Node:
        """Our node for a source node; PrimeKG and Hetionet name genes by their symbol."""
        props = {"name": name}
        if self.to == NodeLabel.GENE:
            props["symbol"] = name
        return Node(self.to, curie, props, origin)

    def convert(self, raw: str, schema: Schema, table: dict[str, str] | None = None) -> str | None:
        """Our CURIE for a source id, or ``None`` if it cannot be formed or breaks the pattern."""
        raw = raw.strip()
        if not raw:
            return None
        if self.lookup:
            curie = (table or {}).get(raw)
            if curie is None:
                return None
        elif self.curie:
            curie = raw
        else:
            local = raw
            if self.pad is not None:
                if not local.isdigit() or len(local) > self.pad:
                    return None
                local = local.zfill(self.pad)
            curie = f"{self.prefix}:{local}"
        return curie if schema.node_types[self.to].id_regex.match(curie) else None


class RelationRule(FrozenModel):
    """How one source relation becomes one of our relationship types, or why it is skipped.

    ``src`` and ``dst`` are the source's node types for our edge's start and end: a row whose
    ends come the other way round is turned round. For hierarchies (``IS_A``) between one type,
    ``parent`` says which column holds the parent. ``props`` are constant properties that every
    edge gets (for a type with required properties the source lacks, the mapping must give them
    or skip the relation).
    """

    to: str | None = None
    skip: str | None = None
    src: str | None = None
    dst: str | None = None
    parent: Literal["x", "y", "source", "target"] | None = None
    props: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _complete(self) -> RelationRule:
        if (self.to is None) == (self.skip is None):
            raise ValueError("give either 'to' (our relationship type) or 'skip' (the reason)")
        if self.to is not None and (self.src is None or self.dst is None):
            raise ValueError("a mapped relation needs 'src' and 'dst'")
        if PROVENANCE in self.props:
            raise ValueError(f"'{PROVENANCE}' is set by the adapter, not the mapping")
        return self


class SourceMapping(FrozenModel):
    """A mapping file: node rules and relation rules, each keyed the way its source names types."""

    name: str
    nodes: dict[str, NodeRule] = Field(default_factory=dict)
    relations: dict[str, RelationRule] = Field(default_factory=dict)


M = TypeVar("M", bound=BaseModel)


def bundled_mapping(name: str) -> Path:
    """The path of a mapping file that ships with kgdx (``ingest/mappings/<name>.yaml``)."""
    ref = resources.files("kgdx.ingest") / "mappings" / f"{name}.yaml"
    with resources.as_file(ref) as p:
        return Path(p)


def load_mapping(path: str | Path, model: type[M]) -> M:
    """Read and validate a mapping YAML file as ``model``.

    Raises:
        SchemaError: naming the file, the key path and the bad value.
    """
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise SchemaError(f"cannot read the mapping file: {e.strerror or e}", file=path) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise SchemaError(
            f"invalid YAML: {getattr(e, 'problem', e)}", file=path, line=None if mark is None else mark.line + 1
        ) from None
    if not isinstance(data, dict):
        raise SchemaError("a mapping file must be a YAML mapping", file=path)
    try:
        return model.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        key = ".".join(str(p) for p in err["loc"]) or None
        bad = err.get("input")
        shown = "" if isinstance(bad, dict) else f" (got {bad!r})"
        raise SchemaError(f"{err['msg']}{shown}", file=path, field=key) from None


def check_rules(
    nodes: dict[str, NodeRule], relations: dict[str, RelationRule], schema: Schema, path: str | Path
) -> None:
    """Check every rule against the schema: types exist, prefixes belong to them, edges join
    allowed types and required properties are supplied.

    Raises:
        SchemaError: naming the mapping file and the rule.
    """
    for key, rule in nodes.items():
        nt = schema.node_types.get(rule.to)
        if nt is None:
            raise SchemaError(f"unknown node type {rule.to!r}", file=path, field=f"nodes.{key}.to")
        if rule.prefix is not None and rule.prefix not in nt.id_prefixes:
            raise SchemaError(
                f"prefix {rule.prefix!r} is not one of {rule.to}'s {list(nt.id_prefixes)}",
                file=path,
                field=f"nodes.{key}.prefix",
            )
    kinds = {_kind(k) for k in nodes}
    for name, rule in relations.items():
        if rule.to is None:
            continue
        where = f"relations.{name}"
        rt = schema.relationship_types.get(rule.to)
        if rt is None:
            raise SchemaError(f"unknown relationship type {rule.to!r}", file=path, field=f"{where}.to")
        for end in (rule.src, rule.dst):
            if end not in kinds:
                raise SchemaError(f"{end!r} is not a node type of this mapping's 'nodes'", file=path, field=where)
        for s in _targets(nodes, rule.src):
            for d in _targets(nodes, rule.dst):
                if (s, d) not in rt.pairs:
                    raise SchemaError(f"{rule.to} cannot join {s} to {d}", file=path, field=where)
        if rule.src == rule.dst and rt.hierarchy and rule.parent is None:
            raise SchemaError(
                "a hierarchy between one node type needs 'parent' (which end is the parent)",
                file=path,
                field=f"{where}.parent",
            )
        for prop, spec in rt.properties.items():
            if spec.required and prop != PROVENANCE and prop not in rule.props:
                raise SchemaError(
                    f"{rule.to} requires {prop!r}, which the source lacks: give it in 'props' or skip the relation",
                    file=path,
                    field=f"{where}.props",
                )
        for prop, value in rule.props.items():
            spec = rt.properties.get(prop)
            if spec is None:
                raise SchemaError(f"{rule.to} has no property {prop!r}", file=path, field=f"{where}.props.{prop}")
            try:
                spec.coerce(value)
            except ValueError as e:
                raise SchemaError(str(e), file=path, field=f"{where}.props.{prop}") from None


def _kind(key: str) -> str:
    return key.split("|", 1)[0]


def _targets(nodes: dict[str, NodeRule], kind: str | None) -> set[str]:
    return {r.to for k, r in nodes.items() if _kind(k) == kind}
