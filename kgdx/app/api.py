"""The HTTP API (FastAPI): the KG's named queries, read-only Cypher and KG-grounded diagnosis.

Run it with ``kgdx api serve`` (or ``uvicorn kgdx.app.api:app``, or the compose file in ``docker/``).
It serves the store of ``KGDX_STORE`` (the embedded KG by default; ``neo4j`` for the server at
``KGDX_NEO4J_URI``) and the shipped model. OpenAPI docs are at ``/docs``.

The web report (:mod:`kgdx.app.web`, ``kgdx serve``) is at ``/ui`` when the ``web`` extra is
installed; who may use it is ``KGDX_WEB_ACCESS`` (loopback clients only, by default).

Security (docs/security.md):

- **API keys.** Every endpoint but ``/health``, ``/docs`` and ``/openapi.json`` needs a key,
  ``Authorization: Bearer kgdx_…`` or ``X-API-Key: kgdx_…``, made with ``kgdx api keys add``
  (stored hashed, :mod:`kgdx.app.api_keys`). Clients on loopback may go without one only when the
  server was started with ``KGDX_API_ALLOW_LOOPBACK_WITHOUT_KEY=true`` (``kgdx api serve
  --allow-loopback-without-key``, which says so at start).
- **Rate limits** per key (per client address without one): ``KGDX_API_RATE_LIMIT`` (slowapi).
- **Size limits, before parsing:** a body larger than ``KGDX_API_MAX_BODY_BYTES`` is refused from
  its Content-Length, or as soon as that many bytes have arrived, without being held; lists, notes
  and strings have maximum lengths; JSON nests at most :data:`kgdx.files.MAX_JSON_DEPTH` levels.
- **Caps are ceilings:** a client may lower the Cypher timeout, row cap and byte cap, never raise
  them above the server's ``KGDX_QUERY_*`` settings.
- **Logs:** one JSON line per request (logger ``kgdx.api.access``) with a request id (also sent
  back as ``X-Request-ID``), method, path, status, duration and key id; never a body, a query
  string or a header value, so no patient data.

User errors come back as 400 with a one-line message (401 without a valid key, 413 for a body too
large, 422 for a request that does not fit the schema, 429 over the rate limit), an unreachable
store as 503, and anything else as 500 with the request id and no details.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import re
import tempfile
import threading
import time
import uuid
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from slowapi import Limiter
from slowapi.errors import RateLimitExceeded
from slowapi.middleware import SlowAPIMiddleware

from kgdx.app.api_keys import verify_key
from kgdx.errors import DataError, KgdxError, StoreError
from kgdx.files import MAX_JSON_DEPTH, json_depth
from kgdx.kg.store import KGStore
from kgdx.settings import get_settings

_settings = get_settings()
MAX_BODY_BYTES = _settings.api_max_body_bytes
MAX_LIST = _settings.api_max_list_items
MAX_NOTE = _settings.api_max_note_chars
#: Longest id, name or other short string in a request.
MAX_ID = 256
#: Longest Cypher query text over HTTP (the read-only path's own limit).
MAX_QUERY = 20_000

access_log = logging.getLogger("kgdx.api.access")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_PUBLIC = {"/health", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"}


def _is_loopback(host: str | None) -> bool:
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _presented_key(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return request.headers.get("x-api-key")


def _rate_key(request: Request) -> str:
    """Rate limits count per valid key; without one, per client address."""
    record = verify_key(_presented_key(request) or "")
    if record is not None:
        return f"key:{record.id}"
    return f"addr:{request.client.host if request.client else 'unknown'}"


limiter = Limiter(key_func=_rate_key, default_limits=[_settings.api_rate_limit], headers_enabled=False)


def require_key(request: Request) -> str:
    """The caller's key id; 401 without a valid key (unless loopback was let in at start)."""
    presented = _presented_key(request)
    if presented:
        record = verify_key(presented)
        if record is None:
            raise HTTPException(401, "invalid or revoked API key", headers={"WWW-Authenticate": "Bearer"})
        request.state.key_id = record.id
        return record.id
    host = request.client.host if request.client else None
    if get_settings().api_allow_loopback_without_key and _is_loopback(host):
        request.state.key_id = "loopback"
        return "loopback"
    raise HTTPException(
        401,
        "an API key is required: send 'Authorization: Bearer <key>' (make one with `kgdx api keys add NAME`)",
        headers={"WWW-Authenticate": "Bearer"},
    )


Authorized = Depends(require_key)

