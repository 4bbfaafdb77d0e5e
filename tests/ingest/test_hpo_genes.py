"""HPO gene files: Gene nodes and gene–disease edges from each of the three layouts."""

from __future__ import annotations

import pytest

from kgdx.errors import DataError
from kgdx.ingest.hpo_genes import read_hpo_genes


def test_genes_to_phenotype(tmp_path):
    f = tmp_path / "genes_to_phenotype.txt"
    f.write_text(
        "ncbi_gene_id\tgene_symbol\thpo_id\thpo_name\tfrequency\tdisease_id\n"
        "1080\tCFTR\tHP:0002090\tPneumonia\t-\tOMIM:219700\n"
        "1080\tCFTR\tHP:0012735\tCough\t3/4\tOMIM:219700\n"
        "7157\tTP53\tHP:0002664\tNeoplasm\t-\tORPHA:524\n"
        "bad\tX\tHP:1\tx\t-\tOMIM:1\n"
    )
    g = read_hpo_genes(f, release="2025-01-16")
    assert [(n.id, n.props["symbol"]) for n in g.nodes] == [("NCBIGene:1080", "CFTR"), ("NCBIGene:7157", "TP53")]
    assert [(e.src, e.dst, e.props["association"]) for e in g.edges] == [
        ("NCBIGene:1080", "OMIM:219700", "UNKNOWN"),
        ("NCBIGene:7157", "ORPHA:524", "UNKNOWN"),
    ]
    assert g.edges[0].props["source"] == "HPO genes_to_phenotype.txt 2025-01-16"
    assert g.report.skipped["bad gene id or symbol"] == 1
    with pytest.raises(DataError) as e:
        read_hpo_genes(f, strict=True)
    assert e.value.line == 5


def test_genes_to_disease_has_association_type(tmp_path):
    f = tmp_path / "genes_to_disease.txt"
    f.write_text(
        "gene_id\tgene_symbol\tassociation_type\tdisease_id\tsource\n".replace("gene_id", "ncbi_gene_id")
        + "NCBIGene:1080\tCFTR\tMENDELIAN\tOMIM:219700\tftp://omim\n"
    )
    g = read_hpo_genes(f)
    assert g.edges[0].props["association"] == "MENDELIAN" and g.nodes[0].id == "NCBIGene:1080"


def test_not_a_gene_file(tmp_path):
    f = tmp_path / "x.txt"
    f.write_text("a\tb\n")
    with pytest.raises(DataError, match="not an HPO gene file"):
        read_hpo_genes(f)
