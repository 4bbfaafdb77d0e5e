"""Assertion-correct linking: historical, normal exam, bounded negation, clinical wording as data."""

from __future__ import annotations

from pathlib import Path

import pytest

from kgdx.encoders.clinical_vocab import ClinicalVocabulary
from kgdx.encoders.linking import ConceptLinker, _lexically_compatible, load_context_rules
from kgdx.errors import DataError
from kgdx.kg.records import Node

NODES = [
    Node("Phenotype", "HP:0004409", {"name": "Hyposmia"}),
    Node("Phenotype", "HP:5200291", {"name": "REM sleep behavior disorder"}),
    Node("Phenotype", "HP:0001278", {"name": "Orthostatic hypotension"}),
    Node("Phenotype", "HP:0002172", {"name": "Postural instability"}),
    Node("Phenotype", "HP:0000511", {"name": "Vertical supranuclear gaze palsy"}),
    Node("Phenotype", "HP:0000822", {"name": "Hypertension"}),
    Node("Phenotype", "HP:0002094", {"name": "Dyspnea", "synonyms": ["breathlessness"]}),
    Node("Phenotype", "HP:0001962", {"name": "Palpitations"}),
    Node("Phenotype", "HP:0000716", {"name": "Depression"}),
    Node("Phenotype", "HP:0001254", {"name": "Lethargy", "synonyms": ["Slowness"]}),
    Node("Phenotype", "HP:0002067", {"name": "Bradykinesia"}),
    Node("Phenotype", "HP:5200334", {"name": "Addictive gambling behavior"}),
    Node("Phenotype", "HP:5200045", {"name": "Reduced impulse control"}),
    Node("Phenotype", "HP:0002346", {"name": "Head tremor"}),
    Node("Phenotype", "HP:0100022", {"name": "Abnormality of movement", "synonyms": ["Movement disorder"]}),
    Node("Phenotype", "HP:0002174", {"name": "Postural tremor"}),
    Node("Phenotype", "HP:0030186", {"name": "Kinetic tremor"}),
    Node("Phenotype", "HP:0002322", {"name": "Resting tremor"}),
    Node("Phenotype", "HP:0012477", {"name": "Vocal tremor"}),
    Node("Phenotype", "HP:0002396", {"name": "Cogwheel rigidity"}),
    Node("Phenotype", "HP:0034634", {"name": "Dopamine antagonist exposure"}),
    Node("Phenotype", "HP:0002527", {"name": "Falls"}),
    Node("Phenotype", "HP:0002359", {"name": "Frequent falls"}),
    Node("Phenotype", "HP:0002186", {"name": "Apraxia"}),
    Node("Phenotype", "HP:0000658", {"name": "Eyelid apraxia"}),
    Node("Phenotype", "HP:0012735", {"name": "Cough", "synonyms": ["coughing"]}),
    Node("Phenotype", "HP:0002015", {"name": "Dysphagia"}),
    Node("Phenotype", "HP:0001279", {"name": "Syncope"}),
    Node("Phenotype", "HP:0031972", {"name": "Presyncope"}),
    Node("Phenotype", "HP:0002403", {"name": "Positive Romberg sign"}),
    Node("Phenotype", "HP:0001337", {"name": "Tremor"}),
    Node("Phenotype", "HP:0100785", {"name": "Insomnia"}),
    Node("Phenotype", "HP:0005110", {"name": "Atrial fibrillation"}),
    Node("Phenotype", "HP:0002019", {"name": "Constipation"}),
    Node("Phenotype", "HP:0000012", {"name": "Urinary urgency"}),
    Node(
        "Phenotype",
        "HP:0002548",
        {"name": "Parkinsonism with favorable response to dopaminergic medication"},
    ),
]


@pytest.fixture(scope="module")
def linker() -> ConceptLinker:
    return ConceptLinker(NODES, vocabulary=ClinicalVocabulary.load())


