"""Current medications and the true treatments, from the KG's TREATS and safety edges.

**True treatments** (the gold answer of the drug benchmark): for each of the patient's diseases,
its first-line ``TREATS`` drugs (``line == 1``; a disease with none uses its lowest stated line,
and one with no line at all uses every ``TREATS`` drug), minus any drug that

* is ``CONTRAINDICATED_IN`` (absolute or relative) one of the patient's diseases or one of the
  phenotypes the patient has (history, labs, CT), or
* ``INTERACTS_WITH`` one of the patient's current drugs with severity ``contraindicated`` or
  ``major``.

If that leaves a disease with nothing, the next line is tried under the same rules. If no line
has a drug left, only absolute contraindications and ``contraindicated`` interactions rule a drug
out, and the relative ones are kept on the treatment as ``cautions`` (anticoagulation in
pulmonary embolism with minor haemoptysis is the usual case). Every first-line drug that was
withheld is kept with its reasons.

**Current drugs**: a Poisson number of background drugs (KG drugs that treat none of the
module's diseases: the co-prescribed drugs of the safety lists, such as anticoagulants, statins
and QT-prolonging drugs), a maintenance drug for a second, known disease (half of the time), and,
for ``unsafe_drug_rate`` of patients, one drug that a KG safety edge flags for this patient
(contraindicated in one of their conditions, or interacting with a first-line treatment). Every
current drug carries all the safety flags that apply to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from kgdx.synth.kg_source import KgSource, Treatment

__all__ = ["DrugFlag", "CurrentDrug", "DrugPlan", "first_line", "plan_drugs", "UNSAFE_INTERACTIONS"]

#: Interaction severities that rule a drug out as a treatment.
UNSAFE_INTERACTIONS = frozenset({"contraindicated", "major"})


@dataclass(frozen=True)
class DrugFlag:
    """A safety edge that applies: ``contraindicated_in`` a condition, or ``interacts_with`` a drug."""

    kind: str
    other: str
    severity: str
    reason: str
    with_treatment: bool = False

    def to_dict(self, kg: KgSource) -> dict:
        return {
            "kind": self.kind,
            "other": self.other,
            "other_name": kg.name(self.other),
            "severity": self.severity,
            "reason": self.reason,
            "with_treatment": self.with_treatment,
        }


@dataclass
class CurrentDrug:
    id: str
    name: str
    why: str  # "background", "maintenance" or "unsafe"
    flags: list[DrugFlag] = field(default_factory=list)


@dataclass
class DrugPlan:
    current: list[CurrentDrug]
    treatments: list[dict]
    withheld: list[dict]


def first_line(kg: KgSource, disease: str, after: int | None = None) -> tuple[list[Treatment], int | None]:
    """The lowest line of ``TREATS`` drugs for ``disease`` above ``after`` (``None``: unlined drugs)."""
    ts = kg.treatments_for(disease)
    lines = sorted({t.line for t in ts if t.line is not None and (after is None or t.line > after)})
    if lines:
        return [t for t in ts if t.line == lines[0]], lines[0]
    if after is None:
        return [t for t in ts if t.line is None], None
    return [], None


def _contra_flags(kg: KgSource, drug: str, conditions: set[str]) -> list[DrugFlag]:
    return [
        DrugFlag("contraindicated_in", c.target, c.severity, c.reason)
        for c in kg.contraindications_of(drug)
        if c.target in conditions
    ]


def _unsafe_with(kg: KgSource, drug: str, others: list[str]) -> list[DrugFlag]:
    out = []
    for o in others:
        if o == drug:
            continue
        it = kg.interaction(drug, o)
        if it is not None and it.severity in UNSAFE_INTERACTIONS:
            out.append(DrugFlag("interacts_with", o, it.severity, it.mechanism))
    return out


def _treat(
    kg: KgSource, disease: str, conditions: set[str], current: list[str], withheld: list[dict], *, strict: bool
) -> list[dict]:
    """The safe drugs of the first line that has any; ``withheld`` collects the first line's rejects.

    ``strict`` rules out relative contraindications and major interactions too; otherwise only
    absolute contraindications and ``contraindicated`` interactions count, and the rest are kept
    as ``cautions``.
    """
    after: int | None = None
    first = True
    while True:
        ts, line = first_line(kg, disease, after)
        if not ts:
            return []
        ok = []
        for t in ts:
            flags = _contra_flags(kg, t.drug, conditions) + _unsafe_with(kg, t.drug, current)
            hard = [f for f in flags if strict or f.severity in ("absolute", "contraindicated")]
            if hard:
                if first and strict:
                    withheld.append(
                        {
                            "drug": t.drug,
                            "name": kg.name(t.drug),
                            "disease": disease,
                            "line": t.line,
                            "reasons": [f.to_dict(kg) for f in hard],
                        }
                    )
            else:
                ok.append(
                    {
                        "drug": t.drug,
                        "name": kg.name(t.drug),
                        "disease": disease,
                        "line": t.line,
                        "note": t.note,
                        "cautions": [f.to_dict(kg) for f in flags],
                    }
                )
        if ok:
            return ok
        if line is None:
            return []
        after, first = line, False


def plan_drugs(
    kg: KgSource,
    diseases: list[tuple[str, str]],
    phenotypes: set[str],
    rng: np.random.Generator,
    *,
    unsafe_rate: float,
    background_mean: float,
) -> DrugPlan:
    """Draw current drugs and derive the true treatments.

    Args:
        kg: The KG facts.
        diseases: ``[(disease id, role)]``, role ``primary`` or ``secondary``.
        phenotypes: Every HP id the patient truly has (any modality).
        rng: The case's generator.
        unsafe_rate: Chance of adding one flagged drug.
        background_mean: Poisson mean of background drugs.
    """
    dis_ids = [d for d, _ in diseases]
    conditions = set(dis_ids) | set(phenotypes)
    candidates = sorted({t.drug for d in dis_ids for t in first_line(kg, d)[0]})
    treating = {t.drug for t in kg.treatments if t.disease in kg.diseases}
    background_pool = sorted(d for d in kg.drug_names if d not in treating)
    current: dict[str, CurrentDrug] = {}
    for _ in range(int(rng.poisson(background_mean))):
        if background_pool:
            d = background_pool[int(rng.integers(len(background_pool)))]
            current.setdefault(d, CurrentDrug(d, kg.name(d), "background"))
    for d, role in diseases:
        if role == "secondary" and rng.random() < 0.5:
            opts = sorted(t.drug for t in first_line(kg, d)[0])
            if opts:
                pick = opts[int(rng.integers(len(opts)))]
                current.setdefault(pick, CurrentDrug(pick, kg.name(pick), "maintenance"))
    if rng.random() < unsafe_rate:
        risky = set()
        for drug in sorted(kg.drug_names):
            if any(c.target in conditions for c in kg.contraindications_of(drug)):
                risky.add(drug)
        for c in candidates:
            for it in kg.interactions_of(c):
                if it.severity in UNSAFE_INTERACTIONS:
                    risky.add(it.other(c))
        risky_l = sorted(risky - set(current) - set(candidates))
        if risky_l:
            pick = risky_l[int(rng.integers(len(risky_l)))]
            current[pick] = CurrentDrug(pick, kg.name(pick), "unsafe")
    cur_ids = sorted(current)

    treatments: list[dict] = []
    withheld: list[dict] = []
    for d in dis_ids:
        picked = _treat(kg, d, conditions, cur_ids, withheld, strict=True)
        if not picked:  # every line ruled out: accept relative cautions rather than leave the disease untreated
            picked = _treat(kg, d, conditions, cur_ids, [], strict=False)
        treatments += picked  # one entry per (drug, disease): a drug may treat two of the diseases
    treat_ids = sorted({t["drug"] for t in treatments})
    for cd in current.values():
        cd.flags = _contra_flags(kg, cd.id, conditions)
        for o in cur_ids:
            if o != cd.id and (it := kg.interaction(cd.id, o)) is not None:
                cd.flags.append(DrugFlag("interacts_with", o, it.severity, it.mechanism))
        for o in treat_ids + [w["drug"] for w in withheld]:
            if (
                o != cd.id
                and o not in current
                and (it := kg.interaction(cd.id, o)) is not None
                and not any(f.other == o for f in cd.flags)
            ):
                cd.flags.append(DrugFlag("interacts_with", o, it.severity, it.mechanism, with_treatment=True))
    return DrugPlan([current[k] for k in cur_ids], treatments, withheld)
