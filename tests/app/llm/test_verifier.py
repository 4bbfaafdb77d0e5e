"""The deterministic paragraphs and the claim verifier on the tiny KG."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kgdx.app.llm.grounding import Grounding
from kgdx.app.llm.narrative import template_paragraphs
from kgdx.app.llm.verifier import split_sentences

COVID = "MONDO:0100096"


@pytest.fixture(scope="module")
def grounding(diagnosis):
    return Grounding.from_diagnosis(diagnosis)


def test_the_differential_is_what_the_tests_assume(diagnosis):
    assert [r.id for r in diagnosis.ranking.top] == [COVID, "MONDO:0005249", "OMIM:219700"]
    assert diagnosis.explanation.validity == 1.0


def test_every_template_sentence_is_supported(diagnosis, verifier, tiny_store):
    paragraphs = template_paragraphs(diagnosis, tiny_store)
    assert [p.disease.id for p in paragraphs] == [r.id for r in diagnosis.ranking.top]
    checked = verifier.check_diagnosis(paragraphs, diagnosis)
    for p, c in zip(paragraphs, checked):
        assert c.supported, [(s.text, s.reasons) for s in c.unsupported]
        assert c.text("flag") == c.text("reject") == " ".join(split_sentences(p.text))
        assert all(cl.supported for s in c.sentences for cl in s.claims)
    first = checked[0]
    assert first.sentences[0].text.startswith("COVID-19 (MONDO:0100096) ranks first, with probability")
    # the supported finding claims carry the Cypher of their path
    finding = next(cl for s in first.sentences for cl in s.claims if cl.kind == "finding")
    assert finding.cypher.startswith("MATCH p = ") and finding.entity.startswith("HP:")


def test_the_interaction_is_said_with_the_drug_names(diagnosis, tiny_store):
    text = template_paragraphs(diagnosis, tiny_store)[0].text
    assert "Nirmatrelvir treats it but interacts (moderate) with Warfarin, which the patient takes." in text


@pytest.mark.parametrize(
    ("sentence", "kind", "reason"),
    [
        # a hallucinated drug: in the KG but not a treatment of the disease, or not in the KG at all
        ("Theophylline is the treatment of choice.", "treats", "no checked suggestion says Theophylline treats"),
        ("Start remdesivir at once.", "unlinked", "names nothing the KG knows"),
        ("Give nirmatrelvir 300 mg twice daily.", "dose", "doses (300 mg) are not in the KG"),
        # a wrong relation
        ("Fever argues against COVID-19.", "finding", "argues for COVID-19 on its verified path, not against"),
        ("Nirmatrelvir is safe for this patient.", "safe", "not a suggestion that passed"),
        ("Clarithromycin treats COVID-19.", "treats", "treats MONDO:0005249, not COVID-19"),
        # a negated finding: said present though excluded, or absent though observed
        ("The patient has hemoptysis, which supports COVID-19.", "finding", "says hemoptysis is absent"),
        ("The patient has no fever.", "absent", "the patient has fever; the text says it is absent"),
        # numbers and rank
        ("COVID-19 ranks second.", "rank", "ranks 1, not 2"),
        ("Its probability is 0.99.", "probability", "not 0.99"),
        ("Fever is seen in 95% of cases.", "frequency", "not on a verified path"),
        ("Tuberculosis is also likely.", "unlinked", "names nothing the KG knows"),
        ("Lung cancer fits this picture.", "disease", "lung cancer is not in the differential"),
    ],
)
def test_unsupported_claims_are_caught(verifier, grounding, sentence, kind, reason):
    checked = verifier.check(sentence, COVID, grounding)
    assert not checked.supported
    bad = [c for s in checked.sentences for c in s.claims if not c.supported]
    assert any(c.kind == kind and reason.lower() in c.reason.lower() for c in bad), [(c.kind, c.reason) for c in bad]


@pytest.mark.parametrize(
    "sentence",
    [
        "COVID-19 is the most likely diagnosis, with a probability of 0.58.",
        "The patient's ground-glass opacities, seen in 80% of cases, support COVID-19.",
        "Fever and ground-glass opacification are present and favour it.",
        "Nirmatrelvir is a treatment, but it interacts with warfarin, which the patient takes.",
        "The patient is on warfarin.",
        "COVID-19 is a kind of pneumonia.",
    ],
)
def test_faithful_paraphrases_pass(verifier, grounding, diagnosis, sentence):
    if "0.58" in sentence:
        sentence = sentence.replace("0.58", f"{diagnosis.ranking.top[0].probability:.2f}")
    checked = verifier.check(sentence, COVID, grounding)
    assert checked.supported, [(s.text, s.reasons) for s in checked.sentences]


def test_flag_marks_and_reject_drops(verifier, grounding):
    checked = verifier.check("Fever supports COVID-19. Start remdesivir at once.", COVID, grounding)
    assert [s.supported for s in checked.sentences] == [True, False]
    flagged = checked.text("flag")
    assert flagged.startswith("Fever supports COVID-19. [NOT SUPPORTED BY THE KG: ")
    assert flagged.endswith("Start remdesivir at once.")
    assert checked.text("reject") == "Fever supports COVID-19. [1 sentence removed: not supported by the KG's paths]"
    with pytest.raises(ValueError, match="'mode' must be 'flag' or 'reject'"):
        checked.text("hide")


def test_a_disease_outside_the_differential_is_refused(verifier, grounding):
    with pytest.raises(ValueError, match="not in the diagnosis's differential"):
        verifier.check("Text.", "MONDO:0008903", grounding)


def test_sentences_split_after_stops_only():
    assert split_sentences("Fever, e.g. high. It fits!  Next one? Yes.") == [
        "Fever, e.g. high.",
        "It fits!",
        "Next one?",
        "Yes.",
    ]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.sampled_from(
            [
                "Fever",
                "no",
                "cough",
                "treats",
                "Warfarin",
                "against",
                "80%",
                "0.5",
                "HP:0002105",
                "MONDO:0000000",
                "not reported",
                "ranks",
                "second",
                "safe",
                "interacts",
                "with",
                ",",
                ".",
                "which",
                "COVID-19",
                "mg",
            ]
        ),
        max_size=30,
    ).map(" ".join)
)
def test_any_text_is_checked_and_nothing_unsupported_goes_unmarked(verifier, grounding, text):
    checked = verifier.check(text, COVID, grounding)
    flagged, rejected = checked.text("flag"), checked.text("reject")
    for s in checked.sentences:
        assert s.text in flagged
        if not s.supported:
            assert f"[NOT SUPPORTED BY THE KG: {'; '.join(s.reasons)}] {s.text}" in flagged
            assert s.text not in rejected or any(o.supported and s.text in o.text for o in checked.sentences)
