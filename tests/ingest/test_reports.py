"""Report parsing: sections with offsets, and typed errors for empty or non-text reports."""

from __future__ import annotations

from pathlib import Path

import pytest

from kgdx.errors import DataError
from kgdx.ingest.reports import parse_report, read_report

REPORT = """CT CHEST WITHOUT CONTRAST
INDICATION: Cough for 3 weeks.
FINDINGS: No pleural effusion.
There is a 6 mm nodule in the right upper lobe.
Impression - Right upper lobe pulmonary nodule.
Recommendations: Follow-up CT in 6 months.
"""


def test_sections_and_offsets() -> None:
    r = parse_report(REPORT)
    assert r.names == ["body", "indication", "findings", "impression", "recommendation"]
    assert r.section("findings") == "No pleural effusion.\nThere is a 6 mm nodule in the right upper lobe."
    assert r.section("impression") == "Right upper lobe pulmonary nodule."
    for s in r.sections:
        assert REPORT[s.start : s.start + len(s.text)] == s.text
    assert r.section("technique") == ""


def test_a_note_without_headings_is_one_body_section() -> None:
    r = parse_report("Patient reports resting tremor of the right hand. No rigidity.")
    assert r.names == ["body"]


def test_headings_need_a_colon_dash_or_own_line() -> None:
    assert parse_report("Plan to repeat CT.").names == ["body"]
    assert parse_report("IMPRESSION\nNormal chest.").section("impression") == "Normal chest."


def test_empty_and_bad_reports(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n\t\n", encoding="utf-8")
    with pytest.raises(DataError, match="the report is empty") as e:
        read_report(empty)
    assert e.value.file == str(empty)
    with pytest.raises(DataError, match="empty"):
        parse_report("")
    binary = tmp_path / "scan.txt"
    binary.write_bytes(b"\x00\x01\x02DICM")
    with pytest.raises(DataError, match="binary"):
        read_report(binary)
    latin = tmp_path / "latin.txt"
    latin.write_bytes("Epanchement pleural \xe9".encode("latin-1"))
    with pytest.raises(DataError, match="not UTF-8"):
        read_report(latin)
    with pytest.raises(DataError, match="no such report"):
        read_report(tmp_path / "missing.txt")
    with pytest.raises(TypeError, match="got bytes"):
        parse_report(b"FINDINGS: x")  # type: ignore[arg-type]
