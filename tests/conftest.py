"""Shared hooks and fixtures of kgdx's tests.

The tiny KG (:func:`kgdx.kg.testing.tiny_kg_records`), its index, a model trained on it for a
second and a ``KGDX_HOME`` holding both are built once per session here, for every test package.
Tests that change a store build their own from ``tiny_records``.

Markers (declared in pyproject.toml): ``neo4j`` tests need the real server that
``kgdx neo4j start`` launches. Under ``CI=true`` a skipped ``neo4j`` test is reported as a
failure, so CI cannot pass by quietly skipping them. Any test that uses the ``neo4j_driver``
fixture is marked ``neo4j`` automatically.
"""

from __future__ import annotations

import os
import shutil

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
    if report.skipped and not hasattr(report, "wasxfail") and item.get_closest_marker("neo4j") is not None and _in_ci():
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
        driver = neo4j.GraphDatabase.driver(s.neo4j_uri, auth=s.neo4j_auth(), connection_timeout=5)
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


@pytest.fixture(scope="session")
def default_kg(tmp_path_factory):
    """The snapshot folder of the default KG built from the installed packages, once per session
    (half a minute or more): the build test checks it, and the notebooks start from a copy when
    ``KGDX_HOME`` has no KG. Only the folder is kept: the built graph, millions of Python objects,
    would slow every garbage collection for the rest of the session."""
    from kgdx.app.build import build_default_kg

    return build_default_kg(tmp_path_factory.mktemp("default-kg") / "kg").path


# -- the tiny KG and model, once per session -------------------------------------------------------


@pytest.fixture
def tiny_records():
    """The tiny KG's records, fresh for each test (records are mutable)."""
    from kgdx.kg.testing import tiny_kg_records

    return tiny_kg_records()


@pytest.fixture(scope="session")
def tiny_store():
    """The tiny KG in memory, shared by the session: tests must not change it."""
    from kgdx.kg.memory_store import MemoryStore
    from kgdx.kg.schema import core_schema
    from kgdx.kg.testing import tiny_kg_records

    store = MemoryStore(core_schema())
    store.write(tiny_kg_records())
    return store


@pytest.fixture(scope="session")
def tiny_index(tiny_store):
    from kgdx.reasoning.index import KGIndex

    return KGIndex.from_store(tiny_store)


@pytest.fixture(scope="session")
def tiny_trained(tiny_store, tmp_path_factory):
    """A model trained on the tiny KG (about a second): its run folder and the training summary."""
    import torch

    from kgdx.reasoning.model import EvidenceGNNConfig
    from kgdx.reasoning.train import TrainConfig, train

    out = tmp_path_factory.mktemp("train")
    torch.manual_seed(0)
    cfg = TrainConfig(
        steps=60, batch_size=16, eval_every=30, val_cases=40, warmup=5, model=EvidenceGNNConfig(hidden=8, ic_floor=0.0)
    )
    summary = train(tiny_store, cfg, out, progress=False)
    return out, summary


@pytest.fixture(scope="session")
def tiny_home(tiny_store, tiny_trained, tmp_path_factory):
    """A ``KGDX_HOME`` whose default snapshot is the tiny KG, with the tiny model under ``run/``."""
    from kgdx.kg.snapshot import save_snapshot

    home = tmp_path_factory.mktemp("kgdx_home")
    save_snapshot(tiny_store, home / "kg" / "default", {"sources": [{"name": "tiny test KG"}], "modules": []})
    shutil.copytree(tiny_trained[0], home / "run")
    return home


@pytest.fixture
def env(tiny_home, monkeypatch):
    """``KGDX_HOME`` pointed at :func:`tiny_home` for the test."""
    monkeypatch.setenv("KGDX_HOME", str(tiny_home))
    get_settings.cache_clear()
    yield tiny_home
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models run faster on one thread, above all on a CPU shared with other jobs."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
