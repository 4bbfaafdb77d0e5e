"""Disease modules on both stores: validate first, apply exactly, twice is a no-op, remove undoes."""

from __future__ import annotations

import pytest

from kgdx.errors import RecordError, SchemaError
from kgdx.kg import extend
from kgdx.kg.module import load_module
from kgdx.kg.records import Node

SCHEMA = """
name: demo
version: "1.0"
prefixes: {DEMOIMG: "https://example.org/img/"}
node_types:
  ImagingSign:
    id_prefixes: [DEMOIMG]
    id_pattern: '^DEMOIMG:[A-Z_]+$'
    properties: {name: {type: str, required: true}}
relationship_types:
  HAS_SIGN:
    source: [Disease]
    target: [ImagingSign]
    properties: {frequency: {type: float, min: 0, max: 1}}
  SIGN_OF_PHENOTYPE:
    source: [ImagingSign]
    target: [Phenotype]
"""
DATA = """
defaults: {source: "demo module 2026"}
nodes:
  - {type: ImagingSign, id: "DEMOIMG:GGO_HALO", name: "halo sign"}
  - {type: Disease, id: "MONDO:0000240", name: "invasive aspergillosis"}
  - {type: Phenotype, id: "HP:0012735", name: "Cough", definition: "changed by the module"}
edges:
  - {type: HAS_SIGN, src: "MONDO:0000240", dst: "DEMOIMG:GGO_HALO", frequency: 0.6}
  - {type: SIGN_OF_PHENOTYPE, src: "DEMOIMG:GGO_HALO", dst: "HP:0025179"}
  - {type: HAS_PHENOTYPE, src: "MONDO:0000240", dst: "HP:0012735", frequency: 0.5}
  - {type: HAS_PHENOTYPE, src: "MONDO:0005249", dst: "HP:0001945", frequency: 0.95, source: "changed"}
"""


def make_module(tmp_path, schema=SCHEMA, data=DATA):
    (tmp_path / "data").mkdir(exist_ok=True)
    (tmp_path / "schema.yaml").write_text(schema)
    (tmp_path / "data" / "a.yaml").write_text(data)
    (tmp_path / "module.yaml").write_text("name: demo\nversion: '1.0'\nschema: schema.yaml\ndata: [data/a.yaml]\n")
    return load_module(tmp_path)


def snapshot(store):
    key = lambda r: (r.type, getattr(r, "id", None) or (r.src, r.dst))  # noqa: E731
    return (
        sorted(((n.type, n.id, sorted(n.props.items(), key=str)) for n in store.iter_nodes()), key=str),
        sorted(((e.type, e.src, e.dst, sorted(e.props.items(), key=str)) for e in store.iter_edges()), key=str),
        key,
    )


def registry_for(store):
    return extend.MetaRegistry(store) if hasattr(store, "set_meta") else extend.SnapshotRegistry({})


def test_apply_twice_then_remove(store, tmp_path):
    registry = registry_for(store)
    if hasattr(store, "set_meta"):
        store.set_meta(extend.MetaRegistry.KEY, None)
    before = snapshot(store)[:2]
    module = make_module(tmp_path)
    applied, plan = extend.apply(store, module, registry)
    assert applied.nodes == ["DEMOIMG:GGO_HALO", "MONDO:0000240"]
    assert len(applied.edges) == 3 and list(applied.previous_nodes) == ["HP:0012735"]
    assert applied.previous_edges[0]["key"] == ["MONDO:0005249", "HAS_PHENOTYPE", "HP:0001945"]
    assert "ImagingSign" in store.schema.node_types and store.schema.modules == ("demo",)
    assert store.node("HP:0012735").props["definition"] == "changed by the module"
    counts = store.counts().to_dict()
    again, _ = extend.apply(store, module, registry)
    assert again is None and store.counts().to_dict() == counts
    gone = extend.remove(store, "demo", registry)
    assert gone.name == "demo" and "ImagingSign" not in store.schema.node_types
    assert snapshot(store)[:2] == before
    assert registry.load()["modules"] == []


def test_conflicts_are_refused_before_writing(store, tmp_path):
    registry = registry_for(store)
    before = snapshot(store)[:2]
    bad_prefix = make_module(tmp_path, schema=SCHEMA.replace("[DEMOIMG]", "[HP]"))
    with pytest.raises(SchemaError, match="id prefix 'HP' of 'ImagingSign' clashes with node type 'Phenotype'"):
        extend.apply(store, bad_prefix, registry)
    redefined = make_module(tmp_path, schema=SCHEMA.replace("ImagingSign", "Disease"))
    with pytest.raises(SchemaError, match="redefines node type 'Disease'"):
        extend.apply(store, redefined, registry)
    unknown = make_module(tmp_path, schema=SCHEMA.replace("target: [Phenotype]", "target: [Gadget]"))
    with pytest.raises(SchemaError, match="unknown node type 'Gadget'"):
        extend.apply(store, unknown, registry)
    dangling = make_module(tmp_path, data=DATA.replace('dst: "HP:0025179"', 'dst: "HP:0099999"'))
    with pytest.raises(RecordError, match="HP:0099999") as e:
        extend.apply(store, dangling, registry)
    assert e.value.file.endswith("a.yaml") and e.value.line is not None
    assert snapshot(store)[:2] == before and "ImagingSign" not in store.schema.node_types


