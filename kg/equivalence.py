"""Which disease ids name the same disease: ``EQUIVALENT_TO`` edges and equivalence classes.

The same disease often has several ids in one KG: an OMIM entry, its Orphanet twin, a DECIPHER
syndrome, a module's MONDO class. The nodes all stay (every id remains queryable); symmetric
``EQUIVALENT_TO`` edges say which are the same, and a disease's *equivalence class* is everything
reachable over them (``store.equivalence_class(id)``, or :func:`equivalence_classes` for all).

Mappings are accepted by two rules, so that a class never joins a group to its subtypes:

1. **One-to-one per source** (:func:`one_to_one_xrefs`): a class of the mapping source (a MONDO
   class, a module's disease) maps to an id only if it has exactly one xref in that id's
   vocabulary and no other class of the same source claims that id. A MONDO class with
   subclasses whose names share nothing with the target's is refused as well: that is how a
   grouping class mapped to one member looks when the mapping carries no exactness qualifier.
2. **One id per vocabulary per class** (:func:`resolve`): mappings are joined in order, and one
   that would put two OMIM (or two ORPHA, …) ids in one class is refused.

Both rules count what they refuse, by reason, for the build manifest.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kgdx.kg.records import Edge, Node, Origin
from kgdx.kg.vocab import RelType

__all__ = [
    "EquivalenceMapping",
    "XrefMappings",
    "Resolution",
    "vocabulary",
    "one_to_one_xrefs",
    "resolve",
    "equivalence_classes",
    "names_agree",
]

#: How many refused examples a report keeps per reason.
_EXAMPLES = 3
_STOP = frozenset(
    ["a", "an", "and", "the", "of", "with", "to", "in", "due", "type", "form", "disease", "disorder", "syndrome"]
)


def vocabulary(disease_id: str) -> str:
    """The vocabulary of an id: its CURIE prefix (``ORPHA:683`` → ``ORPHA``)."""
    return disease_id.split(":", 1)[0]


def _norm(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def _tokens(text: str) -> set[str]:
    return {t for t in re.findall(r"[a-z0-9]+", text.lower()) if t not in _STOP}


def names_agree(names: Iterable[str], other: str, *, overlap: float = 0.5) -> bool:
    """Whether ``other`` equals one of ``names`` (ignoring case and punctuation) or shares at least
    ``overlap`` of its words with one of them (Jaccard, without filler words such as "syndrome")."""
    target, words = _norm(other), _tokens(other)
    for n in names:
        if _norm(n) == target:
            return True
        mine = _tokens(n)
        if words and mine and len(words & mine) / len(words | mine) >= overlap:
            return True
    return False


@dataclass(frozen=True)
class EquivalenceMapping:
    """A candidate equivalence between two disease ids.

    Attributes:
        a, b: The two ids (both Disease nodes of the KG).
        source: Provenance, the edge's ``source``.
        kind: A short label to count by in the build manifest (e.g. ``MONDO xref``).
        via: The class of the mapping source that maps both, when neither end is that class.
        origin: Where the mapping was read (file and line).
    """

    a: str
    b: str
    source: str
    kind: str
    via: str | None = None
    origin: Origin | None = None


@dataclass
class XrefMappings:
    """What :func:`one_to_one_xrefs` accepted and refused."""

    mappings: list[EquivalenceMapping] = field(default_factory=list)
    #: KG id → the source classes that map to it one-to-one (e.g. ``ORPHA:683`` → ``[MONDO:0019037]``).
    xrefs: dict[str, list[str]] = field(default_factory=dict)
    refused: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)
    #: Xrefs to ids the KG does not hold (not refusals: there is nothing to map).
    not_in_kg: int = 0

    def refuse(self, reason: str, example: str) -> None:
        self.refused[reason] += 1
        if len(self.examples.setdefault(reason, [])) < _EXAMPLES:
            self.examples[reason].append(example)


def one_to_one_xrefs(
    classes: Iterable[Node],
    *,
    known: Collection[str],
    source: str,
    kind: str,
    prefixes: Collection[str] = ("OMIM", "ORPHA", "DECIPHER"),
    parents: Iterable[Edge] = (),
    names: Mapping[str, str] | None = None,
) -> XrefMappings:
    """The one-to-one mappings from a source's classes (nodes with ``xrefs``) to KG disease ids.

    Args:
        classes: The mapping source's classes, e.g. MONDO terms or a module's diseases.
        known: The Disease ids of the KG; xrefs to other ids are only counted.
        source: Provenance for the mappings.
        kind: Label to count the mappings by.
        prefixes: The vocabularies to map to.
        parents: The source's ``IS_A`` edges; a class with subclasses is treated as a possible
            group (see the module docstring). Give none to skip that check.
        names: KG id → name, for that check.

    Returns:
        One mapping class–id when the class is itself in ``known``; otherwise one mapping per pair
        of the ids it maps (``via`` the class), since the class is only a bridge.
    """
    out = XrefMappings()
    classes = list(classes)
    wanted = tuple(f"{p}:" for p in prefixes)
    claims: dict[str, set[str]] = defaultdict(set)
    for c in classes:
        for x in c.props.get("xrefs") or ():
            if x.startswith(wanted):
                claims[x].add(c.id)
    has_children = {e.dst for e in parents}
    for c in classes:
        per_vocab: dict[str, list[str]] = defaultdict(list)
        for x in sorted(set(c.props.get("xrefs") or ())):
            if x.startswith(wanted):
                per_vocab[vocabulary(x)].append(x)
        where = f"{c.id} ({Path(c.origin.file).name}:{c.origin.line})" if c.origin and c.origin.file else c.id
        accepted: list[str] = []
        for vocab, xs in sorted(per_vocab.items()):
            for x in xs:
                if x not in known:
                    out.not_in_kg += 1
                elif len(xs) > 1:
                    out.refuse(f"a class with several {vocab} xrefs (one-to-many)", f"{where} → {x}")
                elif len(claims[x]) > 1:
                    out.refuse("an id that several classes claim (many-to-one)", f"{where} → {x}")
                elif (
                    c.id in has_children
                    and names is not None
                    and not names_agree([c.props.get("name", ""), *c.props.get("synonyms", ())], names.get(x, ""))
                ):
                    out.refuse("a class with subclasses whose names disagree (possible group)", f"{where} → {x}")
                else:
                    accepted.append(x)
        for x in accepted:
            out.xrefs.setdefault(x, []).append(c.id)
        if c.id in known:
            out.mappings += [EquivalenceMapping(c.id, x, source, kind, None, c.origin) for x in accepted]
        else:
            out.mappings += [
                EquivalenceMapping(x, y, source, kind, c.id, c.origin)
                for i, x in enumerate(accepted)
                for y in accepted[i + 1 :]
            ]
    return out


class _Classes:
    """Union-find over disease ids, with the ids of each class per vocabulary."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}
        self.vocabs: dict[str, dict[str, str]] = {}

    def find(self, x: str) -> str:
        if x not in self.parent:
            self.parent[x] = x
            self.vocabs[x] = {vocabulary(x): x}
        root = x
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[x] != root:
            self.parent[x], x = root, self.parent[x]
        return root

    def clash(self, a: str, b: str) -> str | None:
        """The vocabulary in which joining ``a``'s and ``b``'s classes would hold two ids, if any."""
        va, vb = self.vocabs[self.find(a)], self.vocabs[self.find(b)]
        for vocab, i in va.items():
            if vocab in vb and vb[vocab] != i:
                return vocab
        return None

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[rb] = ra
            self.vocabs[ra].update(self.vocabs.pop(rb))

    def classes(self) -> list[tuple[str, ...]]:
        groups: dict[str, list[str]] = defaultdict(list)
        for x in self.parent:
            groups[self.find(x)].append(x)
        return sorted(tuple(sorted(g)) for g in groups.values() if len(g) > 1)


