"""The web report in a real headless browser (Debian's chromium + chromedriver, selenium).

Under CI (``CI=true``) a missing browser fails this test with the reason; elsewhere it skips.
Screenshots go to ``$KGDX_SCREENSHOT_DIR`` if set, else to a temporary folder.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import pytest

from benchmarks.web_screenshots import Case, chrome, find_browser, walk_through

pytestmark = pytest.mark.browser

TINY_CASE = Case(
    (("ground", "HP:0025179", False), ("fev", "HP:0001945", False), ("hemop", "HP:0002105", True)),
    drugs="DRUGBANK:DB00682",
)


@pytest.fixture
def browser():
    found = find_browser()
    if isinstance(found, str):
        if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
            pytest.fail(f"the browser test cannot run under CI: {found}")
        pytest.skip(found)
    driver = chrome()
    yield driver
    driver.quit()


@pytest.fixture
def server(web_app):
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(web_app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    while not srv.started:  # started is set once the socket listens
        if not thread.is_alive():
            pytest.fail("the test server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


def test_enter_a_case_get_the_differential_open_an_explanation(browser, server, tmp_path):
    out = Path(os.environ.get("KGDX_SCREENSHOT_DIR") or tmp_path)
    shown = walk_through(browser, server, TINY_CASE, out, timeout=60)
    assert shown["findings"].splitlines() == [
        "HP:0025179 Ground-glass opacification",
        "HP:0001945 Fever",
        "not HP:0002105 Hemoptysis",
    ]
    assert shown["diseases"][:2] == ["COVID-19", "pneumonia"]
    assert shown["paragraph"].startswith("COVID-19 (MONDO:0100096) ranks first, with probability")
    assert shown["svg_nodes"] >= 2 and shown["cypher"].startswith("MATCH p = ")
    for name in ("web-1-case.png", "web-2-differential.png", "web-3-explanation.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
