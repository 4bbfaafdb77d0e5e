"""A LangChain retriever whose documents are verified KG paths.

The query is a case: HPO ids (``not HP:…`` for an excluded one) and/or a note. The retriever
ranks the diseases, explains the top ones, and returns one ``Document`` per *verified* evidence
path: the path as text, and in the metadata the disease, the claim (for or against), the Cypher
that returns the path from Neo4j and the sources of its edges. A RAG chain over it cites only
edges the KG holds.
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field

from kgdx.app.llm.case_input import build_case, parse_case_text

__all__ = ["KGPathRetriever"]


class KGPathRetriever(BaseRetriever):
    """Verified evidence paths for a case, as documents.

    Args:
        diagnoser: A :class:`kgdx.reasoning.Diagnoser`.
        diseases: How many of the best diseases to explain.
        per_disease: Most paths per disease, for and against each.

    Example:
        >>> docs = KGPathRetriever(diagnoser=dx).invoke("HP:0001945 HP:0012735 not HP:0002105")  # doctest: +SKIP
        >>> docs[0].metadata["cypher"]                                                           # doctest: +SKIP
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    diagnoser: Any
    diseases: int = Field(3, ge=1, le=20)
    per_disease: int = Field(5, ge=1, le=20)
    case_builder: Any = None

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        from kgdx.reasoning import CaseBuilder

        dx = self.diagnoser
        if self.case_builder is None:
            self.case_builder = CaseBuilder(dx)
        case = build_case(dx, self.case_builder, parse_case_text(query))
        ranking = dx.rank(case, k=self.diseases)
        explanation = dx.explain(ranking, top=self.diseases, per_disease=self.per_disease)
        docs = []
        for d in explanation.diseases:
            r = d.disease
            for p in d.paths:
                if not p.verified:
                    continue
                docs.append(
                    Document(
                        page_content=f"{r.name} ({r.id}), {p.claim}: {p.text()}",
                        metadata={
                            "disease_id": r.id,
                            "disease": r.name,
                            "rank": r.rank,
                            "probability": round(r.probability, 4),
                            "claim": p.claim,
                            "kind": p.kind,
                            "contribution": None if p.contribution is None else round(p.contribution, 4),
                            "cypher": p.cypher,
                            "sources": sorted({str(e.props.get("source", "")) for e in p.edges} - {""}),
                            "node_ids": [n.id for n in p.nodes],
                            "relationships": [e.type for e in p.edges],
                        },
                    )
                )
        return docs
