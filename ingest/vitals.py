"""Measurements in clinical text → findings: orthostatic blood pressures, cognitive screening
scores and the corrected QT interval, each by a published cut-off.

Neurologists write the finding as numbers ("BP supine 148/88, standing (3 min) 96/62"), not as
words, so a concept linker never sees it. This reads lying/standing (or sitting/standing, or
head-up tilt) pairs, also written once for both ("BP L/S 132/78 → 108/70"), and
applies the consensus definition (Freeman et al., Clin Auton Res 2011): a sustained fall of at
least 20 mmHg systolic or 10 mmHg diastolic on standing. A measured pair below both thresholds
is a pertinent negative. "Orthostatic drop 28/10 mmHg" (the fall itself) is read as well.

The same holds for "MoCA 18/30", "QTc 512 ms" and a lying pressure of 180/100:
:func:`measured_findings` turns them into cognitive impairment, a prolonged QTc (present, or
absent for a clearly normal value) or hypertension, which drug safety needs (anticholinergics in
cognitive impairment, QT-prolonging drugs, pressor drugs in supine hypertension).

Example:
    >>> [(r.drop_systolic, r.orthostatic) for r in orthostatic_readings("BP supine 150/90, standing 88/56.")]
    [(62, True)]
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

__all__ = [
    "DIASTOLIC_DROP",
    "SYSTOLIC_DROP",
    "MeasuredFinding",
    "OrthostaticReading",
    "lab_flags",
    "measured_findings",
    "pull_test_steps",
    "orthostatic_readings",
    "StatedAge",
    "stated_age",
]

#: Consensus thresholds (mmHg) for orthostatic hypotension (Freeman et al. 2011).
SYSTOLIC_DROP = 20
DIASTOLIC_DROP = 10
#: Consensus thresholds (mmHg) for supine hypertension (Fanciulli et al. 2018).
SUPINE_SYSTOLIC = 140
SUPINE_DIASTOLIC = 90

_BP = re.compile(r"(?<![\d/])(\d{2,3})\s*/\s*(\d{2,3})(?![\d/])")
_LYING = re.compile(r"\b(supine|lying|recumbent)\b", re.I)
_SITTING = re.compile(r"\b(seated|sitting)\b", re.I)  # a baseline for the fall, but not a supine pressure
_STANDING = re.compile(r"\b(standing|stood|erect|upright|tilt|head-up)\b", re.I)
_DROP = re.compile(
    r"\b(?:orthostatic|postural)\s+(?:drop|fall)\s+(?:of\s+)?(\d{1,3})\s*/\s*(\d{1,3})\s*(?:mm\s*hg)?", re.I
)
_WINDOW = 30  # characters around a reading in which its posture word must be
#: Both postures named once, then both readings: "BP lying/standing 138/80 → 124/76", "BP L/S
#: 132/78 -> 108/70", "supine and standing BP 150/90, 110/70".
_PAIR = re.compile(
    r"\b(?:lying|supine|sitting|seated|L)\s*(?:/|and|&|-)\s*(?:standing|erect|S)\b(?:\s*(?:BP|blood\s+pressures?))?"
    r"\s*:?\s*(\d{2,3})\s*/\s*(\d{2,3})\s*(?:mm\s*hg\s*)?(?:→|->|to|,)\s*(\d{2,3})\s*/\s*(\d{2,3})",
    re.I,
)


@dataclass(frozen=True)
class OrthostaticReading:
    """A lying/standing pair (or a stated fall) and what it means.

    Attributes:
        text: The text it was read from.
        span: ``(start, end)`` character offsets.
        drop_systolic: Systolic fall on standing (mmHg).
        drop_diastolic: Diastolic fall on standing (mmHg).
    """

    text: str
    span: tuple[int, int]
    drop_systolic: int
    drop_diastolic: int
    supine: tuple[int, int] | None = None

    @property
    def orthostatic(self) -> bool:
        """Whether the fall meets the consensus definition of orthostatic hypotension."""
        return self.drop_systolic >= SYSTOLIC_DROP or self.drop_diastolic >= DIASTOLIC_DROP

    @property
    def finding(self) -> MeasuredFinding:
        """Orthostatic hypotension, present or (a measured pair below both thresholds) absent."""
        fall = f"fall {self.drop_systolic}/{self.drop_diastolic} mmHg"
        return MeasuredFinding(
            self.text,
            self.span,
            ORTHOSTATIC_HYPOTENSION,
            self.orthostatic,
            fall,
            "Orthostatic hypotension",
            "vital-signs",
        )

    @property
    def supine_hypertension(self) -> bool:
        """Whether the lying pressure is at least 140/90 (Fanciulli et al., Clin Auton Res 2018):
        it makes pressor drugs for orthostatic hypotension (midodrine, droxidopa) unsafe."""
        return self.supine is not None and (self.supine[0] >= SUPINE_SYSTOLIC or self.supine[1] >= SUPINE_DIASTOLIC)


def _posture(text: str, start: int, end: int, lo: int) -> tuple[str | None, int]:
    """The posture word nearest a reading, looking back to ``lo`` and a little ahead, and where
    the text it used ends (a word after a reading is not the next reading's)."""
    before = text[max(lo, start - _WINDOW) : start]
    after = text[end : end + _WINDOW]
    after = after[: min([m.start() for m in _BP.finditer(after)] + [len(after)])]  # not past the next reading
    best: tuple[int, str, int] | None = None  # distance, posture, end of the text used
    for words, name in ((_LYING, "lying"), (_SITTING, "sitting"), (_STANDING, "standing")):
        for m in words.finditer(before):
            d = len(before) - m.end()
            if best is None or d < best[0]:
                best = (d, name, end)
        m = words.search(after)
        # A posture word after the reading names it only within its clause ("96/62 on standing");
        # after a comma it heads the next reading ("lying 172/94, standing 166/90").
        if m is not None and not re.search(r"[,;.]", after[: m.start()]) and (best is None or m.start() < best[0]):
            best = (m.start(), name, end + m.end())
    return (best[1], best[2]) if best else (None, end)


def orthostatic_readings(text: str) -> list[OrthostaticReading]:
    """Every lying/standing blood-pressure pair, and every stated orthostatic fall, in ``text``."""
    out: list[OrthostaticReading] = []
    for m in _DROP.finditer(text):
        out.append(OrthostaticReading(m.group(0), m.span(), int(m.group(1)), int(m.group(2))))
    for m in _PAIR.finditer(text):
        lie, stand = (int(m.group(1)), int(m.group(2))), (int(m.group(3)), int(m.group(4)))
        if all(60 <= a <= 260 and 30 <= b <= 150 and b < a for a, b in (lie, stand)):
            supine = None if _SITTING.match(m.group(0)) else lie
            out.append(OrthostaticReading(m.group(0), m.span(), lie[0] - stand[0], lie[1] - stand[1], supine))
    taken = [r.span for r in out]
    lying: tuple[int, int, int, int, bool] | None = None  # systolic, diastolic, start, end, supine
    prev_end = 0
    for m in _BP.finditer(text):
        if any(a <= m.start() < b for a, b in taken):
            continue
        sys_, dia = int(m.group(1)), int(m.group(2))
        if not (60 <= sys_ <= 260 and 30 <= dia <= 150 and dia < sys_):
            prev_end = m.end()
            continue  # a score (MoCA 18/30) or a dose, not a blood pressure
        posture, used = _posture(text, m.start(), m.end(), prev_end)
        if posture in ("lying", "sitting"):
            lying = (sys_, dia, m.start(), m.end(), posture == "lying")
        elif posture == "standing" and lying is not None and m.start() - lying[3] < 120:
            span = (lying[2], m.end())
            out.append(
                OrthostaticReading(
                    text[span[0] : span[1]],
                    span,
                    lying[0] - sys_,
                    lying[1] - dia,
                    (lying[0], lying[1]) if lying[4] else None,
                )
            )
            lying = None
        prev_end = used
    return sorted(out, key=lambda r: r.span)


@dataclass(frozen=True)
class MeasuredFinding:
    """A finding read from a number: present (abnormal value) or absent (clearly normal value).

    Attributes:
        text: The text it was read from.
        span: ``(start, end)`` character offsets.
        id: The HPO id of the finding.
        present: Whether the value is abnormal; a clearly normal one is a pertinent negative.
        why: The value and the cut-off, for the listing of what was taken from the note.
        label: The finding's name, where the reading names it.
        method: ``vital-signs`` for blood pressures, ``treatment-response`` for a levodopa trial,
            ``measurement`` for the rest.
    """

    text: str
    span: tuple[int, int]
    id: str
    present: bool
    why: str
    label: str | None = None
    method: str = "measurement"


ORTHOSTATIC_HYPOTENSION = "HP:0001278"
COGNITIVE_IMPAIRMENT = "HP:0100543"
PROLONGED_QTC = "HP:0005184"
HYPERTENSION = "HP:0000822"
ELEVATED_TRANSAMINASE = "HP:0002910"
EXCESSIVE_DAYTIME_SOMNOLENCE = "HP:0001262"
#: Upper limit of normal for ALT/AST (U/L) when a note does not state one; a value is read as
#: raised only above twice it, since laboratories' limits differ (about 33-56 U/L).
TRANSAMINASE_ULN = 40
_TRANSAMINASE = re.compile(
    r"\b(ALT|AST)\b\s*:?\s*(\d{2,4})\s*(?:U/L|IU/L)?(?:\s*\(\s*ULN\s*(\d{2,3})\s*(?:U/L|IU/L)?\s*\))?"
)


FREQUENT_FALLS = "HP:0002359"
#: Two or more falls are recurrent falls (AGS/BGS Clinical Practice Guideline for Prevention of
#: Falls in Older Persons, J Am Geriatr Soc 2011; World Falls Guidelines, Age Ageing 2022).
_FALL_COUNT = re.compile(
    r"\b(\d{1,2}|two|three|four|five|six|seven|eight|nine|ten|several|multiple|many)"
    r"\s+(?:(?:more|further|previous|recent|unexplained|witnessed|separate)\s+)?falls\b",
    re.I,
)
#: "has fallen twice", "had fallen three times" (a bare "has fallen" is also said of a blood count).
_FALLEN_TIMES = re.compile(
    r"\b(?:has|have|had)\s+fallen\s+(?:(twice)|(\d{1,2}|three|four|five|six|seven|eight|nine|ten|several|many)\s+times)\b",
    re.I,
)
_COUNTS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10}


