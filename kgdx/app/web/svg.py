"""A disease's evidence as a small graph: each verified KG path one row of nodes and arrows,
drawn as inline SVG on the server (no script, no network), green for and red against."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kgdx.reasoning.explain import EvidencePath

__all__ = ["paths_svg"]

_W, _H, _GAP, _ROW, _PAD = 150, 30, 78, 48, 8
_COLOURS = {"supports": "#1a7f37", "against": "#c62828"}


def _label(text: str, width: int = 22) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def paths_svg(paths: list[EvidencePath]) -> str:
    """One ``<svg>`` with a row per path; node names in full in each node's ``<title>``."""
    if not paths:
        return ""
    longest = max(len(p.nodes) for p in paths)
    width = _PAD * 2 + longest * _W + (longest - 1) * _GAP
    height = _PAD * 2 + len(paths) * _ROW - (_ROW - _H)
    out = [
        f'<svg class="paths" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="evidence paths">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>',
    ]
    for row, p in enumerate(paths):
        y = _PAD + row * _ROW
        colour = _COLOURS.get(p.claim, "#555")
        for i, n in enumerate(p.nodes):
            x = _PAD + i * (_W + _GAP)
            disease = n.type == "Disease"
            fill = "#eef3fb" if disease else "#fff"
            out.append(
                f"<g><title>{escape(n.name)} ({escape(n.id)}) · {escape(n.type)}</title>"
                f'<rect x="{x}" y="{y}" width="{_W}" height="{_H}" rx="6" fill="{fill}" stroke="{colour}" '
                f'stroke-width="{2 if i == 0 else 1}"/>'
                f'<text x="{x + _W / 2}" y="{y + _H / 2 + 4}" text-anchor="middle" font-size="11">'
                f"{escape(_label(n.name))}</text></g>"
            )
        for i, (e, fwd) in enumerate(zip(p.edges, p.forward)):
            x0 = _PAD + i * (_W + _GAP) + _W
            x1 = x0 + _GAP
            a, b = (x0 + 2, x1 - 2) if fwd else (x1 - 2, x0 + 2)
            mid = y + _H / 2
            out.append(
                f'<line x1="{a}" y1="{mid}" x2="{b}" y2="{mid}" stroke="#555" marker-end="url(#arrow)"/>'
                f'<text x="{(x0 + x1) / 2}" y="{mid - 5}" text-anchor="middle" font-size="8" fill="#555">'
                f"{escape(e.type)}</text>"
            )
    out.append("</svg>")
    return "".join(out)
