"""phenotype.hpoa: frequencies as numbers, NOT as excluded, merged duplicates, lenient/strict rows."""

from __future__ import annotations

import pytest

from kgdx.errors import DataError
from kgdx.ingest.hpo import HpoIdMap
from kgdx.ingest.hpoa import parse_frequency, read_hpoa

HEADER = """#description: "HPO annotations for rare diseases [2: OMIM; 0: DECIPHER; 1 ORPHANET]"
#version: 2025-01-16
#tracker: https://github.com/obophenotype/human-phenotype-ontology/issues
#hpo-version: http://purl.obolibrary.org/obo/hp/releases/2025-01-16/hp.json
database_id\tdisease_name\tqualifier\thpo_id\treference\tevidence\tonset\tfrequency\tsex\tmodifier\taspect\tbiocuration
"""
ROWS = [
    "OMIM:219700\tCystic fibrosis\t\tHP:0002090\tPMID:1\tPCS\tHP:0003593\t3/4\t\t\tP\tHPO:a[2020-01-01]",
    "OMIM:219700\tCystic fibrosis\t\tHP:0002090\tPMID:2\tPCS\t\t1/4\t\t\tP\tHPO:a[2020-01-01]",
    "OMIM:219700\tCystic fibrosis\t\tHP:0012735\tOMIM:219700\tTAS\t\tHP:0040281\t\t\tP\tHPO:a[2020-01-01]",
    "OMIM:219700\tCystic fibrosis\tNOT\tHP:0002105\tPMID:3\tPCS\t\t\t\t\tP\tHPO:a[2020-01-01]",
    "OMIM:219700\tCystic fibrosis\t\tHP:0000007\tOMIM:219700\tTAS\t\t\t\t\tI\tHPO:a[2020-01-01]",
    "ORPHA:586\tCystic fibrosis\t\tHP:0006520\tORPHA:586\tTAS\t\t30%\tFEMALE\t\tP\tORPHA:orphadata[2024-01-01]",
    "OMIM:600000\tSome disease\t\tHP:0012735\tPMID:4\tPCS\t\t0/5\t\t\tP\tHPO:a[2020-01-01]",
]


def write(tmp_path, rows):
    f = tmp_path / "phenotype.hpoa"
    f.write_text(HEADER + "\n".join(rows) + "\n")
    return f


def test_parse_frequency():
    assert parse_frequency("HP:0040281") == (0.895, 0)
    assert parse_frequency("3/4") == (0.75, 4)
    assert parse_frequency("12.5%") == (0.125, 0)
    assert parse_frequency("") is None
    for bad in ("5/4", "1/0", "often", "120%"):
        with pytest.raises(ValueError):
            parse_frequency(bad)


def test_annotations(tmp_path):
    idmap = HpoIdMap(current={"HP:0002090", "HP:0012735", "HP:0002105"}, alias={"HP:0006520": "HP:0002090"})
    a = read_hpoa(write(tmp_path, ROWS), idmap)
    assert [n.id for n in a.nodes] == ["OMIM:219700", "OMIM:600000", "ORPHA:586"]
    edges = {(e.type, e.src, e.dst): e.props for e in a.edges}
    cf = edges[("HAS_PHENOTYPE", "OMIM:219700", "HP:0002090")]
    assert cf["frequency"] == 0.5  # (3 + 1) / (4 + 4), pooled
    assert cf["onset"] == "HP:0003593" and cf["evidence"] == "PCS"
    assert cf["source"] == "HPO phenotype.hpoa 2025-01-16: PMID:1;PMID:2"
    assert edges[("HAS_PHENOTYPE", "OMIM:219700", "HP:0012735")]["frequency"] == 0.895
    assert ("EXCLUDES_PHENOTYPE", "OMIM:219700", "HP:0002105") in edges
    assert ("EXCLUDES_PHENOTYPE", "OMIM:600000", "HP:0012735") in edges  # 0/5 means never seen
    orpha = edges[("HAS_PHENOTYPE", "ORPHA:586", "HP:0002090")]  # alt id mapped
    assert orpha["frequency"] == 0.3 and orpha["sex"] == "FEMALE"
    assert a.report.skipped["aspect I (not a phenotype)"] == 1
    assert a.report.mapped["obsolete/alt HPO id → current"] == 1
    assert len(a.edges) == 5


def test_order_does_not_matter(tmp_path):
    one = read_hpoa(write(tmp_path, ROWS))
    two = read_hpoa(write(tmp_path, ROWS[::-1]))
    assert {(e.type, e.src, e.dst, tuple(sorted(e.props.items()))) for e in one.edges} == {
        (e.type, e.src, e.dst, tuple(sorted(e.props.items()))) for e in two.edges
    }


def test_lenient_and_strict(tmp_path):
    rows = ROWS + [
        "OMIM:219700\tCystic fibrosis\tHP:0002090",
        "OMIM:1\tbad id\t\tHP:0002090\tx\tPCS\t\t\t\t\tP\tx",
        "OMIM:219700\tCF\t\tHP:0002090\tx\tPCS\t\toften\t\t\tP\tx",
    ]
    f = write(tmp_path, rows)
    a = read_hpoa(f)
    assert a.report.skipped["wrong number of columns"] == 1
    assert a.report.skipped["bad disease id"] == 1 and a.report.skipped["bad frequency"] == 1
    assert a.report.examples["wrong number of columns"] == [f"{f}:13"]
    with pytest.raises(DataError) as e:
        read_hpoa(f, strict=True)
    assert e.value.file == str(f) and e.value.line == 13


def test_not_an_annotation_file(tmp_path):
    f = tmp_path / "x.tsv"
    f.write_text("a\tb\n1\t2\n")
    with pytest.raises(DataError, match="not an HPO annotation file") as e:
        read_hpoa(f)
    assert e.value.line == 1
