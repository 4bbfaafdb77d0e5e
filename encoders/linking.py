"""Link mentions in reports and notes to KG concepts, with negation and uncertainty.

Three matchers, tried in this order on each sentence:

1. **label**: the node's ``name``, matched as a normalised word sequence (case, plural,
   British/American spelling and punctuation do not matter), longest match first;
2. **synonym**: the same for ``props["synonyms"]``; short all-capital synonyms (``COPD``) match
   only in capitals, so "cold" never becomes COPD;
3. **embedding**: remaining word spans (1–5 words, not starting or ending in a stop word) are
   embedded with the text encoder and linked to the nearest label or synonym when the cosine
   similarity reaches ``threshold`` and the term's head word appears in the span up to
   inflection (see :func:`_heads_agree`); this catches "tremor at rest" for *Resting tremor*
   and "pulmonary emboli" for *Pulmonary embolism*.

Assertion status follows ConText/NegEx (Chapman et al.): trigger phrases look forward
("no", "without", "negative for", "possible", "cannot exclude") or backward
("is not seen", "has resolved", "cannot be excluded") within a clause; terminators ("but",
"however", "which", ";") end a scope; pseudo-triggers ("no change", "not only") do nothing.
A comma ends a scope where the trigger has its own head on its side: a backward trigger crosses
one only into a list of mentions ("rigidity, bradykinesia and tremor are absent", but not
"nocturia x3, PSA normal"), and a trigger that is the predicate of the word before it does not
reach forward past one ("depression resolved, palpitations").
A mention under a negation trigger is ``absent``, under an uncertainty trigger ``uncertain``,
otherwise ``present``. When several triggers reach one mention, the nearest wins, except that a
negation wins over an uncertainty trigger inside its own scope with no mention between them
("no evidence to suggest pneumonia" is absent). A family trigger ("family history of",
"mother has") sets ``experiencer="family"``.

The vocabulary is any iterable of :class:`kgdx.kg.records.Node`, so the KG feeds it; nothing here is
specific to the chest.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from kgdx.kg.records import Node

if TYPE_CHECKING:  # pragma: no cover
    from kgdx.encoders.clinical_vocab import ClinicalVocabulary
    from kgdx.encoders.text import TextEncoder
    from kgdx.ingest.reports import Report

__all__ = ["ConceptLinker", "LinkedConcept", "Status", "TRIGGERS", "load_context_rules", "normalize_token"]

Status = Literal["present", "absent", "uncertain", "historical", "normal"]
Method = Literal["label", "synonym", "embedding", "normal-exam"]


@dataclass(frozen=True)
class LinkedConcept:
    """One linked mention.

    Attributes:
        concept_id: The KG node id, e.g. ``"HP:0002202"``.
        label: The node's name.
        node_type: The node's type (label in the KG), e.g. ``"Phenotype"``.
        text: The mention as written.
        span: ``(start, end)`` character offsets into the text given to the linker.
        score: 1.0 for a label, 0.99 for a synonym, the cosine similarity for an embedding match.
        status: ``present``, ``absent`` (negated), ``uncertain``, ``historical`` (in the past) or
            ``normal`` (a normal-exam statement: the finding is ruled out).
        section: The report section the mention is in, if known.
        method: ``label``, ``synonym``, ``embedding`` or ``normal-exam`` (an exam item stated
            normal, e.g. "smell intact", linked to a finding it rules out).
        experiencer: ``patient``, or ``family`` for family history.
        trigger: The assertion trigger that set the status, if any.
    """

    concept_id: str
    label: str
    node_type: str
    text: str
    span: tuple[int, int]
    score: float
    status: Status
    section: str | None = None
    method: Method = "label"
    experiencer: Literal["patient", "family"] = "patient"
    trigger: str | None = None

    @property
    def assertion(self) -> str:
        """The ConText assertion in one word: ``family`` for someone else's finding, else the status."""
        return "family" if self.experiencer == "family" else self.status

    def to_dict(self) -> dict[str, object]:
        """The mention as JSON: what was written, where, what it was linked to and how."""
        return {
            "text": self.text,
            "span": list(self.span),
            "id": self.concept_id,
            "label": self.label,
            "type": self.node_type,
            "assertion": self.assertion,
            "method": self.method,
            "score": self.score,
            "trigger": self.trigger,
            "section": self.section,
        }


# --------------------------------------------------------------------------- tokens

