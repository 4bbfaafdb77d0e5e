"""hp.obo: Phenotype nodes, IS_A, synonyms, definitions, and obsolete ids kept for mapping."""

from __future__ import annotations

import pytest

from kgdx.errors import DataError
from kgdx.ingest.hpo import read_hpo
from kgdx.kg.memory_store import MemoryStore
from kgdx.kg.schema import core_schema

OBO = """format-version: 1.2
data-version: hp/releases/2025-01-16
default-namespace: human_phenotype

[Term]
id: HP:0000001
name: All

[Term]
id: HP:0000118
name: Phenotypic abnormality
def: "A phenotypic abnormality." [HPO:probinson]
is_a: HP:0000001 ! All

[Term]
id: HP:0002090
name: Pneumonia
alt_id: HP:0006520
def: "Inflammation of the \\"lungs\\"." [https://orcid.org/0000-0002-0736-9199]
synonym: "Lung infection" EXACT layperson []
synonym: "Pneumonitis" RELATED []
xref: UMLS:C0032285
is_a: HP:0000118 ! Phenotypic abnormality

[Term]
id: HP:0001000
name: obsolete Old pneumonia term
is_obsolete: true
replaced_by: HP:0002090

[Term]
id: HP:0001001
name: obsolete Gone
is_obsolete: true

[Typedef]
id: part_of
name: part of
"""


def write(tmp_path, text):
    f = tmp_path / "hp.obo"
    f.write_text(text)
    return f


def test_terms_edges_and_id_map(tmp_path):
    onto = read_hpo(write(tmp_path, OBO))
    by_id = {n.id: n for n in onto.nodes}
    assert sorted(by_id) == ["HP:0000001", "HP:0000118", "HP:0002090"]
    p = by_id["HP:0002090"].props
    assert p["name"] == "Pneumonia"
    assert p["synonyms"] == ["Lung infection", "Pneumonitis"]
    assert p["definition"] == 'Inflammation of the "lungs".'
    assert p["alt_ids"] == ["HP:0001000", "HP:0006520"]
    assert [(e.src, e.dst) for e in onto.edges] == [("HP:0000118", "HP:0000001"), ("HP:0002090", "HP:0000118")]
    assert onto.edges[0].props["source"] == "HPO hp.obo 2025-01-16"
    assert onto.idmap.resolve("HP:0001000") == "HP:0002090"
    assert onto.idmap.resolve("HP:0006520") == "HP:0002090"
    assert onto.idmap.resolve("HP:0001001") is None and onto.idmap.status("HP:0001001") == "obsolete"
    assert onto.idmap.status("HP:9999999") == "unknown" and onto.idmap.status("HP:0006520") == "mapped"
    assert onto.report.version == "2025-01-16" and onto.report.mapped["obsolete term → replaced_by"] == 1
    assert by_id["HP:0002090"].origin.line == 15
    MemoryStore(core_schema()).write(onto.records())


@pytest.mark.parametrize(
    ("bad", "line"),
    [
        ("[Term]\nid: HP:0000002\nname no colon here\n", 7),
        ("[Term]\nid: HP:0000002\ndef: unquoted definition\n", 7),
        ("[Term]\nname: no id\n", 5),
        ("[Term\nid: HP:0000002\n", 5),
    ],
)
def test_malformed_lines_name_file_and_line(tmp_path, bad, line):
    f = write(tmp_path, "format-version: 1.2\n\n[Term]\nid: HP:0000001\n" + bad.replace("[Term]\n", "[Term]\n", 1))
    text = f.read_text()
    with pytest.raises(DataError) as e:
        read_hpo(f)
    assert e.value.file == str(f)
    assert e.value.line is not None and "\n".join(text.splitlines()[: e.value.line])  # a real line of the file