@dataclass
class Resolution:
    """The accepted ``EQUIVALENT_TO`` edges and what was refused (see :func:`resolve`)."""

    edges: list[Edge]
    accepted: Counter
    refused: Counter
    examples: dict[str, list[str]]
    classes: list[tuple[str, ...]]

    @property
    def largest(self) -> int:
        """The size of the largest equivalence class (1 when there is none)."""
        return max((len(c) for c in self.classes), default=1)

    def to_dict(self) -> dict[str, Any]:
        sizes = Counter(len(c) for c in self.classes)
        return {
            "edges": len(self.edges),
            "edges_by_source": dict(sorted(self.accepted.items())),
            "refused": dict(sorted(self.refused.items())),
            "refused_examples": self.examples,
            "classes": len(self.classes),
            "class_sizes": {str(k): v for k, v in sorted(sizes.items())},
            "largest_class": self.largest,
            "largest_class_example": list(max(self.classes, key=len)) if self.classes else [],
        }


def resolve(mappings: Iterable[EquivalenceMapping], *, existing: Iterable[Edge] = ()) -> Resolution:
    """Join mappings in order into classes that hold at most one id per vocabulary.

    Args:
        mappings: Candidate mappings, most trusted first.
        existing: ``EQUIVALENT_TO`` edges already in the KG; they seed the classes, and a mapping
            of a pair they already join gives no edge.

    Returns:
        One edge per accepted pair (two sources that agree on a pair give one edge whose
        ``source`` names both), the count of accepted edges per mapping kind, and the refusals.
    """
    uf = _Classes()
    have: set[tuple[str, str]] = set()
    for e in existing:
        uf.union(e.src, e.dst)
        have.add((min(e.src, e.dst), max(e.src, e.dst)))
    edges: dict[tuple[str, str], Edge] = {}
    accepted: Counter = Counter()
    refused: Counter = Counter()
    examples: dict[str, list[str]] = {}
    for m in mappings:
        if m.a == m.b:
            continue
        key = (min(m.a, m.b), max(m.a, m.b))
        if key in have:
            continue
        if key in edges:
            e = edges[key]
            if m.source not in e.props["source"].split("; "):
                e.props["source"] += f"; {m.source}"
            continue
        vocab = uf.clash(m.a, m.b)
        if vocab is not None:
            reason = f"would put two {vocab} ids in one class"
            refused[reason] += 1
            if len(examples.setdefault(reason, [])) < _EXAMPLES:
                examples[reason].append(f"{m.a} ~ {m.b} ({m.kind}{', via ' + m.via if m.via else ''})")
            continue
        uf.union(m.a, m.b)
        props = {"source": m.source} | ({"via": m.via} if m.via else {})
        edges[key] = Edge(RelType.EQUIVALENT_TO, key[0], key[1], props, m.origin)
        accepted[m.kind] += 1
    return Resolution(list(edges.values()), accepted, refused, examples, uf.classes())


def equivalence_classes(edges: Iterable[Edge]) -> dict[str, tuple[str, ...]]:
    """Every disease id that has an equivalent → its class (sorted ids, itself included).

    Pass ``store.iter_edges("EQUIVALENT_TO")``; ids without an equivalent are left out (their
    class is themselves). For one disease, the store's ``equivalence_class`` query is enough.

    Example:
        >>> e = [Edge("EQUIVALENT_TO", "OMIM:277900", "ORPHA:905", {"source": "s"})]
        >>> equivalence_classes(e)["ORPHA:905"]
        ('OMIM:277900', 'ORPHA:905')
    """
    uf = _Classes()
    for e in edges:
        uf.union(e.src, e.dst)
    return {i: c for c in uf.classes() for i in c}
