"""A diagnoser over the tiny KG and one diagnosis of a COVID-like case, for the LLM tests."""

from __future__ import annotations

import pytest

from kgdx.ingest.case import Finding, PatientCase


@pytest.fixture(scope="session")
def tiny_dx(tiny_store, tiny_trained):
    from kgdx.reasoning.checkpoint import load_checkpoint
    from kgdx.reasoning.diagnoser import Diagnoser

    model, _ = load_checkpoint(tiny_trained[0] / "best.pt")
    return Diagnoser(tiny_store, model)


@pytest.fixture(scope="session")
def covid_case() -> PatientCase:
    """Ground-glass opacity, fever and cough; no hemoptysis; on warfarin."""
    return PatientCase(
        "covid-like",
        observed=[Finding("HP:0025179"), Finding("HP:0001945"), Finding("HP:0012735")],
        excluded=[Finding("HP:0002105")],
        drugs=["DRUGBANK:DB00682"],
    )


@pytest.fixture(scope="session")
def diagnosis(tiny_dx, covid_case):
    return tiny_dx.diagnose(covid_case, k=3, explain=3, drugs=5, safety="flag")


@pytest.fixture(scope="session")
def verifier(tiny_store):
    from kgdx.app.llm.verifier import ClaimVerifier

    return ClaimVerifier(tiny_store)