#: "+ve" and "-ve" (a sign present or absent: "Romberg -ve") stay whole, so the sign is not lost.
_TOKEN = re.compile(r"(?<![A-Za-z0-9])[+-]ve\b|[A-Za-z0-9]+(?:['’][A-Za-z]+)?|[.,;:!?()\[\]/]")
_PUNCT = set(".,;:!?()[]/")
_CLAUSE_END = set(".;:!?")


def _singular(w: str) -> str:
    if len(w) <= 3 or w.endswith(("ss", "us", "is", "ys", "as", "os")):
        return w
    if w.endswith("ies") and len(w) > 4:
        return w[:-3] + "y"
    if w.endswith(("sses", "xes", "ches", "shes")):
        return w[:-2]
    if w.endswith("s"):
        return w[:-1]
    return w


def normalize_token(word: str) -> str:
    """Lower case, no possessive, American spelling (``ae``/``oe`` → ``e``, ``-our`` → ``-or``), singular.

    Applied to text and vocabulary alike, so the rules need to be consistent, not linguistically
    perfect.

    Example:
        >>> [normalize_token(w) for w in ["Effusions", "oedema", "Tumours", "opacities", "Parkinson's"]]
        ['effusion', 'edema', 'tumor', 'opacity', 'parkinson']
    """
    w = word.lower().replace("’", "'")
    if w.endswith("'s"):
        w = w[:-2]
    w = _singular(w.replace("'", ""))
    if len(w) > 3:
        w = w.replace("ae", "e").replace("oe", "e")
        if len(w) > 5 and w.endswith("our"):
            w = w[:-3] + "or"
    return w


@dataclass(frozen=True)
class _Tok:
    raw: str
    norm: str
    start: int
    end: int

    @property
    def is_punct(self) -> bool:
        return self.raw in _PUNCT


def _tokenize(text: str, offset: int = 0) -> list[_Tok]:
    return [
        _Tok(
            m.group(),
            m.group() if m.group() in _PUNCT else normalize_token(m.group()),
            m.start() + offset,
            m.end() + offset,
        )
        for m in _TOKEN.finditer(text)
    ]


def _is_heading(line: str) -> bool:
    """A clinic or section heading in capitals ("MOVEMENT DISORDERS CLINIC"): no finding is stated."""
    words = re.findall(r"[A-Za-z]+", line)
    return 0 < len(words) <= 6 and line.upper() == line and not line.rstrip().endswith(".") and len(line) > 3


