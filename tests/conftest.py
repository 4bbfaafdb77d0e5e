"""Shared hooks and fixtures of kgdx's tests.

Markers (declared in pyproject.toml): ``neo4j`` tests need the real server that
``kgdx neo4j start`` launches. Under ``CI=true`` a skipped ``neo4j`` test is reported as a
failure, so CI cannot pass by quietly skipping them. Any test that uses the ``neo4j_driver``
fixture is marked ``neo4j`` automatically.
"""

from __future__ import annotations

import os

import pytest

from kgdx.settings import get_settings

pytest_plugins = ["pytester"]

NEO4J_START_HINT = "start it with `kgdx neo4j start`"
_CI_SKIP_PREFIX = "neo4j test skipped under CI=true, which counts as a failure"


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "neo4j_driver" in getattr(item, "fixturenames", ()) and item.get_closest_marker("neo4j") is None:
            item.add_marker(pytest.mark.neo4j)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> pytest.TestReport:
    report = yield
    if (
        report.skipped
        and not hasattr(report, "wasxfail")
        and item.get_closest_marker("neo4j") is not None
        and _in_ci()
    ):
        report.outcome = "failed"
        report.longrepr = f"{_CI_SKIP_PREFIX}: {_skip_reason(report)}"
    return report


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config):
    # A skip raised in setup (a skip marker, or an unreachable server in a fixture) would show as
    # ERROR; it is a failed neo4j test, so report it as FAILED.
    if report.when == "setup" and report.failed and str(report.longrepr).startswith(_CI_SKIP_PREFIX):
        return "failed", "F", ("FAILED", {"red": True})
    return None


@pytest.fixture(scope="session")
def neo4j_driver():
    """A driver for the Neo4j at ``KGDX_NEO4J_URI``; skips (fails under CI) if it is unreachable."""
    import neo4j

    s = get_settings()
    try:
        driver = neo4j.GraphDatabase.driver(
            s.neo4j_uri, auth=(s.neo4j_user, s.neo4j_password), connection_timeout=5
        )
    except Exception as e:  # a malformed URI
        pytest.skip(f"Neo4j not reachable at {s.neo4j_uri} ({NEO4J_START_HINT}): {e}")
    try:
        driver.verify_connectivity()
    except Exception as e:
        driver.close()
        detail = type(e).__name__
        if not isinstance(e, neo4j.exceptions.ServiceUnavailable):  # e.g. AuthError: say why
            detail += f": {' '.join(str(e).split())[:200]}"
        pytest.skip(f"Neo4j not reachable at {s.neo4j_uri} ({NEO4J_START_HINT}): {detail}")
    yield driver
    driver.close()
