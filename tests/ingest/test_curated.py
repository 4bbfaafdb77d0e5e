"""Curated YAML: records with their file and line; malformed entries named precisely."""

from __future__ import annotations

import pytest

from kgdx.errors import DataError, RecordError
from kgdx.kg.curated import read_curated
from kgdx.kg.memory_store import MemoryStore
from kgdx.kg.schema import core_schema
from kgdx.kg.testing import tiny_kg_records

GOOD = """\
defaults:
  source: "ATS/IDSA CAP guideline 2019"
nodes:
  - type: Drug
    id: "DRUGBANK:DB00254"
    name: Doxycycline
    atc_codes: [J01AA02]
edges:
  - {type: TREATS, src: "DRUGBANK:DB00254", dst: "MONDO:0005249", line: 1}
  - {type: TREATS, src: "DRUGBANK:DB01211", dst: "MONDO:0005249", line: 1, source: "BTS 2009"}
"""


def test_records_with_lines_and_defaults(tmp_path):
    f = tmp_path / "drugs.yaml"
    f.write_text(GOOD)
    recs = list(read_curated(f))
    assert [type(r).__name__ for r in recs] == ["Node", "Edge", "Edge"]
    assert recs[0].props == {"name": "Doxycycline", "atc_codes": ["J01AA02"]} and recs[0].origin.line == 4
    assert recs[1].props == {"source": "ATS/IDSA CAP guideline 2019", "line": 1} and recs[1].origin.line == 9
    assert recs[2].props["source"] == "BTS 2009"
    store = MemoryStore(core_schema())
    store.write(tiny_kg_records())
    store.write(recs)
    assert len(store.drug_indications("DRUGBANK:DB00254")) == 1


@pytest.mark.parametrize(
    ("text", "match", "line"),
    [
        ("nodes: [1, 2]\n", "must be a mapping", None),
        ("nodes:\n  - {id: 'HP:0000001'}\n", "needs a string 'type'", 2),
        ("edges:\n  - {type: TREATS, src: 'DRUGBANK:DB00254'}\n", "needs a string 'dst'", 2),
        ("stuff: 1\n", "unknown top-level keys", 1),
        ("nodes:\n  - {type: Drug\n", "invalid YAML", 3),
        ("- a\n- b\n", "must be a mapping", 1),
    ],
)
def test_malformed(tmp_path, text, match, line):
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    with pytest.raises(DataError, match=match) as e:
        list(read_curated(f))
    assert e.value.file == str(f) and e.value.line == line


def test_schema_violation_names_file_and_line(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text(
        "nodes:\n  - {type: Drug, id: 'DRUGBANK:DB00254', name: X}\n"
        "edges:\n  - {type: TREATS, src: 'DRUGBANK:DB00254', dst: 'MONDO:0005249', source: s, line: 9}\n"
    )
    store = MemoryStore(core_schema())
    store.write(tiny_kg_records())
    with pytest.raises(RecordError, match="above the maximum") as e:
        store.write(read_curated(f))
    assert (e.value.file, e.value.line, e.value.field) == (str(f), 4, "line")
    assert store.node("DRUGBANK:DB00254") is None  # nothing was written