def _found(linker: ConceptLinker, text: str) -> list[tuple[str, str]]:
    return [(c.concept_id, c.assertion) for c in linker.link(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Negation ends at a new clause: palpitations stay present.
        (
            "Without hypertension, with breathlessness on exertion and episodes of palpitations.",
            [("HP:0000822", "absent"), ("HP:0002094", "present"), ("HP:0001962", "present")],
        ),
        # A backward trigger crosses a comma only into a list of mentions: "ECG normal" and
        # "TSH unremarkable" are about the ECG and the TSH, not the findings before the comma.
        (
            "Palpitations and breathlessness at night, ECG normal.",
            [("HP:0001962", "present"), ("HP:0002094", "present")],
        ),
        ("Depression, TSH unremarkable.", [("HP:0000716", "present")]),
        # A past impulse-control disorder matters to drug safety (dopamine agonists).
        ("Pathological gambling in his 40s, treated with CBT.", [("HP:5200334", "present")]),
        ("Impulse-control disorder on ropinirole in 2019.", [("HP:5200045", "present")]),
        (
            "Palpitations, breathlessness and hypertension are absent.",
            [("HP:0001962", "absent"), ("HP:0002094", "absent"), ("HP:0000822", "absent")],
        ),
        # A trigger that is the predicate of the word before it does not reach past a comma.
        ("Depression resolved, palpitations on exertion.", [("HP:0000716", "absent"), ("HP:0001962", "present")]),
        # "Unlikely to be ..." doubts what follows, not the finding before it.
        ("Breathlessness is unlikely to be cardiac in origin.", [("HP:0002094", "present")]),
        ("Hypertension is unlikely.", [("HP:0000822", "absent")]),
        # Pseudo-triggers: a "no-no" tremor negates nothing; a hedged normal rules nothing out.
        ('A "no-no" head tremor.', [("HP:0002346", "present")]),
        (
            "Depression some days, near normal mood and palpitations on others.",
            [("HP:0000716", "present"), ("HP:0001962", "present")],
        ),
        # Normal-exam statements exclude, never assert, the abnormality.
        ("Smell intact.", [("HP:0004409", "normal")]),
        ("No dream enactment, smell intact.", [("HP:5200291", "absent"), ("HP:0004409", "normal")]),
        ("Vertical saccades are full.", [("HP:0000511", "normal")]),
        ("Postural reflexes are preserved.", [("HP:0002172", "normal")]),
        # Clinical wording and abbreviations from the data files.
        ("Dream enactment for years; RBD confirmed.", [("HP:5200291", "present"), ("HP:5200291", "present")]),
        ("No loss of smell.", [("HP:0004409", "absent")]),
        ("Marked OH on testing.", [("HP:0001278", "present")]),
        ("Pull test: retropulsion.", [("HP:0002172", "present")]),
        ("Slowness of movement.", [("HP:0002067", "present")]),
        ("Slowness.", [("HP:0002067", "present")]),  # not Lethargy: the KG synonym is removed
        ("History of depression.", [("HP:0000716", "historical")]),
        ("Poor response to levodopa.", [("HP:0002548", "absent")]),
        ("Parkinsonism with waning levodopa response.", [("HP:0002548", "absent")]),
        # The longer clinical phrase wins over the general word inside it.
        ("Apraxia of eyelid opening.", [("HP:0000658", "present")]),
        ("Coughing on liquids.", [("HP:0002015", "present")]),
        (
            "Nearly fainted in the shower; two faints on standing.",
            [("HP:0031972", "present"), ("HP:0001279", "present")],
        ),
        # A near-faint is not a faint ("faint" alone names nothing).
        ("Light-headed on standing, one near-faint. Feels faint.", [("HP:0031972", "present")]),
        ("Good response to levodopa.", [("HP:0002548", "present")]),
        ("Mother had depression.", [("HP:0000716", "family")]),
        # Coordinated modifiers share the head and its assertion; only terms in the dictionary count.
        ("Postural and kinetic tremor.", [("HP:0030186", "present"), ("HP:0002174", "present")]),
        (
            "Rest, postural and kinetic tremor.",
            [("HP:0030186", "present"), ("HP:0002174", "present"), ("HP:0002322", "present")],
        ),
        ("No rest or postural tremor.", [("HP:0002174", "absent"), ("HP:0002322", "absent")]),
        ("No head or voice tremor.", [("HP:0012477", "absent"), ("HP:0002346", "absent")]),
        ("Bradykinesia and cogwheel rigidity.", [("HP:0002067", "present"), ("HP:0002396", "present")]),
        # A denied exposure is a finding ruled out; advice about a drug class is not an exposure.
        ("Never treated with antipsychotics or antiemetics.", [("HP:0034634", "absent")]),
        ("Avoid antipsychotics.", []),
        # Denying falls rules out frequent falls, which the HPO does not file under falls.
        ("Denies falls.", [("HP:0002527", "absent"), ("HP:0002359", "absent")]),
        ("Two falls last year.", [("HP:0002527", "present")]),
        # Shorthand results: "-ve" negates; "+ve" asserts, and an exam item alone asserts nothing.
        ("Romberg -ve. VSGP -ve.", [("HP:0002403", "normal"), ("HP:0000511", "absent")]),
        ("Pull test negative.", [("HP:0002172", "normal")]),
        ("Romberg +ve.", []),
        ("Hypertension +ve.", [("HP:0000822", "present")]),
        # "fine", "good", "OK" are normal only after an exam item: a fine tremor is a tremor.
        ("Mood fine, sleep good.", [("HP:0000716", "normal"), ("HP:0100785", "normal")]),
        ("The tremor is fine.", [("HP:0001337", "present")]),
        ("PMH: HTN, AF.", [("HP:0000822", "present"), ("HP:0005110", "present")]),
        # A negation reaches the end of its list, counting only the words between the items.
        (
            "She denies loss of smell, constipation, urinary urgency, giddiness, or acting out dreams.",
            [("HP:0004409", "absent"), ("HP:0002019", "absent"), ("HP:0000012", "absent"), ("HP:5200291", "absent")],
        ),
        ("Her partner has never seen her act out dreams.", [("HP:5200291", "absent")]),
        ("MOVEMENT DISORDERS CLINIC", []),  # a heading states no finding
        ("Oh, and he sleeps well.", []),  # abbreviations match only in capitals
    ],
)
def test_assertions(linker: ConceptLinker, text: str, expected: list[tuple[str, str]]) -> None:
    assert _found(linker, text) == expected


