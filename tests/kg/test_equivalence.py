"""Disease equivalence rules: one-to-one xrefs, one id per vocabulary per class, and the classes."""

from __future__ import annotations

from kgdx.kg.equivalence import (
    EquivalenceMapping,
    equivalence_classes,
    names_agree,
    one_to_one_xrefs,
    resolve,
    vocabulary,
)
from kgdx.kg.records import Edge, Node, Origin

KNOWN = {"OMIM:277900", "ORPHA:905", "OMIM:601104", "OMIM:609454", "ORPHA:683", "ORPHA:1429", "MONDO:0019037"}
NAMES = {"ORPHA:1429": "Benign hereditary chorea", "ORPHA:905": "Wilson disease", "OMIM:277900": "Wilson disease"}


def _m(i, *xrefs, name="x", synonyms=()):
    return Node("Disease", i, {"name": name, "synonyms": list(synonyms), "xrefs": list(xrefs)}, Origin("m.json", 1))


def test_vocabulary_and_names():
    assert vocabulary("ORPHA:683") == "ORPHA"
    assert names_agree(["Wilson's disease", "hepatolenticular degeneration"], "Wilson disease")
    assert names_agree(["hearing loss, autosomal dominant 75"], "Hearing loss, autosomal-dominant 75")
    assert not names_agree(["choreatic disease"], "Benign hereditary chorea")


def test_one_to_one_bridges_and_refusals():
    classes = [
        _m("MONDO:0010200", "OMIM:277900", "ORPHA:905", "DOID:893", name="Wilson disease"),  # bridge
        _m("MONDO:0019037", "ORPHA:683"),  # itself a KG node
        _m("MONDO:0000002", "OMIM:601104", "OMIM:609454"),  # one-to-many
        _m("MONDO:0000003", "ORPHA:683"),  # claims ORPHA:683 too: many-to-one
        _m("MONDO:0001595", "ORPHA:1429", name="choreatic disease"),  # a group, names disagree
        _m("MONDO:0000005", "OMIM:100000"),  # not in the KG
    ]
    parents = [Edge("IS_A", "MONDO:0000009", "MONDO:0001595", {"source": "s"})]
    got = one_to_one_xrefs(classes, known=KNOWN, source="src", kind="MONDO xref", parents=parents, names=NAMES)
    assert [(m.a, m.b, m.via) for m in got.mappings] == [("OMIM:277900", "ORPHA:905", "MONDO:0010200")]
    assert got.xrefs == {"OMIM:277900": ["MONDO:0010200"], "ORPHA:905": ["MONDO:0010200"]}
    assert got.refused == {
        "a class with several OMIM xrefs (one-to-many)": 2,
        "an id that several classes claim (many-to-one)": 2,
        "a class with subclasses whose names disagree (possible group)": 1,
    }
    assert got.not_in_kg == 1
    assert got.examples["a class with several OMIM xrefs (one-to-many)"][0] == "MONDO:0000002 (m.json:1) → OMIM:601104"
    # Without the competing class, a KG node maps directly; a group whose names agree passes.
    got = one_to_one_xrefs(
        [classes[1], _m("MONDO:0001595", "ORPHA:1429", name="benign hereditary chorea")],
        known=KNOWN,
        source="src",
        kind="k",
        parents=parents,
        names=NAMES,
    )
    assert [(m.a, m.b, m.via) for m in got.mappings] == [("MONDO:0019037", "ORPHA:683", None)]
    assert got.xrefs == {"ORPHA:683": ["MONDO:0019037"], "ORPHA:1429": ["MONDO:0001595"]}


def test_resolve_keeps_one_id_per_vocabulary():
    ms = [
        EquivalenceMapping("OMIM:277900", "ORPHA:905", "MONDO", "MONDO xref", "MONDO:0010200"),
        EquivalenceMapping("ORPHA:905", "OMIM:277900", "module", "module xref"),  # same pair: one edge
        EquivalenceMapping("MONDO:0019037", "ORPHA:683", "module", "module xref"),
        EquivalenceMapping("MONDO:0019037", "OMIM:601104", "module", "module xref"),
        EquivalenceMapping("OMIM:609454", "ORPHA:683", "MONDO", "MONDO xref"),  # a second OMIM id: refused
    ]
    r = resolve(ms)
    assert sorted((e.src, e.dst, e.props.get("source")) for e in r.edges) == [
        ("MONDO:0019037", "OMIM:601104", "module"),
        ("MONDO:0019037", "ORPHA:683", "module"),
        ("OMIM:277900", "ORPHA:905", "MONDO; module"),
    ]
    assert r.edges[0].props["via"] == "MONDO:0010200"
    assert r.accepted == {"MONDO xref": 1, "module xref": 2}
    assert r.refused == {"would put two OMIM ids in one class": 1}
    assert r.classes == [("MONDO:0019037", "OMIM:601104", "ORPHA:683"), ("OMIM:277900", "ORPHA:905")]
    d = r.to_dict()
    assert d["largest_class"] == 3 and d["class_sizes"] == {"2": 1, "3": 1} and d["edges"] == 3
    # Edges already in the KG seed the classes: the same refusal holds against them.
    again = resolve(ms[4:], existing=[e for e in r.edges])
    assert again.edges == [] and again.refused == {"would put two OMIM ids in one class": 1}


def test_equivalence_classes():
    edges = [
        Edge("EQUIVALENT_TO", "A:1", "B:1", {"source": "s"}),
        Edge("EQUIVALENT_TO", "B:1", "C:1", {"source": "s"}),
        Edge("EQUIVALENT_TO", "D:1", "E:1", {"source": "s"}),
    ]
    got = equivalence_classes(edges)
    assert got["C:1"] == ("A:1", "B:1", "C:1") and got["D:1"] == ("D:1", "E:1") and "F:1" not in got