def test_other_version_must_be_removed_first(memory_store, tmp_path):
    registry = extend.SnapshotRegistry({})
    extend.apply(memory_store, make_module(tmp_path), registry)
    changed = make_module(tmp_path, data=DATA.replace("halo sign", "halo"))
    with pytest.raises(SchemaError, match="remove it first"):
        extend.apply(memory_store, changed, registry)
    with pytest.raises(SchemaError, match="not applied"):
        extend.remove(memory_store, "other", registry)


def test_module_types_reach_the_reasoning_index(memory_store, tmp_path):
    from kgdx.reasoning.index import annotation_edges

    extend.apply(memory_store, make_module(tmp_path), extend.SnapshotRegistry({}))
    assert ("MONDO:0000240", "HP:0025179", 0.6) in annotation_edges(memory_store)


@pytest.mark.neo4j
def test_neo4j_constraints_follow_modules(neo4j_store, tmp_path):
    registry = extend.MetaRegistry(neo4j_store)
    neo4j_store.set_meta(registry.KEY, None)
    extend.apply(neo4j_store, make_module(tmp_path), registry)
    names = {r["name"] for r in neo4j_store._read("SHOW CONSTRAINTS YIELD name RETURN name")}
    assert "kgdx_imagingsign_id" in names
    extend.remove(neo4j_store, "demo", registry)
    names = {r["name"] for r in neo4j_store._read("SHOW CONSTRAINTS YIELD name RETURN name")}
    assert "kgdx_imagingsign_id" not in names


DUPLICATES = """
defaults: {source: "demo module 2026"}
nodes:
  - {type: Disease, id: "ORPHA:586", name: "Cystic fibrosis (Orphanet)", xrefs: ["OMIM:219700", "UMLS:C0010674"]}
  - {type: Disease, id: "MONDO:0000240", name: "invasive aspergillosis"}
  - {type: Disease, id: "KGDX:LUNG_CANCER_TWIN", name: "  Lung Carcinoma "}
  - {type: Disease, id: "MONDO:0009061", name: "cystic fibrosis, classic"}
"""


def test_new_diseases_the_kg_has_are_warned_about_and_linked(store, tmp_path):
    registry = registry_for(store)
    if hasattr(store, "set_meta"):
        store.set_meta(extend.MetaRegistry.KEY, None)
    # The build gives HPO diseases their MONDO id in xrefs: OMIM:219700 lists MONDO:0009061.
    store.write([Node("Disease", "OMIM:219700", {"name": "Cystic fibrosis", "xrefs": ["MONDO:0009061"]})])
    before = snapshot(store)[:2]
    module = make_module(tmp_path, data=DUPLICATES)
    plan = extend.plan(store, module, registry)
    got = {d.node_id: d for d in plan.duplicates}
    assert sorted(got) == ["KGDX:LUNG_CANCER_TWIN", "MONDO:0009061", "ORPHA:586"]
    orpha = got["ORPHA:586"]
    assert orpha.file.endswith("a.yaml") and orpha.line == 4
    assert orpha.existing == ["OMIM:219700"] and orpha.reasons == ["the module's xref OMIM:219700"]
    assert orpha.linked == ["OMIM:219700"]
    assert (
        "a.yaml:4: disease ORPHA:586 (Cystic fibrosis (Orphanet)) is new, but the KG already has it as OMIM:219700"
        in (orpha.message())
    )
    assert got["MONDO:0009061"].reasons == ["OMIM:219700 lists MONDO:0009061 in its xrefs"]
    assert got["MONDO:0009061"].linked == ["OMIM:219700"]
    # A name (a synonym of MONDO:0008903 here) warns but never links.
    twin = got["KGDX:LUNG_CANCER_TWIN"]
    assert twin.existing == ["MONDO:0008903"] and twin.reasons == ["same name as MONDO:0008903"]
    assert twin.linked == [] and "not linked" in twin.message()
    # The links are the module's: applied with it, and removed with it.
    applied, _ = extend.apply(store, module, registry)
    assert sorted(tuple(k) for k in applied.edges) == [
        ("MONDO:0009061", "EQUIVALENT_TO", "OMIM:219700"),
        ("OMIM:219700", "EQUIVALENT_TO", "ORPHA:586"),
    ]
    assert [n.id for n in store.equivalence_class("ORPHA:586")] == ["MONDO:0009061", "OMIM:219700", "ORPHA:586"]
    [e] = [nb.edge for nb in store.neighbours("ORPHA:586", rel_types=["EQUIVALENT_TO"])]
    assert e.props == {"source": "module demo 1.0 xrefs"}
    extend.remove(store, "demo", registry)
    assert snapshot(store)[:2] == before
