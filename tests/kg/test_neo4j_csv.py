"""neo4j-admin import CSVs (kgdx.kg.neo4j_csv): headers, row counts, quoting, arrays and import.sh."""

from __future__ import annotations

import csv

import pytest

from kgdx.errors import ConfigError, DataError
from kgdx.kg.memory_store import MemoryStore
from kgdx.kg.neo4j_csv import to_neo4j_csv
from kgdx.kg.records import Edge, Node
from kgdx.kg.schema import core_schema

TRICKY = [
    Node(
        "Disease",
        "MONDO:0005180",
        {
            "name": 'Parkinson disease, "idiopathic"',
            "synonyms": ["paralysis agitans", 'PD, "classic"', "shaking\npalsy"],
            "definition": "Line one,\nline two",
        },
    ),
    Node("Phenotype", "HP:0001337", {"name": "Tremor", "ic": 0.1 + 0.2}),
    Edge(
        "HAS_PHENOTYPE", "MONDO:0005180", "HP:0001337", {"source": "HPO, 2024", "frequency": 0.895, "evidence": "PCS"}
    ),
]


def read_rows(path):
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.reader(f))


@pytest.fixture
def kg(memory_store):
    memory_store.write(TRICKY)
    return memory_store


def test_headers_and_row_counts(kg, tmp_path):
    out = to_neo4j_csv(kg, tmp_path / "neo4j")
    counts = kg.counts()
    assert set(out.node_files) == set(counts.nodes)
    assert set(out.relationship_files) == set(counts.relationships)
    for label, path in out.node_files.items():
        rows = read_rows(path)
        assert len(rows) - 1 == counts.nodes[label] == out.rows[f"nodes/{label}.csv"]
    for rel, path in out.relationship_files.items():
        rows = read_rows(path)
        assert len(rows) - 1 == counts.relationships[rel] == out.rows[f"relationships/{rel}.csv"]
        assert {r[2] for r in rows[1:]} == {rel}
    assert read_rows(out.node_files["Disease"])[0] == [
        "id:ID",
        ":LABEL",
        "name",
        "synonyms:string[]",
        "definition",
        "xrefs:string[]",
        "category",
    ]
    assert read_rows(out.node_files["Phenotype"])[0] == [
        "id:ID",
        ":LABEL",
        "name",
        "synonyms:string[]",
        "definition",
        "alt_ids:string[]",
        "ic:double",
    ]
    assert read_rows(out.relationship_files["HAS_PHENOTYPE"])[0] == [
        ":START_ID",
        ":END_ID",
        ":TYPE",
        "source",
        "frequency:double",
        "onset",
        "sex",
        "evidence",
    ]
    assert read_rows(out.relationship_files["TREATS"])[0] == [
        ":START_ID",
        ":END_ID",
        ":TYPE",
        "source",
        "line:long",
        "note",
    ]
    assert read_rows(out.node_files["LabTest"])[1][-2:] == ["0.0", "5.0"]


def test_quoting_of_commas_quotes_and_newlines(kg, tmp_path):
    out = to_neo4j_csv(kg, tmp_path / "neo4j")
    assert out.multiline  # a value holds a newline
    text = out.node_files["Disease"].read_text(encoding="utf-8")
    assert '"Parkinson disease, ""idiopathic"""' in text
    rows = {r[0]: r for r in read_rows(out.node_files["Disease"])[1:]}
    pd = rows["MONDO:0005180"]
    assert pd[1] == "Disease;KgdxNode"
    assert pd[2] == 'Parkinson disease, "idiopathic"'
    assert pd[3].split(";") == ["paralysis agitans", 'PD, "classic"', "shaking\npalsy"]
    assert pd[4] == "Line one,\nline two"
    assert pd[5] == "" and pd[6] == ""  # absent properties are empty, unquoted fields
    assert ',"Line one,\nline two",,\n' in text
    edge = read_rows(out.relationship_files["HAS_PHENOTYPE"])
    row = next(r for r in edge if r[0] == "MONDO:0005180")
    assert row[:5] == ["MONDO:0005180", "HP:0001337", "HAS_PHENOTYPE", "HPO, 2024", "0.895"]
    tremor = next(r for r in read_rows(out.node_files["Phenotype"]) if r[0] == "HP:0001337")
    assert float(tremor[-1]) == 0.1 + 0.2  # repr keeps every digit