class _Rule(NamedTuple):
    """A score or interval read from a note: abnormal from ``abnormal`` (below it when
    ``low_is_abnormal``, else at or above it), normal from ``normal`` the other way; values in
    between, and above ``max_value``, are left unread."""

    name: str
    pattern: re.Pattern[str]  # group 1 = the value
    hp: str
    low_is_abnormal: bool
    abnormal: int
    normal: int
    unit: str
    max_value: int | None = None


#: MoCA: < 26 impaired (Nasreddine et al., J Am Geriatr Soc 2005). MMSE: < 24 impaired, ≥ 27
#: normal (Folstein 1975; the 24-26 band is insensitive). QTc: ≥ 470 ms prolonged, < 450 ms normal
#: (ICH E14 categories; AHA/ACCF/HRS 2009: > 450 ms men, > 460 ms women). Epworth Sleepiness
#: Scale (0-24): > 10 excessive daytime sleepiness, ≤ 10 normal (Johns, Sleep 1991).
_RULES: tuple[_Rule, ...] = (
    _Rule(
        "MoCA",
        re.compile(r"\bMoCA\b\D{0,12}?(\d{1,2})(?:\s*/\s*30)?\b"),
        COGNITIVE_IMPAIRMENT,
        low_is_abnormal=True,
        abnormal=26,
        normal=26,
        unit="/30",
        max_value=30,
    ),
    _Rule(
        "MMSE",
        re.compile(r"\bMMSE\b\D{0,12}?(\d{1,2})(?:\s*/\s*30)?\b"),
        COGNITIVE_IMPAIRMENT,
        low_is_abnormal=True,
        abnormal=24,
        normal=27,
        unit="/30",
        max_value=30,
    ),
    _Rule(
        "QTc",
        re.compile(r"\bQTc\b\D{0,12}?(\d{3})\s*(?:ms|msec|milliseconds)?\b", re.I),
        PROLONGED_QTC,
        low_is_abnormal=False,
        abnormal=470,
        normal=450,
        unit=" ms",
    ),
    _Rule(
        "Epworth",
        re.compile(r"\b(?:Epworth|ESS)\b(?:\s+(?i:sleepiness\s+scale))?\D{0,12}?(\d{1,2})(?:\s*/\s*24)?\b"),
        EXCESSIVE_DAYTIME_SOMNOLENCE,
        low_is_abnormal=False,
        abnormal=11,
        normal=11,
        unit="/24",
        max_value=24,
    ),
)


