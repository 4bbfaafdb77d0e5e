"""LangChain tools over kgdx: what an agent or a chain may call.

=====================  ================================================================
``kgdx_diagnose``      rank every disease for a case (HPO ids, a note, a phenopacket)
``kgdx_explain``       the verified KG paths for and against one disease, for a case
``kgdx_suggest_drugs`` treatments of the likely diseases, with safety flags from the KG
``kgdx_lookup``        KG nodes by id, name or synonym
``kgdx_cypher``        read-only Cypher through kgdx's guard and limits (Neo4j only)
=====================  ================================================================

Each returns JSON text. A user error (a bad id, a refused query) comes back to the agent as the
tool's error message, one line, so the agent can correct itself; nothing else is caught.

Example:
    >>> tools = KgdxToolkit(dx).get_tools()                                  # doctest: +SKIP
    >>> agent = create_agent(model, tools)                                   # doctest: +SKIP
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from kgdx.app.llm.case_input import CaseInput, build_case
from kgdx.errors import ConfigError, DataError, KgdxError

if TYPE_CHECKING:
    from langchain_core.tools import BaseTool

    from kgdx.reasoning import CaseBuilder, Diagnoser

__all__ = ["KgdxToolkit"]

#: Deepest rank ``kgdx_explain`` goes to for a disease the case barely suggests.
MAX_EXPLAIN_RANK = 50


class _Case(BaseModel):
    observed: list[str] = Field(default_factory=list, description="HPO ids the patient has, e.g. HP:0001945.")
    excluded: list[str] = Field(default_factory=list, description="HPO ids looked for and absent.")
    note: str | None = Field(None, description="A clinical note in plain text; its findings are linked to the KG.")
    phenopacket: dict[str, Any] | None = Field(None, description="A GA4GH phenopacket v2 JSON object.")
    drugs: list[str] = Field(default_factory=list, description="The patient's current drugs (DrugBank ids).")


class _Diagnose(_Case):
    k: int = Field(5, ge=1, le=50, description="How many diseases to return.")


class _Explain(_Case):
    disease_id: str = Field(..., description="The disease to explain (any of its ids, e.g. MONDO:0004652).")


class _Lookup(BaseModel):
    query: str = Field(..., min_length=1, max_length=256, description="An id, name or synonym.")
    types: list[str] | None = Field(None, description="Only these node types, e.g. ['Drug'].")


class _Cypher(BaseModel):
    query: str = Field(..., min_length=1, max_length=20_000, description="A read-only Cypher query.")
    params: dict[str, Any] = Field(default_factory=dict, description="Query parameters.")


class KgdxToolkit:
    """The kgdx tools over one diagnoser.

    Args:
        diagnoser: The model over the KG (``Diagnoser.from_pretrained(store=kgdx.open_kg())``).
        case_builder: Builds cases from notes (made here if omitted).
        cypher_store: A :class:`~kgdx.kg.neo4j_store.Neo4jStore` for ``kgdx_cypher``; the
            diagnoser's store if it is one. Without one, the tool says how to get one.
    """

    def __init__(
        self, diagnoser: Diagnoser, *, case_builder: CaseBuilder | None = None, cypher_store: Any = None
    ) -> None:
        self.dx = diagnoser
        self._builder = case_builder
        self.cypher_store = (
            cypher_store
            if cypher_store is not None
            else (diagnoser.store if hasattr(diagnoser.store, "cypher") else None)
        )

    def __repr__(self) -> str:
        return f"KgdxToolkit({self.dx!r}, cypher={'yes' if self.cypher_store is not None else 'no'})"

    @property
    def case_builder(self) -> CaseBuilder:
        if self._builder is None:
            from kgdx.reasoning import CaseBuilder

            self._builder = CaseBuilder(self.dx)
        return self._builder

    # -- the tools' bodies (plain methods, so Python callers can use them too) --------------------

    def _case(self, args: dict[str, Any]):  # noqa: ANN202 - PatientCase
        fields = {k: args.get(k) for k in ("observed", "excluded", "note", "phenopacket", "drugs") if args.get(k)}
        return build_case(self.dx, self.case_builder, CaseInput.parse(fields))

    def diagnose(self, **args: Any) -> dict[str, Any]:
        """The differential for a case, with probabilities."""
        ranking = self.dx.rank(self._case(args), k=int(args.get("k") or 5))
        return ranking.to_dict()

    def explain(self, disease_id: str, **args: Any) -> dict[str, Any]:
        """The verified paths for and against ``disease_id`` for a case, each with its Cypher."""
        from kgdx.app.llm.narrative import template_paragraphs
        from kgdx.reasoning.results import Diagnosis

        case = self._case(args)
        ranking = self.dx.rank(case, k=1)
        where = ranking.rank_of(disease_id)
        if where is None:
            raise DataError(f"{disease_id!r} is not a disease in the KG", field="disease_id")
        if where.rank > MAX_EXPLAIN_RANK:
            raise DataError(f"{disease_id} ranks {where.rank} for this case; kgdx explains the top {MAX_EXPLAIN_RANK}")
        ranking = self.dx.rank(case, k=where.rank)
        ranking.top = [r for r in ranking.top if disease_id in (r.members or (r.id,))] or ranking.top[-1:]
        explanation = self.dx.explain(ranking, top=1)
        doc = explanation.to_dict()["diseases"][0]
        doc["paragraph"] = template_paragraphs(Diagnosis(ranking, explanation), self.dx.store)[0].text
        return doc

    def suggest_drugs(self, **args: Any) -> list[dict[str, Any]]:
        """Treatments of the likely diseases, each with the KG's safety issues for this patient."""
        ranking = self.dx.rank(self._case(args), k=5)
        return [s.to_dict() for s in self.dx.suggest_drugs(ranking, k=10, safety="flag")]

    def lookup(self, query: str, types: list[str] | None = None) -> list[dict[str, Any]]:
        """KG nodes whose id, name or synonym is ``query``."""
        return [{"id": n.id, "type": n.type, **n.props} for n in self.dx.store.lookup(query, types=types)]

    def cypher(self, query: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Read-only Cypher through kgdx's guard, timeout and row cap."""
        if self.cypher_store is None:
            raise ConfigError(
                "Cypher needs the Neo4j store: start one (`kgdx neo4j start`, `kgdx kg load`) and set KGDX_STORE=neo4j"
            )
        return self.cypher_store.cypher(query, params or {}).to_dict()

    # -- LangChain ------------------------------------------------------------------------------

    def get_tools(self) -> list[BaseTool]:
        """The five tools, as LangChain ``StructuredTool`` objects."""
        try:
            from langchain_core.tools import StructuredTool
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ConfigError('the LangChain tools need langchain-core: pip install "kgdx[llm]"') from e

        def tool(name: str, fn: Any, schema: type[BaseModel], description: str) -> BaseTool:
            return StructuredTool.from_function(
                func=_as_json(fn),
                name=name,
                description=description,
                args_schema=schema,
                handle_tool_error=True,
            )

        return [
            tool(
                "kgdx_diagnose",
                self.diagnose,
                _Diagnose,
                "Rank every disease in the knowledge graph for a patient "
                "case given as HPO ids, a clinical note and/or a phenopacket. Returns the differential with probabilities.",
            ),
            tool(
                "kgdx_explain",
                self.explain,
                _Explain,
                "Explain one disease for a patient case: the verified "
                "knowledge-graph paths for and against it, each with the Cypher that returns it, and a paragraph.",
            ),
            tool(
                "kgdx_suggest_drugs",
                self.suggest_drugs,
                _Case,
                "Suggest treatments for the likely diseases of a "
                "case, each checked against the KG's contraindications and drug interactions.",
            ),
            tool(
                "kgdx_lookup",
                self.lookup,
                _Lookup,
                "Find knowledge-graph nodes (diseases, phenotypes, drugs, genes) by id, name or synonym.",
            ),
            tool(
                "kgdx_cypher",
                self.cypher,
                _Cypher,
                "Run a read-only Cypher query on the kgdx knowledge graph in "
                "Neo4j. Writes, procedures that write and oversized queries are refused.",
            ),
        ]


def _as_json(fn: Any) -> Any:
    """``fn`` returning JSON text, with kgdx's user errors raised as the tool's error message."""
    from langchain_core.tools import ToolException

    def run(**kwargs: Any) -> str:
        try:
            return json.dumps(fn(**kwargs), default=str)
        except KgdxError as e:
            raise ToolException(e.one_line()) from None

    run.__name__ = fn.__name__
    run.__doc__ = fn.__doc__
    return run
