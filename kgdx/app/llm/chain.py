"""Generated explanations: a chat model rewrites the verified facts as prose, and the verifier
checks every sentence it writes.

The model sees only what the deterministic renderer would say (one fact per line, each from a
verified KG path or a checked drug suggestion) and is asked to write one paragraph per disease
from those facts alone. Whatever it writes goes through :class:`~kgdx.app.llm.verifier.ClaimVerifier`,
so a sentence the facts do not back is flagged or dropped before anyone reads it. With no model,
the deterministic paragraphs are the answer, and no network is touched.

Any LangChain chat model works: a local Ollama or llama.cpp server (``KGDX_LLM_PROVIDER``), a
hosted one, or a fake one in tests::

    from langchain_ollama import ChatOllama
    checked = explain_diagnosis(diagnosis, store, model=ChatOllama(model="llama3.2"))
    print(checked[0].text("flag"))
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kgdx.app.llm.narrative import Paragraph, template_paragraphs
from kgdx.errors import ConfigError

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.runnables import Runnable

    from kgdx.app.llm.verifier import CheckedParagraph, ClaimVerifier
    from kgdx.kg.store import KGStore
    from kgdx.reasoning.results import Diagnosis
    from kgdx.settings import Settings

__all__ = ["SYSTEM_PROMPT", "explanation_prompt", "explanation_chain", "explain_diagnosis", "chat_model_from_settings"]

SYSTEM_PROMPT = """You explain one disease of a diagnostic differential to a clinician, in one paragraph \
of plain prose (no lists, no headings).
Use ONLY the facts given. Every fact comes from a verified path in a medical knowledge graph.
- Do not add findings, diseases, drugs, doses, genes or numbers that are not in the facts.
- Keep each finding's direction: "in its favour" facts support the disease, "against it" facts \
argue against it. A feature the patient "does not report" is not the same as one the patient \
"does not have".
- Keep the rank and the probability exactly as given.
- Name drugs only as the facts do, with their safety problems if the facts give any."""

HUMAN_PROMPT = """Disease: {disease} ({disease_id}), rank {rank}, probability {probability}.

Facts:
{facts}

Write the paragraph."""


def explanation_prompt() -> Any:  # ChatPromptTemplate
    """The prompt: a system message with the rules, and the disease with its facts."""
    from langchain_core.prompts import ChatPromptTemplate

    return ChatPromptTemplate.from_messages([("system", SYSTEM_PROMPT), ("human", HUMAN_PROMPT)])


def explanation_chain(model: BaseChatModel) -> Runnable:
    """``prompt | model | text``: takes :func:`prompt_inputs` and returns the model's paragraph."""
    try:
        from langchain_core.output_parsers import StrOutputParser
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ConfigError('generated explanations need LangChain: pip install "kgdx[llm]"') from e
    return explanation_prompt() | model | StrOutputParser()


def prompt_inputs(paragraph: Paragraph) -> dict[str, str]:
    """The prompt's variables for one disease: its deterministic sentences, one fact per line."""
    from kgdx.app.llm.verifier import split_sentences

    r = paragraph.disease
    facts = split_sentences(paragraph.text)[1:]  # the first sentence is the rank, given above
    return {
        "disease": r.name,
        "disease_id": r.id,
        "rank": str(r.rank),
        "probability": f"{r.probability:.2f}",
        "facts": "\n".join(f"- {f}" for f in facts) or "- (no verified path)",
    }


def explain_diagnosis(
    diagnosis: Diagnosis,
    store: KGStore,
    *,
    model: BaseChatModel | None = None,
    verifier: ClaimVerifier | None = None,
    max_concurrency: int = 1,
) -> list[CheckedParagraph]:
    """One checked paragraph per explained disease.

    Args:
        diagnosis: What :meth:`~kgdx.reasoning.Diagnoser.diagnose` returned (with an explanation).
        store: The KG it came from.
        model: A LangChain chat model; ``None`` writes the deterministic paragraphs (no network).
        verifier: Reused between calls to keep its linker (built on first use otherwise).
        max_concurrency: Paragraphs requested at once; 1 suits a local server (and keeps the
            order of a scripted test model's answers).

    Returns:
        Paragraphs whose ``text("flag")`` or ``text("reject")`` is safe to show: every sentence is
        backed by a verified path, or marked, or gone.
    """
    from kgdx.app.llm.verifier import ClaimVerifier

    verifier = verifier or ClaimVerifier(store)
    drafts = template_paragraphs(diagnosis, store)
    author = "template"
    if model is not None:
        texts = explanation_chain(model).batch(
            [prompt_inputs(p) for p in drafts], config={"max_concurrency": max_concurrency}
        )
        drafts = [Paragraph(p.disease, str(t)) for p, t in zip(drafts, texts)]
        author = _model_name(model)
    return verifier.check_diagnosis(drafts, diagnosis, author=author)


def _model_name(model: Any) -> str:
    name = getattr(model, "model", None) or getattr(model, "model_name", None)
    return f"{type(model).__name__}({name})" if name else type(model).__name__


def chat_model_from_settings(settings: Settings | None = None) -> BaseChatModel | None:
    """The chat model ``KGDX_LLM_*`` configure, or ``None`` (the default: templates, no network).

    Raises:
        ConfigError: a provider without a model name, or whose LangChain package is missing.
    """
    from kgdx.settings import get_settings

    s = settings or get_settings()
    if s.llm_provider == "none":
        return None
    if not s.llm_model:
        raise ConfigError(f"KGDX_LLM_PROVIDER={s.llm_provider} needs KGDX_LLM_MODEL (the model's name)")
    if s.llm_provider == "ollama":
        try:
            from langchain_ollama import ChatOllama
        except ImportError:
            raise ConfigError("KGDX_LLM_PROVIDER=ollama needs langchain-ollama: pip install langchain-ollama") from None
        kwargs = {"base_url": s.llm_base_url} if s.llm_base_url else {}
        return ChatOllama(model=s.llm_model, temperature=0, **kwargs)
    if not s.llm_base_url:
        raise ConfigError("KGDX_LLM_PROVIDER=openai needs KGDX_LLM_BASE_URL, e.g. http://127.0.0.1:8080/v1")
    try:
        from langchain_openai import ChatOpenAI
    except ImportError:
        raise ConfigError("KGDX_LLM_PROVIDER=openai needs langchain-openai: pip install langchain-openai") from None
    import os

    return ChatOpenAI(
        model=s.llm_model, base_url=s.llm_base_url, temperature=0, api_key=os.environ.get("OPENAI_API_KEY", "none")
    )
