"""Drive the web report in headless chromium (selenium): enter a case, get the differential,
open an explanation; save a screenshot of each step.

The browser test (tests/app/web/test_browser.py) runs :func:`walk_through` on the tiny KG. This
script runs it on the built KG against a running ``kgdx serve`` and writes the README's
screenshots::

    kgdx serve --port 8765 &
    python -m benchmarks.web_screenshots --url http://127.0.0.1:8765 --out docs/img

Needs Debian's ``chromium`` and ``chromium-driver`` (``apt-get install chromium chromium-driver``;
``.ci/run`` installs them) and ``selenium`` (the ``dev`` extra). Nothing is fetched from the network.
"""

from __future__ import annotations

import argparse
import shutil
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Case", "CHEST_CASE", "find_browser", "chrome", "walk_through"]


@dataclass(frozen=True)
class Case:
    """What the walk types: (search text, HPO id, absent?) per finding, and the current drugs."""

    findings: tuple[tuple[str, str, bool], ...]
    drugs: str = ""
    note: str = ""


#: The README's case: the example chest patient (examples/chest_case.json) typed by hand.
CHEST_CASE = Case(
    (
        ("fever", "HP:0001945", False),
        ("cough", "HP:0012735", False),
        ("parenchymal cons", "HP:0032177", False),
        ("air bronch", "HP:0033662", False),
        ("hemopt", "HP:0002105", True),
    ),
    drugs="DRUGBANK:DB00682",
    note="Dyspnoea on exertion for three days. No ground-glass opacities on CT.",
)


def find_browser() -> tuple[str, str] | str:
    """(chromium, chromedriver) paths, or why there are none."""
    browser = next((b for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)
    driver = shutil.which("chromedriver")
    if browser is None or driver is None:
        missing = " and ".join(n for n, p in (("chromium", browser), ("chromedriver", driver)) if p is None)
        return f"{missing} not found: apt-get install chromium chromium-driver (Debian), as .ci/run does"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return 'selenium is not installed: pip install -e ".[dev]"'
    return shutil.which(browser), driver


def chrome(width: int = 1280, height: int = 1000):  # noqa: ANN201 - selenium WebDriver
    """Headless chromium through the system's chromedriver (selenium's own download is never used)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    found = find_browser()
    if isinstance(found, str):
        raise RuntimeError(found)
    browser, driver = found
    opts = webdriver.ChromeOptions()
    opts.binary_location = browser
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        f"--window-size={width},{height}",
    ):
        opts.add_argument(arg)
    return webdriver.Chrome(service=Service(executable_path=driver), options=opts)


def _full_page(driver, path: Path) -> None:  # noqa: ANN001
    height = driver.execute_script("return document.body.scrollHeight")
    driver.set_window_size(1280, min(max(height + 40, 700), 4000))
    driver.save_screenshot(str(path))
    driver.set_window_size(1280, 1000)


def walk_through(driver, base_url: str, case: Case, out: Path, timeout: float = 120) -> dict[str, object]:  # noqa: ANN001
    """Enter ``case`` on the form (autocomplete for each finding), diagnose, open the first
    explanation and copy its Cypher. Saves ``web-1-case.png``, ``web-2-differential.png`` and
    ``web-3-explanation.png`` in ``out``; returns what the page showed."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    out.mkdir(parents=True, exist_ok=True)
    wait = WebDriverWait(driver, timeout)
    driver.get(f"{base_url}/ui")
    term = wait.until(ec.element_to_be_clickable((By.ID, "term")))
    absent = driver.find_element(By.ID, "absent")
    for text, hpo, is_absent in case.findings:
        if absent.is_selected() != is_absent:
            absent.click()
        term.clear()
        term.send_keys(text)
        item = wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, f'#suggestions li[data-id="{hpo}"]')))
        if hpo == case.findings[-1][1]:
            driver.save_screenshot(str(out / "web-1-case.png"))  # the autocomplete open on the last term
        item.click()
    if case.note:
        driver.find_element(By.ID, "note").send_keys(case.note)
    if case.drugs:
        driver.find_element(By.ID, "drugs").send_keys(case.drugs)
    findings = driver.find_element(By.ID, "findings").get_attribute("value")
    driver.find_element(By.ID, "diagnose").click()
    table = wait.until(ec.presence_of_element_located((By.ID, "differential")))
    diseases = [a.text for a in table.find_elements(By.CSS_SELECTOR, "tbody a")]
    _full_page(driver, out / "web-2-differential.png")
    first = driver.find_element(By.CSS_SELECTOR, "details.disease")
    first.find_element(By.TAG_NAME, "summary").click()
    wait.until(lambda d: first.get_attribute("open") is not None)
    paragraph = first.find_element(By.CSS_SELECTOR, ".paragraph").text
    svg_rows = len(first.find_elements(By.CSS_SELECTOR, "svg.paths rect"))
    copy = first.find_element(By.CSS_SELECTOR, "button.copy")
    cypher = copy.get_attribute("data-copy")
    copy.click()
    wait.until(lambda d: copy.text == "Copied")
    driver.execute_script("arguments[0].scrollIntoView()", first)
    driver.save_screenshot(str(out / "web-3-explanation.png"))
    return {"findings": findings, "diseases": diseases, "paragraph": paragraph, "svg_nodes": svg_rows, "cypher": cypher}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", default="http://127.0.0.1:8765", help="A running `kgdx serve`.")
    p.add_argument("--out", type=Path, default=Path("docs/img"), help="Folder for the screenshots.")
    args = p.parse_args()
    driver = chrome()
    try:
        shown = walk_through(driver, args.url, CHEST_CASE, args.out)
    finally:
        driver.quit()
    print(f"differential: {shown['diseases']}")
    print(f"first paragraph: {shown['paragraph'][:300]}")
    print(f"screenshots in {args.out}")


if __name__ == "__main__":
    main()