POSTURAL_INSTABILITY = "HP:0002172"
#: The pull test's steps (MDS-UPDRS item 3.12, Goetz et al., Mov Disord 2008): recovering within
#: one or two steps is normal; three or more is postural instability.
_PULL_STEPS = re.compile(
    r"\bpull[- ]test\b[^.;\n]{0,25}?\b(\d|one|two|three|four|five|six|seven|eight)\s+steps?\b", re.I
)


#: A pull test the patient would fall on, either way round ("pull test: would fall without help",
#: "on the pull test he would have fallen"); "would fall asleep" elsewhere is not one.
_PULL_FALL = re.compile(
    r"\bpull[- ]test\b[^.;\n]{0,30}?\b(?:would\s+(?:have\s+)?fall(?:en)?|fell|falls?\s+backwards?)\b(?!\s+asleep)",
    re.I,
)


def pull_test_steps(text: str) -> list[MeasuredFinding]:
    """Pull tests reported as a number of steps, or as a fall: three or more steps, or a fall, is
    *Postural instability*; one or two steps rules it out (MDS-UPDRS 3.12).

    Example:
        >>> [(f.id, f.present) for f in pull_test_steps("Pull test: 3 steps back, recovers unaided.")]
        [('HP:0002172', True)]
    """
    out = []
    for m in _PULL_STEPS.finditer(text):
        word = m.group(1).lower()
        n = int(word) if word.isdigit() else _COUNTS[word]
        why = f"pull test: {n} step{'s' if n > 1 else ''} ({'≥ 3: abnormal' if n >= 3 else '≤ 2: normal'}, MDS-UPDRS 3.12)"
        out.append(MeasuredFinding(m.group(0), m.span(), POSTURAL_INSTABILITY, n >= 3, why))
    for m in _PULL_FALL.finditer(text):
        if not any(a <= m.start() < b for a, b in (f.span for f in out)):
            why = "falls on the pull test if not caught (MDS-UPDRS 3.12: 3)"
            out.append(MeasuredFinding(m.group(0), m.span(), POSTURAL_INSTABILITY, True, why))
    return out