def test_array_delimiter_is_chosen_to_be_safe(tmp_path):
    store = MemoryStore(core_schema())
    store.write([Node("Disease", "MONDO:0000001", {"name": "disease", "synonyms": ["a;b", "c"]})])
    out = to_neo4j_csv(store, tmp_path / "a")
    assert out.array_delimiter == "|"
    row = read_rows(out.node_files["Disease"])[1]
    assert row[1] == "Disease|KgdxNode" and row[3].split("|") == ["a;b", "c"]
    assert "'--array-delimiter=|'" in out.script.read_text()
    store.write([Node("Disease", "MONDO:0000001", {"name": "disease", "synonyms": ["a;b", "c|d"]})])
    out = to_neo4j_csv(store, tmp_path / "b")
    assert out.array_delimiter == "\x1f" and "--array-delimiter=U+001F" in out.command
    with pytest.raises(DataError, match="contains the array delimiter"):
        to_neo4j_csv(store, tmp_path / "c", array_delimiter=";")


def test_import_script_and_command(kg, tmp_path):
    out = to_neo4j_csv(kg, tmp_path / "neo4j", database="kgdx")
    script = out.script.read_text()
    assert script.startswith("#!/bin/sh\n")
    assert 'NEO4J_ADMIN="${NEO4J_ADMIN:-neo4j-admin}"' in script
    assert '"$NEO4J_ADMIN" database import full \\' in script
    for label in out.node_files:
        assert f'--nodes="$HERE/nodes/{label}.csv"' in script
    for rel in out.relationship_files:
        assert f'--relationships="$HERE/relationships/{rel}.csv"' in script
    for flag in (
        "--delimiter=,",
        "'--array-delimiter=;'",
        "'--quote=\"'",
        "--id-type=string",
        "--multiline-fields=true",
    ):
        assert flag in script
    assert script.rstrip().endswith('"$DATABASE"') and 'DATABASE="${1:-kgdx}"' in script
    assert out.command[:4] == ["neo4j-admin", "database", "import", "full"] and out.command[-1] == "kgdx"
    assert sum(a.startswith("--nodes=") for a in out.command) == len(out.node_files)
    assert out.script.stat().st_mode & 0o111
    schema_cypher = out.schema_file.read_text()
    assert "CREATE CONSTRAINT kgdx_disease_id IF NOT EXISTS" in schema_cypher
    assert "KgdxNode" in schema_cypher


def test_no_multiline_flag_without_newlines(memory_store, tmp_path):
    out = to_neo4j_csv(memory_store, tmp_path / "neo4j")
    assert not out.multiline and "--multiline-fields=true" not in out.command


def test_rewrite_drops_files_of_types_now_empty(kg, tmp_path):
    to_neo4j_csv(kg, tmp_path / "neo4j")
    store = MemoryStore(core_schema())
    store.write([Node("Phenotype", "HP:0001337", {"name": "Tremor"})])
    out = to_neo4j_csv(store, tmp_path / "neo4j")
    assert sorted(p.name for p in (tmp_path / "neo4j" / "nodes").iterdir()) == ["Phenotype.csv"]
    assert list((tmp_path / "neo4j" / "relationships").iterdir()) == [] and out.relationship_files == {}


def test_bad_arguments(kg, tmp_path):
    with pytest.raises(ConfigError, match="database"):
        to_neo4j_csv(kg, tmp_path, database="bad name; rm -rf /")
    with pytest.raises(ConfigError, match="one character"):
        to_neo4j_csv(kg, tmp_path, array_delimiter=";;")
