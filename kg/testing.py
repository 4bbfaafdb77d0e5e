"""A tiny, realistic KG for tests, examples and docs (like PyG's ``FakeHeteroDataset``).

Eleven phenotypes in a small HPO-shaped hierarchy, four diseases with frequencies, a gene, drugs
with indications, a contraindication and interactions, and a lab test. Ids are real where they
exist, so the tiny KG reads like the real one.
"""

from __future__ import annotations

from kgdx.kg.records import Edge, Node
from kgdx.kg.vocab import NodeLabel, RelType

__all__ = ["tiny_kg_records"]

_SRC = "kgdx test fixture"


def tiny_kg_records() -> list[Node | Edge]:
    """The tiny KG's records: nodes first, then edges."""
    P = NodeLabel.PHENOTYPE
    nodes = [
        Node(P, "HP:0000118", {"name": "Phenotypic abnormality"}),
        Node(P, "HP:0002086", {"name": "Abnormality of the respiratory system"}),
        Node(P, "HP:0002088", {"name": "Abnormal lung morphology"}),
        Node(P, "HP:0002090", {"name": "Pneumonia", "synonyms": ["Lung infection"], "alt_ids": ["HP:0006520"]}),
        Node(P, "HP:0025179", {"name": "Ground-glass opacification", "synonyms": ["Ground glass opacity", "GGO"]}),
        Node(P, "HP:0002202", {"name": "Pleural effusion"}),
        Node(P, "HP:0012735", {"name": "Cough"}),
        Node(P, "HP:0001945", {"name": "Fever"}),
        Node(P, "HP:0002094", {"name": "Dyspnea", "synonyms": ["Shortness of breath"]}),
        Node(P, "HP:0002105", {"name": "Hemoptysis"}),
        Node(P, "HP:0011227", {"name": "Elevated circulating C-reactive protein concentration"}),
        Node(NodeLabel.DISEASE, "MONDO:0100096", {"name": "COVID-19", "category": "respiratory"}),
        Node(NodeLabel.DISEASE, "MONDO:0005249", {"name": "pneumonia", "category": "respiratory"}),
        Node(NodeLabel.DISEASE, "MONDO:0008903", {"name": "lung cancer", "synonyms": ["lung carcinoma"]}),
        Node(NodeLabel.DISEASE, "OMIM:219700", {"name": "Cystic fibrosis"}),
        Node(NodeLabel.GENE, "NCBIGene:1080", {"name": "CFTR", "symbol": "CFTR"}),
        Node(NodeLabel.DRUG, "DRUGBANK:DB01211", {"name": "Clarithromycin", "atc_codes": ["J01FA09"]}),
        Node(NodeLabel.DRUG, "DRUGBANK:DB00682", {"name": "Warfarin"}),
        Node(NodeLabel.DRUG, "DRUGBANK:DB00277", {"name": "Theophylline"}),
        Node(NodeLabel.DRUG, "DRUGBANK:DB15661", {"name": "Nirmatrelvir"}),
        Node(NodeLabel.DRUG_CLASS, "ATC:J01FA", {"name": "Macrolides"}),
        Node(NodeLabel.DRUG_CLASS, "ATC:J01F", {"name": "Macrolides, lincosamides and streptogramins"}),
        Node(
            NodeLabel.LAB_TEST,
            "LOINC:1988-5",
            {"name": "C reactive protein", "unit": "mg/L", "ref_low": 0.0, "ref_high": 5.0},
        ),
    ]
    isa = [
        ("HP:0002086", "HP:0000118"),
        ("HP:0002088", "HP:0002086"),
        ("HP:0002090", "HP:0002088"),
        ("HP:0025179", "HP:0002088"),
        ("HP:0002202", "HP:0002086"),
        ("HP:0012735", "HP:0002086"),
        ("HP:0002094", "HP:0002086"),
        ("HP:0002105", "HP:0002086"),
        ("HP:0001945", "HP:0000118"),
        ("HP:0011227", "HP:0000118"),
    ]
    edges = [Edge(RelType.IS_A, c, p, {"source": "HPO test"}) for c, p in isa]
    edges += [Edge(RelType.IS_A, "MONDO:0100096", "MONDO:0005249", {"source": _SRC})]
    phen = [
        ("MONDO:0100096", "HP:0025179", 0.8),
        ("MONDO:0100096", "HP:0001945", 0.7),
        ("MONDO:0100096", "HP:0012735", 0.6),
        ("MONDO:0005249", "HP:0002090", 1.0),
        ("MONDO:0005249", "HP:0001945", 0.8),
        ("MONDO:0005249", "HP:0012735", 0.8),
        ("MONDO:0005249", "HP:0002202", 0.3),
        ("MONDO:0008903", "HP:0002105", 0.25),
        ("MONDO:0008903", "HP:0012735", 0.5),
        ("MONDO:0008903", "HP:0002202", 0.2),
        ("OMIM:219700", "HP:0012735", 0.9),
        ("OMIM:219700", "HP:0002090", 0.6),
    ]
    edges += [Edge(RelType.HAS_PHENOTYPE, d, p, {"source": _SRC, "frequency": f}) for d, p, f in phen]
    edges += [
        Edge(RelType.EXCLUDES_PHENOTYPE, "OMIM:219700", "HP:0002105", {"source": _SRC}),
        Edge(RelType.ASSOCIATED_WITH, "NCBIGene:1080", "OMIM:219700", {"source": _SRC, "association": "MENDELIAN"}),
        Edge(RelType.TREATS, "DRUGBANK:DB01211", "MONDO:0005249", {"source": _SRC, "line": 1}),
        Edge(RelType.TREATS, "DRUGBANK:DB15661", "MONDO:0100096", {"source": _SRC, "line": 1}),
        Edge(
            RelType.CONTRAINDICATED_IN,
            "DRUGBANK:DB00682",
            "HP:0002105",
            {"source": _SRC, "severity": "relative", "reason": "bleeding risk"},
        ),
        Edge(
            RelType.INTERACTS_WITH,
            "DRUGBANK:DB01211",
            "DRUGBANK:DB00682",
            {"source": _SRC, "severity": "major", "mechanism": "CYP3A4 inhibition raises INR"},
        ),
        Edge(
            RelType.INTERACTS_WITH,
            "DRUGBANK:DB00277",
            "DRUGBANK:DB01211",
            {"source": _SRC, "severity": "major", "mechanism": "CYP3A4 inhibition raises theophylline levels"},
        ),
        Edge(
            RelType.INTERACTS_WITH,
            "DRUGBANK:DB15661",
            "DRUGBANK:DB00682",
            {"source": _SRC, "severity": "moderate", "mechanism": "ritonavir alters warfarin metabolism"},
        ),
        Edge(RelType.IN_CLASS, "DRUGBANK:DB01211", "ATC:J01FA", {"source": _SRC}),
        Edge(RelType.IS_A, "ATC:J01FA", "ATC:J01F", {"source": _SRC}),
        Edge(RelType.INDICATES, "LOINC:1988-5", "HP:0011227", {"source": _SRC, "direction": "high"}),
    ]
    return [*nodes, *edges]