class _Lab(NamedTuple):
    """A laboratory test a note may report with its laboratory's flag: the HPO terms for a high
    and a low result (``None`` where the HPO has none that matters here)."""

    name: str
    pattern: re.Pattern[str]
    high: str | None
    low: str | None


def _lab(name: str, words: str, high: str | None, low: str | None, abbrev: str = "") -> _Lab:
    """Names in any case (``words``) and abbreviations in capitals only (``abbrev``)."""
    alts = [f"(?i:{words})"] + ([abbrev] if abbrev else [])
    return _Lab(name, re.compile(rf"\b(?:{'|'.join(alts)})\b"), high, low)


#: Tests read only with a flag the note itself gives ("platelets 118 (low)", "caeruloplasmin
#: 0.06 g/L (↓)", "ammonia raised", "B12 normal"): units and reference ranges differ between
#: laboratories, and the flag is the laboratory's own reading of them.
_LABS: tuple[_Lab, ...] = (
    _lab("platelets", r"platelets?|platelet count", "HP:0001894", "HP:0001873", r"plts?|PLT"),
    _lab("ammonia", r"ammonia", "HP:0001987", None, r"NH3"),
    _lab("creatine kinase", r"creatine kinase", "HP:0003236", None, r"CK|CPK"),
    _lab("caeruloplasmin", r"c(?:a)?eruloplasmin", None, "HP:0010837"),
    _lab("urine copper", r"urin(?:e|ary)\s+copper", "HP:0010839", None),
    _lab("free copper", r"(?:serum\s+)?free\s+copper|non-c(?:a)?eruloplasmin(?:-bound)?\s+copper", "HP:0010838", None),
    _lab("bilirubin", r"bilirubin", "HP:0002904", None),
    _lab("sodium", r"sodium", "HP:0003228", "HP:0002902"),
    _lab("potassium", r"potassium", "HP:0002153", "HP:0002900"),
    _lab("haemoglobin", r"h(?:a)?emoglobin", None, "HP:0001903", r"Hb|Hgb"),
    _lab("white cell count", r"white (?:blood )?cell count", "HP:0001974", "HP:0001882", r"WCC|WBC"),
    _lab("CRP", r"c-reactive protein", "HP:0011227", None, r"CRP"),
    _lab("creatinine", r"creatinine", "HP:0003259", None),
    _lab("vitamin B12", r"(?:vitamin\s+)?B12", None, "HP:0100502"),
    _lab("prolactin", r"prolactin", "HP:0000870", None),
    _lab("liver function tests", r"liver function tests?", ELEVATED_TRANSAMINASE, None, r"LFTs?"),
)
_FLAG_HIGH = re.compile(r"↑|\b(?:high|raised|elevated|increased)\b", re.I)
_FLAG_LOW = re.compile(r"↓|\b(?:low|reduced|decreased)\b", re.I)
#: "normal", but not a reference range ("normal range 20-200", "upper limit of normal 200").
_FLAG_NORMAL = re.compile(r"\b(?:within normal limits|WNL|(?<!of )normal(?!\s+(?:range|limits?|values?)))\b", re.I)
_FLAG_REACH = 40  # characters after the test's name in which its value and flag must be
_FLAGS = (("high", _FLAG_HIGH), ("low", _FLAG_LOW), ("normal", _FLAG_NORMAL))


