"""The declarative schema: validation errors name the file, key and value; merge refuses conflicts."""

from __future__ import annotations

import pytest

from kgdx.errors import SchemaError
from kgdx.kg.schema import PropertySpec, Schema, core_schema, load_schema


def test_core_schema_has_the_required_types():
    s = core_schema()
    assert {"Disease", "Phenotype", "Gene", "Drug", "DrugClass", "LabTest", "Anatomy", "Patient"} <= set(s.node_types)
    triples = set(s.edge_triples)
    for t in [
        ("Disease", "HAS_PHENOTYPE", "Phenotype"),
        ("Disease", "EXCLUDES_PHENOTYPE", "Phenotype"),
        ("Phenotype", "IS_A", "Phenotype"),
        ("Gene", "ASSOCIATED_WITH", "Disease"),
        ("Drug", "TREATS", "Disease"),
        ("Drug", "CONTRAINDICATED_IN", "Disease"),
        ("Drug", "INTERACTS_WITH", "Drug"),
        ("Drug", "IN_CLASS", "DrugClass"),
        ("LabTest", "INDICATES", "Phenotype"),
    ]:
        assert t in triples
    assert ("Phenotype", "IS_A", "Disease") not in triples  # hierarchies stay within a type
    assert all(rt.properties["source"].required for rt in s.relationship_types.values())
    nodes, edges = s.metadata()
    assert nodes == sorted(nodes) and edges == sorted(edges)


def test_node_type_of_and_patterns():
    s = core_schema()
    assert s.node_type_of("MONDO:0005180").label == "Disease"
    assert s.node_type_of("DRUGBANK:DB01235").label == "Drug"
    with pytest.raises(KeyError, match="XYZ"):
        s.node_type_of("XYZ:1")
    assert s.node_types["LabTest"].id_regex.match("LOINC:1988-5")
    assert not s.node_types["Phenotype"].id_regex.match("HP:123")


def test_yaml_errors_name_file_key_and_value(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text(
        "name: x\nversion: '1'\nnode_types:\n  Disease:\n    id_prefixes: [MONDO]\n    id_pattern: '^MONDO:'\n"
        "    properties:\n      name: {type: string}\n"
    )
    with pytest.raises(SchemaError) as e:
        Schema.from_yaml(f)
    msg = str(e.value)
    assert str(f) in msg and "node_types.Disease.properties.name.type" in msg and "'string'" in msg
    f.write_text("name: x\nversion: [unclosed\n")
    with pytest.raises(SchemaError, match=r"bad.yaml:\d+: invalid YAML"):
        Schema.from_yaml(f)
    with pytest.raises(SchemaError, match="not found"):
        Schema.from_yaml(tmp_path / "missing.yaml")


@pytest.mark.parametrize(
    ("doc", "match"),
    [
        ({"node_types": {"bad label": {"id_prefixes": ["X"], "id_pattern": "x"}}}, "CamelCase"),
        ({"node_types": {"A": {"id_prefixes": ["X"], "id_pattern": "("}}}, "not a regular expression"),
        (
            {
                "node_types": {
                    "A": {"id_prefixes": ["X"], "id_pattern": "x"},
                    "B": {"id_prefixes": ["X"], "id_pattern": "x"},
                }
            },
            "claimed by both",
        ),
        ({"node_types": {"A": {"id_prefixes": ["X"], "id_pattern": "x", "properties": {"id": {}}}}}, "reserved"),
        ({"relationship_types": {"R": {"source": ["Nope"], "target": ["Nope"]}}}, "unknown node type 'Nope'"),
        ({"relationship_types": {"lower": {"source": ["A"], "target": ["A"]}}}, "UPPER_SNAKE"),
    ],
)
def test_invalid_schemas_are_refused(doc, match):
    with pytest.raises(SchemaError, match=match):
        Schema.from_dict({"name": "t", "version": "1", **doc})


def test_property_coercion():
    assert PropertySpec(type="float").coerce(1) == 1.0
    assert PropertySpec(type="str_list").coerce(("a", "b")) == ["a", "b"]
    with pytest.raises(ValueError, match="maximum"):
        PropertySpec(type="float", max=1).coerce(1.5)
    with pytest.raises(ValueError, match="not one of"):
        PropertySpec(type="str", enum=("a",)).coerce("b")
    with pytest.raises(ValueError, match="a list"):
        PropertySpec(type="str_list").coerce("abc")
    with pytest.raises(ValueError, match="NaN"):
        PropertySpec(type="float").coerce(float("nan"))
    with pytest.raises(ValueError, match="integer"):
        PropertySpec(type="int").coerce(1.5)
    with pytest.raises(ValueError):
        PropertySpec(type="int", enum=("a",))


MODULE = """
name: demo
version: "1.0"
prefixes: {DEMOA: "https://example.org/a/"}
node_types:
  Assessment:
    id_prefixes: [DEMOA]
    id_pattern: '^DEMOA:\\d+$'
    properties: {name: {type: str, required: true}}
relationship_types:
  ASSESSED_BY: {source: [Disease], target: [Assessment]}
"""


def test_merge_adds_types_and_is_idempotent(tmp_path):
    f = tmp_path / "m.yaml"
    f.write_text(MODULE)
    merged = load_schema(f)
    assert "Assessment" in merged.node_types and ("Disease", "ASSESSED_BY", "Assessment") in merged.edge_triples
    assert merged.modules == ("demo",)
    again = merged.merge(Schema.from_yaml(f, partial=True))
    assert again == merged
    with pytest.raises(SchemaError, match="unknown node type"):
        Schema.from_yaml(f)  # a module file alone is not a closed schema


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda m: m.replace("DEMOA]", "HP]"), "id prefix 'HP' of 'Assessment' clashes with node type 'Phenotype'"),
        (lambda m: m.replace("Assessment", "Disease"), "redefines node type 'Disease'"),
        (
            lambda m: m.replace("target: [Assessment]", "target: [Nowhere]").replace("ASSESSED_BY", "POINTS"),
            "unknown node type 'Nowhere'",
        ),
        (
            lambda m: m.replace(
                "ASSESSED_BY: {source: [Disease], target: [Assessment]}",
                "TREATS: {source: [Drug], target: [Assessment]}",
            ),
            "redefines relationship type 'TREATS'",
        ),
        (
            lambda m: m.replace('"https://example.org/a/"}', '"https://example.org/a/", HP: "https://other/"}'),
            "redefines prefix 'HP'",
        ),
    ],
)
def test_merge_conflicts_are_named(tmp_path, change, match):
    f = tmp_path / "m.yaml"
    f.write_text(change(MODULE))
    with pytest.raises(SchemaError, match=match):
        load_schema(f)
