"""Two annotations of the same notes scored against each other: strict (HPO id and status), by
status, over the notes both annotated."""

from __future__ import annotations

from benchmarks.parkinsons import agreement


def _note(file: str, *pairs: tuple[str, str]) -> dict:
    return {"file": file, "phenotypes": [{"id": i, "status": s} for i, s in pairs]}


def test_agreement_is_strict_and_split_by_status():
    reference = [
        _note("a.txt", ("HP:1", "present"), ("HP:2", "present"), ("HP:3", "absent")),
        _note("b.txt", ("HP:4", "absent")),
    ]
    other = [
        # HP:3 with the other status is both a false positive and a miss
        _note("a.txt", ("HP:1", "present"), ("HP:3", "present"), ("HP:5", "absent")),
        _note("b.txt", ("HP:4", "absent")),
        _note("c.txt", ("HP:9", "present")),  # not in the reference: left out
    ]
    got = agreement(reference, other)
    assert got["notes"] == 2
    assert (got["precision"], got["recall"]) == (0.5, 0.5)  # 2 of 4 given, 2 of 4 wanted
    assert got["by_assertion"]["present"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5}
    assert got["by_assertion"]["absent"]["precision"] == 0.5 and got["by_assertion"]["absent"]["recall"] == 0.5


def test_an_annotation_agrees_with_itself():
    notes = [_note("a.txt", ("HP:1", "present"), ("HP:3", "absent"))]
    assert agreement(notes, notes)["f1"] == 1.0
