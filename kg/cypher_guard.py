"""The allow-list guard of the read-only Cypher path: what a user query may call and contain.

A user query (``kgdx kg cypher``, :meth:`kgdx.kg.neo4j_store.Neo4jStore.cypher`, ``POST /kg/cypher``)
is checked here before Neo4j sees it, then again on Neo4j's own plan (:func:`check_plan`), then run
in a READ transaction that is always rolled back. This module is the first of those checks:

- **Procedures and functions are allow-listed**, not deny-listed. The query is tokenised
  (strings, backtick names and comments understood as Cypher does), and every name that is
  called, ``CALL x.y`` or ``x.y(…)``, must be on :data:`PROCEDURES` or :data:`FUNCTIONS`
  (:data:`FUNCTION_NAMESPACES`). Nothing that runs Cypher from a string (``apoc.cypher.*``,
  ``apoc.do.*``, ``apoc.when``, ``apoc.case``, ``apoc.periodic.*``), exports, loads, logs, triggers
  or reads configuration is on them, in any namespace, so a string an allowed call receives is
  never executed.
- **Clauses that act on the server or read files are refused by keyword**: writes, ``LOAD CSV``,
  ``CALL … IN TRANSACTIONS``, ``TERMINATE``, ``USE``, administration, and ``SHOW`` other than
  indexes, constraints, functions and procedures (``SHOW TRANSACTIONS`` would reveal other
  clients' queries and parameters).
- **Values built by expressions alone are bounded.** Neo4j Community tracks the memory of rows,
  aggregations and sorts (``db.memory.transaction.max``), but not of a list or string an
  expression builds, and does not check the timeout inside one: ``RETURN size([i IN range(1,
  300000000) | i])`` exhausts the heap and stops the server. So ``range()`` takes integer literals
  or parameters, with at most :data:`MAX_RANGE_VALUES` values in all the ranges of a query
  (nested comprehensions multiply), ``reduce()`` may not add its accumulator to itself (doubling),
  ``replace()`` may not nest, and a query is at most :data:`MAX_QUERY_CHARS` long. This is a
  bound on the known amplifiers, not a proof; the server's memory limit and the deny-by-default
  lists are the other layers (docs/security.md).

Example:
    >>> check_query("MATCH (d:Disease) RETURN d.name, apoc.text.join(d.synonyms, '; ') LIMIT 5")
    >>> check_query("RETURN apoc.cypher.runFirstColumnMany('LOAD CSV …', {})")
    Traceback (most recent call last):
    ...
    kgdx.errors.ReadOnlyQueryError: the read-only Cypher path refuses the function apoc.cypher.runFirstColumnMany: it is not on the allow-list
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from kgdx.errors import ReadOnlyQueryError, StoreError

__all__ = [
    "FUNCTIONS",
    "FUNCTION_NAMESPACES",
    "PROCEDURES",
    "MAX_QUERY_CHARS",
    "MAX_RANGE_VALUES",
    "Token",
    "tokenize",
    "check_query",
    "called_names",
]

#: Longest query text the read-only path accepts.
MAX_QUERY_CHARS = 20_000
#: Most values all ``range()`` calls of one query may produce together (their product).
MAX_RANGE_VALUES = 1_000_000

#: Built-in Cypher functions (Neo4j 5.26 ``SHOW FUNCTIONS``), minus ``file()``/``linenumber()``
#: (LOAD CSV only) and ``graph.*`` (composite databases).
FUNCTIONS = frozenset(
    name.lower()
    for name in [
        "abs",
        "acos",
        "all",
        "any",
        "asin",
        "atan",
        "atan2",
        "avg",
        "btrim",
        "ceil",
        "char_length",
        "character_length",
        "coalesce",
        "collect",
        "cos",
        "cot",
        "count",
        "date",
        "date.realtime",
        "date.statement",
        "date.transaction",
        "date.truncate",
        "datetime",
        "datetime.fromepoch",
        "datetime.fromepochmillis",
        "datetime.realtime",
        "datetime.statement",
        "datetime.transaction",
        "datetime.truncate",
        "degrees",
        "duration",
        "duration.between",
        "duration.inDays",
        "duration.inMonths",
        "duration.inSeconds",
        "e",
        "elementId",
        "endNode",
        "exists",
        "exp",
        "floor",
        "haversin",
        "head",
        "id",
        "isEmpty",
        "isNaN",
        "keys",
        "labels",
        "last",
        "left",
        "length",
        "localdatetime",
        "localdatetime.realtime",
        "localdatetime.statement",
        "localdatetime.transaction",
        "localdatetime.truncate",
        "localtime",
        "localtime.realtime",
        "localtime.statement",
        "localtime.transaction",
        "localtime.truncate",
        "log",
        "log10",
        "lower",
        "ltrim",
        "max",
        "min",
        "nodes",
        "none",
        "normalize",
        "nullIf",
        "percentileCont",
        "percentileDisc",
        "pi",
        "point",
        "point.distance",
        "point.withinBBox",
        "properties",
        "radians",
        "rand",
        "randomUUID",
        "range",
        "reduce",
        "relationships",
        "replace",
        "reverse",
        "right",
        "round",
        "rtrim",
        "sign",
        "sin",
        "single",
        "size",
        "split",
        "sqrt",
        "startNode",
        "stdev",
        "stdevp",
        "substring",
        "sum",
        "tail",
        "tan",
        "time",
        "time.realtime",
        "time.statement",
        "time.transaction",
        "time.truncate",
        "timestamp",
        "toBoolean",
        "toBooleanList",
        "toBooleanOrNull",
        "toFloat",
        "toFloatList",
        "toFloatOrNull",
        "toInteger",
        "toIntegerList",
        "toIntegerOrNull",
        "toLower",
        "toString",
        "toStringList",
        "toStringOrNull",
        "toUpper",
        "trim",
        "type",
        "upper",
        "valueType",
        "vector.similarity.cosine",
        "vector.similarity.euclidean",
        "apoc.version",
        "apoc.util.md5",
        "apoc.util.sha1",
        "apoc.util.sha256",
        "apoc.util.sha384",
        "apoc.util.sha512",
    ]
)
#: APOC function namespaces whose functions are pure and read-only (the server loads the same).
FUNCTION_NAMESPACES = (
    "apoc.agg.",
    "apoc.any.",
    "apoc.bitwise.",
    "apoc.coll.",
    "apoc.convert.",
    "apoc.date.",
    "apoc.diff.",
    "apoc.hashing.",
    "apoc.json.",
    "apoc.label.",
    "apoc.map.",
    "apoc.math.",
    "apoc.meta.",
    "apoc.node.",
    "apoc.nodes.",
    "apoc.number.",
    "apoc.path.",
    "apoc.rel.",
    "apoc.scoring.",
    "apoc.temporal.",
    "apoc.text.",
)
#: APOC functions in those namespaces that build values of any size from a small query.
AMPLIFIERS = frozenset(
    {
        "apoc.coll.fill",
        "apoc.text.repeat",
        "apoc.text.lpad",
        "apoc.text.rpad",
        "apoc.text.format",
        "apoc.coll.combinations",
        "apoc.coll.pairs",
    }
)
#: Procedures a user query may CALL: schema introspection, the full-text and vector indexes,
#: and APOC's read-only traversals.
PROCEDURES = frozenset(
    name.lower()
    for name in [
        "db.labels",
        "db.relationshipTypes",
        "db.propertyKeys",
        "db.schema.visualization",
        "db.schema.nodeTypeProperties",
        "db.schema.relTypeProperties",
        "db.index.fulltext.queryNodes",
        "db.index.fulltext.queryRelationships",
        "db.index.vector.queryNodes",
        "db.index.vector.queryRelationships",
        "apoc.meta.schema",
        "apoc.meta.data",
        "apoc.meta.graph",
        "apoc.meta.stats",
        "apoc.meta.nodeTypeProperties",
        "apoc.meta.relTypeProperties",
        "apoc.path.expand",
        "apoc.path.expandConfig",
        "apoc.path.subgraphNodes",
        "apoc.path.subgraphAll",
        "apoc.path.spanningTree",
        "apoc.algo.dijkstra",
        "apoc.algo.allSimplePaths",
        "apoc.algo.aStar",
        "apoc.neighbors.tohop",
        "apoc.neighbors.byhop",
        "apoc.neighbors.athop",
        "apoc.neighbors.tohop.count",
        "apoc.neighbors.byhop.count",
        "apoc.neighbors.athop.count",
        "apoc.stats.degrees",
    ]
)
#: Words that start clauses which write, administer, read files or reach other databases.
FORBIDDEN_KEYWORDS = frozenset(
    [
        "create",
        "merge",
        "delete",
        "detach",
        "set",
        "remove",
        "drop",
        "alter",
        "grant",
        "deny",
        "revoke",
        "foreach",
        "load",
        "terminate",
        "use",
        "start",
        "stop",
        "rename",
        "enable",
        "deallocate",
        "reallocate",
        "dryrun",
        "transactions",
    ]
)
#: What may follow SHOW (possibly after ALL, RANGE, FULLTEXT, … and before YIELD/WHERE).
_SHOWABLE = frozenset(
    {"index", "indexes", "constraint", "constraints", "function", "functions", "procedure", "procedures"}
)
#: Words that may stand before "(" without being a function call.
_KEYWORDS = frozenset(
    [
        "match",
        "optional",
        "where",
        "return",
        "with",
        "unwind",
        "call",
        "yield",
        "order",
        "by",
        "skip",
        "limit",
        "offset",
        "and",
        "or",
        "xor",
        "not",
        "in",
        "is",
        "as",
        "case",
        "when",
        "then",
        "else",
        "end",
        "distinct",
        "union",
        "all",
        "exists",
        "count",
        "collect",
        "shortestpath",
        "allshortestpaths",
        "shortest",
        "any",
        "on",
        "asc",
        "desc",
        "ascending",
        "descending",
        "contains",
        "starts",
        "ends",
        "of",
        "rows",
        "filter",
        "extract",
        "none",
        "single",
        "some",
        "finish",
        "next",
        "let",
        "null",
        "true",
        "false",
    ]
)


@dataclass(frozen=True)
class Token:
    """One lexical token: ``kind`` is name, qname (backtick-quoted), string, number, param or op."""

    kind: str
    value: str
    pos: int


_SPACE = re.compile(r"\s+")
_NAME = re.compile(r"[^\W\d]\w*", re.UNICODE)
_NUMBER = re.compile(
    r"(?:0x[0-9a-fA-F_]+|0o[0-7_]+|\d[\d_]*(?:\.\d[\d_]*)?(?:[eE][+-]?\d+)?|\.\d[\d_]*(?:[eE][+-]?\d+)?)"
)
_PARAM = re.compile(r"\$(?:[^\W\d]\w*|\d+|`(?:[^`]|``)*`)", re.UNICODE)


def tokenize(query: str) -> Iterator[Token]:
    """The tokens of ``query`` (comments and whitespace dropped, escapes resolved).

    Raises:
        StoreError: An unterminated string, backtick name or comment.
    """
    i, n = 0, len(query)
    while i < n:
        ch = query[i]
        if ch.isspace():
            i = _SPACE.match(query, i).end()  # type: ignore[union-attr]
        elif query.startswith("//", i):
            j = query.find("\n", i)
            i = n if j < 0 else j + 1
        elif query.startswith("/*", i):
            j = query.find("*/", i + 2)
            if j < 0:
                raise StoreError(f"invalid query: unterminated comment at offset {i}")
            i = j + 2
        elif ch in "'\"":
            j, out = i + 1, []
            while True:
                if j >= n:
                    raise StoreError(f"invalid query: unterminated string at offset {i}")
                c = query[j]
                if c == "\\":  # Cypher: a backslash escapes the next character, quotes included
                    out.append(query[j : j + 2])
                    j += 2
                    continue
                if c == ch:
                    break
                out.append(c)
                j += 1
            yield Token("string", "".join(out), i)
            i = j + 1
        elif ch == "`":
            j, out = i + 1, []
            while True:
                k = query.find("`", j)
                if k < 0:
                    raise StoreError(f"invalid query: unterminated backtick name at offset {i}")
                out.append(query[j:k])
                if query.startswith("``", k):  # `` is an escaped backtick
                    out.append("`")
                    j = k + 2
                    continue
                j = k + 1
                break
            yield Token("qname", "".join(out), i)
            i = j
        elif ch == "$":
            m = _PARAM.match(query, i)
            if not m:
                yield Token("op", ch, i)
                i += 1
                continue
            name = m.group()[1:]
            yield Token("param", name[1:-1].replace("``", "`") if name.startswith("`") else name, i)
            i = m.end()
        elif (m := _NUMBER.match(query, i)) and (ch.isdigit() or ch == "."):
            yield Token("number", m.group(), i)
            i = m.end()
        elif m := _NAME.match(query, i):
            yield Token("name", m.group(), i)
            i = m.end()
        else:
            yield Token("op", ch, i)
            i += 1


@dataclass(frozen=True)
class _Call:
    name: str  # dotted, as written (backticks resolved)
    procedure: bool
    start: int  # index of its first token
    open: int | None  # index of its "(" token, if any


def _calls(tokens: list[Token]) -> Iterator[_Call]:
    """Every function and procedure invocation among ``tokens``."""
    i = 0
    while i < len(tokens):
        t = tokens[i]
        if t.kind not in ("name", "qname"):
            i += 1
            continue
        prev = tokens[i - 1] if i else None
        parts, j = [t.value], i + 1
        while j + 1 < len(tokens) and tokens[j].value == "." and tokens[j].kind == "op":
            nxt = tokens[j + 1]
            if nxt.kind not in ("name", "qname"):
                break
            parts.append(nxt.value)
            j += 2
        name = ".".join(parts)
        after_call = prev is not None and prev.kind == "name" and prev.value.lower() == "call"
        opens = j < len(tokens) and tokens[j].kind == "op" and tokens[j].value == "("
        if after_call:
            yield _Call(name, True, i, j if opens else None)
        elif opens and (len(parts) > 1 or t.kind == "qname" or t.value.lower() not in _KEYWORDS):
            yield _Call(name, False, i, j)
        i = j


def called_names(query: str) -> list[tuple[str, bool]]:
    """``(name, is_procedure)`` for every call in ``query``, in order (for tests and messages)."""
    return [(c.name, c.procedure) for c in _calls(list(tokenize(query)))]


def _refuse(what: str) -> ReadOnlyQueryError:
    return ReadOnlyQueryError(f"the read-only Cypher path refuses {what}")


def _function_allowed(name: str) -> bool:
    low = name.lower()
    if low in AMPLIFIERS:
        return False
    return low in FUNCTIONS or low.startswith(FUNCTION_NAMESPACES)


def _matching(tokens: list[Token], open_idx: int) -> int:
    """Index of the ")" that closes the "(" at ``open_idx`` (or the last token)."""
    depth = 0
    for k in range(open_idx, len(tokens)):
        v = tokens[k].value if tokens[k].kind == "op" else ""
        if v in "([{" and v:
            depth += 1
        elif v in ")]}" and v:
            depth -= 1
            if depth == 0:
                return k
    return len(tokens) - 1


def _arguments(tokens: list[Token], open_idx: int) -> list[list[Token]]:
    """The comma-separated top-level arguments of the call whose "(" is at ``open_idx``."""
    close = _matching(tokens, open_idx)
    args: list[list[Token]] = [[]]
    depth = 0
    for t in tokens[open_idx + 1 : close]:
        v = t.value if t.kind == "op" else ""
        if v and v in "([{":
            depth += 1
        elif v and v in ")]}":
            depth -= 1
        if v == "," and depth == 0:
            args.append([])
        else:
            args[-1].append(t)
    return [a for a in args if a]


def _int_arg(arg: list[Token], params: Mapping[str, Any]) -> int | None:
    sign = 1
    if len(arg) == 2 and arg[0].kind == "op" and arg[0].value in "+-":
        sign = -1 if arg[0].value == "-" else 1
        arg = arg[1:]
    if len(arg) != 1:
        return None
    t = arg[0]
    if t.kind == "number":
        try:
            return sign * int(t.value.replace("_", ""), 0)
        except ValueError:
            return None
    if t.kind == "param":
        value = params.get(t.value)
        if isinstance(value, int) and not isinstance(value, bool):
            return sign * value
    return None


def _range_size(tokens: list[Token], call: _Call, params: Mapping[str, Any]) -> int:
    assert call.open is not None
    args = _arguments(tokens, call.open)
    values = [_int_arg(a, params) for a in args]
    if not 2 <= len(args) <= 3 or any(v is None for v in values):
        raise _refuse(
            "range() unless its bounds and step are integer literals or integer parameters "
            "(expression-built lists are not memory-limited by Neo4j Community)"
        )
    start, end = values[0], values[1]
    step = values[2] if len(values) == 3 else 1
    assert start is not None and end is not None and step is not None
    if step == 0:
        return 0  # Neo4j itself refuses a zero step
    return max(0, (end - start) // step + 1)


def check_query(query: str, params: Mapping[str, Any] | None = None) -> None:
    """Refuse ``query`` unless everything it calls is allow-listed and nothing in it writes,
    administers, reads files or builds an unbounded value.

    Raises:
        ReadOnlyQueryError: naming the first thing refused.
        StoreError: the query is empty, too long, or cannot be tokenised.
    """
    params = params or {}
    if not query or not query.strip():
        raise StoreError("the query is empty")
    if len(query) > MAX_QUERY_CHARS:
        raise StoreError(
            f"the query has {len(query):,} characters; the read-only path takes at most {MAX_QUERY_CHARS:,}"
        )
    tokens = list(tokenize(query))
    for k, t in enumerate(tokens):
        if t.kind != "name":
            continue
        low = t.value.lower()
        prev = tokens[k - 1] if k else None
        nxt = tokens[k + 1] if k + 1 < len(tokens) else None
        if (prev is not None and prev.kind == "op" and prev.value in ".:") or (
            nxt is not None and nxt.kind == "op" and nxt.value == ":"
        ):
            continue  # a property, a label or a map key, not a clause
        if low in FORBIDDEN_KEYWORDS:
            raise _refuse(f"{t.value.upper()} (offset {t.pos}): it writes, administers or reaches outside the KG")
        if low == "show":
            ahead = [x.value.lower() for x in tokens[k + 1 : k + 4] if x.kind == "name"]
            if not _SHOWABLE.intersection(ahead):
                raise _refuse(
                    f"SHOW {' '.join(ahead[:2]).upper()} (offset {t.pos}): only indexes, constraints, functions and procedures can be shown"
                )
    total = 1
    for call in _calls(tokens):
        if call.procedure:
            if call.name.lower() not in PROCEDURES:
                raise _refuse(f"the procedure {call.name}: it is not on the allow-list")
            continue
        if not _function_allowed(call.name):
            raise _refuse(f"the function {call.name}: it is not on the allow-list")
        low = call.name.lower()
        if low == "range":
            total *= _range_size(tokens, call, params)
            if total > MAX_RANGE_VALUES:
                raise _refuse(
                    f"range() calls that produce more than {MAX_RANGE_VALUES:,} values together "
                    "(expression-built lists are not memory-limited by Neo4j Community)"
                )
        elif low == "reduce":
            _check_reduce(tokens, call)
        elif low == "replace":
            assert call.open is not None
            inner = tokens[call.open + 1 : _matching(tokens, call.open)]
            if any(x.kind == "name" and x.value.lower() == "replace" for x in inner):
                raise _refuse("nested replace() (each level multiplies the string's size)")


def _check_reduce(tokens: list[Token], call: _Call) -> None:
    """Refuse ``reduce(acc = …, x IN … | … acc + acc …)``: doubling grows without bound."""
    assert call.open is not None
    close = _matching(tokens, call.open)
    body = tokens[call.open + 1 : close]
    if len(body) < 2 or body[0].kind not in ("name", "qname"):
        return
    acc = body[0].value
    bar = next((k for k, t in enumerate(body) if t.kind == "op" and t.value == "|"), None)
    if bar is None:
        return
    uses = [k for k, t in enumerate(body[bar + 1 :]) if t.kind in ("name", "qname") and t.value == acc]
    if len(uses) > 1:
        rest = body[bar + 1 :]
        ops = {t.value for t in rest if t.kind == "op"}
        if "+" in ops or "*" in ops:
            raise _refuse(
                f"reduce() that combines its accumulator {acc!r} with itself (the value doubles at each step)"
            )


def check_plan_procedures(names: list[str]) -> None:
    """Refuse procedure names found in Neo4j's own plan that are not allow-listed."""
    for name in names:
        if name.lower() not in PROCEDURES:
            raise _refuse(f"the procedure {name}: it is not on the allow-list")
