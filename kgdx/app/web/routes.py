"""The web report's routes (see :mod:`kgdx.app.web`)."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from kgdx.app.llm.case_input import CaseInput, build_case
from kgdx.errors import DataError, KgdxError
from kgdx.files import parse_json
from kgdx.kg.vocab import NodeLabel
from kgdx.settings import get_settings

__all__ = ["router", "static_files", "parse_findings"]

HERE = Path(__file__).parent
COOKIE = "kgdx_key"
_ID = re.compile(r"HP:\d{7}")
_NOT = re.compile(r"^\s*(?:not|no|-|!|excluded:?)\s*", re.I)

templates = Jinja2Templates(directory=str(HERE / "templates"))
static_files = StaticFiles(directory=str(HERE / "static"))


def _loopback(request: Request) -> bool:
    from kgdx.app.api import _is_loopback

    return _is_loopback(request.client.host if request.client else None)


def web_access(request: Request) -> str:
    """Who may see the pages, per ``KGDX_WEB_ACCESS``; the key comes from the cookie or a header."""
    from kgdx.app.api import _presented_key
    from kgdx.app.api_keys import verify_key

    mode = get_settings().web_access
    if mode == "off":
        raise HTTPException(404, "the web report is off (KGDX_WEB_ACCESS=off)")
    if mode == "loopback":
        if not _loopback(request):
            raise HTTPException(403, "the web report serves loopback clients only (KGDX_WEB_ACCESS=loopback)")
        request.state.key_id = "web-loopback"
        return "loopback"
    record = verify_key(request.cookies.get(COOKIE) or _presented_key(request) or "")
    if record is None:
        raise HTTPException(401, "an API key is required", headers={"Location": "/ui/login"})
    request.state.key_id = record.id
    return record.id


router = APIRouter(prefix="/ui", include_in_schema=False)
Web = Depends(web_access)


def _dx():  # noqa: ANN202 - Diagnoser, the API's
    from kgdx.app import api

    return api._diagnoser()


def _builder():  # noqa: ANN202 - CaseBuilder, the API's
    from kgdx.app import api

    return api._case_builder()


@lru_cache(maxsize=4)
def _verifier(store_id: int):  # noqa: ANN202 - one ClaimVerifier per store, its linker built once
    from kgdx.app.llm.verifier import ClaimVerifier

    return ClaimVerifier(_dx().store)


@lru_cache(maxsize=4)
def _terms(store_id: int) -> list[tuple[str, str, str]]:
    """(lower-case name, id, name) of every phenotype, for the autocomplete."""
    return sorted((n.name.lower(), n.id, n.name) for n in _dx().store.iter_nodes(NodeLabel.PHENOTYPE))


def parse_findings(text: str) -> tuple[list[str], list[str]]:
    """Observed and excluded HPO ids from the findings box: one term a line, ``not``/``-`` first
    for an absent one; names after the id are for the reader and ignored.

    Example:
        >>> parse_findings("HP:0001945 Fever\\nnot HP:0002105 Hemoptysis")
        (['HP:0001945'], ['HP:0002105'])
    """
    observed, excluded = [], []
    for line in text.splitlines():
        ids = _ID.findall(line)
        (excluded if _NOT.match(line) else observed).extend(ids)
    return list(dict.fromkeys(observed)), list(dict.fromkeys(excluded))


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> HTMLResponse:
    return templates.TemplateResponse(request, "login.html", {"error": None})


@router.post("/login")
def login(request: Request, key: str = Form(..., max_length=256)) -> Response:
    from kgdx.app.api_keys import verify_key

    if verify_key(key.strip()) is None:
        return templates.TemplateResponse(
            request, "login.html", {"error": "invalid or revoked API key"}, status_code=401
        )
    response = RedirectResponse("/ui", status_code=303)
    response.set_cookie(COOKIE, key.strip(), httponly=True, samesite="strict", secure=request.url.scheme == "https")
    return response


@router.get("", response_class=HTMLResponse)
def form(request: Request, _: str = Web) -> HTMLResponse:
    return templates.TemplateResponse(request, "index.html", {"error": None, "form": {}})


@router.get("/complete")
def complete(q: str = Query(..., min_length=2, max_length=100), _: str = Web) -> list[dict[str, str]]:
    """Up to 12 phenotypes whose name or id starts with ``q`` (then those that contain it)."""
    terms = _terms(id(_dx().store))
    needle = q.strip().lower()
    first = [t for t in terms if t[0].startswith(needle) or t[1].lower().startswith(needle)]
    more = [t for t in terms if needle in t[0] and t not in first[:12]] if len(first) < 12 else []
    return [{"id": i, "name": name} for _, i, name in (first + more)[:12]]


async def _case_from_form(findings: str, note: str, drugs: str, phenopacket: UploadFile | None) -> CaseInput:
    observed, excluded = parse_findings(findings)
    packet = None
    if phenopacket is not None and phenopacket.filename:
        data = await phenopacket.read()
        if data.strip():
            packet = parse_json(data, what="the phenopacket")
            if not isinstance(packet, dict):
                raise DataError("the phenopacket must be a JSON object", field="phenopacket")
    drug_ids = re.findall(r"(?:DRUGBANK:DB\d{5}|CHEBI:\d+)", drugs)
    return CaseInput.parse(
        {"observed": observed, "excluded": excluded, "note": note or None, "phenopacket": packet, "drugs": drug_ids}
    )


def _report(case_input: CaseInput, k: int, explain: int) -> dict[str, Any]:
    from kgdx.app.llm.chain import chat_model_from_settings, explain_diagnosis
    from kgdx.app.web.svg import paths_svg

    dx = _dx()
    case = build_case(dx, _builder(), case_input)
    diagnosis = dx.diagnose(case, k=k, explain=min(explain, k), drugs=10, safety="flag")
    paragraphs = explain_diagnosis(
        diagnosis, dx.store, model=chat_model_from_settings(), verifier=_verifier(id(dx.store))
    )
    by_id = {p.disease.id: p for p in paragraphs}
    explained = {d.disease.id: d for d in (diagnosis.explanation.diseases if diagnosis.explanation else [])}
    rows = []
    for r in diagnosis.ranking.top:
        d = explained.get(r.id)
        rows.append(
            {
                "disease": r,
                "paragraph": by_id.get(r.id),
                "supports": d.supports if d else [],
                "against": d.against if d else [],
                "svg": Markup(paths_svg(d.paths)) if d else "",
            }
        )
    return {
        "diagnosis": diagnosis,
        "case": case,
        "summary": case.summary(),
        "rows": rows,
        "paragraphs": paragraphs,
        "drugs": diagnosis.drugs,
        "notes": diagnosis.ranking.notes,
        "case_json": case_input.model_dump_json(exclude_defaults=True),
        "k": k,
        "explain": explain,
    }


@router.post("/report", response_class=HTMLResponse)
async def report(
    request: Request,
    findings: str = Form("", max_length=50_000),
    note: str = Form("", max_length=100_000),
    drugs: str = Form("", max_length=10_000),
    k: int = Form(10, ge=1, le=50),
    explain: int = Form(3, ge=0, le=10),
    phenopacket: UploadFile | None = File(None),
    _: str = Web,
) -> HTMLResponse:
    form_values = {"findings": findings, "note": note, "drugs": drugs, "k": k, "explain": explain}
    try:
        case_input = await _case_from_form(findings, note, drugs, phenopacket)
        context = _report(case_input, k, explain)
    except KgdxError as e:
        return templates.TemplateResponse(
            request, "index.html", {"error": e.one_line(), "form": form_values}, status_code=400
        )
    return templates.TemplateResponse(request, "report.html", context)


@router.post("/export")
def export(
    case_json: str = Form(..., max_length=2_000_000),
    format: str = Form("md", pattern="^(md|pdf)$"),
    k: int = Form(10, ge=1, le=50),
    explain: int = Form(3, ge=0, le=10),
    _: str = Web,
) -> Response:
    """The report as a Markdown or PDF file (the case is diagnosed again: the answer is deterministic)."""
    from kgdx.app.web.export import markdown_to_pdf, report_markdown

    case_input = CaseInput.parse(parse_json(case_json, what="case_json"))
    ctx = _report(case_input, k, explain)
    md = report_markdown(ctx["diagnosis"], ctx["paragraphs"], ctx["summary"])
    name = re.sub(r"[^A-Za-z0-9._-]", "_", ctx["case"].id) or "case"
    if format == "pdf":
        return Response(
            markdown_to_pdf(md),
            media_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="kgdx-{name}.pdf"'},
        )
    return Response(
        md,
        media_type="text/markdown; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="kgdx-{name}.md"'},
    )