def lab_flags(text: str) -> list[MeasuredFinding]:
    """Laboratory results that ``text`` flags itself, as findings: high or low (present), or
    normal (both directions absent). The flag must follow the test's name within its clause
    ("platelets 118 (low), ammonia 68 (raised)"); a result without a flag is left unread.

    Example:
        >>> [(f.id, f.present) for f in lab_flags("Caeruloplasmin 0.06 g/L (↓); B12 normal.")]
        [('HP:0010837', True), ('HP:0100502', False)]
    """
    out: list[MeasuredFinding] = []
    for lab in _LABS:
        for m in lab.pattern.finditer(text):
            rest = re.split(r"[,;\n]|\.(?!\d)", text[m.end() : m.end() + _FLAG_REACH])[0]
            nxt = [o.start() for other in _LABS for o in [other.pattern.search(rest)] if o is not None]
            rest = rest[: min(nxt, default=len(rest))]  # "sodium 128 (low) and potassium normal"
            flags = [(f.start(), f, kind) for kind, pat in _FLAGS for f in [pat.search(rest)] if f is not None]
            if not flags:
                continue  # a value without a flag is left unread
            _, flag, kind = min(flags, key=lambda x: x[0])
            span = (m.start(), m.end() + flag.end())
            said, why = text[span[0] : span[1]], f"{lab.name} {kind} (the note's flag)"
            if kind == "normal":
                out += [MeasuredFinding(said, span, hp, False, why) for hp in (lab.high, lab.low) if hp]
            elif (hp := lab.high if kind == "high" else lab.low) is not None:
                out.append(MeasuredFinding(said, span, hp, True, why))
    return out


