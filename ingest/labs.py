"""Lab results: :class:`LabResult` (one measurement, from a lab table or a phenopacket), lab
tables (CSV) read into them, and flags against the reference range.

The table has one row per result. Columns (header names are case-insensitive):

==============  ======================================================================
``loinc``       LOINC code of the test, e.g. ``718-7`` (aliases ``code``, ``test_code``)
``value``       the number; blank means not measured; ``<5``/``>1000`` are kept as 5/1000
                with ``censored`` set
``unit``        UCUM-style unit of ``value`` and of the reference range (``g/dL``)
``ref_low``     lower limit of normal, blank if none
``ref_high``    upper limit of normal, blank if none
``name``        optional display name
``time``        optional timestamp (ISO 8601 text, kept as given)
==============  ======================================================================

LOINC codes are checked for form and for their mod-10 check digit, since a mistyped code links a
value to the wrong test silently. Every problem raises :class:`~kgdx.errors.DataError` naming the
file, the line and the column.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from kgdx.errors import DataError

__all__ = [
    "LabResult",
    "read_lab_table",
    "latest_by_test",
    "loinc_check_digit",
    "is_valid_loinc",
    "flag",
    "scale_to_reference",
]

_LOINC = re.compile(r"^(\d{1,7})-(\d)$")
_ALIASES = {
    "loinc": "loinc",
    "code": "loinc",
    "test_code": "loinc",
    "loinc_code": "loinc",
    "value": "value",
    "result": "value",
    "unit": "unit",
    "units": "unit",
    "ref_low": "ref_low",
    "low": "ref_low",
    "reference_low": "ref_low",
    "ref_high": "ref_high",
    "high": "ref_high",
    "reference_high": "ref_high",
    "name": "name",
    "test_name": "name",
    "time": "time",
    "date": "time",
}
_REQUIRED = ("loinc", "value", "unit", "ref_low", "ref_high")


@dataclass(frozen=True)
class LabResult:
    """One lab value with the reference range it is judged against.

    Attributes:
        loinc: LOINC code, e.g. ``"2160-0"``.
        value: The result, or ``None`` when not measured.
        unit: Unit of ``value`` and of the range.
        ref_low: Lower limit of normal, if any.
        ref_high: Upper limit of normal, if any.
        name: Display name, if given.
        censored: ``"<"`` or ``">"`` when the lab reported a bound, not a value.
        time: Timestamp as written in the table.
        line: 1-based line of the row in its file, for messages.
    """

    loinc: str
    value: float | None
    unit: str | None = None
    ref_low: float | None = None
    ref_high: float | None = None
    name: str | None = None
    censored: Literal["<", ">"] | None = None
    time: str | None = None
    line: int | None = None

    @property
    def flag(self) -> Literal["low", "high", "normal"] | None:
        """``low``/``high``/``normal`` against the row's own range; ``None`` if unmeasured or no range."""
        return flag(self.value, self.ref_low, self.ref_high)

    @property
    def direction(self) -> Literal["low", "high", "normal"]:
        """``high``, ``low`` or ``normal`` against the reference range (``normal`` if none or unmeasured)."""
        return self.flag or "normal"

    def with_loinc(self, loinc: str) -> LabResult:
        """The same result under another form of its code (``LOINC:718-7`` for ``718-7``)."""
        return replace(self, loinc=loinc)


def loinc_check_digit(number: str) -> int:
    """The LOINC mod-10 check digit of the part before the hyphen (the Luhn algorithm).

    Example:
        >>> loinc_check_digit("2160"), loinc_check_digit("718")
        (0, 7)
    """
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2 == 0:  # rightmost digit and every second one from it are doubled
            d *= 2
            d = d - 9 if d > 9 else d
        total += d
    return (10 - total % 10) % 10


def is_valid_loinc(code: str) -> bool:
    """Whether ``code`` has LOINC form ``NNNNN-C`` and a correct check digit."""
    m = _LOINC.match(code.strip())
    return bool(m) and loinc_check_digit(m.group(1)) == int(m.group(2))


def flag(value: float | None, low: float | None, high: float | None) -> Literal["low", "high", "normal"] | None:
    """Judge ``value`` against ``[low, high]``; an open side never flags."""
    if value is None or (low is None and high is None):
        return None
    if low is not None and value < low:
        return "low"
    if high is not None and value > high:
        return "high"
    return "normal"


