"""Lab tables: parsing, LOINC checks, flags and reference scaling; every error names file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from kgdx.errors import DataError
from kgdx.ingest.labs import (
    LabResult,
    flag,
    is_valid_loinc,
    latest_by_test,
    loinc_check_digit,
    read_lab_table,
    scale_to_reference,
)

GOOD = """loinc,name,value,unit,ref_low,ref_high,time
718-7,Hemoglobin,9.1,g/dL,12,17.5,2024-01-02
1988-5,CRP,<5,mg/L,,5,2024-01-02
2160-0,Creatinine,,mg/dL,0.6,1.3,2024-01-02
2160-0,Creatinine,1.9,mg/dL,0.6,1.3,2024-01-03
"""


def _write(tmp_path: Path, text: str, name: str = "labs.csv") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_reads_rows_with_censored_and_missing_values(tmp_path: Path) -> None:
    rows = read_lab_table(_write(tmp_path, GOOD))
    assert [r.loinc for r in rows] == ["718-7", "1988-5", "2160-0", "2160-0"]
    hb, crp, cr_missing, cr = rows
    assert hb == LabResult("718-7", 9.1, "g/dL", 12.0, 17.5, "Hemoglobin", None, "2024-01-02", 2)
    assert crp.value == 5.0 and crp.censored == "<" and crp.ref_low is None
    assert cr_missing.value is None and cr_missing.flag is None
    assert hb.flag == "low" and cr.flag == "high" and crp.flag == "normal"
    assert latest_by_test(rows)["2160-0"].value == 1.9


def test_header_aliases_and_bom(tmp_path: Path) -> None:
    text = "\ufeffCode,Result,Units,Low,High\n718-7,13,g/dL,12,17.5\n"
    assert read_lab_table(_write(tmp_path, text))[0].value == 13.0


@pytest.mark.parametrize(
    ("body", "line", "field", "message"),
    [
        ("718-8,9.1,g/dL,12,17.5", 2, "loinc", "wrong check digit"),
        ("hgb,9.1,g/dL,12,17.5", 2, "loinc", "not a LOINC code"),
        ("718-7,high,g/dL,12,17.5", 2, "value", "finite number"),
        ("718-7,inf,g/dL,12,17.5", 2, "value", "finite number"),
        ("718-7,nan,g/dL,12,17.5", 2, "value", "finite number"),
        ("718-7,9.1,g/dL,17.5,12", 2, "ref_low", "inverted"),
        ("718-7,9.1,,12,17.5", 2, "unit", "needs a unit"),
        ("718-7,9.1,g/dL", 2, None, "expected 5 fields"),
    ],
)
def test_bad_rows_name_file_line_and_column(
    tmp_path: Path, body: str, line: int, field: str | None, message: str
) -> None:
    p = _write(tmp_path, "loinc,value,unit,ref_low,ref_high\n" + body + "\n")
    with pytest.raises(DataError, match=message) as e:
        read_lab_table(p)
    assert (e.value.file, e.value.line, e.value.field) == (str(p), line, field)


def test_bad_tables(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"missing column\(s\) \['ref_low', 'ref_high'\]") as e:
        read_lab_table(_write(tmp_path, "loinc,value,unit\n718-7,1,g/dL\n"))
    assert e.value.line == 1
    with pytest.raises(DataError, match="empty"):
        read_lab_table(_write(tmp_path, ""))
    with pytest.raises(DataError, match="no rows"):
        read_lab_table(_write(tmp_path, "loinc,value,unit,ref_low,ref_high\n"))
    with pytest.raises(DataError, match="no such lab table"):
        read_lab_table(tmp_path / "missing.csv")
    p = tmp_path / "latin1.csv"
    p.write_bytes("loinc,value,unit,ref_low,ref_high\n718-7,1,\xb5g,1,2\n".encode("latin-1"))
    with pytest.raises(DataError, match="not UTF-8"):
        read_lab_table(p)


def test_local_codes_with_strict_off(tmp_path: Path) -> None:
    p = _write(tmp_path, "loinc,value,unit,ref_low,ref_high\n12345-1,1,U,0,2\n")
    with pytest.raises(DataError, match="check digit"):
        read_lab_table(p)
    assert read_lab_table(p, strict_loinc=False)[0].loinc == "12345-1"


def test_loinc_check_digit() -> None:
    assert loinc_check_digit("2160") == 0 and loinc_check_digit("718") == 7 and loinc_check_digit("33959") == 8
    assert is_valid_loinc("48065-7") and not is_valid_loinc("48065-1") and not is_valid_loinc("abc")


def test_flag_and_scaling() -> None:
    assert flag(1.0, None, 5.0) == "normal" and flag(6.0, None, 5.0) == "high" and flag(None, 1, 2) is None
    assert scale_to_reference(12.0, 12.0, 17.5) == -1.0 and scale_to_reference(17.5, 12.0, 17.5) == 1.0
    assert scale_to_reference(0.0, None, 5.0) == -1.0  # one-sided: low taken as 0
    assert scale_to_reference(1e6, 12.0, 17.5) == 10.0  # clipped
    with pytest.raises(ValueError, match="at least one"):
        scale_to_reference(1.0, None, None)
    with pytest.raises(ValueError, match="inverted"):
        scale_to_reference(1.0, 5.0, 5.0)
