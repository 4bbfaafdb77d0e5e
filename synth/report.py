"""Radiology reports for the synthetic CTs: findings and impression, with their truth recorded.

A report has a title line, ``CLINICAL INDICATION``, ``TECHNIQUE``, ``COMPARISON``, ``FINDINGS``
(by compartment: lungs and airways, pleura, mediastinum and hila, heart, other) and
``IMPRESSION`` (numbered), in the headings :mod:`kgdx.ingest.reports` splits on. Wording varies:
several sentence templates per status, synonyms per finding (``CTFindingSpec.phrases``),
locations from where the lesion was drawn, sizes for nodules, masses, cavities and nodes.

Each CT finding statement is a *mention* with a status the linker should recover:

* ``present`` - a plain statement ("Patchy ground-glass opacities in the right lower lobe.");
* ``uncertain`` - hedged with a ConText trigger ("Possible …", "… cannot be excluded."), made
  for a present finding with ``report_uncertainty_rate``;
* ``absent`` - a negation ("No pleural effusion.", "… is not seen."): pertinent negatives of
  absent findings (Poisson mean ``report_negatives``).

Errors, recorded per mention as ``error``: a present finding is left out with
``report_omission_rate`` (listed in ``omitted``), called absent with ``report_error_rate``
(``false_negative``); a pertinent negative turns into a false positive statement with
``report_error_rate`` (``false_positive``). The impression repeats up to three of the main
findings with the same status, and adds a pattern-level differential that never names the
patient's disease on its own (e.g. "infection or inflammation").

With ``zh_report_rate`` a report is written in Chinese (检查方法 / 影像所见 / 诊断意见); those
headings are not among :mod:`kgdx.ingest.reports`' English aliases, so a Chinese report parses as one
``body`` section.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from kgdx.synth.acquisition import Acquisition
from kgdx.synth.config import DifficultyConfig
from kgdx.synth.findings import CTFindingSpec, spec
from kgdx.synth.lesions import LesionInfo

__all__ = ["Mention", "SynthReport", "write_report"]

# Findings the impression leads with, most important first.
_PRIORITY = (
    "mass",
    "cavity",
    "consolidation",
    "ggo",
    "nodule",
    "honeycombing",
    "reticulation",
    "pneumothorax",
    "effusion",
    "mediastinal_ln",
    "hilar_ln",
    "bronchiectasis",
    "tree_in_bud",
    "emphysema",
    "septal",
    "mosaic",
    "cyst",
    "atelectasis",
    "cardiomegaly",
    "pleural_thickening",
)

# A pattern-level comment for the impression: what the pattern suggests, never one disease.
_DIFFERENTIAL = {
    "mass": (
        "Appearance is suspicious for malignancy; tissue sampling is advised.",
        "Findings are concerning for a neoplastic process.",
    ),
    "cavity": (
        "Differential includes cavitating infection and cavitating neoplasm.",
        "Correlation with microbiology is recommended.",
    ),
    "consolidation": (
        "In the appropriate clinical setting this may represent infection.",
        "Correlate clinically and with inflammatory markers.",
    ),
    "ggo": (
        "Differential includes infection, oedema and inflammation.",
        "Findings are nonspecific; correlate with laboratory results.",
    ),
    "nodule": (
        "Follow-up CT according to Fleischner Society guidelines is suggested.",
        "Comparison with prior imaging would be helpful.",
    ),
    "honeycombing": ("Pattern is compatible with a fibrotic interstitial process.",),
    "reticulation": ("Pattern raises the question of an interstitial process.",),
    "tree_in_bud": ("Pattern suggests small airways infection or aspiration.",),
}
_INDICATIONS = (
    "Shortness of breath.",
    "Cough.",
    "Chest pain.",
    "Respiratory symptoms, evaluate.",
    "Abnormal chest radiograph.",
    "Follow-up.",
    "Hypoxia.",
    "Fever.",
)
_OTHER = (
    "The visualised upper abdomen is unremarkable. No acute osseous abnormality.",
    "Osseous structures are intact. The upper abdominal organs are unremarkable.",
    "Bones and soft tissues are within normal limits.",
)

_EN_PRESENT = {  # by grammatical number of the phrase
    "plural": (
        "{P} in the {loc}.",
        "There are {p} in the {loc}.",
        "{P} are noted in the {loc}.",
        "The {loc} {shows} {p}.",
    ),
    "count": ("{A} {p} in the {loc}.", "There is {a} {p} in the {loc}.", "{A} {p} is present in the {loc}."),
    "mass": ("{P} in the {loc}.", "There is {p} in the {loc}.", "{P} is noted in the {loc}.", "The {loc} {shows} {p}."),
}
_EN_UNC = (
    "Possible {p} in the {loc}.",
    "Subtle {p} in the {loc} cannot be excluded.",
    "Findings suspicious for {p} in the {loc}.",
    "Cannot exclude {p} in the {loc}.",
)
_EN_NEG = {
    "plural": ("No {p}.", "No evidence of {p}.", "{P} are not seen."),
    "count": ("No {p}.", "No evidence of {p}.", "{A} {p} is not seen."),
    "mass": ("No {p}.", "There is no {p}.", "No evidence of {p}.", "{P} is not seen."),
}
_COUNTABLE = ("nodule", "mass", "lesion", "cavity", "cyst", "opacity")
_PLURAL = {
    "nodule": "nodules",
    "mass": "masses",
    "lesion": "lesions",
    "cavity": "cavities",
    "cyst": "cysts",
    "opacity": "opacities",
}


def _number(phrase: str) -> str:
    last = phrase.split(" of ")[0].split(",")[0].split()[-1]  # the head noun: "areas of emphysema" -> areas
    if (last.endswith("s") and not last.endswith(("sis", "ss"))) or last in ("bronchi", "septa"):
        return "plural"
    return "count" if last in _COUNTABLE else "mass"


def _plural(phrase: str) -> str:
    words = phrase.split()
    words[-1] = _PLURAL.get(words[-1], words[-1])
    return " ".join(words)


def _article(text: str) -> str:
    first = text.split()[0].lower()
    if first[:1].isdigit():
        return "an" if first.startswith("8") or first in ("11", "18") else "a"
    return "an" if first[:1] in "aeiou" else "a"


_ZH_LOBE = {
    "right upper lobe": "右肺上叶",
    "right middle lobe": "右肺中叶",
    "right lower lobe": "右肺下叶",
    "left upper lobe": "左肺上叶",
    "lingula": "左肺舌段",
    "left lower lobe": "左肺下叶",
    "right upper zone": "右上肺野",
    "right mid zone": "右中肺野",
    "right lower zone": "右下肺野",
    "left upper zone": "左上肺野",
    "left mid zone": "左中肺野",
    "left lower zone": "左下肺野",
    "right": "右侧",
    "left": "左侧",
    "both lungs": "双肺",
}
_ZH_PRESENT = ("{loc}见{p}。", "{loc}可见{p}。", "{loc}示{p}。")
_ZH_UNC = ("{loc}{p}可能。", "不除外{loc}{p}。", "{loc}可疑{p}。")
_ZH_NEG = ("未见{p}。", "无{p}。", "未见明确{p}。")


@dataclass
class Mention:
    """A statement about one CT finding and whether it is true.

    Attributes:
        id: HP id of the finding.
        status: What the text says: ``present``, ``absent`` or ``uncertain``.
        truth: Whether the finding is in the image: ``present`` or ``absent``.
        error: ``None``, ``false_negative`` or ``false_positive``.
        section: ``findings`` or ``impression``.
        text: The words used for the finding.
        span: ``[start, end]`` character offsets of ``text`` in the report.
    """

    id: str
    status: str
    truth: str
    error: str | None
    section: str
    text: str
    span: tuple[int, int]

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "status": self.status,
            "truth": self.truth,
            "error": self.error,
            "section": self.section,
            "text": self.text,
            "span": list(self.span),
        }


@dataclass
class SynthReport:
    text: str
    language: str
    mentions: list[Mention] = field(default_factory=list)
    omitted: list[str] = field(default_factory=list)


class _Writer:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.length = 0
        self.mentions: list[Mention] = []

    def raw(self, s: str) -> None:
        self.parts.append(s)
        self.length += len(s)

    def sentence(
        self,
        template: str,
        phrase: str,
        loc: str,
        m: tuple[str, str, str, str | None, str] | None,
        extra: dict | None = None,
    ) -> None:
        """Write one sentence; ``m`` = (id, status, truth, error, section) records a mention."""
        cap = phrase[:1].upper() + phrase[1:]
        art = _article(phrase)
        fields = {
            "p": phrase,
            "P": cap,
            "loc": loc,
            "a": art,
            "A": art.capitalize(),
            "shows": "show" if " and " in loc else "shows",
            **(extra or {}),
        }
        key = "{P}" if "{P}" in template else "{p}"
        before, after = template.split(key, 1)
        head = before.format(**fields)
        start = self.length + len(head)
        text = cap if key == "{P}" else phrase
        self.raw(head + text + after.format(**fields))
        if m is not None:
            self.mentions.append(Mention(m[0], m[1], m[2], m[3], m[4], text, (start, start + len(text))))

    def text(self) -> str:
        return "".join(self.parts)


def _loc_en(info: LesionInfo | None, s: CTFindingSpec) -> str:
    if info is None or not info.lobes:
        return {"pleura": "pleural space", "mediastinum": "mediastinum", "heart": "heart"}.get(s.compartment, "lungs")
    lobes = info.lobes[:3]
    if s.key in ("effusion", "pneumothorax", "pleural_thickening"):
        return "right and left pleural spaces" if len(info.sides) == 2 else f"{lobes[0]} pleural space"
    if s.key in ("mediastinal_ln", "hilar_ln"):
        return " and ".join(f"{x} station" for x in lobes[:2])
    if len(lobes) == 1:
        return lobes[0]
    return ", ".join(lobes[:-1]) + " and " + lobes[-1]


def _loc_zh(info: LesionInfo | None, s: CTFindingSpec) -> str:
    if info is None or not info.lobes:
        return {"pleura": "胸腔", "mediastinum": "纵隔", "heart": "心脏"}.get(s.compartment, "双肺")
    if s.key == "mediastinal_ln":
        return ""  # the term says where
    if s.key == "hilar_ln":
        return "双侧" if len(info.sides) == 2 else ("右侧" if info.sides[:1] == ["R"] else "左侧")
    if s.key in ("effusion", "pneumothorax", "pleural_thickening"):
        return "双侧" if len(info.sides) == 2 else ("右侧" if info.sides[:1] == ["R"] else "左侧")
    return "、".join(_ZH_LOBE.get(x, x) for x in info.lobes[:3])


def _descr(s: CTFindingSpec, info: LesionInfo | None, phrase: str) -> str:
    """Phrase plus count, size or subtype where the pattern has one (e.g. '12 mm part-solid nodule')."""
    if info is None:
        return phrase
    if s.key == "nodule" and info.size_mm:
        kind = f"{info.subtype} " if info.subtype and info.subtype != "solid" else ""
        if info.count > 1:
            return f"multiple {kind}{_plural(phrase)}, the largest {info.size_mm:.0f} mm"
        return f"{info.size_mm:.0f} mm {kind}{phrase}"
    if s.key in ("mass", "cavity", "cyst") and info.size_mm:
        return f"{info.size_mm:.0f} mm {phrase}" if info.count <= 1 else f"multiple {_plural(phrase)}"
    return phrase


def write_report(
    present: list[str],
    infos: dict[str, LesionInfo],
    absent: list[str],
    acq: Acquisition,
    rng: np.random.Generator,
    cfg: DifficultyConfig,
) -> SynthReport:
    """Write the report of one case.

    Args:
        present: HP ids of the CT findings in the image (drawn and report-only).
        infos: Drawing details of the drawn ones (location, size …).
        absent: HP ids of drawn-type findings that are not in the image (candidates for
            pertinent negatives and false positives).
        acq: How the case was scanned (for the technique line).
        rng: The case's report generator.
        cfg: Difficulty knobs (omission, error, uncertainty, negatives, language).
    """
    zh = rng.random() < cfg.zh_report_rate
    order = {k: i for i, k in enumerate(_PRIORITY)}
    specs = sorted((spec(h) for h in present), key=lambda s: (order.get(s.key, 99), s.hpo_id))
    plan: list[tuple[CTFindingSpec, str, str | None]] = []  # (spec, status, error)
    omitted = []
    for s in specs:
        u = rng.random()
        if u < cfg.report_omission_rate:
            omitted.append(s.hpo_id)
        elif u < cfg.report_omission_rate + cfg.report_error_rate:
            plan.append((s, "absent", "false_negative"))
        elif u < cfg.report_omission_rate + cfg.report_error_rate + cfg.report_uncertainty_rate:
            plan.append((s, "uncertain", None))
        else:
            plan.append((s, "present", None))
    negs = [spec(h) for h in sorted(absent) if spec(h).negatable]
    n_neg = min(len(negs), int(rng.poisson(cfg.report_negatives)))
    for i in rng.choice(len(negs), size=n_neg, replace=False) if n_neg else []:
        s = negs[int(i)]
        if rng.random() < cfg.report_error_rate:
            plan.append((s, "present", "false_positive"))
        else:
            plan.append((s, "absent", None))
    plan.sort(key=lambda x: (x[1] == "absent" and x[2] is None, order.get(x[0].key, 99)))
    w = _Writer()
    if zh:
        _write_zh(w, plan, infos, acq, rng)
    else:
        _write_en(w, plan, infos, acq, rng)
    return SynthReport(w.text(), "zh" if zh else "en", w.mentions, omitted)


def _fake_info(s: CTFindingSpec, rng: np.random.Generator) -> LesionInfo:
    side = "R" if rng.random() < 0.5 else "L"
    lobe = str(
        rng.choice(["right upper lobe", "right lower lobe"] if side == "R" else ["left upper lobe", "left lower lobe"])
    )
    if s.key in ("effusion", "pneumothorax", "pleural_thickening"):
        lobe = "right" if side == "R" else "left"
    if s.key in ("mediastinal_ln",):
        lobe = "subcarinal"
    if s.key in ("hilar_ln",):
        lobe = f"{'right' if side == 'R' else 'left'} hilar"
    return LesionInfo(s.key, s.hpo_id, s.label or 0, [side], [lobe], size_mm=float(rng.integers(6, 14)))


def _info_for(s: CTFindingSpec, infos: dict[str, LesionInfo], error: str | None, rng: np.random.Generator):
    if error == "false_positive":
        return _fake_info(s, rng)
    info = infos.get(s.hpo_id)
    if info is None and s.requires:
        info = infos.get(s.requires)
    if info is None:  # report-only findings borrow the location of what they are seen with
        host = {
            "crazy_paving": "HP:0025179",
            "halo": "HP:0033608",
            "air_crescent": "HP:0033608",
            "traction_bronchiectasis": "HP:0025390",
            "basal_fibrosis": "HP:0025390",
            "centrilobular_ggo": "HP:0025179",
        }.get(s.key)
        info = infos.get(host) if host else None
    return info


def _pick(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    return options[int(rng.integers(len(options)))]


def _write_en(w: _Writer, plan, infos, acq: Acquisition, rng: np.random.Generator) -> None:
    w.raw("CT CHEST WITHOUT CONTRAST\n\n")
    w.raw(f"CLINICAL INDICATION: {_pick(rng, _INDICATIONS)}\n\n")
    w.raw(
        f"TECHNIQUE: Axial images of the chest were acquired without intravenous contrast and reconstructed at "
        f"{acq.slice_thickness_mm:g} mm with a {acq.kernel} kernel.\n\n"
    )
    w.raw("COMPARISON: None.\n\n")
    w.raw("FINDINGS:\n")
    groups = (("lung", "airway"), ("pleura",), ("mediastinum",), ("heart",))
    titles = ("Lungs and airways: ", "Pleura: ", "Mediastinum and hila: ", "Heart: ")
    clear = (
        "The lungs are clear.",
        "The pleural spaces are clear.",
        "The mediastinum is unremarkable.",
        "The heart is normal in size.",
    )
    for comps, title, empty in zip(groups, titles, clear):
        items = [x for x in plan if x[0].compartment in comps]
        w.raw(title)
        if not items:
            w.raw(empty + "\n")
            continue
        for k, (s, status, error) in enumerate(items):
            info = _info_for(s, infos, error, rng)
            phrase = _pick(rng, s.phrases)
            truth = "absent" if error == "false_positive" or (status == "absent" and error is None) else "present"
            m = (s.hpo_id, status, truth, error, "findings")
            if k:
                w.raw(" ")
            if status == "absent":
                w.sentence(_pick(rng, _EN_NEG[_number(phrase)]), phrase, "", m)
            else:
                d = _descr(s, info, phrase)
                tpl = _pick(rng, _EN_UNC) if status == "uncertain" else _pick(rng, _EN_PRESENT[_number(d)])
                w.sentence(tpl, d, _loc_en(info, s), m)
        w.raw("\n")
    w.raw("Other: " + _pick(rng, _OTHER) + "\n\n")
    w.raw("IMPRESSION:\n")
    main = [x for x in plan if x[1] != "absent"][:3]
    if not main:
        w.raw("1. No acute cardiopulmonary abnormality.\n")
        return
    for n, (s, status, error) in enumerate(main, start=1):
        info = _info_for(s, infos, error, rng)
        truth = "absent" if error == "false_positive" else "present"
        m = (s.hpo_id, status, truth, error, "impression")
        phrase = s.phrases[0]
        w.raw(f"{n}. ")
        if status == "uncertain":
            w.sentence("Possible {p} in the {loc}.", phrase, _loc_en(info, s), m)
        else:
            w.sentence("{P} in the {loc}.", phrase, _loc_en(info, s), m)
        if s.key in _DIFFERENTIAL and n == 1:
            w.raw(" " + _pick(rng, _DIFFERENTIAL[s.key]))
        w.raw("\n")


def _write_zh(w: _Writer, plan, infos, acq: Acquisition, rng: np.random.Generator) -> None:
    w.raw("胸部CT平扫\n\n")
    w.raw(f"检查方法：胸部CT平扫，{acq.slice_thickness_mm:g}mm层厚重建。\n\n")
    w.raw("影像所见：\n")
    if not plan:
        w.raw("双肺纹理清晰，未见异常密度影。\n")
    for s, status, error in plan:
        info = _info_for(s, infos, error, rng)
        truth = "absent" if error == "false_positive" or (status == "absent" and error is None) else "present"
        m = (s.hpo_id, status, truth, error, "findings")
        if status == "absent":
            w.sentence(_pick(rng, _ZH_NEG), s.zh, "", m)
        elif status == "uncertain":
            w.sentence(_pick(rng, _ZH_UNC), s.zh, _loc_zh(info, s), m)
        else:
            w.sentence(_pick(rng, _ZH_PRESENT), s.zh, _loc_zh(info, s), m)
        w.raw("\n")
    w.raw(
        "心脏大小形态未见明显异常，骨质结构完整。\n\n"
        if not any(x[0].key == "cardiomegaly" for x in plan)
        else "骨质结构完整。\n\n"
    )
    w.raw("诊断意见：\n")
    main = [x for x in plan if x[1] != "absent"][:3]
    if not main:
        w.raw("1. 胸部CT平扫未见明显异常。\n")
        return
    for n, (s, status, error) in enumerate(main, start=1):
        info = _info_for(s, infos, error, rng)
        truth = "absent" if error == "false_positive" else "present"
        m = (s.hpo_id, status, truth, error, "impression")
        w.raw(f"{n}. ")
        tpl = "{loc}{p}可能。" if status == "uncertain" else "{loc}{p}。"
        w.sentence(tpl, s.zh, _loc_zh(info, s), m)
        w.raw("\n")