def test_normal_exam_item_alone_says_nothing(linker: ConceptLinker) -> None:
    assert _found(linker, "Smell was tested.") == []
    (c,) = linker.link("Smell intact.")
    assert c.method == "normal-exam" and c.text == "Smell" and c.to_dict()["assertion"] == "normal"


def test_a_coordinated_term_spans_from_its_modifier_to_the_head(linker: ConceptLinker) -> None:
    text = "Exam: postural and kinetic tremor of the hands."
    spans = {c.label: c.text for c in linker.link(text)}
    assert spans == {"Kinetic tremor": "kinetic tremor", "Postural tremor": "postural and kinetic tremor"}


def test_lexical_check_rejects_a_modifier_the_term_lacks() -> None:
    assert _lexically_compatible(["midbrain", "atrophy"], ["skeletal", "muscle", "atrophy"]) is False
    assert _lexically_compatible(["left", "ventricular", "cavity"], ["pulmonary", "cavity"]) is False
    assert _lexically_compatible(["tremor", "at", "rest"], ["resting", "tremor"]) is True
    assert _lexically_compatible(["pulmonary", "emboli"], ["pulmonary", "embolism"]) is True


def test_rules_file_errors_name_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "rules.tsv"
    bad.write_text("# comment\nno\tnegated\tforward\nwithout\tnegation\tforward\n")
    with pytest.raises(DataError) as e:
        load_context_rules(bad)
    assert e.value.line == 3 and str(bad) in str(e.value)
    assert load_context_rules()  # the shipped rules load


def test_vocabulary_errors_name_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "clinical_synonyms.tsv").write_text("HP:1\tfoo\n!HP:2\tbar\nHP:3\tbaz\tmaybe\n")
    with pytest.raises(DataError) as e:
        ClinicalVocabulary.load(tmp_path)
    assert e.value.line == 3 and "clinical_synonyms.tsv" in str(e.value)
    (tmp_path / "clinical_synonyms.tsv").write_text("HP:1\tfoo\n!HP:2\tbar\n")
    (tmp_path / "normal_exam.tsv").write_text("smell\tHP:1,HP:2\n")
    v = ClinicalVocabulary.load(tmp_path)
    assert v.synonyms == {"HP:1": [("foo", "present")]} and v.removed == {"HP:2": {"bar"}}
    assert v.normal_exam == {"smell": ("HP:1", "HP:2")}
    (tmp_path / "denials.tsv").write_text("# comment\nHP:1\tHP:2\nfalls\tHP:3\n")
    with pytest.raises(DataError) as e:
        ClinicalVocabulary.load(tmp_path)
    assert e.value.line == 3 and "denials.tsv" in str(e.value)
    (tmp_path / "denials.tsv").write_text("HP:1\tHP:2,HP:3\n")
    assert ClinicalVocabulary.load(tmp_path).denials == {"HP:1": ("HP:2", "HP:3")}
