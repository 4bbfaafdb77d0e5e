"""The declarative KG schema: YAML in, immutable validated models out.

One schema names every node and relationship type once, and that name runs unchanged from the
YAML to Neo4j labels and relationship types to PyG node and edge types. Modules (``kgdx kg
extend``) add types through the same format; :meth:`Schema.merge` refuses a module that
conflicts with what is there before anything is written.

Example:
    >>> schema = core_schema()
    >>> schema.node_type_of("HP:0002090").label
    'Phenotype'
    >>> ("Drug", "TREATS", "Disease") in schema.edge_triples
    True
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from kgdx.errors import SchemaError

__all__ = [
    "PropertySpec",
    "NodeType",
    "RelationshipType",
    "Schema",
    "load_schema",
    "core_schema",
    "PROVENANCE",
]

#: The relationship property every edge must carry: where the fact comes from.
PROVENANCE = "source"

PropertyKind = Literal["str", "int", "float", "bool", "str_list", "int_list", "float_list"]
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_REL_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
_PREFIX = re.compile(r"^[A-Za-z][A-Za-z0-9_.]*$")
_RESERVED = frozenset({"id", "type"})


class FrozenModel(BaseModel):
    """A pydantic model that is immutable and refuses unknown keys: the base of every declarative
    config in kgdx (schema, modules, source mappings, the synthetic cohort), so a typo in a YAML
    key is an error, never a silently ignored setting."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class PropertySpec(FrozenModel):
    """A typed property of a node or relationship type."""

    type: PropertyKind = "str"
    required: bool = False
    indexed: bool = False
    fulltext: bool = False
    enum: tuple[str, ...] | None = None
    min: float | None = None
    max: float | None = None
    description: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> PropertySpec:
        if self.enum is not None and self.type != "str":
            raise ValueError(f"'enum' needs type 'str' (got {self.type!r})")
        if (self.min is not None or self.max is not None) and self.type not in ("int", "float"):
            raise ValueError(f"'min'/'max' need a numeric type (got {self.type!r})")
        if self.fulltext and self.type not in ("str", "str_list"):
            raise ValueError(f"'fulltext' needs a string type (got {self.type!r})")
        return self

    def coerce(self, value: Any) -> Any:
        """Return ``value`` as this property's type, or raise ``ValueError`` saying why."""
        kind = self.type
        if kind.endswith("_list"):
            if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
                raise ValueError(f"expected a list, got {value!r}")
            inner = kind[: -len("_list")]
            return [_scalar(inner, v) for v in value]
        out = _scalar(kind, value)
        if self.enum is not None and out not in self.enum:
            raise ValueError(f"{out!r} is not one of {list(self.enum)}")
        if self.min is not None and out < self.min:
            raise ValueError(f"{out!r} is below the minimum {self.min}")
        if self.max is not None and out > self.max:
            raise ValueError(f"{out!r} is above the maximum {self.max}")
        return out


def _scalar(kind: str, value: Any) -> Any:
    if kind == "str":
        if not isinstance(value, str):
            raise ValueError(f"expected a string, got {value!r}")
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"expected a boolean, got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"expected a number, got {value!r}")
    if kind == "int":
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(f"expected an integer, got {value!r}")
        return int(value)
    if value != value:  # NaN is never a valid fact
        raise ValueError("expected a number, got NaN")
    return float(value)


def _check_properties(props: Mapping[str, PropertySpec]) -> None:
    for name in props:
        if not _NAME.match(name):
            raise ValueError(f"property name {name!r} must match {_NAME.pattern}")
        if name in _RESERVED:
            raise ValueError(f"property name {name!r} is reserved")


