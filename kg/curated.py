"""Curated node and edge files: kgdx's own YAML format for hand-written knowledge.

A curated file is a mapping with up to three keys::

    defaults:            # optional: properties merged into every edge that lacks them
      source: "ATS/IDSA CAP guideline 2019"
    nodes:
      - {type: Disease, id: "MONDO:0005249", name: pneumonia}
    edges:
      - {type: TREATS, src: "DRUGBANK:DB01060", dst: "MONDO:0005249", line: 1}

Every key of a node other than ``type`` and ``id`` is a property; every key of an edge other
than ``type``, ``src`` and ``dst`` is a property. Records keep the file and line they came from,
so a record that breaks the schema is reported at its line.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from kgdx.errors import DataError
from kgdx.files import read_text
from kgdx.kg.records import Edge, Node, Origin

__all__ = ["read_curated", "load_yaml_with_lines"]

_LINE = "__line__"


class _Lines:
    """Mixin of a safe loader that remembers the line each mapping starts on."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        mapping = super().construct_mapping(node, deep=deep)  # type: ignore[misc]
        mapping[_LINE] = node.start_mark.line + 1
        return mapping


class _LineLoader(_Lines, yaml.SafeLoader):
    """Pure Python: its error messages are the ones users are shown."""


# libyaml's parser, where PyYAML was built with it, reads a module's data about seven times faster.
_FastLineLoader = type("_FastLineLoader", (_Lines, yaml.CSafeLoader), {}) if yaml.__with_libyaml__ else _LineLoader


def load_yaml_with_lines(path: str | Path) -> Any:
    """Parse a YAML file; each mapping gets a ``__line__`` key with its 1-based start line.

    Raises:
        DataError: if the file is missing or is not valid YAML, naming the line.
    """
    path = Path(path)
    text = read_text(path)
    try:
        return yaml.load(text, Loader=_FastLineLoader)  # noqa: S506 - a safe loader
    except yaml.YAMLError:
        pass  # parsed again below, for the pure-Python parser's message and line
    try:
        return yaml.load(text, Loader=_LineLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise DataError(
            f"invalid YAML: {getattr(e, 'problem', e)}", file=path, line=None if mark is None else mark.line + 1
        ) from None


def read_curated(path: str | Path) -> Iterator[Node | Edge]:
    """Yield the nodes, then the edges, of one curated YAML file.

    Raises:
        DataError: for a malformed entry, naming the file, line and key.
    """
    path = Path(path)
    doc = load_yaml_with_lines(path)
    if doc is None:
        return
    if not isinstance(doc, dict):
        raise DataError("a curated file must be a mapping with 'nodes' and/or 'edges'", file=path, line=1)
    unknown = set(doc) - {"nodes", "edges", "defaults", _LINE}
    if unknown:
        raise DataError(f"unknown top-level keys {sorted(unknown)}", file=path, line=1, field=sorted(unknown)[0])
    defaults = {k: v for k, v in (doc.get("defaults") or {}).items() if k != _LINE}
    for kind, required in (("nodes", ("type", "id")), ("edges", ("type", "src", "dst"))):
        entries = doc.get(kind) or []
        if not isinstance(entries, list):
            raise DataError(f"'{kind}' must be a list", file=path, line=doc.get(_LINE), field=kind)
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict):
                raise DataError(f"{kind}[{i}] must be a mapping, got {entry!r}", file=path, field=f"{kind}[{i}]")
            entry = dict(entry)
            origin = Origin(str(path), entry.pop(_LINE, None))
            for key in required:
                if not isinstance(entry.get(key), str) or not entry[key]:
                    raise DataError(f"{kind}[{i}] needs a string '{key}'", file=path, line=origin.line, field=key)
            if kind == "nodes":
                yield Node(entry.pop("type"), entry.pop("id"), entry, origin)
            else:
                rel, src, dst = entry.pop("type"), entry.pop("src"), entry.pop("dst")
                yield Edge(rel, src, dst, {**defaults, **entry}, origin)
