"""The default lab panel: LOINC codes the lab encoder knows, with units and adult reference ranges.

Why a fixed panel: the lab encoder learns one embedding per test, so the set of tests is part of
the model (MedMPT used 100). These 46 are common blood tests relevant to respiratory and general
medicine. The ranges are typical adult values, used only when a lab table row brings no range of
its own; a row's own range always wins, because ranges differ between laboratories.

Every code passes the LOINC check-digit test (``tests/encoders/test_labs.py``). This module
imports no torch.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, NamedTuple

from kgdx.ingest.labs import LabResult, flag, latest_by_test

__all__ = ["LabTest", "DEFAULT_PANEL", "DEFAULT_TESTS", "reference_range", "lab_flags"]


class LabTest(NamedTuple):
    """A test of the panel: LOINC code, short name, unit and default reference range."""

    loinc: str
    name: str
    unit: str
    low: float | None
    high: float | None


#: The default panel, in the lab encoder's token order.
DEFAULT_PANEL: tuple[LabTest, ...] = (
    LabTest("718-7", "Hemoglobin", "g/dL", 12.0, 17.5),
    LabTest("4544-3", "Hematocrit", "%", 36.0, 50.0),
    LabTest("6690-2", "Leukocytes", "10*3/uL", 4.0, 11.0),
    LabTest("789-8", "Erythrocytes", "10*6/uL", 4.2, 5.9),
    LabTest("787-2", "MCV", "fL", 80.0, 100.0),
    LabTest("777-3", "Platelets", "10*3/uL", 150.0, 400.0),
    LabTest("751-8", "Neutrophils", "10*3/uL", 1.8, 7.7),
    LabTest("731-0", "Lymphocytes", "10*3/uL", 1.0, 4.8),
    LabTest("711-2", "Eosinophils", "10*3/uL", 0.0, 0.5),
    LabTest("2951-2", "Sodium", "mmol/L", 135.0, 145.0),
    LabTest("2823-3", "Potassium", "mmol/L", 3.5, 5.1),
    LabTest("2075-0", "Chloride", "mmol/L", 98.0, 107.0),
    LabTest("2028-9", "Carbon dioxide, total", "mmol/L", 22.0, 29.0),
    LabTest("3094-0", "Urea nitrogen", "mg/dL", 7.0, 20.0),
    LabTest("2160-0", "Creatinine", "mg/dL", 0.6, 1.3),
    LabTest("2345-7", "Glucose", "mg/dL", 70.0, 99.0),
    LabTest("17861-6", "Calcium", "mg/dL", 8.6, 10.3),
    LabTest("19123-9", "Magnesium", "mg/dL", 1.7, 2.2),
    LabTest("1742-6", "ALT", "U/L", 7.0, 56.0),
    LabTest("1920-8", "AST", "U/L", 10.0, 40.0),
    LabTest("6768-6", "Alkaline phosphatase", "U/L", 44.0, 147.0),
    LabTest("2324-2", "GGT", "U/L", 9.0, 48.0),
    LabTest("1975-2", "Bilirubin, total", "mg/dL", 0.1, 1.2),
    LabTest("1751-7", "Albumin", "g/dL", 3.5, 5.0),
    LabTest("2885-2", "Protein, total", "g/dL", 6.0, 8.3),
    LabTest("2532-0", "LDH", "U/L", 140.0, 280.0),
    LabTest("2157-6", "Creatine kinase", "U/L", 22.0, 198.0),
    LabTest("1988-5", "C reactive protein", "mg/L", None, 5.0),
    LabTest("33959-8", "Procalcitonin", "ng/mL", None, 0.1),
    LabTest("30341-2", "Erythrocyte sedimentation rate", "mm/h", 0.0, 20.0),
    LabTest("48065-7", "D-dimer FEU", "ng/mL{FEU}", None, 500.0),
    LabTest("2276-4", "Ferritin", "ng/mL", 24.0, 336.0),
    LabTest("3255-7", "Fibrinogen", "mg/dL", 200.0, 400.0),
    LabTest("5902-2", "Prothrombin time", "s", 11.0, 13.5),
    LabTest("6301-6", "INR", "{INR}", 0.8, 1.1),
    LabTest("10839-9", "Troponin I, cardiac", "ng/mL", None, 0.04),
    LabTest("30934-4", "BNP", "pg/mL", None, 100.0),
    LabTest("33762-6", "NT-proBNP", "pg/mL", None, 125.0),
    LabTest("2524-7", "Lactate", "mmol/L", 0.5, 2.2),
    LabTest("2744-1", "pH, arterial", "[pH]", 7.35, 7.45),
    LabTest("2019-8", "pCO2, arterial", "mm[Hg]", 35.0, 45.0),
    LabTest("2703-7", "pO2, arterial", "mm[Hg]", 75.0, 100.0),
    LabTest("2708-6", "O2 saturation, arterial", "%", 95.0, 100.0),
    LabTest("1959-6", "Bicarbonate", "mmol/L", 22.0, 26.0),
    LabTest("4548-4", "Hemoglobin A1c", "%", 4.0, 5.6),
    LabTest("3016-3", "TSH", "m[IU]/L", 0.4, 4.0),
)

#: Just the codes, in token order.
DEFAULT_TESTS: tuple[str, ...] = tuple(t.loinc for t in DEFAULT_PANEL)
_BY_CODE = {t.loinc: t for t in DEFAULT_PANEL}


def reference_range(result: LabResult) -> tuple[float | None, float | None]:
    """The range to judge ``result`` by: its own, else the panel default if the units agree.

    Raises:
        ValueError: when the row has no range and the default is for another unit, or there is
            no default (the message names the code and both units).
    """
    if result.ref_low is not None or result.ref_high is not None:
        return result.ref_low, result.ref_high
    test = _BY_CODE.get(result.loinc)
    if test is None:
        raise ValueError(f"LOINC {result.loinc} has no reference range in its row and none by default")
    if result.unit.strip().lower() != test.unit.lower():
        raise ValueError(
            f"LOINC {result.loinc} has no reference range in its row and its unit {result.unit!r} is not the "
            f"default range's {test.unit!r}"
        )
    return test.low, test.high


def lab_flags(results: Iterable[LabResult]) -> dict[str, Literal["low", "high", "normal"]]:
    """LOINC → ``low``/``high``/``normal`` for the latest measured value of each test."""
    out: dict[str, Literal["low", "high", "normal"]] = {}
    for code, r in latest_by_test(results).items():
        if r.value is None:
            continue
        try:
            low, high = reference_range(r)
        except ValueError:
            continue
        f = flag(r.value, low, high)
        if f is not None:
            out[code] = f
    return out