def measured_findings(text: str) -> list[MeasuredFinding]:
    """Cognitive screening scores (MoCA, MMSE out of 30), QTc intervals, Epworth sleepiness scores,
    raised ALT/AST, a count of two or more falls, supine hypertension (the lying pressure of a
    lying/standing pair), failed levodopa trials (:func:`levodopa_trials`), laboratory results the
    note flags itself (:func:`lab_flags`) and pull tests counted in steps (:func:`pull_test_steps`)
    in ``text``, as findings. The orthostatic fall itself is :attr:`OrthostaticReading.finding`.

    Example:
        >>> [(f.id, f.present) for f in measured_findings("MoCA 18/30. ECG: QTc 512 ms.")]
        [('HP:0100543', True), ('HP:0005184', True)]
    """
    out: list[MeasuredFinding] = []
    for rule in _RULES:
        for m in rule.pattern.finditer(text):
            v = int(m.group(1))
            if rule.max_value is not None and v > rule.max_value:
                continue  # not a score on this scale
            present = v < rule.abnormal if rule.low_is_abnormal else v >= rule.abnormal
            normal = v >= rule.normal if rule.low_is_abnormal else v < rule.normal
            if not (present or normal):
                continue
            below = present == rule.low_is_abnormal
            limit = f"{rule.abnormal if present else rule.normal}{'' if rule.unit.startswith('/') else rule.unit}"
            cut = f"{rule.name} {v}{rule.unit} ({'<' if below else '≥'} {limit})"
            out.append(MeasuredFinding(m.group(0), m.span(), rule.hp, present, cut))
    for m in _TRANSAMINASE.finditer(text):
        v, uln = int(m.group(2)), int(m.group(3)) if m.group(3) else None
        if v > (uln if uln else 2 * TRANSAMINASE_ULN):
            why = f"{m.group(1)} {v} U/L (> {f'the stated ULN {uln}' if uln else f'twice {TRANSAMINASE_ULN}'})"
            out.append(MeasuredFinding(m.group(0), m.span(), ELEVATED_TRANSAMINASE, True, why))
    counts = [(m, m.group(1)) for m in _FALL_COUNT.finditer(text)]
    counts += [(m, m.group(2) or "two") for m in _FALLEN_TIMES.finditer(text)]
    for m, said in counts:
        word = said.lower()
        n = int(word) if word.isdigit() else _COUNTS.get(word, 2)  # "several", "multiple": at least two
        if n >= 2:
            out.append(
                MeasuredFinding(m.group(0), m.span(), FREQUENT_FALLS, True, f"{m.group(0)} (recurrent: ≥ 2 falls)")
            )
    for r in orthostatic_readings(text):
        if r.supine_hypertension and r.supine is not None:
            why = (
                f"supine {r.supine[0]}/{r.supine[1]} mmHg (supine hypertension, ≥ {SUPINE_SYSTOLIC}/{SUPINE_DIASTOLIC})"
            )
            out.append(MeasuredFinding(r.text, r.span, HYPERTENSION, True, why))
    out += levodopa_trials(text)
    out += lab_flags(text)
    out += pull_test_steps(text)
    return sorted(out, key=lambda f: f.span)