class NodeType(FrozenModel):
    """A node type: its label, the CURIE prefixes its ids use and its typed properties."""

    label: str
    description: str = ""
    id_prefixes: tuple[str, ...] = Field(min_length=1)
    id_pattern: str
    properties: dict[str, PropertySpec] = Field(default_factory=dict)

    @field_validator("label")
    @classmethod
    def _label(cls, v: str) -> str:
        if not _NAME.match(v) or not v[0].isupper():
            raise ValueError(f"label {v!r} must be CamelCase and match {_NAME.pattern}")
        return v

    @field_validator("id_prefixes")
    @classmethod
    def _prefixes(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for p in v:
            if not _PREFIX.match(p):
                raise ValueError(f"id prefix {p!r} must match {_PREFIX.pattern}")
        return v

    @field_validator("id_pattern")
    @classmethod
    def _pattern(cls, v: str) -> str:
        try:
            re.compile(v)
        except re.error as e:
            raise ValueError(f"id_pattern {v!r} is not a regular expression: {e}") from None
        return v

    @field_validator("properties")
    @classmethod
    def _props(cls, v: dict[str, PropertySpec]) -> dict[str, PropertySpec]:
        _check_properties(v)
        return v

    @cached_property
    def id_regex(self) -> re.Pattern[str]:
        return re.compile(self.id_pattern)

    @property
    def indexed(self) -> tuple[str, ...]:
        return tuple(k for k, p in self.properties.items() if p.indexed)

    @property
    def fulltext(self) -> tuple[str, ...]:
        return tuple(k for k, p in self.properties.items() if p.fulltext)


class RelationshipType(FrozenModel):
    """A relationship type: which node types it joins and its typed properties.

    Every relationship type carries a required ``source`` property (provenance), added here if
    the YAML does not declare it. ``hierarchy`` marks ``IS_A``-like types whose two ends have
    the same type; ``symmetric`` marks types such as drug–drug interactions that are stored once
    per unordered pair.
    """

    type: str
    description: str = ""
    source: tuple[str, ...] = Field(min_length=1)
    target: tuple[str, ...] = Field(min_length=1)
    hierarchy: bool = False
    symmetric: bool = False
    properties: dict[str, PropertySpec] = Field(default_factory=dict, validate_default=True)

    @field_validator("type")
    @classmethod
    def _type(cls, v: str) -> str:
        if not _REL_NAME.match(v):
            raise ValueError(f"relationship type {v!r} must be UPPER_SNAKE and match {_REL_NAME.pattern}")
        return v

    @field_validator("properties")
    @classmethod
    def _props(cls, v: dict[str, PropertySpec]) -> dict[str, PropertySpec]:
        _check_properties(v)
        spec = v.get(PROVENANCE)
        if spec is None:
            v = {PROVENANCE: PropertySpec(type="str", required=True, description="provenance"), **v}
        elif spec.type != "str" or not spec.required:
            raise ValueError(f"'{PROVENANCE}' must be a required str property (provenance)")
        return v

    @model_validator(mode="after")
    def _ends(self) -> RelationshipType:
        if (self.hierarchy or self.symmetric) and set(self.source) != set(self.target):
            raise ValueError("a hierarchy or symmetric type needs the same source and target types")
        return self

    @cached_property  # read once per edge on every load
    def pairs(self) -> tuple[tuple[str, str], ...]:
        """The (source type, target type) pairs this relationship may join."""
        if self.hierarchy or self.symmetric:
            return tuple((t, t) for t in self.source)
        return tuple((s, t) for s in self.source for t in self.target)


class Schema(FrozenModel):
    """A validated, immutable KG schema: the core plus any applied modules."""

    name: str
    version: str
    description: str = ""
    prefixes: dict[str, str] = Field(default_factory=dict)
    node_types: dict[str, NodeType] = Field(default_factory=dict)
    relationship_types: dict[str, RelationshipType] = Field(default_factory=dict)
    modules: tuple[str, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _keys_are_names(cls, data: Any) -> Any:
        # In YAML the label / type is the mapping key; fill it in so models are self-describing.
        if isinstance(data, dict):
            data = dict(data)
            for key, name_field in (("node_types", "label"), ("relationship_types", "type")):
                items = data.get(key)
                if isinstance(items, dict):
                    data[key] = {
                        k: ({name_field: k, **v} if isinstance(v, dict) and name_field not in v else v)
                        for k, v in items.items()
                    }
        return data

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> Schema:
        # A module's schema file is partial: its relationships may refer to types of the schema
        # it extends, which merge() checks. A whole schema must be closed.
        partial = bool(info.context and info.context.get("partial"))
        owner: dict[str, str] = {}
        for label, nt in self.node_types.items():
            if nt.label != label:
                raise ValueError(f"node type key {label!r} differs from its label {nt.label!r}")
            for p in nt.id_prefixes:
                if p in owner:
                    raise ValueError(f"id prefix {p!r} is claimed by both {owner[p]!r} and {label!r}")
                owner[p] = label
        for name, rt in self.relationship_types.items():
            if rt.type != name:
                raise ValueError(f"relationship key {name!r} differs from its type {rt.type!r}")
            for end in (*rt.source, *rt.target):
                if end not in self.node_types and not partial:
                    raise ValueError(f"relationship {name!r} refers to unknown node type {end!r}")
        return self

    # -- lookups ---------------------------------------------------------------------------

    @cached_property
    def _prefix_owner(self) -> dict[str, NodeType]:
        return {p: nt for nt in self.node_types.values() for p in nt.id_prefixes}

    def node_type_of(self, node_id: str) -> NodeType:
        """The node type whose CURIE prefix ``node_id`` has.

        Raises:
            KeyError: if no node type claims the prefix.
        """
        prefix = node_id.split(":", 1)[0]
        try:
            return self._prefix_owner[prefix]
        except KeyError:
            raise KeyError(f"no node type has the id prefix {prefix!r} (id {node_id!r})") from None

    @cached_property
    def edge_triples(self) -> tuple[tuple[str, str, str], ...]:
        """Every (source type, relationship type, target type) the schema allows, sorted."""
        return tuple(sorted((s, name, t) for name, rt in self.relationship_types.items() for s, t in rt.pairs))

    def metadata(self) -> tuple[list[str], list[tuple[str, str, str]]]:
        """PyG-style metadata: node types and edge triples, in a stable order."""
        return sorted(self.node_types), list(self.edge_triples)

    # -- composition -----------------------------------------------------------------------

    def merge(self, module: Schema) -> Schema:
        """Return this schema extended by ``module``'s types.

        A type the module defines identically is accepted (so applying a module twice changes
        nothing); anything else that collides is refused.

        Raises:
            SchemaError: naming the conflict: a type redefined differently, a relationship to an
                unknown type, or an id prefix or CURIE expansion that clashes.
        """
        where = f"module {module.name!r}"
        for p, iri in module.prefixes.items():
            if p in self.prefixes and self.prefixes[p] != iri:
                raise SchemaError(
                    f"{where} redefines prefix {p!r} as {iri!r} (is {self.prefixes[p]!r})",
                    field=f"prefixes.{p}",
                )
        for label, nt in module.node_types.items():
            if label in self.node_types and self.node_types[label] != nt:
                raise SchemaError(f"{where} redefines node type {label!r} differently", field=f"node_types.{label}")
            for p in nt.id_prefixes:
                owner = self._prefix_owner.get(p)
                if owner is not None and owner.label != label:
                    raise SchemaError(
                        f"{where}: id prefix {p!r} of {label!r} clashes with node type {owner.label!r}",
                        field=f"node_types.{label}.id_prefixes",
                    )
        for name, rt in module.relationship_types.items():
            if name in self.relationship_types and self.relationship_types[name] != rt:
                raise SchemaError(
                    f"{where} redefines relationship type {name!r} differently",
                    field=f"relationship_types.{name}",
                )
            for end in (*rt.source, *rt.target):
                if end not in self.node_types and end not in module.node_types:
                    raise SchemaError(
                        f"{where}: relationship {name!r} refers to unknown node type {end!r}",
                        field=f"relationship_types.{name}",
                    )
        modules = self.modules if module.name in self.modules else (*self.modules, module.name)
        return Schema(
            name=self.name,
            version=self.version,
            description=self.description,
            prefixes={**self.prefixes, **module.prefixes},
            node_types={**self.node_types, **module.node_types},
            relationship_types={**self.relationship_types, **module.relationship_types},
            modules=modules,
        )

    # -- serialisation -------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_defaults=True)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)

    @classmethod
    def from_dict(cls, data: Any, *, file: str | Path | None = None, partial: bool = False) -> Schema:
        """Validate a parsed schema document.

        Args:
            data: The parsed YAML/JSON document.
            file: Where it came from, for error messages.
            partial: Allow relationships to node types defined elsewhere (a module's additions).

        Raises:
            SchemaError: naming the file, the key path and the bad value.
        """
        if not isinstance(data, dict):
            raise SchemaError(f"a schema must be a mapping, got {type(data).__name__}", file=file)
        try:
            return cls.model_validate(data, context={"partial": partial})
        except ValidationError as e:
            err = e.errors()[0]
            key = ".".join(str(p) for p in err["loc"]) or None
            bad = err.get("input")
            shown = "" if isinstance(bad, dict) else f" (got {bad!r})"
            msg = err["msg"].removeprefix("Value error, ")
            raise SchemaError(f"{msg}{shown}", file=file, field=key) from e

    @classmethod
    def from_yaml(cls, path: str | Path, *, partial: bool = False) -> Schema:
        """Read and validate one schema YAML file (``partial`` as in :meth:`from_dict`)."""
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SchemaError("schema file not found", file=path) from None
        except yaml.YAMLError as e:
            line = getattr(getattr(e, "problem_mark", None), "line", None)
            raise SchemaError(f"invalid YAML: {e}", file=path, line=None if line is None else line + 1) from e
        return cls.from_dict(data, file=path, partial=partial)


def core_schema() -> Schema:
    """The core schema that ships with kgdx (``kg/schemas/core.yaml``)."""
    ref = resources.files("kgdx.kg") / "schemas" / "core.yaml"
    with resources.as_file(ref) as path:
        return Schema.from_yaml(path)


def load_schema(*module_paths: str | Path) -> Schema:
    """The core schema extended, in order, by the schema files of the given modules."""
    schema = core_schema()
    for p in module_paths:
        schema = schema.merge(Schema.from_yaml(p, partial=True))
    return schema