app = FastAPI(
    title="kgdx",
    version="0.1.0",
    description="Knowledge-graph-grounded clinical reasoning: KG queries and explained diagnosis. "
    "Every endpoint but /health needs an API key (`kgdx api keys add NAME`).",
)
app.state.limiter = limiter


def _error(status: int, error: str, message: str, request: Request, headers: dict | None = None) -> JSONResponse:
    rid = getattr(request.state, "request_id", None)
    return JSONResponse(
        {"error": error, "message": message, "request_id": rid}, status_code=status, headers=headers or None
    )


@app.exception_handler(KgdxError)
async def _user_error(request: Request, e: KgdxError) -> JSONResponse:
    text = str(e)
    unavailable = isinstance(e, StoreError) and ("cannot reach" in text or "lost the connection" in text)
    return _error(503 if unavailable else 400, type(e).__name__, e.one_line(), request)


@app.exception_handler(HTTPException)
async def _http_error(request: Request, e: HTTPException) -> JSONResponse | RedirectResponse:
    if e.status_code == 401 and request.url.path.startswith("/ui") and request.method == "GET":
        return RedirectResponse("/ui/login", status_code=303)  # a browser without the key cookie
    return _error(e.status_code, "HTTPError", str(e.detail), request, getattr(e, "headers", None))


@app.exception_handler(RequestValidationError)
async def _invalid_request(request: Request, e: RequestValidationError) -> JSONResponse:
    problems = []
    for err in e.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        problems.append(f"{where or 'body'}: {err.get('msg', 'invalid')}")
    return _error(422, "ValidationError", "; ".join(problems) or "invalid request", request)


@app.exception_handler(RateLimitExceeded)
async def _rate_limited(request: Request, e: RateLimitExceeded) -> JSONResponse:
    return _error(429, "RateLimited", f"rate limit exceeded ({e.detail}); retry later", request, {"Retry-After": "60"})


@app.exception_handler(RecursionError)
async def _too_deep(request: Request, e: RecursionError) -> JSONResponse:
    return _error(400, "DataError", f"JSON nested too deeply (at most {MAX_JSON_DEPTH} levels)", request)


@app.exception_handler(Exception)
async def _bug(request: Request, e: Exception) -> JSONResponse:
    logging.getLogger("kgdx.api").error(
        "unhandled %s on %s %s (request %s)",
        type(e).__name__,
        request.method,
        request.url.path,
        getattr(request.state, "request_id", "?"),
        exc_info=e,
    )
    return _error(500, "InternalError", "internal error; the server log has the request id", request)


class _BodyTooLarge(Exception):
    pass


class BodyLimitMiddleware:
    """Refuses a body over ``max_bytes`` before the app reads it: from Content-Length at once, or
    while it streams in (chunked), without keeping what arrived."""

    def __init__(self, app, max_bytes: int) -> None:  # noqa: ANN001 - an ASGI app
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001 - ASGI
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or ()).get(b"content-length")
        if length is not None:
            try:
                too_big = int(length) > self.max_bytes
            except ValueError:
                too_big = False
            if too_big:
                await self._refuse(scope, send)
                return
        seen = 0
        started = False
        refused = False

        async def counting_receive():  # noqa: ANN202
            nonlocal seen, refused
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes and not refused:
                    refused = True
                    if not started:
                        await self._refuse(scope, send)
                    raise _BodyTooLarge
            return message

        async def tracking_send(message) -> None:  # noqa: ANN001
            nonlocal started
            if refused:
                return  # the 413 went out already; whatever the app answers to the cut body is dropped
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        with contextlib.suppress(_BodyTooLarge):  # the 413 was sent when the limit was crossed
            await self.app(scope, counting_receive, tracking_send)

    async def _refuse(self, scope, send) -> None:  # noqa: ANN001
        body = json.dumps(
            {
                "error": "PayloadTooLarge",
                "message": f"the request body is larger than the {self.max_bytes:,} bytes allowed",
                "request_id": (scope.get("state") or {}).get("request_id"),
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})


class AccessLogMiddleware:
    """One JSON line per request; sets ``request.state.request_id`` and the ``X-Request-ID`` header."""

    def __init__(self, app) -> None:  # noqa: ANN001
        self.app = app

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or ())
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        rid = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid
        t0 = time.perf_counter()
        status = 500

        async def send_with_id(message) -> None:  # noqa: ANN001
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", []), (b"x-request-id", rid.encode())]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            client = scope.get("client")
            access_log.info(
                json.dumps(
                    {
                        "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                        "request_id": rid,
                        "method": scope.get("method"),
                        "path": scope.get("path"),  # no query string: it can carry patient data
                        "status": status,
                        "ms": round((time.perf_counter() - t0) * 1000, 1),
                        "client": client[0] if client else None,
                        "key": (scope.get("state") or {}).get("key_id"),
                    }
                )
            )


