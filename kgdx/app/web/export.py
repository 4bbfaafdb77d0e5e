"""The report as a file: Markdown (the CLI's ``--format markdown`` plus the checked paragraphs)
and PDF (fpdf2, pure Python: no browser, no system library, no network)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kgdx.app.llm.verifier import CheckedParagraph
    from kgdx.reasoning.results import Diagnosis

__all__ = ["report_markdown", "markdown_to_pdf"]

#: Fonts with the arrows and dashes the paths use; the first one found is embedded.
_FONTS = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/TTF/DejaVuSans.ttf"),
)


def report_markdown(diagnosis: Diagnosis, paragraphs: list[CheckedParagraph], summary: str) -> str:
    """The whole report: the case, the checked paragraphs, then the paths with their Cypher."""
    out = ["# kgdx diagnosis report", "", f"_{summary}_", "", "## Summary", ""]
    for p in paragraphs:
        out += [f"**{p.disease.rank}. {p.disease.label}** (written by {p.author}): {p.text('flag')}", ""]
    drugs = [s for s in diagnosis.drugs if not s.safe]
    out.append(diagnosis.to_markdown())
    if drugs:
        out += ["", "### Safety flags", ""]
        out += [f"- **{s.name}** (`{s.drug}`): " + "; ".join(i.text for i in s.issues) for s in drugs]
    return "\n".join(out) + "\n"


def markdown_to_pdf(markdown: str) -> bytes:
    """A plain PDF of the Markdown report (headings bold, code in a monospace font)."""
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_page()
    font = next((f for f in _FONTS if f.is_file()), None)
    if font is not None:
        pdf.add_font("body", "", str(font))
        pdf.add_font(
            "body",
            "B",
            str(font.with_name("DejaVuSans-Bold.ttf"))
            if font.with_name("DejaVuSans-Bold.ttf").is_file()
            else str(font),
        )
        family = "body"
    else:  # the core fonts know Latin-1 only
        family = "helvetica"
    in_code = False
    for raw in markdown.splitlines():
        line = raw if font is not None else raw.encode("latin-1", "replace").decode("latin-1")
        stripped = line.strip()
        if stripped.startswith("```"):
            in_code = not in_code
            continue
        if in_code:
            pdf.set_font("courier", size=7)
            text = stripped.encode("latin-1", "replace").decode("latin-1")
            pdf.multi_cell(0, 3.5, text, new_x="LMARGIN", new_y="NEXT")
            continue
        heading = re.match(r"^(#+)\s+(.*)", stripped)
        if heading:
            pdf.set_font(family, "B", size={1: 16, 2: 13, 3: 11}.get(len(heading.group(1)), 10))
            pdf.multi_cell(0, 7, heading.group(2).replace("`", ""), new_x="LMARGIN", new_y="NEXT")
            continue
        pdf.set_font(family, size=9)
        text = re.sub(r"[*_`]", "", stripped)
        pdf.multi_cell(0, 4.5, text or " ", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
