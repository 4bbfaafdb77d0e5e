"""Measurements from note text: orthostatic blood pressures, cognitive scores, QTc, the patient's age."""

from __future__ import annotations

import pytest

from kgdx.ingest.vitals import lab_flags, measured_findings, orthostatic_readings, pull_test_steps, stated_age


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("BP supine 150/82, standing 122/70.", [(28, 12, True)]),
        ("BP supine 148/88, standing (3 min) 96/62, HR 72 -> 76.", [(52, 26, True)]),
        ("Tilt test: BP 138/84 supine, 84/52 at 3 min head-up tilt.", [(54, 32, True)]),
        ("BP supine 132/80, standing at 3 min 118/74.", [(14, 6, False)]),
        ("Orthostatic drop 28/10 mmHg.", [(28, 10, True)]),
        ("lying 120/80 and 118/78 standing", [(2, 2, False)]),
        ("MoCA 18/30; BP 130/80 sitting.", []),  # a score, and a lone reading, are not a pair
        ("Carbidopa/levodopa 25/100 mg; standing 120/80.", []),
        # The posture after a comma heads the next reading, not this one.
        ("Lying BP 172/94, standing 166/90.", [(6, 4, False)]),
        ("Sitting BP 148/86, standing 140/82.", [(8, 4, False)]),
        # Both postures named once, then both readings.
        ("BP lying/standing 138/80 → 124/76.", [(14, 4, False)]),
        ("BP L/S 132/78 -> 108/70 (HR 70 -> 74)", [(24, 8, True)]),
        ("supine and standing BP 150/90, 110/70", [(40, 20, True)]),
    ],
)
def test_orthostatic_readings(text: str, expected: list[tuple[int, int, bool]]) -> None:
    assert [(r.drop_systolic, r.drop_diastolic, r.orthostatic) for r in orthostatic_readings(text)] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("MoCA 18/30 with poor clock drawing.", [("HP:0100543", True)]),
        ("MoCA 28/30, no hallucinations.", [("HP:0100543", False)]),  # a normal score rules it out
        ("MoCA: 26/30", [("HP:0100543", False)]),
        ("MMSE 19/30", [("HP:0100543", True)]),
        ("MMSE of 25", []),  # the insensitive 24-26 band says nothing
        ("ECG: QTc 512 ms, on amiodarone.", [("HP:0005184", True)]),
        ("QTc 430ms", [("HP:0005184", False)]),
        ("QTc interval 465 ms", []),  # borderline: left unread
        ("MoCA 18/30. ECG: QTc 512 ms.", [("HP:0100543", True), ("HP:0005184", True)]),
        ("MoCA not done; BP 130/80.", []),
        ("BP supine 182/98, standing 96/60.", [("HP:0000822", True)]),  # supine hypertension
        ("BP supine 132/80, standing 96/60.", []),
        ("Sitting BP 148/86, standing 140/82.", []),  # a sitting pressure is not a supine one
        ("BP sitting/standing 150/90 -> 120/80", []),
        ("BP L/S 162/94 -> 150/88", [("HP:0000822", True)]),
        ("ALT 196 U/L (ULN 40), AST 150", [("HP:0002910", True), ("HP:0002910", True)]),
        ("ALT 52 (ULN 45)", [("HP:0002910", True)]),
        ("ALT 52 U/L", []),  # no stated limit: raised only above twice 40
        ("ALT 88, platelets 96", [("HP:0002910", True)]),
        ("CPAP-intolerant, Epworth 17; dozed at a red light.", [("HP:0001262", True)]),
        ("Epworth Sleepiness Scale 6/24.", [("HP:0001262", False)]),
        ("ESS 30", []),  # not a score out of 24
        ("He has fallen twice since June.", [("HP:0002359", True)]),
        ("She had fallen three times.", [("HP:0002359", True)]),
        ("Haemoglobin has fallen to 90.", []),  # said of a blood count too
    ],
)
def test_measured_findings(text: str, expected: list[tuple[str, bool]]) -> None:
    assert [(f.id, f.present) for f in measured_findings(text)] == expected


