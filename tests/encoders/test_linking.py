"""Concept linking: label, synonym and embedding matches; negation, uncertainty, family; sections."""

from __future__ import annotations

import pytest

from kgdx.encoders.linking import ConceptLinker, LinkedConcept, normalize_token
from kgdx.ingest.reports import parse_report
from kgdx.kg.records import Node


@pytest.fixture(scope="module")
def linker(chest_vocab) -> ConceptLinker:
    return ConceptLinker(chest_vocab)  # dictionary only: fast, deterministic


def _pairs(found: list[LinkedConcept]) -> list[tuple[str, str]]:
    return [(c.concept_id, c.status) for c in found]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("No pleural effusion or pneumothorax.", [("HP:0002202", "absent"), ("HP:0002107", "absent")]),
        ("Small left pleural effusion.", [("HP:0002202", "present")]),
        ("Cannot exclude a small pneumothorax.", [("HP:0002107", "uncertain")]),
        ("A pneumothorax cannot be excluded.", [("HP:0002107", "uncertain")]),
        ("Pneumothorax is not excluded.", [("HP:0002107", "uncertain")]),
        ("Pneumothorax has resolved.", [("HP:0002107", "absent")]),
        ("No pneumothorax, possible small pleural effusion.", [("HP:0002107", "absent"), ("HP:0002202", "uncertain")]),
        ("No evidence to suggest consolidation.", [("HP:0032177", "absent")]),
        ("Denies fever but reports cough.", [("HP:0001945", "absent"), ("HP:0012735", "present")]),
        ("No change in the size of the lung nodules.", [("HP:0033608", "present")]),
        ("Multiple pulmonary nodules, no pleural effusions.", [("HP:0033608", "present"), ("HP:0002202", "absent")]),
        ("Without emphysema or bronchiectasis.", [("HP:0002097", "absent"), ("HP:0002110", "absent")]),
        ("Questionable bronchiectasis in the lingula.", [("HP:0002110", "uncertain")]),
        ("Rule out pneumothorax.", [("HP:0002107", "uncertain")]),
        ("Shortness of breath on exertion; no cough.", [("HP:0002094", "present"), ("HP:0012735", "absent")]),
        ("Known COPD.", [("HP:0006536", "present")]),
        ("Patient has a cold.", []),
        (
            "He has bradykinesia and a resting tremor, no rigidity.",
            [("HP:0002067", "present"), ("HP:0002322", "present")],
        ),
        ("There is no resting tremor.", [("HP:0002322", "absent")]),
    ],
)
def test_assertion_status(linker: ConceptLinker, text: str, expected: list[tuple[str, str]]) -> None:
    assert _pairs(linker.link(text)) == expected


def test_result_fields_and_spans(linker: ConceptLinker) -> None:
    text = "Stable. No Pleural Effusions are seen."
    (c,) = linker.link(text, section="findings", offset=100)
    assert c.text == "Pleural Effusions" and c.span == (111, 128) and c.method == "label" and c.score == 1.0
    assert c.label == "Pleural effusion" and c.node_type == "Phenotype" and c.section == "findings"
    assert c.trigger == "No" and c.experiencer == "patient"
    (s,) = linker.link("lung nodules")
    assert s.method == "synonym" and s.score == 0.99 and s.concept_id == "HP:0033608"


def test_family_history_is_not_the_patient(linker: ConceptLinker) -> None:
    (c,) = linker.link("Family history of resting tremor in his father.")
    assert c.experiencer == "family" and c.status == "present"


def test_report_sections_and_offsets(linker: ConceptLinker) -> None:
    text = "FINDINGS: No pleural effusion. Emphysema.\nIMPRESSION: Emphysema."
    found = linker.link_report(parse_report(text))
    assert [(c.concept_id, c.status, c.section) for c in found] == [
        ("HP:0002202", "absent", "findings"),
        ("HP:0002097", "present", "findings"),
        ("HP:0002097", "present", "impression"),
    ]
    for c in found:
        assert text[c.span[0] : c.span[1]] == c.text


def test_embedding_matches_paraphrases(chest_vocab, text_encoder) -> None:
    vocab = chest_vocab + [Node("Phenotype", "HP:0002204", {"name": "Pulmonary embolism"})]
    linker = ConceptLinker(vocab, text_encoder=text_encoder, threshold=0.85)
    found = linker.link("Tremor at rest in the left hand. Bilateral pulmonary emboli.")
    assert [(c.concept_id, c.method, c.text) for c in found] == [
        ("HP:0002322", "embedding", "Tremor at rest"),
        ("HP:0002204", "embedding", "pulmonary emboli"),
    ]
    assert all(0.85 <= c.score < 1.0 for c in found)
    # similar in meaning but not anchored on the term's head word: not linked
    assert linker.link("The pleural space.") == [] and linker.link("The weather is nice.") == []


def test_vocabulary_filters_and_errors(chest_vocab) -> None:
    assert (
        len(ConceptLinker(chest_vocab + [Node("Disease", "MONDO:0005002", {"name": "COPD"})], node_types={"Phenotype"}))
        == 13
    )
    with pytest.raises(ValueError, match="vocabulary is empty"):
        ConceptLinker([Node("Phenotype", "HP:1", {})])
    with pytest.raises(TypeError, match="got dict"):
        ConceptLinker([{"id": "HP:1"}])  # type: ignore[list-item]
    with pytest.raises(ValueError, match=r"'threshold' must be in \(0, 1\], got 0"):
        ConceptLinker(chest_vocab, threshold=0)
    assert repr(ConceptLinker(chest_vocab)) == "ConceptLinker(nodes=13, strings=17, encoder=None, threshold=0.85)"
    # '|'-separated synonyms are accepted as the KG may store them
    lk = ConceptLinker(
        [Node("Phenotype", "HP:0002094", {"name": "Dyspnea", "synonyms": "Breathlessness|Shortness of breath"})]
    )
    assert _pairs(lk.link("Breathlessness.")) == [("HP:0002094", "present")]


def test_normalisation() -> None:
    assert [
        normalize_token(w)
        for w in ["Effusions", "oedema", "Tumours", "opacities", "Parkinson's", "masses", "bronchiectasis"]
    ] == ["effusion", "edema", "tumor", "opacity", "parkinson", "mass", "bronchiectasis"]