# Outermost first: the access log sees every response, the body limit acts before anything reads.
app.add_middleware(SlowAPIMiddleware)
app.add_middleware(BodyLimitMiddleware, max_bytes=MAX_BODY_BYTES)
app.add_middleware(AccessLogMiddleware)

Id = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID)]


@lru_cache(maxsize=1)
def _diagnoser():  # noqa: ANN202 - kgdx.reasoning.Diagnoser, loaded once on first use
    from kgdx.app.stores import open_store
    from kgdx.kg.memory_store import MemoryStore
    from kgdx.reasoning import Diagnoser

    store = open_store()
    if isinstance(store, MemoryStore):
        store.materialize()  # a server reads the KG for every request: pay for the graph once, here
    return Diagnoser.from_pretrained(store=store)


@lru_cache(maxsize=1)
def _case_builder():  # noqa: ANN202 - kgdx.reasoning.CaseBuilder, with its linker built once
    from kgdx.reasoning import CaseBuilder

    return CaseBuilder(_diagnoser())


def _store() -> KGStore:
    return _diagnoser().store


_cypher_store: tuple[tuple[Any, ...], Any] | None = None  # (connection settings, Neo4jStore)
_cypher_lock = threading.Lock()


def _cypher_neo4j():  # noqa: ANN202 - kgdx.kg.neo4j_store.Neo4jStore
    """One Neo4j driver (a connection pool) for the process's Cypher requests, opened on first use
    and again only when the connection settings change. A driver per request cost each request
    about 0.1 s of connecting; the driver reconnects by itself after a server restart."""
    global _cypher_store
    from kgdx.app.stores import open_neo4j

    s = get_settings()
    key = (s.neo4j_uri, s.neo4j_auth(), s.neo4j_database)
    with _cypher_lock:
        if _cypher_store is None or _cypher_store[0] != key:
            if _cypher_store is not None:
                _cypher_store[1].close()
                _cypher_store = None
            _cypher_store = (key, open_neo4j(settings=s))
        return _cypher_store[1]


def _node(n: Any) -> dict[str, Any]:
    return {"id": n.id, "type": n.type, **n.props}


def _edge(e: Any) -> dict[str, Any]:
    return {"type": e.type, "src": e.src, "dst": e.dst, **e.props}


@app.get("/health")
@limiter.exempt
def health() -> dict[str, Any]:
    """Liveness, and whether the model and KG are loaded yet (no key needed)."""
    info = getattr(_diagnoser, "cache_info", None)
    return {"status": "ok", "loaded": bool(info is None or info().currsize > 0)}


@app.get("/kg/stats", dependencies=[Authorized])
def kg_stats() -> dict[str, Any]:
    """Counts per node label and relationship type, with the schema and applied modules."""
    return _store().summary()


@app.get("/kg/nodes/{node_id}", dependencies=[Authorized])
def kg_node(node_id: Id) -> dict[str, Any]:
    """One node by id (alternative and obsolete ids resolve to the current node)."""
    n = _store().node(node_id)
    if n is None:
        raise HTTPException(404, f"no node {node_id!r}")
    return _node(n)


@app.get("/kg/lookup", dependencies=[Authorized])
def kg_lookup(
    q: Id = Query(..., description="An id, name or synonym."),
    type: list[Id] | None = Query(None, max_length=50, description="Only these node types."),
) -> list[dict[str, Any]]:
    """Nodes whose id, name or a synonym equals ``q`` (case-insensitive)."""
    return [_node(n) for n in _store().lookup(q, types=type)]


@app.get("/kg/nodes/{node_id}/neighbours", dependencies=[Authorized])
def kg_neighbours(
    node_id: Id,
    rel_type: list[Id] | None = Query(None, max_length=50),
    direction: Literal["out", "in", "both"] = "both",
    node_type: list[Id] | None = Query(None, max_length=50),
) -> list[dict[str, Any]]:
    """Edges at a node (with provenance) and the nodes they reach."""
    return [
        {"edge": _edge(nb.edge), "node": _node(nb.node)}
        for nb in _store().neighbours(node_id, rel_types=rel_type, direction=direction, node_types=node_type)
    ]


