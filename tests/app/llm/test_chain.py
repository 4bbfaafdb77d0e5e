"""Model-written explanations with LangChain's fake chat models: faithful, hallucinated drug,
wrong relation, negated finding. No network, no real model."""

from __future__ import annotations

import sys

import pytest

pytest.importorskip("langchain_core")
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from kgdx.app.llm.chain import chat_model_from_settings, explain_diagnosis, explanation_prompt, prompt_inputs
from kgdx.app.llm.narrative import template_paragraphs
from kgdx.errors import ConfigError
from kgdx.settings import Settings


def _model(first: str, diagnosis) -> FakeListChatModel:
    """A fake model that writes ``first`` for the top disease and a bare rank sentence for the others."""
    rest = [f"{r.name} ranks {r.rank}." for r in diagnosis.ranking.top[1:]]
    return FakeListChatModel(responses=[first, *rest])


def test_without_a_model_the_templates_are_the_answer(diagnosis, tiny_store, verifier):
    checked = explain_diagnosis(diagnosis, tiny_store, verifier=verifier)
    assert [c.author for c in checked] == ["template"] * 3
    assert [c.text() for c in checked] == [p.text for p in template_paragraphs(diagnosis, tiny_store)]


def test_the_prompt_holds_the_verified_facts_only(diagnosis, tiny_store):
    first = template_paragraphs(diagnosis, tiny_store)[0]
    inputs = prompt_inputs(first)
    assert inputs["disease_id"] == "MONDO:0100096" and inputs["rank"] == "1"
    assert "- In its favour, the patient has fever, which COVID-19 has in 70% of cases." in inputs["facts"].splitlines()
    messages = explanation_prompt().format_messages(**inputs)
    assert [m.type for m in messages] == ["system", "human"] and "ONLY the facts" in messages[0].content


def test_a_faithful_answer_passes_unchanged(diagnosis, tiny_store, verifier):
    p = diagnosis.ranking.top[0].probability
    answer = (
        f"COVID-19 is the most likely diagnosis (probability {p:.2f}). The patient's ground-glass opacification, "
        "which COVID-19 has in 80% of cases, and the fever support it. Nirmatrelvir treats it, but it interacts "
        "with warfarin, which the patient takes."
    )
    checked = explain_diagnosis(diagnosis, tiny_store, model=_model(answer, diagnosis), verifier=verifier)
    top = checked[0]
    assert top.author == "FakeListChatModel" and top.supported, [(s.text, s.reasons) for s in top.unsupported]
    assert top.text("flag") == answer


def test_a_hallucinated_drug_is_flagged(diagnosis, tiny_store, verifier):
    answer = "Fever supports COVID-19. Theophylline is the first-line treatment."
    top = explain_diagnosis(diagnosis, tiny_store, model=_model(answer, diagnosis), verifier=verifier)[0]
    assert [s.supported for s in top.sentences] == [True, False]
    assert "[NOT SUPPORTED BY THE KG: no checked suggestion says Theophylline treats COVID-19]" in top.text("flag")
    assert "Theophylline" not in top.text("reject")


def test_a_wrong_relation_is_flagged(diagnosis, tiny_store, verifier):
    answer = "The fever argues against COVID-19."
    top = explain_diagnosis(diagnosis, tiny_store, model=_model(answer, diagnosis), verifier=verifier)[0]
    assert not top.supported
    assert top.unsupported[0].reasons == ["fever argues for COVID-19 on its verified path, not against"]


def test_a_negated_finding_is_flagged(diagnosis, tiny_store, verifier):
    answer = "The patient has hemoptysis, which fits COVID-19. There is no fever."
    top = explain_diagnosis(diagnosis, tiny_store, model=_model(answer, diagnosis), verifier=verifier)[0]
    assert [s.supported for s in top.sentences] == [False, False]
    reasons = [r for s in top.sentences for r in s.reasons]
    assert "the patient's record says hemoptysis is absent; the text says present" in reasons
    assert "the patient has fever; the text says it is absent" in reasons


def test_the_settings_choose_the_model(monkeypatch):
    assert chat_model_from_settings(Settings(llm_provider="none")) is None
    with pytest.raises(ConfigError, match="needs KGDX_LLM_MODEL"):
        chat_model_from_settings(Settings(llm_provider="ollama"))
    monkeypatch.setitem(sys.modules, "langchain_ollama", None)  # not installed
    with pytest.raises(ConfigError, match="pip install langchain-ollama"):
        chat_model_from_settings(Settings(llm_provider="ollama", llm_model="llama3.2"))
    with pytest.raises(ConfigError, match="needs KGDX_LLM_BASE_URL"):
        chat_model_from_settings(Settings(llm_provider="openai", llm_model="m"))
