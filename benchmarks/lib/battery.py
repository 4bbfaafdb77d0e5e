"""Runs the read-only path's statement battery (:mod:`kgdx.kg.cypher_battery`) through the CLI,
Python and HTTP against the real Neo4j, and judges every outcome.

An *escape* is any of: a statement that must be refused ran; a row holds the canary file's line or
``/etc/passwd``; a statement ran past its timeout (plus :data:`GRACE_S`); the server stopped
answering; after the battery, the database differs from before (nodes, relationships, labels,
properties, indexes, constraints, users), a user-path transaction is still running, or a
bystander's open transaction was killed. A failed read (a valid read that did not run) is
reported apart. Used by ``tests/app/test_cypher_battery.py`` and ``python -m benchmarks.security``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import secrets
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kgdx.kg.cypher_battery import PARAMS, Statement, statements

#: Seconds past its timeout a statement may take before it counts as unbounded. Without the
#: timeout, the heaviest "bounded" statements (cross products of the whole graph) run for minutes
#: or more even on the tiny KG, so a wide grace still catches a timeout that is not applied,
#: while a machine busy with other work (CI's two cores, shared) does not fail a statement that
#: was cut on time but answered late.
GRACE_S = 15.0
PASSWD_MARK = "root:x:0:0"


@dataclass
class Outcome:
    group: str
    expect: str
    entry: str
    query: str
    status: str  # ok, truncated, refused (ReadOnlyQueryError / 400 refusal), error
    seconds: float
    message: str = ""
    escape: str | None = None
    failed_read: bool = False


@dataclass
class Report:
    statements: int
    executions: int
    outcomes: list[Outcome] = field(default_factory=list)
    escapes: list[Outcome] = field(default_factory=list)
    failed_reads: list[Outcome] = field(default_factory=list)
    database_changed: bool = False
    leftover_transactions: int = 0
    bystander_killed: bool = False
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        by = Counter((o.entry, o.status) for o in self.outcomes)
        groups = Counter(o.group for o in self.outcomes if o.entry == "python")
        return {
            "statements": self.statements,
            "executions": self.executions,
            "entry_points": sorted({o.entry for o in self.outcomes}),
            "statements_per_group": dict(sorted(groups.items())),
            "outcomes": {f"{e}:{s}": n for (e, s), n in sorted(by.items())},
            "escapes": len(self.escapes),
            "escape_details": [asdict(o) for o in self.escapes[:20]],
            "failed_reads": len(self.failed_reads),
            "failed_read_details": [asdict(o) for o in self.failed_reads[:20]],
            "valid_reads_ok": sum(1 for o in self.outcomes if o.expect == "read" and o.status == "ok"),
            "database_changed": self.database_changed,
            "leftover_user_transactions": self.leftover_transactions,
            "bystander_transaction_killed": self.bystander_killed,
            "max_seconds_bounded": max((o.seconds for o in self.outcomes if o.expect == "bounded"), default=0.0),
            "seconds": round(self.seconds, 1),
        }


# ---------------------------------------------------------------------------- the three entry points

Entry = Callable[[str, dict[str, Any], float], tuple[str, dict[str, Any] | None, str]]


def python_entry(store) -> Entry:  # noqa: ANN001 - a Neo4jStore
    from kgdx.errors import KgdxError, ReadOnlyQueryError

    def run(query: str, params: dict[str, Any], timeout: float):  # noqa: ANN202
        try:
            r = store.cypher(query, params, timeout=timeout)
        except ReadOnlyQueryError as e:
            return "refused", None, e.one_line()
        except KgdxError as e:
            return "error", None, e.one_line()
        return ("truncated" if r.truncated else "ok"), r.to_dict(), ""

    return run


def cli_entry() -> Entry:
    """``kgdx kg cypher --json`` in this process (its real entry point, ``kgdx.app.cli.main``)."""
    from kgdx.app import cli

    def run(query: str, params: dict[str, Any], timeout: float):  # noqa: ANN202
        argv = ["kgdx", "kg", "cypher", query, "--json", "--timeout", str(timeout)]
        for k, v in params.items():
            argv += ["-p", f"{k}={json.dumps(v)}"]
        out, err = io.StringIO(), io.StringIO()
        old = sys.argv
        sys.argv = argv
        code: int | str | None = 0
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    cli.main()
                except SystemExit as e:
                    code = e.code
        finally:
            sys.argv = old
        lines = [ln for ln in err.getvalue().splitlines() if ln.strip() and not ln.startswith("kgdx: warning:")]
        if code in (0, None):
            doc = json.loads(out.getvalue())
            return ("truncated" if doc.get("truncated") else "ok"), doc, ""
        if code == 1 and len(lines) == 1 and lines[0].startswith("kgdx: error: "):
            msg = lines[0].removeprefix("kgdx: error: ")
            return ("refused" if "read-only Cypher path refuses" in msg else "error"), None, msg
        return "crash", None, f"exit {code}: {err.getvalue()[-500:]}"

    return run


def http_entry(client, key: str) -> Entry:  # noqa: ANN001 - a TestClient of kgdx.app.api
    def run(query: str, params: dict[str, Any], timeout: float):  # noqa: ANN202
        r = client.post(
            "/kg/cypher",
            json={"query": query, "params": params, "timeout_s": timeout},
            headers={"Authorization": f"Bearer {key}"},
        )
        if r.status_code == 200:
            doc = r.json()
            return ("truncated" if doc.get("truncated") else "ok"), doc, ""
        if r.status_code in (400, 422):
            doc = r.json()
            msg = doc.get("message", "")
            return ("refused" if doc.get("error") == "ReadOnlyQueryError" else "error"), None, msg
        return "crash", None, f"HTTP {r.status_code}: {r.text[:500]}"

    return run


# ------------------------------------------------------------------------------- checks around it


def fingerprint(driver, database: str = "neo4j") -> str:  # noqa: ANN001 - an admin neo4j.Driver
    """A hash of everything a statement could change: data, labels, properties, schema, users."""
    q = [
        "MATCH (n) RETURN count(n) AS c",
        "MATCH ()-[r]->() RETURN count(r) AS c",
        "MATCH (n) WITH n ORDER BY elementId(n) RETURN collect([labels(n), properties(n)]) AS c",
        "MATCH ()-[r]->() WITH r ORDER BY elementId(r) RETURN collect([type(r), properties(r)]) AS c",
        "CALL db.labels() YIELD label RETURN collect(label) AS c",
        "CALL db.propertyKeys() YIELD propertyKey RETURN collect(propertyKey) AS c",
        "SHOW INDEXES YIELD name RETURN collect(name) AS c",
        "SHOW CONSTRAINTS YIELD name RETURN collect(name) AS c",
    ]
    parts = []
    for stmt in q:
        records, _, _ = driver.execute_query(stmt, database_=database)
        parts.append(records[0]["c"])
    records, _, _ = driver.execute_query("SHOW USERS YIELD user RETURN collect(user) AS c", database_="system")
    parts.append(sorted(records[0]["c"]))
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def user_transactions(driver) -> int:  # noqa: ANN001
    records, _, _ = driver.execute_query(
        "SHOW TRANSACTIONS YIELD metaData WHERE metaData.kgdx = 'user-cypher' RETURN count(*) AS n"
    )
    return records[0]["n"]


def make_canary(folder: Path) -> tuple[Path, str]:
    """A file holding one random line, to catch a file read that got through."""
    line = f"kgdx-canary-{secrets.token_hex(16)}"
    path = folder / "canary.csv"
    path.write_text(line + "\n")
    return path, line


def run_battery(
    entries: dict[str, Entry],
    driver,  # noqa: ANN001 - an admin neo4j.Driver on the same server
    canary: Path,
    canary_line: str,
    *,
    timeout: float = 2.0,
    only: Callable[[Statement], bool] | None = None,
) -> Report:
    """Every statement through every entry point, judged (see the module docstring)."""
    t0 = time.monotonic()
    battery = [s for s in statements(str(canary)) if only is None or only(s)]
    report = Report(statements=len(battery), executions=len(battery) * len(entries))
    before = fingerprint(driver)
    bystander_session = driver.session()
    bystander = bystander_session.begin_transaction()
    bystander.run("MATCH (n) RETURN count(n) AS n").consume()
    try:
        for st in battery:
            for name, entry in entries.items():
                t = time.monotonic()
                status, doc, msg = entry(st.query, dict(PARAMS), timeout)
                seconds = time.monotonic() - t
                o = Outcome(st.group, st.expect, name, st.query, status, round(seconds, 3), msg[:300])
                text = json.dumps(doc, default=str) if doc is not None else ""
                if canary_line in text or PASSWD_MARK in text:
                    o.escape = "a file's contents came back"
                elif status == "crash":
                    o.escape = "no one-line error: " + msg[:200]
                elif st.expect == "refuse" and status in ("ok", "truncated"):
                    o.escape = "ran, but must be refused"
                elif seconds > timeout + GRACE_S:
                    o.escape = f"ran {seconds:.1f} s against a {timeout:g} s timeout"
                if st.expect == "read" and status != "ok":
                    o.failed_read = True
                if st.expect == "bounded" or o.escape:
                    try:
                        driver.execute_query("RETURN 1")
                    except Exception as e:  # the server is gone
                        o.escape = (o.escape or "") + f"; the server stopped answering ({type(e).__name__})"
                report.outcomes.append(o)
                if o.escape:
                    report.escapes.append(o)
                if o.failed_read:
                    report.failed_reads.append(o)
        try:
            bystander.run("RETURN 1").consume()
            bystander.rollback()
        except Exception:
            report.bystander_killed = True
    finally:
        with contextlib.suppress(Exception):
            bystander_session.close()
    deadline = time.monotonic() + 10
    while (n := user_transactions(driver)) and time.monotonic() < deadline:
        time.sleep(0.2)
    report.leftover_transactions = n
    report.database_changed = fingerprint(driver) != before
    report.seconds = time.monotonic() - t0
    return report
