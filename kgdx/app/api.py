"""The HTTP API (FastAPI): the KG's named queries, read-only Cypher and KG-grounded diagnosis.

Run it with ``uvicorn kgdx.app.api:app`` (or the compose file in ``docker/``). It serves the store of
``KGDX_STORE`` (the embedded KG by default; ``neo4j`` for the server at ``KGDX_NEO4J_URI``) and the
shipped model. OpenAPI docs are at ``/docs``. User errors come back as 400 with the one-line
message; an unreachable store as 503.
"""

from __future__ import annotations

import json
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from kgdx.errors import KgdxError, StoreError
from kgdx.kg.store import KGStore

app = FastAPI(
    title="kgdx",
    version="0.1.0",
    description="Knowledge-graph-grounded clinical reasoning: KG queries and explained diagnosis.",
)


@app.exception_handler(KgdxError)
async def _user_error(_: Request, e: KgdxError) -> JSONResponse:
    status = 503 if isinstance(e, StoreError) and "cannot reach" in str(e) else 400
    return JSONResponse({"error": type(e).__name__, "message": e.one_line()}, status_code=status)


@lru_cache(maxsize=1)
def _diagnoser():  # noqa: ANN202 - kgdx.reasoning.Diagnoser, loaded once on first use
    from kgdx.app.stores import open_store
    from kgdx.reasoning import Diagnoser

    return Diagnoser.from_pretrained(store=open_store())


@lru_cache(maxsize=1)
def _case_builder():  # noqa: ANN202 - kgdx.reasoning.CaseBuilder, with its linker built once
    from kgdx.reasoning import CaseBuilder

    return CaseBuilder(_diagnoser())


def _store() -> KGStore:
    return _diagnoser().store


def _node(n: Any) -> dict[str, Any]:
    return {"id": n.id, "type": n.type, **n.props}


def _edge(e: Any) -> dict[str, Any]:
    return {"type": e.type, "src": e.src, "dst": e.dst, **e.props}


@app.get("/health")
def health() -> dict[str, Any]:
    """Liveness, and whether the model and KG are loaded yet."""
    return {"status": "ok", "loaded": _diagnoser.cache_info().currsize > 0}


@app.get("/kg/stats")
def kg_stats() -> dict[str, Any]:
    """Counts per node label and relationship type, with the schema and applied modules."""
    return _store().summary()


@app.get("/kg/nodes/{node_id}")
def kg_node(node_id: str) -> dict[str, Any]:
    """One node by id (alternative and obsolete ids resolve to the current node)."""
    n = _store().node(node_id)
    if n is None:
        raise HTTPException(404, f"no node {node_id!r}")
    return _node(n)


@app.get("/kg/lookup")
def kg_lookup(
    q: str = Query(..., description="An id, name or synonym."),
    type: list[str] | None = Query(None, description="Only these node types."),
) -> list[dict[str, Any]]:
    """Nodes whose id, name or a synonym equals ``q`` (case-insensitive)."""
    return [_node(n) for n in _store().lookup(q, types=type)]


@app.get("/kg/nodes/{node_id}/neighbours")
def kg_neighbours(
    node_id: str,
    rel_type: list[str] | None = Query(None),
    direction: Literal["out", "in", "both"] = "both",
    node_type: list[str] | None = Query(None),
) -> list[dict[str, Any]]:
    """Edges at a node (with provenance) and the nodes they reach."""
    return [
        {"edge": _edge(nb.edge), "node": _node(nb.node)}
        for nb in _store().neighbours(node_id, rel_types=rel_type, direction=direction, node_types=node_type)
    ]


@app.get("/kg/diseases/{disease_id}/phenotypes")
def disease_phenotypes(disease_id: str) -> list[dict[str, Any]]:
    return [{"edge": _edge(nb.edge), "phenotype": _node(nb.node)} for nb in _store().disease_phenotypes(disease_id)]


@app.get("/kg/drugs/interactions")
def drug_interactions(ids: list[str] = Query(..., description="DrugBank CURIEs.")) -> list[dict[str, Any]]:
    """The interactions among a list of drugs."""
    return [_edge(e) for e in _store().interactions(ids)]


class CypherRequest(BaseModel):
    query: str
    params: dict[str, Any] = Field(default_factory=dict)
    max_rows: int = Field(1000, gt=0, le=100_000)
    timeout_s: float = Field(30.0, gt=0, le=600)


@app.post("/kg/cypher")
def kg_cypher(req: CypherRequest) -> dict[str, Any]:
    """Read-only Cypher against Neo4j (needs KGDX_STORE=neo4j); writes are refused with 400."""
    from kgdx.app.stores import open_neo4j

    with open_neo4j() as neo:
        return neo.cypher(req.query, req.params, timeout=req.timeout_s, max_rows=req.max_rows).to_dict()


class DiagnoseRequest(BaseModel):
    """A case: a phenopacket (v2 JSON object), or findings listed directly, or both."""

    phenopacket: dict[str, Any] | None = None
    observed: list[str] = Field(default_factory=list, description="HPO ids present.")
    excluded: list[str] = Field(default_factory=list, description="HPO ids looked for and absent.")
    drugs: list[str] = Field(default_factory=list, description="Current drugs (DrugBank CURIEs).")
    conditions: list[str] = Field(default_factory=list, description="Known conditions (Disease CURIEs).")
    note: str | None = Field(None, description="Free text (clinical note) to link into findings.")
    k: int = Field(10, ge=1, le=1000)
    explain: int = Field(3, ge=0, le=20)
    genes: bool = False
    safety: Literal["remove", "flag"] = "remove"


@app.post("/diagnose")
def diagnose(req: DiagnoseRequest) -> dict[str, Any]:
    """Rank every disease in the KG, explain the top ones with verified KG paths (each with its
    Cypher), and suggest drugs checked against contraindications and interactions."""
    from kgdx.ingest.case import PatientCase

    dx = _diagnoser()
    start = PatientCase(id="request")
    if req.phenopacket is not None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "case.json"
            path.write_text(json.dumps(req.phenopacket))
            start = dx.load_case(path)
    case = _case_builder().build(
        start,
        observed=req.observed,
        excluded=req.excluded,
        drugs=req.drugs,
        conditions=req.conditions,
        note=req.note or None,
    )
    return dx.diagnose(case, k=req.k, explain=req.explain, drugs=10, use_genes=req.genes, safety=req.safety).to_dict()