#: Levodopa-responsive (HPO): a trial of levodopa that the note says did nothing is its absence.
LEVODOPA_RESPONSIVE = "HP:0002548"
_LEVODOPA = re.compile(r"\b(?:levodopa|l-dopa|co-careldopa|co-beneldopa|sinemet|madopar)\b", re.I)
#: What a note says of a trial that failed: "no benefit", "no real difference", "without any
#: response", "minimal benefit", "made no difference", "did nothing". A dose may sit in between
#: ("Levodopa 600 mg/day: no benefit"), which is why the vocabulary's phrases do not reach it.
_NO_RESPONSE = re.compile(
    r"\b(?:no|without(?:\s+any)?|minimal|little|not\s+any)\s+"
    r"(?:(?:real|clear|meaningful|useful|significant|obvious|motor|sustained)\s+)*"
    r"(?:benefit|change|difference|improvement|response)\b(?!\s+in\b)"
    r"|\bmade\s+no\s+difference\b|\bdid\s+(?:nothing|not\s+help)\b",
    re.I,
)
_HYPOTHETICAL = re.compile(r"\b(?:if|unless|whether|in\s+case)\b", re.I)
_CLAUSE = re.compile(r"(?:[^.;\n]|\.(?=\d))+")


def levodopa_trials(text: str) -> list[MeasuredFinding]:
    """Failed levodopa trials in ``text``: a clause that names levodopa (or co-careldopa,
    Sinemet, Madopar) and says it did nothing, read as *Levodopa-responsive* absent. A
    conditional ("stop co-careldopa if no benefit") is a plan, not a result, and is skipped.

    Example:
        >>> [(f.id, f.present) for f in levodopa_trials("Levodopa 600 mg/day: no benefit.")]
        [('HP:0002548', False)]
    """
    out = []
    for c in _CLAUSE.finditer(text):
        clause = c.group(0)
        drug, cue = _LEVODOPA.search(clause), _NO_RESPONSE.search(clause)
        if drug is None or cue is None or _HYPOTHETICAL.search(clause[: cue.start()]):
            continue
        why = f"{drug.group(0)} trial: {cue.group(0)!r}"
        out.append(
            MeasuredFinding(clause.strip(), c.span(), LEVODOPA_RESPONSIVE, False, why, method="treatment-response")
        )
    return out


_AGE = re.compile(
    r"\b(\d{1,3})(?:\s*-\s*|\s+)(?:years?|yrs?|y)(?:\s*-\s*|\s+)old\b|\b(\d{1,3})\s*(?:yo|y/o|y\.o\.)(?=\W|$)"
    r"|\baged\s+(\d{1,3})\b",
    re.I,
)
#: Words that make an age someone else's ("her 45-year-old daughter", "son, aged 12").
_RELATIVES = (
    r"(?:son|daughter|mother|father|brother|sister|wife|husband|partner|child|grand\w*|aunt|uncle|"
    r"cousin|niece|nephew|sibling|parent|twin)s?"
)
_RELATIVE_BEFORE = re.compile(rf"\b{_RELATIVES}\W*$", re.I)
_RELATIVE_AFTER = re.compile(rf"^\W*(?:\w+\s+)?{_RELATIVES}\b", re.I)


class StatedAge(NamedTuple):
    """An age a note states: in years, with the words it was read from and where."""

    years: float
    text: str
    span: tuple[int, int]


def stated_age(text: str) -> StatedAge | None:
    """The patient's age in years as a note states it ("71-year-old woman", "aged 66", "58 yo"):
    the first age in the text that is not a relative's, or ``None``.

    Drug safety needs it: the AGS Beers Criteria name drugs to avoid from 65.

    Example:
        >>> stated_age("Her 45-year-old daughter brings her. 78-year-old woman with falls.")
        StatedAge(years=78.0, text='78-year-old', span=(37, 48))
    """
    for m in _AGE.finditer(text):
        before = text[max(0, m.start() - 30) : m.start()].split(".")[-1]
        if _RELATIVE_BEFORE.search(before) or _RELATIVE_AFTER.search(text[m.end() : m.end() + 24]):
            continue
        age = float(next(g for g in m.groups() if g))
        if age <= 120:
            return StatedAge(age, m.group(0), m.span())
    return None
