"""Lab values driven by the KG: each test's unit, reference range and ``INDICATES`` edges.

A phenotype the patient has that an ``INDICATES`` edge points to (lymphopenia, raised
procalcitonin, raised D-dimer …) moves that test out of its reference range in the edge's
direction; every other test is drawn inside its range. How far out grows with severity:

* ranges that start well above zero (sodium, SpO2, PaO2, FEV1/FVC, LDH, WBC …) move by a share
  of their width;
* ranges that start at or near zero (CRP, procalcitonin, D-dimer, BNP, ferritin, galactomannan …)
  move by a factor of their upper limit (about 1.2× to 20×);
* qualitative tests (``{presence}``, range [0, 0]) are 1 for positive, 0 for negative.

The white cell count is kept consistent with its parts (WBC = neutrophils + lymphocytes +
eosinophils + the rest). Values get analytical noise (``lab_noise_cv``), a test no disease moves
is mildly abnormal with ``lab_false_abnormal_rate``, and each value is missing (at random) with
``lab_missing_rate``. The lab phenotypes in the gold labels are read back from the final values
through the same ``INDICATES`` edges, so they agree with what a reader sees.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from kgdx.synth.config import DifficultyConfig
from kgdx.synth.kg_source import KgSource, LabInfo

__all__ = ["LabValue", "sample_labs", "lab_direction", "phenotypes_from_labs"]

_WBC, _NEUT, _LYMPH, _EOS = "LOINC:6690-2", "LOINC:751-8", "LOINC:731-0", "LOINC:711-2"


@dataclass(frozen=True)
class LabValue:
    """One test's value for a patient (``missing`` values are kept here but not written out)."""

    loinc: str
    name: str
    unit: str
    ref_low: float
    ref_high: float
    value: float
    missing: bool
    cause: str  # "disease", "noise" or "normal"

    @property
    def direction(self) -> str:
        return lab_direction(self.value, self.ref_low, self.ref_high)

    def to_dict(self) -> dict:
        return {
            "loinc": self.loinc,
            "name": self.name,
            "value": self.value,
            "unit": self.unit,
            "ref_low": self.ref_low,
            "ref_high": self.ref_high,
            "direction": self.direction,
            "missing": self.missing,
            "cause": self.cause,
        }


def lab_direction(value: float, low: float, high: float) -> str:
    """``high``/``low``/``normal``; for a qualitative [0, 0] test ``positive``/``negative``."""
    if low == 0 and high == 0:
        return "positive" if value > 0 else "negative"
    if value > high:
        return "high"
    if value < low:
        return "low"
    return "normal"


def _sig(v: float) -> float:
    """Round to 3 significant digits (stable text in JSON)."""
    if v == 0 or not math.isfinite(v):
        return 0.0
    return float(f"{v:.3g}")


def _normal(lab: LabInfo, rng: np.random.Generator) -> float:
    if lab.qualitative:
        return 0.0
    lo, hi = lab.ref_low, lab.ref_high
    if lo <= 0:
        return hi * float(rng.beta(2.0, 3.0)) * 0.95
    return lo + (hi - lo) * float(rng.beta(2.5, 2.5))


def _abnormal(lab: LabInfo, direction: str, severity: float, rng: np.random.Generator) -> float:
    if lab.qualitative:
        return 1.0 if direction in ("positive", "high") else 0.0
    lo, hi = lab.ref_low, lab.ref_high
    width = hi - lo
    g = float(rng.gamma(2.0, 0.5))  # mean 1
    narrow = lo > 0 and lo >= 0.2 * hi
    if direction == "high":
        if narrow:
            return hi + width * (0.08 + (0.3 + 1.5 * severity) * g)
        return hi * math.exp(math.log(1.15) + (0.25 + 1.2 * severity) * g)
    # low
    k = 0.05 + (0.2 + 0.8 * severity) * g
    v = lo - width * k if narrow else lo * math.exp(-(0.15 + (0.3 + 0.9 * severity) * g))
    return v if v >= 0.35 * lo else 0.35 * lo * float(rng.uniform(0.6, 1.0))


def sample_labs(
    kg: KgSource, wanted: dict[str, str], severity: float, rng: np.random.Generator, cfg: DifficultyConfig
) -> list[LabValue]:
    """Draw one value per KG lab test.

    Args:
        kg: The KG facts.
        wanted: LOINC id → direction the patient's phenotypes ask for (``high``, ``low``,
            ``positive``); tests not in it are drawn normal (or, rarely, mildly abnormal).
        severity: 0–1.
        rng: The case's generator.
        cfg: Difficulty knobs (noise, false abnormals, missingness).
    """
    values: dict[str, float] = {}
    cause: dict[str, str] = {}
    for lid in sorted(kg.labs):
        lab = kg.labs[lid]
        d = wanted.get(lid)
        if d is None and lab.indicates and rng.random() < cfg.lab_false_abnormal_rate:
            d = lab.indicates[int(rng.integers(len(lab.indicates)))][0]
            values[lid] = _abnormal(lab, d, 0.05, rng)
            cause[lid] = "noise"
        elif d is not None:
            values[lid] = _abnormal(lab, d, severity, rng)
            cause[lid] = "disease"
        else:
            values[lid] = _normal(lab, rng)
            cause[lid] = "normal"
    _coherent_white_cells(kg, values, wanted, severity, rng)
    out = []
    for lid in sorted(kg.labs):
        lab = kg.labs[lid]
        v = values[lid]
        if not lab.qualitative and cfg.lab_noise_cv > 0:
            v = max(0.0, v * (1.0 + cfg.lab_noise_cv * float(rng.standard_normal())))
        if lab.unit == "%":
            v = min(v, 100.0)
        missing = bool(rng.random() < cfg.lab_missing_rate)
        out.append(LabValue(lid, lab.name, lab.unit, lab.ref_low, lab.ref_high, _sig(v), missing, cause[lid]))
    return out


def _coherent_white_cells(
    kg: KgSource, values: dict[str, float], wanted: dict[str, str], severity: float, rng: np.random.Generator
) -> None:
    """Make the total white count the sum of its parts, keeping the wanted direction of each."""
    if not all(k in values for k in (_WBC, _NEUT, _LYMPH, _EOS)):
        return
    other = float(rng.uniform(0.3, 0.9))  # monocytes and basophils
    neut, lym, eos = values[_NEUT], values[_LYMPH], values[_EOS]
    d = wanted.get(_WBC)
    if d is None:
        values[_WBC] = neut + lym + eos + other
        return
    target = _abnormal(kg.labs[_WBC], d, severity, rng)
    if d == "high":
        neut = max(neut, target - lym - eos - other)
    else:
        excess = neut + lym + eos + other - target
        if excess > 0:
            cut = min(excess, neut - 0.3) if neut > 0.3 else 0.0
            neut -= cut
            excess -= cut
            if excess > 0 and wanted.get(_LYMPH) != "high":
                lym = max(0.2, lym - excess)
    values[_NEUT] = neut
    values[_LYMPH] = lym
    values[_WBC] = neut + lym + eos + other


def phenotypes_from_labs(kg: KgSource, labs: list[LabValue]) -> dict[str, list[str]]:
    """HP id → the LOINC ids whose value (missing or not) shows it through an ``INDICATES`` edge."""
    out: dict[str, list[str]] = {}
    for v in labs:
        lab = kg.labs[v.loinc]
        got = v.direction
        for direction, hp in lab.indicates:
            if got == direction or (lab.qualitative and direction == "high" and got == "positive"):
                out.setdefault(hp, []).append(v.loinc)
    return dict(sorted(out.items()))
