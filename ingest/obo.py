"""OBO 1.2/1.4 flat files (hp.obo, mondo.obo, doid.obo, chebi.obo) parsed into term stanzas.

The parser is strict about structure (a tag line without a colon, an unterminated quoted
definition, a term without an id are errors naming the file and line) and lenient about content
(unknown tags and stanza types are kept or skipped, as OBO tools do).

Example:
    >>> terms = list(read_obo_terms("hp.obo"))  # doctest: +SKIP
    >>> terms[0].id, terms[0].name  # doctest: +SKIP
    ('HP:0000001', 'All')
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from kgdx.errors import DataError
from kgdx.files import open_text

__all__ = ["OboTerm", "read_obo_terms", "read_obo_header"]

_QUOTED = re.compile(r'^"((?:[^"\\]|\\.)*)"\s*(.*)$')
_SYN_SCOPE = re.compile(r"^(EXACT|BROAD|NARROW|RELATED)\b")


@dataclass
class OboTerm:
    """One ``[Term]`` stanza, with the tags kgdx uses parsed and the rest kept raw in ``tags``;
    ``tags["xref"]`` also keeps each xref raw, with its qualifiers (``{source="…"}``)."""

    id: str
    line: int
    name: str | None = None
    definition: str | None = None
    synonyms: list[str] = field(default_factory=list)
    exact_synonyms: list[str] = field(default_factory=list)
    is_a: list[str] = field(default_factory=list)
    alt_ids: list[str] = field(default_factory=list)
    xrefs: list[str] = field(default_factory=list)
    replaced_by: list[str] = field(default_factory=list)
    consider: list[str] = field(default_factory=list)
    obsolete: bool = False
    tags: dict[str, list[str]] = field(default_factory=dict)

    def merge(self, other: OboTerm) -> None:
        """Fold a second stanza of the same term into this one (a term repeated in a file, or the
        same class in two graphs): fill in what this one lacks, add what it does not have, keep
        its order.

        A term is obsolete if either stanza says so: a deprecation is a statement, while a copy
        without the flag (an import stub, say) says nothing about it.
        """
        self.name = self.name or other.name
        self.definition = self.definition or other.definition
        self.obsolete = self.obsolete or other.obsolete
        for name in ("synonyms", "exact_synonyms", "is_a", "alt_ids", "xrefs", "replaced_by", "consider"):
            have = getattr(self, name)
            have.extend(v for v in getattr(other, name) if v not in have)
        for tag, values in other.tags.items():
            have = self.tags.setdefault(tag, [])
            have.extend(v for v in values if v not in have)


def _strip_comment(value: str) -> str:
    # "HP:0000118 ! Phenotypic abnormality" -> "HP:0000118"; a '!' inside quotes is text, not a comment.
    if value.startswith('"'):
        return value
    return value.split(" !", 1)[0].strip()


def _unquote(value: str, path: Path, line: int, tag: str) -> tuple[str, str]:
    m = _QUOTED.match(value)
    if m is None:
        raise DataError(f"'{tag}' needs a quoted text, got {value[:60]!r}", file=path, line=line, field=tag)
    text = m.group(1).replace('\\"', '"').replace("\\n", " ")
    return text, m.group(2)


def read_obo_header(path: str | Path) -> dict[str, str]:
    """The header tags of an OBO file (``format-version``, ``data-version``, ``date`` …)."""
    path = Path(path)
    out: dict[str, str] = {}
    with open_text(path) as f:
        for raw in f:
            s = raw.strip()
            if s.startswith("["):
                break
            if ":" in s and not s.startswith("!"):
                k, v = s.split(":", 1)
                out.setdefault(k.strip(), v.strip())
    return out


def read_obo_terms(path: str | Path) -> Iterator[OboTerm]:
    """Yield each ``[Term]`` stanza of an OBO file, obsolete ones included (check ``obsolete``).

    Raises:
        DataError: for a malformed line, naming the file and line.
    """
    path = Path(path)
    stanza: str | None = None
    tags: list[tuple[int, str, str]] = []
    start = 0
    with open_text(path) as f:
        for lineno, raw in enumerate(f, 1):
            s = raw.strip()
            if not s or s.startswith("!"):
                continue
            if s.startswith("["):
                if not s.endswith("]"):
                    raise DataError(f"malformed stanza header {s!r}", file=path, line=lineno)
                if stanza == "Term":
                    yield _term(tags, path, start)
                stanza, tags, start = s[1:-1], [], lineno
                continue
            if ":" not in s:
                raise DataError(f"expected 'tag: value', got {s[:60]!r}", file=path, line=lineno)
            if stanza is None:
                continue  # header
            tag, value = s.split(":", 1)
            tags.append((lineno, tag.strip(), value.strip()))
    if stanza == "Term":
        yield _term(tags, path, start)


def _term(tags: list[tuple[int, str, str]], path: Path, start: int) -> OboTerm:
    ids = [v for _, t, v in tags if t == "id"]
    if len(ids) != 1 or not ids[0]:
        raise DataError(f"a [Term] needs exactly one id (got {len(ids)})", file=path, line=start, field="id")
    term = OboTerm(id=_strip_comment(ids[0]), line=start)
    for lineno, tag, value in tags:
        if tag == "id":
            continue
        if tag == "name":
            term.name = value
        elif tag == "def":
            term.definition, _ = _unquote(value, path, lineno, tag)
        elif tag == "synonym":
            text, rest = _unquote(value, path, lineno, tag)
            term.synonyms.append(text)
            if _SYN_SCOPE.match(rest) and rest.startswith("EXACT"):
                term.exact_synonyms.append(text)
        elif tag == "is_a":
            parent = _strip_comment(value).split(" {", 1)[0].strip()
            if parent:
                term.is_a.append(parent)
        elif tag == "alt_id":
            term.alt_ids.append(_strip_comment(value))
        elif tag == "xref":
            term.xrefs.append(_strip_comment(value).split(" ", 1)[0].strip('"'))
            term.tags.setdefault("xref", []).append(value)
        elif tag == "replaced_by":
            term.replaced_by.append(_strip_comment(value))
        elif tag == "consider":
            term.consider.append(_strip_comment(value))
        elif tag == "is_obsolete":
            term.obsolete = value.lower().startswith("true")
        else:
            term.tags.setdefault(tag, []).append(value)
    return term
