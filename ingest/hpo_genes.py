"""HPO gene files (``genes_to_phenotype.txt``, ``phenotype_to_genes.txt``, ``genes_to_disease.txt``)
as Gene nodes and gene–disease ``ASSOCIATED_WITH`` edges.

The three files share the columns ``ncbi_gene_id``, ``gene_symbol`` and ``disease_id``; only
``genes_to_disease.txt`` states the association type, so the others give ``UNKNOWN``. Like the
annotation file, rows are parsed leniently by default (skipped and counted) or strictly.
"""

from __future__ import annotations

import re
from pathlib import Path

from kgdx.errors import DataError
from kgdx.files import open_text
from kgdx.ingest._result import SourceRecords
from kgdx.ingest.report import SourceReport
from kgdx.kg.records import Edge, Node, Origin
from kgdx.kg.vocab import NodeLabel, RelType

__all__ = ["read_hpo_genes"]

_DISEASE = re.compile(r"^(OMIM:\d{6}|ORPHA:\d+|DECIPHER:\d+)$")
_ASSOCIATION = {"MENDELIAN": "MENDELIAN", "POLYGENIC": "POLYGENIC", "UNKNOWN": "UNKNOWN"}


def read_hpo_genes(path: str | Path, *, release: str | None = None, strict: bool = False) -> SourceRecords:
    """Read one HPO gene file; the format is recognised by its header.

    Raises:
        DataError: if the header lacks the gene and disease columns, or (strict) for a bad row.
    """
    path = Path(path)
    report = SourceReport(f"HPO genes ({path.name})", version=release, release_date=release)
    report.add_file(path)
    source = f"HPO {path.name}" + (f" {release}" if release else "")
    f = open_text(path)
    genes: dict[str, tuple[str, int]] = {}
    links: dict[tuple[str, str], tuple[str, int]] = {}
    with f:
        header = f.readline().rstrip("\n").lstrip("#").split("\t")
        need = ("ncbi_gene_id", "gene_symbol", "disease_id")
        if not all(c in header for c in need):
            raise DataError(f"not an HPO gene file: the header needs the columns {list(need)}", file=path, line=1)
        idx = {c: header.index(c) for c in header}
        for lineno, line in enumerate(f, 2):
            if not line.strip():
                continue
            cols = line.rstrip("\n").split("\t")
            if len(cols) != len(header):
                if strict:
                    raise DataError(
                        f"wrong number of columns: {len(cols)} instead of {len(header)}", file=path, line=lineno
                    )
                report.skip("wrong number of columns", f"{path}:{lineno}")
                continue
            gene, symbol, disease = (cols[idx[c]].strip() for c in need)
            gene = gene.removeprefix("NCBIGene:")
            if not gene.isdigit() or not symbol:
                if strict:
                    raise DataError(
                        f"bad gene id or symbol: {gene!r} {symbol!r}", file=path, line=lineno, field="ncbi_gene_id"
                    )
                report.skip("bad gene id or symbol", f"{path}:{lineno}")
                continue
            gid = f"NCBIGene:{gene}"
            genes.setdefault(gid, (symbol, lineno))
            if not _DISEASE.match(disease):
                report.skip("no usable disease id")
                continue
            kind = (
                _ASSOCIATION.get(cols[idx["association_type"]].strip().upper(), "UNKNOWN")
                if "association_type" in idx
                else "UNKNOWN"
            )
            links.setdefault((gid, disease), (kind, lineno))
    nodes = [
        Node(NodeLabel.GENE, g, {"name": s, "symbol": s}, Origin(str(path), line))
        for g, (s, line) in sorted(genes.items())
    ]
    edges = [
        Edge(RelType.ASSOCIATED_WITH, g, d, {"source": source, "association": kind}, Origin(str(path), line))
        for (g, d), (kind, line) in sorted(links.items())
    ]
    report.records.update({NodeLabel.GENE: len(nodes), RelType.ASSOCIATED_WITH: len(edges)})
    return SourceRecords(nodes, edges, report)
