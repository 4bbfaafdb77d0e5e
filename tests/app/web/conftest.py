"""The API app with the web report on the tiny KG."""

from __future__ import annotations

import pytest


@pytest.fixture
def web_app(tiny_store, tiny_trained, monkeypatch, tmp_path):
    """The app on the tiny KG, with KGDX_HOME in a temporary folder (for API keys)."""
    from kgdx.app import api
    from kgdx.reasoning.checkpoint import load_checkpoint
    from kgdx.reasoning.diagnoser import Diagnoser
    from kgdx.settings import get_settings

    monkeypatch.setenv("KGDX_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("KGDX_WEB_ACCESS", raising=False)
    monkeypatch.delenv("KGDX_LLM_PROVIDER", raising=False)
    get_settings.cache_clear()
    model, _ = load_checkpoint(tiny_trained[0] / "best.pt")
    dx = Diagnoser(tiny_store, model)
    monkeypatch.setattr(api, "_diagnoser", lambda: dx)
    api._case_builder.cache_clear()
    api.limiter.reset()
    yield api.app
    get_settings.cache_clear()
