"""schemathesis against the API's OpenAPI schema: no generated input gets a 5xx.

Runs every operation with inputs generated from the schema (hypothesis), with a valid API key,
on the tiny KG; ``POST /kg/cypher`` reaches the real Neo4j, so the test is marked ``neo4j``.
"""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402

from kgdx.app import api  # noqa: E402

pytestmark = pytest.mark.neo4j

schema = schemathesis.openapi.from_asgi("/openapi.json", api.app)


@pytest.fixture(scope="module")
def api_key(tmp_path_factory, tiny_store, tiny_trained, neo4j_driver):
    from kgdx.app.api_keys import add_key
    from kgdx.reasoning.checkpoint import load_checkpoint
    from kgdx.reasoning.diagnoser import Diagnoser
    from kgdx.settings import get_settings

    mp = pytest.MonkeyPatch()
    _, password = get_settings().neo4j_auth()
    mp.setenv("KGDX_NEO4J_PASSWORD", password)
    mp.setenv("KGDX_HOME", str(tmp_path_factory.mktemp("home")))
    get_settings.cache_clear()
    _, key = add_key("schemathesis")
    model, _ = load_checkpoint(tiny_trained[0] / "best.pt")
    dx = Diagnoser(tiny_store, model)
    mp.setattr(api, "_diagnoser", lambda: dx)
    api._case_builder.cache_clear()
    api.limiter.enabled = False
    yield key
    api.limiter.enabled = True
    mp.undo()
    get_settings.cache_clear()


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_error_on_generated_input(case, api_key, one_thread):
    case.call_and_validate(headers={"Authorization": f"Bearer {api_key}"}, checks=[not_a_server_error])
