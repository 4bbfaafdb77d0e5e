"""Ranked partial and fuzzy search over node names and synonyms, the same in every store.

A module author types "Fabry" or "amyloidosis", not the exact HPO or MONDO name. Each store finds
candidate names its own way (the in-memory store from its name index, Neo4j from its full-text
index) and :func:`score_name` ranks them, so both stores give the same order.

Scores, best first: the whole name (1.0), the name's start (0.9), whole words inside it (0.8),
every query word the start of a name word (0.7), then typo-tolerant word matches (up to 0.6,
scaled by similarity). A synonym scores 0.02 less than the same match on the name.

Example:
    >>> score_name("fabry", "Fabry disease") > score_name("fabry", "Fabrys syndrome-like") > 0
    True
"""

from __future__ import annotations

import re
from difflib import SequenceMatcher

__all__ = ["score_name", "query_words", "FUZZY_CUTOFF"]

#: How similar (difflib ratio) a misspelt word must be to count as a fuzzy match.
FUZZY_CUTOFF = 0.8

_WORD = re.compile(r"[a-z0-9]+")


def query_words(text: str) -> list[str]:
    """The lower-case words of a query or name."""
    return _WORD.findall(text.lower())


def score_name(query: str, name: str, *, synonym: bool = False) -> float:
    """How well ``name`` answers ``query`` (0: not at all); see the module docstring."""
    q, n = " ".join(query_words(query)), " ".join(query_words(name))
    if not q or not n:
        return 0.0
    qw, nw = q.split(), n.split()
    if q == n:
        s = 1.0
    elif n.startswith(q + " ") or (n.startswith(q) and len(qw) > 1):
        s = 0.9
    elif f" {q} " in f" {n} ":
        s = 0.8
    elif all(any(w.startswith(x) for w in nw) for x in qw):
        s = 0.7
    else:
        sims = [max(SequenceMatcher(None, x, w).ratio() for w in nw) for x in qw]
        if min(sims) < FUZZY_CUTOFF:
            return 0.0
        s = 0.6 * min(sims)
    # Shorter names first among equals ("Fabry disease" before "Fabry disease, cardiac variant").
    s -= min(len(nw) - len(qw), 20) * 0.001
    return round(s - (0.02 if synonym else 0.0), 4)