def scale_to_reference(value: float, low: float | None, high: float | None, clip: float = 10.0) -> float:
    """Map ``value`` so that ``low → -1`` and ``high → +1`` (MedMPT's reference-range scaling).

    One-sided ranges: a missing ``low`` is taken as 0 (e.g. CRP ``< 5``), a missing ``high`` as
    ``2 × low``. The result is clipped to ``±clip`` so one extreme value cannot dominate a batch.

    Example:
        >>> scale_to_reference(15.0, 10.0, 20.0), scale_to_reference(30.0, 10.0, 20.0)
        (0.0, 3.0)
    """
    if low is None and high is None:
        raise ValueError("a reference range needs at least one of 'low' and 'high'")
    lo = 0.0 if low is None else float(low)
    hi = 2.0 * lo if high is None else float(high)
    if hi <= lo:
        raise ValueError(f"reference range is empty or inverted: low {lo} >= high {hi}")
    x = 2.0 * (float(value) - lo) / (hi - lo) - 1.0
    return max(-clip, min(clip, x))


def _number(
    text: str, path: Path, line: int, column: str, *, allow_censor: bool = False
) -> tuple[float | None, str | None]:
    t = text.strip()
    if t == "" or t.upper() in {"NA", "N/A", "NULL", "NONE"}:
        return None, None
    censor = None
    if allow_censor and t[0] in "<>":
        censor, t = t[0], t[1:].lstrip("= ").strip()
    try:
        v = float(t.replace(",", "")) if re.fullmatch(r"[+-]?[\d,]*\.?\d+(e[+-]?\d+)?", t, re.I) else float("nan")
    except ValueError:
        v = float("nan")
    if math.isnan(v) or math.isinf(v):
        raise DataError(f"{column} must be a finite number, got {text!r}", file=path, line=line, field=column)
    return v, censor


def read_lab_table(path: str | Path, *, strict_loinc: bool = True) -> list[LabResult]:
    """Read a lab CSV (see the module docstring for its columns) into :class:`LabResult` rows.

    Args:
        path: The CSV file (UTF-8; a BOM is accepted).
        strict_loinc: Refuse codes whose check digit is wrong; turn off for local (non-LOINC)
            codes, which must still look like ``digits-digit``.

    Raises:
        DataError: naming file, line and column, for a missing file or column, a bad code, a
            non-numeric or non-finite value, an inverted range, or an empty table.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError("no such lab table", file=p)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(f"not UTF-8 text (a spreadsheet saved in another format?): {e}", file=p) from None
    rows = csv.reader(text.splitlines())
    try:
        header = next(rows)
    except StopIteration:
        raise DataError("the lab table is empty", file=p, line=1) from None
    cols = {}
    for i, h in enumerate(header):
        key = _ALIASES.get(h.strip().lower().replace(" ", "_"))
        if key and key not in cols:
            cols[key] = i
    missing = [c for c in _REQUIRED if c not in cols]
    if missing:
        raise DataError(f"missing column(s) {missing}; the header is {header}", file=p, line=1)
    out: list[LabResult] = []
    for lineno, row in enumerate(rows, start=2):
        if not any(c.strip() for c in row):
            continue
        if len(row) < len(header):
            raise DataError(f"expected {len(header)} fields, got {len(row)}", file=p, line=lineno)
        get = lambda key, row=row: row[cols[key]].strip() if key in cols else ""  # noqa: E731
        code = get("loinc")
        m = _LOINC.match(code)
        if not m:
            raise DataError(f"not a LOINC code (digits-check digit): {code!r}", file=p, line=lineno, field="loinc")
        if strict_loinc and loinc_check_digit(m.group(1)) != int(m.group(2)):
            raise DataError(
                f"LOINC {code} has a wrong check digit (expected {m.group(1)}-{loinc_check_digit(m.group(1))})",
                file=p,
                line=lineno,
                field="loinc",
            )
        value, censor = _number(get("value"), p, lineno, "value", allow_censor=True)
        low, _ = _number(get("ref_low"), p, lineno, "ref_low")
        high, _ = _number(get("ref_high"), p, lineno, "ref_high")
        if low is not None and high is not None and low >= high:
            raise DataError(
                f"reference range is inverted or empty: low {low} >= high {high}", file=p, line=lineno, field="ref_low"
            )
        unit = get("unit")
        if value is not None and not unit:
            raise DataError(f"a value ({value}) needs a unit", file=p, line=lineno, field="unit")
        out.append(
            LabResult(code, value, unit, low, high, get("name") or None, censor, get("time") or None, lineno)  # type: ignore[arg-type]
        )
    if not out:
        raise DataError("the lab table has a header but no rows", file=p, line=2)
    return out


def latest_by_test(results: Iterable[LabResult]) -> dict[str, LabResult]:
    """The last measured result per LOINC code (rows are taken in file order)."""
    out: dict[str, LabResult] = {}
    for r in results:
        if r.value is not None or r.loinc not in out:
            out[r.loinc] = r
    return out
