"""The web report's pages, autocomplete, exports and access rules (no browser; see test_browser.py)."""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient

from kgdx.app.web.routes import parse_findings

FINDINGS = "HP:0025179 Ground-glass opacification\nHP:0001945 Fever\nnot HP:0002105 Hemoptysis\n"


@pytest.fixture
def local(web_app):
    return TestClient(web_app, client=("127.0.0.1", 50000))


def test_the_form_and_autocomplete(local):
    page = local.get("/ui")
    assert page.status_code == 200 and 'id="term"' in page.text and "/ui/static/app.js" in page.text
    assert local.get("/ui/static/app.js").status_code == 200
    assert local.get("/ui/complete", params={"q": "ground"}).json() == [
        {"id": "HP:0025179", "name": "Ground-glass opacification"}
    ]
    # prefix matches first, then the terms that contain the text
    names = [t["name"] for t in local.get("/ui/complete", params={"q": "pne"}).json()]
    assert names == ["Pneumonia", "Dyspnea"]
    assert local.get("/ui/complete", params={"q": "HP:00251"}).json()[0]["id"] == "HP:0025179"
    assert local.get("/ui/complete", params={"q": "x"}).status_code == 422


def test_a_report(local):
    r = local.post("/ui/report", data={"findings": FINDINGS, "drugs": "DRUGBANK:DB00682", "k": "3", "explain": "2"})
    assert r.status_code == 200, r.text
    html = r.text
    rows = re.findall(r'<a href="#d\d">([^<]+)</a>', html)
    assert rows == ["COVID-19", "pneumonia", "Cystic fibrosis"]
    assert html.count('<details class="disease"') == 2
    assert "COVID-19 (MONDO:0100096) ranks first, with probability" in html
    assert "<svg" in html and "Copy Cypher" in html and "MATCH p = " in html
    # the drug that interacts with warfarin is shown with its flag, not hidden
    assert "interaction (moderate)" in html and 'class="unsafe"' in html
    assert "not supported by the KG" not in html  # the template's sentences are all backed


def test_a_phenopacket_upload_and_a_note(local):
    packet = {
        "id": "pp-1",
        "phenotypicFeatures": [{"type": {"id": "HP:0025179", "label": "GGO"}}, {"type": {"id": "HP:0001945"}}],
        "metaData": {"created": "2026-01-01T00:00:00Z"},
    }
    files = {"phenopacket": ("case.json", json.dumps(packet), "application/json")}
    r = local.post("/ui/report", data={"note": "Dry cough.", "k": "2"}, files=files)
    assert r.status_code == 200, r.text
    assert "pp-1" in r.text and "COVID-19" in r.text


@pytest.mark.parametrize(
    ("data", "files", "message"),
    [
        ({"findings": ""}, None, "give at least one of"),
        ({"findings": "HP:9999999"}, None, "no finding the KG knows"),
        ({}, {"phenopacket": ("p.json", "{not json", "application/json")}, "invalid JSON"),
        (
            {},
            {"phenopacket": ("p.json", "[1, 2]", "application/json")},
            "phenopacket: the phenopacket must be a JSON object",
        ),
    ],
)
def test_bad_input_is_one_line_on_the_form(local, data, files, message):
    r = local.post("/ui/report", data=data, files=files)
    assert r.status_code == 400
    error = re.search(r'<p class="error" id="error">([^<]*)</p>', r.text).group(1)
    assert message in error.replace("&#39;", "'") and "\n" not in error


def test_exports(local):
    case_json = json.dumps({"observed": ["HP:0025179", "HP:0001945"], "excluded": ["HP:0002105"]})
    md = local.post("/ui/export", data={"case_json": case_json, "format": "md", "k": "3"})
    assert md.status_code == 200 and md.headers["content-type"].startswith("text/markdown")
    assert 'filename="kgdx-case.md"' in md.headers["content-disposition"]
    assert md.text.startswith("# kgdx diagnosis report") and "COVID-19 (MONDO:0100096) ranks first" in md.text
    assert "```cypher" in md.text
    pdf = local.post("/ui/export", data={"case_json": case_json, "format": "pdf", "k": "3"})
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-") and len(pdf.content) > 2000
    assert local.post("/ui/export", data={"case_json": case_json, "format": "docx"}).status_code == 422


def test_access_rules(web_app, monkeypatch):
    from kgdx.app.api_keys import add_key
    from kgdx.settings import get_settings

    remote = TestClient(web_app, client=("192.0.2.7", 50000), follow_redirects=False)
    assert remote.get("/ui").status_code == 403  # loopback only, by default
    monkeypatch.setenv("KGDX_WEB_ACCESS", "key")
    get_settings.cache_clear()
    assert remote.get("/ui").headers["location"] == "/ui/login"
    assert remote.post("/ui/report", data={"findings": FINDINGS}).status_code == 401
    assert remote.post("/ui/login", data={"key": "kgdx_nope"}).status_code == 401
    _, key = add_key("browser")
    r = remote.post("/ui/login", data={"key": key})
    assert r.status_code == 303 and "httponly" in r.headers["set-cookie"].lower()
    assert "samesite=strict" in r.headers["set-cookie"].lower()
    remote.cookies.set("kgdx_key", key)
    assert remote.get("/ui").status_code == 200
    monkeypatch.setenv("KGDX_WEB_ACCESS", "off")
    get_settings.cache_clear()
    assert TestClient(web_app, client=("127.0.0.1", 1)).get("/ui").status_code == 404


def test_parse_findings():
    assert parse_findings(FINDINGS + "- HP:0012735\nHP:0001945 again") == (
        ["HP:0025179", "HP:0001945"],
        ["HP:0002105", "HP:0012735"],
    )