@pytest.mark.parametrize(
    ("text", "years"),
    [
        ("71-year-old woman with type 2 diabetes.", 71),
        ("78 year old man, 2 yrs of fluctuating attention.", 78),
        ("Seen today: aged 66, retired seamstress.", 66),
        ("66 yo F with tremor", 66),
        ("Her 45-year-old daughter brings her. 78-year-old woman with falls.", 78),  # a relative's age first
        ("History: a 2 year old grandson visited. 81-year-old man.", 81),
        ("10 yrs of levodopa-responsive PD; 14 months of tremor.", None),  # durations, not ages
        ("Lives with her 15-year-old son.", None),
    ],
)
def test_stated_age(text: str, years: int | None) -> None:
    got = stated_age(text)
    assert (got.years if got else None) == years
    if got:
        assert text[got.span[0] : got.span[1]] == got.text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Two falls and a feeling of being pulled backwards.", [("HP:0002359", True)]),
        ("3 falls in the past year.", [("HP:0002359", True)]),
        ("Several unexplained falls.", [("HP:0002359", True)]),
        ("One fall last winter.", []),  # one fall is not recurrent falls
        ("1 fall.", []),
        ("No falls.", []),  # a denial is the linker's, not a count
    ],
)
def test_two_or_more_falls_are_recurrent_falls(text: str, expected: list[tuple[str, bool]]) -> None:
    assert [(f.id, f.present) for f in measured_findings(text)] == expected


@pytest.mark.parametrize(
    ("text", "failed"),
    [
        ("Levodopa 600 mg/day: no benefit.", True),
        ("Co-careldopa up to 750 mg levodopa/day made no difference.", True),
        ('- levodopa up to 1 g/day - "no real difference"', True),
        ("Levodopa titrated to 600 mg/day for 3 months without any benefit.", True),
        ("Levodopa up to 600 mg/day did nothing.", True),
        ("P: stop co-careldopa if no benefit at 1 g/day.", False),  # a plan, not a result
        ("Marked, sustained levodopa response since diagnosis.", False),
        ("Entacapone 200 mg with each levodopa dose, no change in tremor.", False),  # of a symptom
        ("No change. Levodopa continued.", False),  # another clause
    ],
)
def test_a_failed_levodopa_trial_is_levodopa_response_absent(text: str, failed: bool) -> None:
    from kgdx.ingest.vitals import LEVODOPA_RESPONSIVE, levodopa_trials

    got = levodopa_trials(text)
    assert [(f.id, f.present) for f in got] == ([(LEVODOPA_RESPONSIVE, False)] if failed else [])
    if failed:
        assert got[0].method == "treatment-response" and "trial" in got[0].why
        assert text[got[0].span[0] : got[0].span[1]].strip() == got[0].text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Caeruloplasmin 0.06 g/L (↓); B12 normal.", [("HP:0010837", True), ("HP:0100502", False)]),
        ("Platelets 118 (low), ammonia 68 µmol/L (raised).", [("HP:0001873", True), ("HP:0001987", True)]),
        ("Serum free copper ↑.", [("HP:0010838", True)]),
        # The nearest flag, and not past the next test: sodium is low, potassium normal.
        (
            "Sodium 128 (low) and potassium normal.",
            [("HP:0002902", True), ("HP:0002153", False), ("HP:0002900", False)],
        ),
        ("CK 1890, plt 102, Hb 90.", []),  # no flag: units and ranges differ between laboratories
        ("CK 1890 (upper limit of normal 200).", []),  # a reference range is not a flag
        ("CK normal range 20-200: 1890", []),
        ("CSF glucose normal.", []),  # not a blood test of the table
        ("CK is high.", [("HP:0003236", True)]),
        ("ck is high.", []),  # abbreviations in capitals only
    ],
)
def test_lab_flags(text: str, expected: list[tuple[str, bool]]) -> None:
    assert [(f.id, f.present) for f in lab_flags(text)] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Pull test: 3 steps back, recovers unaided.", [True]),
        ("Pull test: three steps, recovers.", [True]),
        ("Pull test: recovers in two steps.", [False]),  # one or two steps is normal (MDS-UPDRS 3.12)
        ("Pull test normal.", []),  # the linker's normal-exam item reads this one
        ("Two steps forward on the ward; pull test not done.", []),
        ("Pull test: would fall without help (retropulsion).", [True]),
        ("On the pull test he would have fallen.", [True]),
        ("Pull test: 3 steps back then would fall - caught.", [True]),  # one finding, from the steps
        ("He would fall asleep watching television.", []),
    ],
)
def test_pull_test_steps(text: str, expected: list[bool]) -> None:
    assert [f.present for f in pull_test_steps(text)] == expected
    assert all(f.id == "HP:0002172" for f in pull_test_steps(text))