@app.get("/kg/diseases/{disease_id}/phenotypes", dependencies=[Authorized])
def disease_phenotypes(disease_id: Id) -> list[dict[str, Any]]:
    return [{"edge": _edge(nb.edge), "phenotype": _node(nb.node)} for nb in _store().disease_phenotypes(disease_id)]


@app.get("/kg/drugs/interactions", dependencies=[Authorized])
def drug_interactions(
    ids: list[Id] = Query(..., max_length=MAX_LIST, description="DrugBank CURIEs."),
) -> list[dict[str, Any]]:
    """The interactions among a list of drugs."""
    return [_edge(e) for e in _store().interactions(ids)]


class CypherRequest(BaseModel):
    """A read-only query. The limits may only lower the server's caps (``KGDX_QUERY_*``)."""

    model_config = ConfigDict(extra="forbid")

    query: str = Field(..., min_length=1, max_length=MAX_QUERY)
    params: dict[str, Any] = Field(default_factory=dict, max_length=100)
    max_rows: int | None = Field(None, gt=0, description="At most the server's KGDX_QUERY_MAX_ROWS (the default).")
    timeout_s: float | None = Field(None, gt=0, description="At most the server's KGDX_QUERY_TIMEOUT_S (the default).")
    max_bytes: int | None = Field(None, gt=0, description="At most the server's KGDX_QUERY_MAX_BYTES (the default).")


@app.post("/kg/cypher", dependencies=[Authorized])
def kg_cypher(req: CypherRequest) -> dict[str, Any]:
    """Read-only Cypher against Neo4j (needs KGDX_STORE=neo4j); writes are refused with 400."""
    from kgdx.kg.neo4j_store import QueryLimits

    s = get_settings()
    # The server's caps are ceilings: a request above one is refused before Neo4j is asked.
    QueryLimits(s.query_timeout_s, s.query_max_rows, s.query_max_bytes).narrow(
        req.timeout_s, req.max_rows, req.max_bytes
    )
    if json_depth(req.params) > MAX_JSON_DEPTH:
        raise DataError(f"'params' nest more than {MAX_JSON_DEPTH} levels")
    return (
        _cypher_neo4j()
        .cypher(req.query, req.params, timeout=req.timeout_s, max_rows=req.max_rows, max_bytes=req.max_bytes)
        .to_dict()
    )


class DiagnoseRequest(BaseModel):
    """A case: a phenopacket (v2 JSON object), or findings listed directly, or both."""

    model_config = ConfigDict(extra="forbid")

    phenopacket: dict[str, Any] | None = None
    observed: list[Id] = Field(default_factory=list, max_length=MAX_LIST, description="HPO ids present.")
    excluded: list[Id] = Field(default_factory=list, max_length=MAX_LIST, description="HPO ids looked for and absent.")
    drugs: list[Id] = Field(default_factory=list, max_length=MAX_LIST, description="Current drugs (DrugBank CURIEs).")
    conditions: list[Id] = Field(
        default_factory=list, max_length=MAX_LIST, description="Known conditions (Disease CURIEs)."
    )
    note: str | None = Field(None, max_length=MAX_NOTE, description="Free text (clinical note) to link into findings.")
    k: int = Field(10, ge=1, le=1000)
    explain: int = Field(3, ge=0, le=20)
    genes: bool = False
    safety: Literal["remove", "flag"] = "remove"


@app.post("/diagnose", dependencies=[Authorized])
def diagnose(req: DiagnoseRequest) -> dict[str, Any]:
    """Rank every disease in the KG, explain the top ones with verified KG paths (each with its
    Cypher), and suggest drugs checked against contraindications and interactions."""
    from kgdx.ingest.case import PatientCase

    dx = _diagnoser()
    start = PatientCase(id="request")
    if req.phenopacket is not None:
        if json_depth(req.phenopacket) > MAX_JSON_DEPTH:
            raise DataError(f"the phenopacket nests more than {MAX_JSON_DEPTH} levels")
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


def _mount_web() -> None:
    """The web report at ``/ui`` (the ``web`` extra: Jinja2, python-multipart, fpdf2)."""
    try:
        from kgdx.app.web import router, static_files
    except ImportError:  # the API alone; `kgdx serve` says what to install
        return
    app.include_router(router)
    app.mount("/ui/static", static_files, name="ui-static")


_mount_web()