def _sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans: split after . ! ? followed by white space, and at line breaks."""
    spans, start = [], 0
    for m in re.finditer(r"(?<=[.!?])\s+|\n\s*", text):
        if m.start() > start:
            spans.append((start, m.start()))
        start = m.end()
    if start < len(text):
        spans.append((start, len(text)))
    return spans


# --------------------------------------------------------------------------- triggers

#: ConText rule categories of ``vocab/context_rules.tsv`` → the short kinds used below.
_CATEGORIES = {
    "negated": "neg",
    "uncertain": "unc",
    "historical": "hist",
    "family": "fam",
    "normal": "normal",
    "normal_item": "nitem",
    "pseudo": "pseudo",
    "terminate": "term",
}
_DIRECTIONS = {"forward": "fwd", "backward": "bwd", "both": "both"}


def load_context_rules(path: str | Path | None = None) -> tuple[tuple[str, str, str], ...]:
    """ConText rules as ``(phrase, kind, direction)`` from a TSV file (default: the shipped
    ``vocab/context_rules.tsv``); kind is ``neg``, ``unc``, ``hist``, ``fam``, ``normal``,
    ``nitem`` (a normal statement only about an exam item: "mood fine" but not "tremor fine"),
    ``pseudo`` or ``term``, direction ``fwd``, ``bwd`` or ``both``.

    Raises:
        DataError: naming the file and line of a malformed rule.
    """
    from kgdx.errors import DataError

    path = Path(path) if path is not None else Path(__file__).resolve().parent / "vocab" / "context_rules.tsv"
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = [x.strip() for x in line.split("\t")]
        if len(parts) != 3 or parts[1] not in _CATEGORIES or parts[2] not in _DIRECTIONS:
            raise DataError(
                f"expected phrase<TAB>category<TAB>direction with category in {sorted(_CATEGORIES)} and "
                f"direction in {sorted(_DIRECTIONS)}, got {line!r}",
                file=path,
                line=n,
            )
        out.append((parts[0], _CATEGORIES[parts[1]], _DIRECTIONS[parts[2]]))
    return tuple(out)


#: The shipped ConText rules (see :func:`load_context_rules`).
TRIGGERS: tuple[tuple[str, str, str], ...] = load_context_rules()

#: The status a normal trigger gives: ``normal-item`` ("fine", "good", "OK") counts only for an exam
#: item ("mood fine"); after a finding's name it says nothing ("tremor fine" is a fine tremor).
_NORMAL = {"normal": "normal", "nitem": "normal-item"}
#: A test reported negative ("Romberg -ve", "pull test negative") is a normal result.
_NEGATIVE_RESULT = frozenset({"negative", "-ve"})
_FWD_WORDS = 10  # words a forward trigger reaches
_BWD_WORDS = 5  # words a backward trigger reaches


@dataclass(frozen=True)
class _Trig:
    kind: str
    direction: str
    start: int  # token index
    end: int  # token index (exclusive)
    phrase: str


def _build_trigger_index() -> dict[tuple[str, ...], list[tuple[str, str]]]:
    idx: dict[tuple[str, ...], list[tuple[str, str]]] = {}
    for phrase, kind, direction in TRIGGERS:
        key = tuple(t.norm for t in _tokenize(phrase))
        idx.setdefault(key, []).append((kind, direction))
    return idx


_TRIGGER_INDEX = _build_trigger_index()
_TRIGGER_MAXLEN = max(len(k) for k in _TRIGGER_INDEX)


def _find_triggers(toks: Sequence[_Tok]) -> list[_Trig]:
    out, i = [], 0
    while i < len(toks):
        for n in range(min(_TRIGGER_MAXLEN, len(toks) - i), 0, -1):
            key = tuple(t.norm for t in toks[i : i + n])
            if key in _TRIGGER_INDEX:
                phrase = " ".join(t.raw for t in toks[i : i + n])
                for kind, direction in _TRIGGER_INDEX[key]:
                    out.append(_Trig(kind, direction, i, i + n, phrase))
                i += n
                break
        else:
            if toks[i].raw in _CLAUSE_END:
                out.append(_Trig("term", "both", i, i + 1, toks[i].raw))
            i += 1
    return out


# --------------------------------------------------------------------------- vocabulary

_STOP = frozenset(
    normalize_token(w)
    for w in [
        "a",
        "an",
        "the",
        "of",
        "in",
        "on",
        "at",
        "to",
        "with",
        "and",
        "or",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "there",
        "this",
        "that",
        "these",
        "those",
        "for",
        "from",
        "by",
        "as",
        "both",
        "his",
        "her",
        "their",
        "its",
        "it",
        "he",
        "she",
        "they",
        "we",
        "patient",
        "pt",
        "has",
        "have",
        "had",
        "does",
        "do",
        "did",
        "no",
        "not",
        "without",
        "any",
        "some",
        "very",
        "left",
        "right",
        "bilateral",
        "bilaterally",
        "upper",
        "lower",
        "middle",
        "lobe",
        "lobes",
        "mild",
        "mildly",
        "moderate",
        "severe",
        "small",
        "large",
        "new",
        "old",
        "stable",
        "again",
        "also",
        "within",
        "into",
        "onto",
        "over",
        "under",
        "about",
        "seen",
        "noted",
        "identified",
        "present",
        "mm",
        "cm",
        "scattered",
        "multiple",
        "few",
        "several",
        "diffuse",
        "focal",
        "patchy",
        "minimal",
        "trace",
        "slight",
        "slightly",
        "likely",
        "possible",
        "prior",
        "previous",
        "today",
        "now",
        "recent",
        "recently",
        "since",
        "last",
        "year",
        "years",
        "month",
        "months",
        "day",
        "days",
        "week",
        "weeks",
    ]
)

# Articles are skipped when matching, so "clubbing of the fingers" is "Clubbing of fingers".
_ARTICLES = frozenset({"the", "a", "an"})
_COORDINATORS = frozenset({"and", "or", ","})
_ABBREV = re.compile(r"^[A-Z][A-Z0-9]{2,5}$")
_SHORT_ABBREV = re.compile(r"^[A-Z][A-Z0-9]{1,5}$")  # clinical wording may add two-letter ones ("OH")


@dataclass
class _Entry:
    node_id: str
    node_type: str
    label: str
    method: Method
    text: str
    asserted: str | None = None  # "absent" for a phrase that states an absence
    rules_out: tuple[str, ...] = ()  # normal-exam item: the finding ids a normal statement excludes
    priority: bool = False  # clinical wording: wins over a KG synonym with the same words


def _lexically_compatible(span: Sequence[str], term: Sequence[str]) -> bool:
    """Whether every content word of a mention appears, up to inflection, in the term.

    Why: the embedding matcher's head-word check lets a modifier change the meaning ("midbrain
    atrophy" is not *Skeletal muscle atrophy*; "left ventricular cavity" is not *Pulmonary
    cavity*; "regional akinesia" is not the movement disorder *Akinesia*). A mention whose every
    content word is in the term is a rewording of it, not another finding.
    """
    content = [w for w in span if w not in _STOP and not w.isdigit()]
    return bool(content) and all(any(_stem_agree(w, t) for t in term) for w in content)


def _stem_agree(a: str, b: str) -> bool:
    """Same word up to inflection: equal, or a common prefix of 4+ letters and 3/4 of the shorter."""
    if a == b:
        return True
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n >= max(4, 0.75 * min(len(a), len(b)))


def _heads_agree(a: str, b: str) -> bool:
    """Whether two words share a stem: a common prefix of at least 5 letters and 3/4 of the shorter.

    Why: embedding similarity alone links anatomy ("pulmonary arteries" to *Pulmonary arterial
    hypertension*) and loose associations ("cold" to *Coldness*); requiring the term's head word
    to appear, up to inflection, in the mention keeps reorderings ("tremor at rest" for *Resting
    tremor*) and inflections ("pulmonary emboli" for *Pulmonary embolism*) while dropping those.
    """
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n >= max(5, 0.75 * min(len(a), len(b)))


class ConceptLinker:
    """Link mentions in text to the nodes of a vocabulary (label, synonym, embedding).

    Args:
        nodes: The vocabulary: nodes with ``props["name"]`` and optional ``props["synonyms"]``
            (a list, or a ``|``-separated string).
        text_encoder: Encoder for embedding matches; ``None`` turns them off (dictionary only).
        threshold: Cosine similarity an embedding match needs.
        node_types: Keep only nodes of these types, e.g. ``{"Phenotype"}``.
        cache_dir: Folder to keep the vocabulary embeddings in between runs (they take a minute
            for all of HPO on a laptop CPU); ``None`` keeps them in memory only.
        max_span_words: Longest word span tried for embedding matches.
        vocabulary: Clinical wording to add (:class:`~kgdx.encoders.clinical_vocab.ClinicalVocabulary`):
            extra synonyms for the vocabulary's nodes, synonyms to drop, and the normal-exam
            items. ``None``: none.

    Example:
        >>> from kgdx.kg.records import Node
        >>> linker = ConceptLinker([Node("Phenotype", "HP:0002202", {"name": "Pleural effusion"})], text_encoder=None)
        >>> [(c.concept_id, c.status) for c in linker.link("No pleural effusion.")]
        [('HP:0002202', 'absent')]
    """

    def __init__(
        self,
        nodes: Iterable[Node],
        *,
        text_encoder: TextEncoder | None = None,
        threshold: float = 0.85,
        node_types: Iterable[str] | None = None,
        cache_dir: str | Path | None = None,
        max_span_words: int = 5,
        vocabulary: ClinicalVocabulary | None = None,
    ) -> None:
        if not 0 < threshold <= 1:
            raise ValueError(f"'threshold' must be in (0, 1], got {threshold}")
        if max_span_words < 1:
            raise ValueError(f"'max_span_words' must be >= 1, got {max_span_words}")
        self.threshold = threshold
        self.max_span_words = max_span_words
        self.text_encoder = text_encoder
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        types = set(node_types) if node_types is not None else None
        self._entries: list[_Entry] = []
        self._heads: list[str] = []  # last word of each entry, for the embedding matcher's anchor
        self._words: list[list[str]] = []  # each entry's words, for the lexical check
        self._dict: dict[tuple[str, ...], list[int]] = {}
        self._abbrev: dict[str, list[int]] = {}
        n_nodes = 0
        known: dict[str, tuple[str, str]] = {}
        for node in nodes:
            if not isinstance(node, Node):
                raise TypeError(f"'nodes' must yield kgdx.kg.records.Node, got {type(node).__name__}")
            if types is not None and node.type not in types:
                continue
            name = str(node.props.get("name") or "").strip()
            if not name:
                continue
            n_nodes += 1
            syn = node.props.get("synonyms") or []
            if isinstance(syn, str):
                syn = [s for s in syn.split("|")]
            drop = vocabulary.removed.get(node.id, set()) if vocabulary is not None else set()
            self._add(_Entry(node.id, node.type, name, "label", name))
            for s in syn:
                s = str(s).strip()
                if s and s.lower() != name.lower() and s.lower() not in drop:
                    self._add(_Entry(node.id, node.type, name, "synonym", s))
            known[node.id] = (node.type, name)
        self._names = known
        if n_nodes == 0:
            raise ValueError("the vocabulary is empty: no node with a 'name' (after the node_types filter)")
        if vocabulary is not None:
            for cid, phrases in vocabulary.synonyms.items():
                if cid in known:
                    t, name = known[cid]
                    for phrase, assertion in phrases:
                        asserted = "absent" if assertion == "absent" else None
                        self._add(_Entry(cid, t, name, "synonym", phrase, asserted, priority=True))
            for phrase, ids in vocabulary.normal_exam.items():
                ids = tuple(i for i in ids if i in known)
                if ids:
                    t, name = known[ids[0]]
                    self._add(_Entry(ids[0], t, name, "normal-exam", phrase, rules_out=ids, priority=True))
        self._denials = {
            cid: tuple(i for i in ids if i in known) for cid, ids in (vocabulary.denials if vocabulary else {}).items()
        }
        self.num_nodes = n_nodes
        self._max_len = max((len(k) for k in self._dict), default=1)
        self._emb: np.ndarray | None = None

    # ------------------------------------------------------------------ vocabulary

    def _add(self, e: _Entry) -> None:
        i = len(self._entries)
        self._entries.append(e)
        words = [t.norm for t in _tokenize(e.text) if not t.is_punct]
        self._heads.append(words[-1] if words else "")
        self._words.append(words)
        if _ABBREV.match(e.text) or (e.priority and _SHORT_ABBREV.match(e.text)):
            self._abbrev.setdefault(e.text, []).append(i)
            return
        key = tuple(w for w in words if w not in _ARTICLES)
        if key and not all(k in _STOP for k in key):
            self._dict.setdefault(key, []).append(i)

    def __len__(self) -> int:
        return self.num_nodes

    def __repr__(self) -> str:
        enc = type(self.text_encoder).__name__ if self.text_encoder is not None else None
        return (
            f"ConceptLinker(nodes={self.num_nodes}, strings={len(self._entries)}, encoder={enc}, "
            f"threshold={self.threshold})"
        )

    def _best(self, ids: Sequence[int]) -> int:
        # Prefer clinical wording, then a label over a synonym, then the shortest name, then the
        # smallest id: deterministic.
        return min(
            ids,
            key=lambda i: (
                not self._entries[i].priority,
                self._entries[i].method != "label",
                len(self._entries[i].label),
                self._entries[i].node_id,
            ),
        )

    def _vocab_embeddings(self) -> np.ndarray:
        if self._emb is not None:
            return self._emb
        assert self.text_encoder is not None
        texts = [e.text for e in self._entries]  # normal-exam items get embedded too, but never proposed
        key = hashlib.sha256(("\x1f".join(texts) + f"|{getattr(self.text_encoder, 'path', '')}").encode()).hexdigest()[
            :20
        ]
        cache = self.cache_dir / f"vocab-{key}.npy" if self.cache_dir is not None else None
        if cache is not None and cache.is_file():
            emb = np.load(cache)
            if emb.shape[0] == len(texts):
                self._emb = emb
                return emb
        emb = self.text_encoder.encode(texts, normalize=True, batch_size=256, progress=len(texts) > 5000)
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            np.save(cache, emb)
        self._emb = emb.astype(np.float32)
        return self._emb

    # ------------------------------------------------------------------ linking

    def link(self, text: str, *, section: str | None = None, offset: int = 0) -> list[LinkedConcept]:
        """Link the mentions in ``text`` (spans are offsets into ``text`` plus ``offset``)."""
        return self.link_many([text], sections=[section], offsets=[offset])[0]

    def link_report(self, report: Report | str) -> list[LinkedConcept]:
        """Link every section of a report; spans are offsets into the whole report text."""
        from kgdx.ingest.reports import parse_report

        rep = parse_report(report) if isinstance(report, str) else report
        secs = list(rep.sections)
        found = self.link_many([s.text for s in secs], sections=[s.name for s in secs], offsets=[s.start for s in secs])
        return [c for cs in found for c in cs]

    def link_many(
        self,
        texts: Sequence[str],
        *,
        sections: Sequence[str | None] | None = None,
        offsets: Sequence[int] | None = None,
    ) -> list[list[LinkedConcept]]:
        """Link many texts at once; the embedding matcher runs as one batch over all of them."""
        if isinstance(texts, str):
            raise TypeError("'texts' must be a sequence of str; use link() for one text")
        sections = list(sections) if sections is not None else [None] * len(texts)
        offsets = list(offsets) if offsets is not None else [0] * len(texts)
        if not len(sections) == len(offsets) == len(texts):
            raise ValueError(f"got {len(texts)} texts, {len(sections)} sections and {len(offsets)} offsets")
        # Pass 1: dictionary matches and embedding candidates per sentence.
        jobs = []  # (text index, text, tokens, triggers, matches, candidates)
        all_cands: list[str] = []
        for ti, text in enumerate(texts):
            for s, e in _sentences(text):
                toks = _tokenize(text[s:e], s)
                if not toks or _is_heading(text[s:e]):
                    continue
                # Dictionary first, so a term that contains a trigger word ("Normal DaT-SPECT",
                # "Parkinsonism with favorable response") stays whole; a trigger inside a match is
                # part of the term, not an assertion.
                matches = self._dictionary(toks, np.zeros(len(toks), bool))
                inside = np.zeros(len(toks), bool)
                for m in matches:
                    inside[m[0] : m[1]] = True
                coords = self._coordinated(toks, matches, inside)
                trigs = [tr for tr in _find_triggers(toks) if not inside[tr.start : tr.end].any()]
                taken = inside.copy()
                for tr in trigs:
                    taken[tr.start : tr.end] = True
                cands = self._candidates(toks, taken) if self.text_encoder is not None else []
                jobs.append((ti, text, toks, trigs, matches, coords, cands, len(all_cands)))
                all_cands += [" ".join(t.raw for t in toks[a:b]) for a, b in cands]
        # Pass 2: embed all candidates at once.
        sims = best = None
        if all_cands:
            vocab = self._vocab_embeddings()
            q = self.text_encoder.encode(all_cands, normalize=True, batch_size=256)  # type: ignore[union-attr]
            scores = q @ vocab.T  # (Q, V)
            best = scores.argmax(1)
            sims = scores[np.arange(len(all_cands)), best]
        out: list[list[LinkedConcept]] = [[] for _ in texts]
        for ti, text, toks, trigs, matches, coords, cands, base in jobs:
            found = [(a, b, i, self._entries[i].method, self._score(i)) for a, b, i in matches]
            if cands and sims is not None:
                emb_hits = []
                for k, (a, b) in enumerate(cands):
                    sc = float(sims[base + k])
                    i = int(best[base + k])
                    e = self._entries[i]
                    if (
                        sc >= self.threshold
                        and e.method != "normal-exam"
                        and e.asserted is None
                        and any(_heads_agree(t.norm, self._heads[i]) for t in toks[a:b])
                        and _lexically_compatible([t.norm for t in toks[a:b]], self._words[i])
                    ):
                        emb_hits.append((sc, a, b, i))
                taken = np.zeros(len(toks), bool)
                for a, b, *_ in found:
                    taken[a:b] = True
                for sc, a, b, i in sorted(emb_hits, key=lambda h: (-h[0], h[1])):  # greedy, best first
                    if not taken[a:b].any():
                        taken[a:b] = True
                        found.append((a, b, i, "embedding", sc))
            found.sort()
            spans = [(f[0], f[1]) for f in found]
            seen: set[tuple[str, str]] = set()
            for a, b, i, method, score in found:
                status, trig, fam = self._assert(a, b, trigs, spans, toks)
                e = self._entries[i]
                if e.method == "normal-exam":
                    if (
                        status == "absent"
                        and trig is not None
                        and normalize_token(trig.split()[-1]) in _NEGATIVE_RESULT
                    ):
                        status = "normal"
                    if status not in ("normal", "normal-item"):
                        continue  # "speech slow": the exam item alone asserts nothing
                    status = "normal"
                    targets = [(r, *self._names[r]) for r in e.rules_out]
                    method = "normal-exam"
                elif method == "embedding" and status in ("normal", "normal-item"):
                    continue  # a paraphrase in a normal statement is not a finding to rule out
                else:
                    if status == "normal-item":  # "tremor fine": about a finding's name it says nothing
                        status, trig = "present", None
                    targets = [self._target(i)]
                if e.asserted == "absent" and status != "normal":
                    status, trig = "absent", e.text
                if status == "absent":  # "no falls" also rules out frequent falls (vocab/denials.tsv)
                    targets += [(r, *self._names[r]) for r in self._denials.get(e.node_id, ())]
                # "no rest or postural tremor": each coordinated term shares its head's assertion.
                mentions = [(a, targets, method, score)]
                mentions += [
                    (j, [self._target(k)], self._entries[k].method, self._score(k)) for j, k in coords.get((a, b), ())
                ]
                for start, named, method, score in mentions:
                    off = offsets[ti]
                    span = (toks[start].start + off, toks[b - 1].end + off)
                    for cid, ctype, clabel in named:
                        key = (cid, f"{span}")
                        if key in seen:
                            continue
                        seen.add(key)
                        out[ti].append(
                            LinkedConcept(
                                concept_id=cid,
                                label=clabel,
                                node_type=ctype,
                                text=text[toks[start].start : toks[b - 1].end],
                                span=span,
                                score=round(float(score), 4),
                                status=status,
                                section=sections[ti],
                                method=method,  # type: ignore[arg-type]
                                experiencer="family" if fam else "patient",
                                trigger=trig,
                            )
                        )
        return out

    def _score(self, i: int) -> float:
        return 1.0 if self._entries[i].method == "label" else 0.99

    def _target(self, i: int) -> tuple[str, str, str]:
        e = self._entries[i]
        return e.node_id, e.node_type, e.label

    def _coordinated(
        self, toks: Sequence[_Tok], matches: Sequence[tuple[int, int, int]], inside: np.ndarray
    ) -> dict[tuple[int, int], list[tuple[int, int]]]:
        """Terms whose modifier is coordinated with a matched term's: ``{(start, end): [(token, entry)]}``.

        In "postural and kinetic tremor" the dictionary matches "kinetic tremor"; "postural" shares
        its head, and "postural tremor" is a term of its own. A modifier counts only when the
        modifier with the head is in the dictionary, so "bradykinesia and cogwheel rigidity" adds
        nothing. The modifiers' tokens are marked in ``inside``.
        """
        out: dict[tuple[int, int], list[tuple[int, int]]] = {}
        for a, b, i in matches:
            if b - a < 2 or self._entries[i].method == "normal-exam":
                continue
            head = tuple(t.norm for t in toks[a + 1 : b])
            k = a - 1
            while k >= 1 and toks[k].norm in _COORDINATORS and not inside[k - 1] and not toks[k - 1].is_punct:
                ids = self._dict.get((toks[k - 1].norm, *head))
                if not ids or self._entries[self._best(ids)].method == "normal-exam":
                    break
                out.setdefault((a, b), []).append((k - 1, self._best(ids)))
                inside[k - 1] = True
                k -= 2
        return out

    def _dictionary(self, toks: Sequence[_Tok], taken: np.ndarray) -> list[tuple[int, int, int]]:
        """Leftmost-longest dictionary matches ``(start, end, entry)`` over word tokens."""
        out, i = [], 0
        while i < len(toks):
            if taken[i] or toks[i].is_punct:
                i += 1
                continue
            hit = None
            for n in range(min(self._max_len, len(toks) - i), 0, -1):
                span = toks[i : i + n]
                if any(t.is_punct for t in span) or taken[i : i + n].any():
                    continue
                if span[0].norm in _ARTICLES or span[-1].norm in _ARTICLES:
                    continue
                key = tuple(t.norm for t in span if t.norm not in _ARTICLES)
                ids = self._dict.get(key)
                if ids:
                    hit = (i, i + n, self._best(ids))
                    break
            if hit is None and toks[i].raw in self._abbrev:
                hit = (i, i + 1, self._best(self._abbrev[toks[i].raw]))
            if hit is not None:
                out.append(hit)
                i = hit[1]
            else:
                i += 1
        return out

    def _candidates(self, toks: Sequence[_Tok], taken: np.ndarray) -> list[tuple[int, int]]:
        """Word spans to try by embedding: inside a clause, free, not bounded by stop words."""
        out = []
        n = len(toks)
        for a in range(n):
            if taken[a] or toks[a].is_punct or toks[a].norm in _STOP or toks[a].norm.isdigit():
                continue
            for b in range(a + 1, min(n, a + self.max_span_words) + 1):
                last = toks[b - 1]
                if taken[b - 1] or last.is_punct:
                    break
                if last.norm in _STOP or last.norm.isdigit() or len(last.norm) < 3:
                    continue
                out.append((a, b))
        return out

    @staticmethod
    def _assert(
        a: int, b: int, trigs: Sequence[_Trig], spans: Sequence[tuple[int, int]], toks: Sequence[_Tok]
    ) -> tuple[Status, str | None, bool]:
        """Status of the mention at tokens ``[a, b)`` from the sentence's triggers.

        ``spans`` are the sentence's mentions as token ranges, ``toks`` its tokens.
        """
        terms = [t for t in trigs if t.kind == "term"]
        mention_starts = [s for s, _ in spans]
        in_mention = np.zeros(len(toks), bool)
        for s, e in spans:
            in_mention[s:e] = True
        # Phrases that also read backward ("normal", "resolved", "absent"): after a word they are
        # that word's predicate ("smell normal", "depression resolved").
        post = {(t.start, t.end) for t in trigs if t.direction in ("bwd", "both")}

        def blocked(lo: int, hi: int) -> bool:
            return any(lo <= t.start and t.end <= hi for t in terms)

        def words_between(lo: int, hi: int) -> int:
            return max(0, hi - lo)

        def free_words(lo: int, hi: int) -> int:
            # Words that are not part of a mention: "denies loss of smell, constipation, urinary
            # urgency or dream enactment" reaches the last item of its list.
            return sum(not toks[k].is_punct and not in_mention[k] for k in range(lo, hi))

        def between_mention(lo: int, hi: int) -> bool:
            return any(lo <= s < hi for s in mention_starts)

        def comma(lo: int, hi: int) -> bool:
            return any(toks[k].raw == "," for k in range(lo, hi))

        def own_head(k: int) -> bool:
            # A word that heads a phrase of its own: in a mention, or a content word ("PSA", "x3").
            return not toks[k].is_punct and (bool(in_mention[k]) or toks[k].norm not in _STOP)

        def list_between(lo: int, hi: int) -> bool:
            # Only mentions, function words and commas: "rigidity, bradykinesia and tremor are absent".
            return all(toks[k].is_punct or in_mention[k] or toks[k].norm in _STOP for k in range(lo, hi))

        def fwd_reaches(t: _Trig) -> bool:
            # "Depression resolved, palpitations": a trigger that is the predicate of the word before
            # it does not reach past a comma.
            return not ((t.start, t.end) in post and t.start > 0 and own_head(t.start - 1) and comma(t.end, a))

        def bwd_reaches(t: _Trig) -> bool:
            # "Nocturia x3, PSA normal": across a comma a backward trigger reaches only a list of
            # mentions; a word with its own head in between ("x3", "PSA") ends the scope.
            return not comma(b, t.start) or list_between(b, t.start)

        fwd = [
            t
            for t in trigs
            if t.kind in ("neg", "unc", "hist", "normal", "nitem", "fam", "pseudo")
            and t.direction in ("fwd", "both")
            and t.end <= a
            and not blocked(t.end, a)
            and free_words(t.end, a) <= _FWD_WORDS
            and fwd_reaches(t)
        ]
        bwd = [
            t
            for t in trigs
            if t.kind in ("neg", "unc", "hist", "normal", "nitem", "pseudo")
            and t.direction in ("bwd", "both")
            and t.start >= b
            and not blocked(b, t.start)
            and words_between(b, t.start) <= _BWD_WORDS
            and bwd_reaches(t)
        ]
        fam = any(t.kind == "fam" for t in fwd)
        chosen: list[_Trig] = []
        if fwd:
            fwd.sort(key=lambda t: t.end)
            nearest = fwd[-1]
            chosen.append(nearest)
            # A negation further back still governs when no mention separates it from the nearest.
            for t in reversed(fwd[:-1]):
                if between_mention(t.end, nearest.start):
                    break
                chosen.append(t)
                nearest = t
        if bwd:
            bwd.sort(key=lambda t: t.start)
            chosen.append(bwd[0])
            # "no dream enactment, smell intact": a normal statement right after the item is about
            # it; a negation earlier in the sentence is about something else.
            if bwd[0].kind in ("normal", "nitem") and bwd[0].start - b <= 2 and not between_mention(b, bwd[0].start):
                return _NORMAL[bwd[0].kind], bwd[0].phrase, any(t.kind == "fam" for t in fwd)
        # A pseudo-trigger shields only itself; the assertion comes from real triggers.
        real = [t for t in chosen if t.kind in ("neg", "unc", "hist", "normal", "nitem")]
        if not real:
            return "present", None, fam
        pseudo_nearest = fwd and fwd[-1].kind == "pseudo" and not bwd
        if pseudo_nearest:
            return "present", None, fam
        # Negation first ("no evidence to suggest"), then a normal exam, doubt, and the past.
        for kind, status in (
            ("neg", "absent"),
            ("normal", "normal"),
            ("nitem", _NORMAL["nitem"]),
            ("unc", "uncertain"),
            ("hist", "historical"),
        ):
            hit = [t for t in real if t.kind == kind]
            if hit:
                return status, hit[0].phrase, fam  # type: ignore[return-value]
        return "present", None, fam
