"""Radiology reports and clinical notes: read them and split them into sections.

Why sections: the impression restates the findings in a few words and is what a clinician
reads; linking keeps the section of each mention, and the report encoder can embed either part.

A section starts at a heading at the beginning of a line, e.g. ``FINDINGS:``, ``Impression -``
or ``CONCLUSION``; headings are case-insensitive and mapped to canonical names
(:data:`SECTION_ALIASES`). Text before the first heading, or a note with no heading at all, is
the ``body`` section.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from kgdx.errors import DataError

__all__ = ["Report", "Section", "parse_report", "read_report", "SECTION_ALIASES"]

#: Heading text (lower case) → canonical section name.
SECTION_ALIASES: dict[str, str] = {
    "findings": "findings",
    "finding": "findings",
    "report": "findings",
    "impression": "impression",
    "impressions": "impression",
    "conclusion": "impression",
    "conclusions": "impression",
    "summary": "impression",
    "opinion": "impression",
    "indication": "indication",
    "indications": "indication",
    "clinical indication": "indication",
    "history": "indication",
    "clinical history": "indication",
    "clinical information": "indication",
    "reason for exam": "indication",
    "technique": "technique",
    "protocol": "technique",
    "comparison": "comparison",
    "comparisons": "comparison",
    "recommendation": "recommendation",
    "recommendations": "recommendation",
    "assessment": "assessment",
    "assessment and plan": "assessment",
    "plan": "plan",
    "examination": "examination",
    "physical examination": "examination",
    "exam": "examination",
    "chief complaint": "history",
    "history of present illness": "history",
    "hpi": "history",
}

_HEADING = re.compile(
    r"^[ \t]*(?P<name>" + "|".join(sorted((re.escape(k) for k in SECTION_ALIASES), key=len, reverse=True)) + r")"
    r"[ \t]*(?::|-(?=[ \t])|\n|$)[ \t]*",
    re.IGNORECASE | re.MULTILINE,
)


@dataclass(frozen=True)
class Section:
    """A section's canonical name, text and where that text starts in the report."""

    name: str
    text: str
    start: int


@dataclass(frozen=True)
class Report:
    """A report split into sections; ``text`` is the whole report as read."""

    text: str
    sections: tuple[Section, ...] = field(default_factory=tuple)
    source: Path | None = None

    def section(self, name: str) -> str:
        """The text of all sections called ``name``, joined; ``""`` if none."""
        return "\n".join(s.text for s in self.sections if s.name == name)

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.sections]


def parse_report(text: str, *, source: str | Path | None = None) -> Report:
    """Split ``text`` into sections.

    Raises:
        DataError: if the report is empty or only whitespace (naming ``source`` if given).

    Example:
        >>> r = parse_report("FINDINGS: No effusion.\\nIMPRESSION: Normal.")
        >>> r.names, r.section("impression")
        (['findings', 'impression'], 'Normal.')
    """
    if not isinstance(text, str):
        raise TypeError(f"'text' must be a str, got {type(text).__name__}")
    if not text.strip():
        raise DataError("the report is empty", file=source)
    heads = list(_HEADING.finditer(text))
    sections: list[Section] = []

    def add(name: str, start: int, end: int) -> None:
        chunk = text[start:end]
        lead = len(chunk) - len(chunk.lstrip())
        body = chunk.strip()
        if body:
            sections.append(Section(name, body, start + lead))

    if not heads:
        add("body", 0, len(text))
    else:
        add("body", 0, heads[0].start())
        for h, nxt in zip(heads, heads[1:] + [None]):
            add(SECTION_ALIASES[h.group("name").lower()], h.end(), nxt.start() if nxt else len(text))
    return Report(text, tuple(sections), Path(source) if source is not None else None)


def read_report(path: str | Path) -> Report:
    """Read a UTF-8 text report and split it into sections.

    Raises:
        DataError: naming the file when it is missing, not UTF-8 text, or empty.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError("no such report file", file=p)
    raw = p.read_bytes()
    if b"\x00" in raw[:4096]:
        raise DataError("not a text file (binary content)", file=p)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(f"not UTF-8 text: {e}", file=p) from None
    return parse_report(text, source=p)
