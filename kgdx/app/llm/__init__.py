"""LLM integration: LangChain tools and a retriever over the KG, a ``Neo4jGraph``-compatible
read-only view, and explanations written as prose, grounded in verified KG paths and checked
claim by claim.

The deterministic renderer and the verifier need no LangChain and no network; the tools, the
retriever, the graph view and model-written explanations need ``pip install "kgdx[llm]"``.

=========================  =====================================================================
``explain_diagnosis``      one checked paragraph per disease (templates, or any chat model)
``template_paragraphs``    the deterministic paragraphs (the default; no model)
``ClaimVerifier``          generated text → claims → supported by a verified path, or flagged
``Grounding``              the facts one diagnosis backs
``KgdxToolkit``            diagnose, explain, suggest drugs, look up, read-only Cypher
``KGPathRetriever``        verified paths for a case as ``Document`` objects (Cypher, sources)
``KgdxGraph``              the domain schema and read-only queries for text-to-Cypher chains
``chat_model_from_settings``  the chat model ``KGDX_LLM_*`` configure, or ``None``
=========================  =====================================================================
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = [
    "explain_diagnosis",
    "template_paragraphs",
    "ClaimVerifier",
    "Grounding",
    "KgdxToolkit",
    "KGPathRetriever",
    "KgdxGraph",
    "SCHEMA_GUIDE",
    "chat_model_from_settings",
]

_WHERE = {
    "explain_diagnosis": "chain",
    "chat_model_from_settings": "chain",
    "template_paragraphs": "narrative",
    "ClaimVerifier": "verifier",
    "Grounding": "grounding",
    "KgdxToolkit": "tools",
    "KGPathRetriever": "retriever",
    "KgdxGraph": "graph",
    "SCHEMA_GUIDE": "graph",
}


def __getattr__(name: str) -> Any:
    # Lazy, so that the template renderer and the verifier load without LangChain.
    if name not in _WHERE:
        raise AttributeError(f"module 'kgdx.app.llm' has no attribute {name!r}")
    return getattr(import_module(f"kgdx.app.llm.{_WHERE[name]}"), name)
