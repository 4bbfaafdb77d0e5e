"""Record validation: a record that breaks the schema is refused with the record, file and line."""

from __future__ import annotations

import pytest

from kgdx.errors import RecordError
from kgdx.kg.records import Edge, Node, Origin, validate_edge, validate_node
from kgdx.kg.schema import core_schema

S = core_schema()


def test_valid_records_are_coerced():
    n = validate_node(Node("LabTest", "LOINC:1988-5", {"name": "CRP", "ref_high": 5}), S)
    assert n.props["ref_high"] == 5.0 and isinstance(n.props["ref_high"], float)
    e = validate_edge(
        Edge(
            "INTERACTS_WITH",
            "DRUGBANK:DB01211",
            "DRUGBANK:DB00682",
            {"source": "x", "severity": "major", "mechanism": "m"},
        ),
        S,
    )
    assert (e.src, e.dst) == ("DRUGBANK:DB00682", "DRUGBANK:DB01211")  # symmetric: canonical order


@pytest.mark.parametrize(
    ("record", "match", "field"),
    [
        (Node("Nope", "HP:0000001", {"name": "x"}), "unknown node type 'Nope'", "type"),
        (Node("Phenotype", "HP:1", {"name": "x"}), "does not match the Phenotype pattern", "id"),
        (Node("Phenotype", "HP:0000001", {}), "requires property 'name'", "name"),
        (Node("Phenotype", "HP:0000001", {"name": "x", "colour": "red"}), "no property 'colour'", "colour"),
        (Node("Phenotype", "HP:0000001", {"name": 3}), "expected a string", "name"),
        (
            Edge("HAS_PHENOTYPE", "HP:0000001", "MONDO:0000001", {"source": "x"}),
            "cannot join Phenotype to Disease",
            "type",
        ),
        (Edge("HAS_PHENOTYPE", "MONDO:0000001", "HP:0000001", {}), "requires property 'source'", "source"),
        (Edge("HAS_PHENOTYPE", "MONDO:0000001", "HP:0000001", {"source": " "}), "provenance", "source"),
        (
            Edge("HAS_PHENOTYPE", "MONDO:0000001", "HP:0000001", {"source": "x", "frequency": 2}),
            "above the maximum",
            "frequency",
        ),
        (Edge("IS_A", "HP:0000001", "HP:0000001", {"source": "x"}), "itself", "dst"),
        (Edge("NOPE", "HP:0000001", "HP:0000002", {"source": "x"}), "unknown relationship type", "type"),
        (Edge("IS_A", "FOO:1", "HP:0000002", {"source": "x"}), "no known id prefix", "src"),
        (Edge("TREATS", "DRUGBANK:DB1", "MONDO:0000001", {"source": "x"}), "does not match the Drug pattern", "src"),
    ],
)
def test_bad_records_name_record_file_and_line(record, match, field):
    record.origin = Origin("data/file.yaml", 12)
    with pytest.raises(RecordError, match=match) as e:
        (validate_node if isinstance(record, Node) else validate_edge)(record, S)
    assert e.value.file == "data/file.yaml" and e.value.line == 12 and e.value.field == field
    assert "data/file.yaml:12" in str(e.value) and e.value.record is record
