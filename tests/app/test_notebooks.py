"""The notebooks in ``notebooks/`` run top to bottom (nbclient), as a user would run them, so they
cannot rot.

Each notebook is executed in a fresh kernel of the interpreter running the tests, with the repository
root as its working directory and ``KGDX_HOME`` pointing to a temporary folder: a copy of the KG
already built in your ``KGDX_HOME`` when there is one, else of the KG the session built for the
build test (``default_kg``), so the KG is not built again. Nothing is written to your ``KGDX_HOME``.

``extend_schema_parkinsons.ipynb`` loads the KG into the Neo4j at ``KGDX_NEO4J_URI`` (the code path
of ``kgdx kg load``, about a minute; skipped when the database already holds that KG), applies the
Parkinson's module there and removes it again, so it is marked ``neo4j``. Afterwards the test puts
back the database's ``snapshot`` and ``schema`` records as it found them: the notebook's snapshot
path is a deleted temporary folder, and a ``snapshot`` record would make the KG tests treat the
database as a user's loaded KG and refuse to wipe it.

Both notebooks take about 30 s and 1 to 2.5 min on 2 CPU cores. The executed copies (with outputs)
are kept in pytest's temporary folder for inspection when a test fails.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from kgdx.settings import Settings

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
DIAGNOSIS = NOTEBOOKS / "kg_grounded_diagnosis.ipynb"
PARKINSONS = NOTEBOOKS / "extend_schema_parkinsons.ipynb"
CELL_TIMEOUT_S = 600  # the Neo4j load takes about a minute; generous for slow machines


@pytest.fixture(scope="module")
def notebook_env(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> dict[str, Path]:
    """A temporary KGDX_HOME with a copy of the user's built KG, else of the session's
    (``default_kg``, which the build test shares), and a python3 kernel spec that runs this very
    interpreter."""
    root = tmp_path_factory.mktemp("notebooks")
    home = root / "kgdx-home"
    home.mkdir()
    user_kg = Settings().kg_dir  # read now, from the environment the tests were started with
    if not (user_kg / "manifest.json").is_file():
        user_kg = request.getfixturevalue("default_kg")
    shutil.copytree(user_kg, home / "kg" / "default")
    spec = root / "jupyter" / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "Python 3 (kgdx tests)",
                "language": "python",
            }
        )
    )
    return {"root": root, "home": home, "jupyter": root / "jupyter"}


def _execute(path: Path, env: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> nbformat.NotebookNode:
    """Run the notebook in a new kernel; fail with the cell's error and keep the executed copy."""
    password = Settings().neo4j_auth()[1]  # the Neo4j password lives in the real KGDX_HOME
    if password:
        monkeypatch.setenv("KGDX_NEO4J_PASSWORD", password)
    monkeypatch.setenv("KGDX_HOME", str(env["home"]))
    monkeypatch.setenv(
        "JUPYTER_PATH", os.pathsep.join([str(env["jupyter"]), os.environ.get("JUPYTER_PATH", "")]).rstrip(os.pathsep)
    )
    monkeypatch.delenv("KGDX_STORE", raising=False)
    monkeypatch.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")  # quiets the debugger's frozen-modules note
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, timeout=CELL_TIMEOUT_S, kernel_name="python3", resources={"metadata": {"path": str(REPO)}}
    )
    out = env["root"] / f"executed-{path.name}"
    failure = None
    try:
        client.execute()
    except CellExecutionError as e:
        failure = re.sub(r"\x1b\[[0-9;]*m", "", str(e))  # IPython colours its tracebacks
    finally:
        nbformat.write(nb, out)
    if failure is not None:
        pytest.fail(f"{path.name} failed (executed copy: {out}):\n{failure}", pytrace=False)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, f"{path.name}: error outputs: {[(o.ename, o.evalue) for o in errors]} (executed copy: {out})"
    return nb


def _text(nb: nbformat.NotebookNode) -> str:
    """Everything the notebook printed or displayed as text or Markdown."""
    parts = []
    for c in nb.cells:
        for o in c.get("outputs", []) if c.cell_type == "code" else []:
            if o.output_type == "stream":
                parts.append(o.text)
            elif "data" in o:
                parts.append(o.data.get("text/markdown") or o.data.get("text/plain", ""))
    return "\n".join(parts)


def _images(nb: nbformat.NotebookNode) -> int:
    return sum(
        "image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
    )


@pytest.mark.parametrize("path", [DIAGNOSIS, PARKINSONS], ids=lambda p: p.name)
def test_notebook_is_stored_without_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = [
        i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count is not None)
    ]
    assert not dirty, f"{path.name}: cells {dirty} have outputs; clear them before committing"
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"


@pytest.mark.slow
def test_kg_grounded_diagnosis(notebook_env: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    nb = _execute(DIAGNOSIS, notebook_env, monkeypatch)
    text = _text(nb)
    # (a) the phenopacket and (b) the synthetic case are each ranked and explained, with valid paths.
    assert len(re.findall(r"^top disease: .+ \((?:OMIM|ORPHA|MONDO|DECIPHER|KGDX):\S+\), p = ", text, re.M)) >= 2, text[
        -3000:
    ]
    assert len(re.findall(r"explanation validity: 1\.000", text)) >= 2, text[-3000:]
    assert "MATCH p = " in text  # the paths' Cypher
    # Drug suggestions with safety="flag"; whatever safety="remove" drops is flagged.
    assert re.search(
        r"^\d+ of \d+ suggestions flagged; every one that safety='remove' drops is flagged: True$", text, re.M
    )
    assert "drops is flagged: False" not in text
    assert re.search(r"^truth: .+ ranks \d+ of [\d,]+", text, re.M)
    # KG composition, top-10 and contributions for (a) and (b), the montage, the labs.
    assert _images(nb) >= 7, f"only {_images(nb)} images"
    assert "notebook finished in" in text


@pytest.mark.neo4j
@pytest.mark.slow
def test_extend_schema_parkinsons(notebook_env: dict[str, Path], monkeypatch: pytest.MonkeyPatch, neo4j_driver) -> None:
    # `neo4j_driver` skips the test (a failure under CI=true) when Neo4j is unreachable.
    from kgdx.kg.neo4j_store import Neo4jStore
    from kgdx.kg.schema import core_schema

    with Neo4jStore.from_settings(core_schema(), Settings()) as neo:
        before = {k: neo.get_meta(k) for k in ("snapshot", "schema")}
    try:
        nb = _execute(PARKINSONS, notebook_env, monkeypatch)
    finally:
        with Neo4jStore.from_settings(core_schema(), Settings()) as neo:
            for k, v in before.items():
                neo.set_meta(k, v)
    text = _text(nb)
    assert "Neo4j is not reachable" not in text
    assert text.count("refused, SchemaError") == 3, text[:5000]
    for line in (
        "KG unchanged and no module recorded: True",
        "applying it again: nothing changed",
        "Neo4j and memory agree: True",
        "refused: the read-only Cypher path refuses SET",  # the guard names the clause
        "explanation validity: 1.000 (in memory)",
        "explanation validity in Neo4j: 1.000",
        "memory back to its previous counts: True",
        "memory schema back to the base: True",
        "Neo4j back to its previous counts: True",
    ):
        assert line in text, f"missing {line!r}"
    assert re.search(r"^top disease: .+ \(\S+\), p = ", text, re.M)
    assert re.search(r"^Parkinson disease \(MONDO:0005180\) ranks \d+ of", text, re.M)
    assert "multiple system atrophy" in text  # the hot cross bun sign, by Cypher
    assert "NeuroimagingFinding" in text and "HAS_NEUROIMAGING_FINDING" in text  # in the HeteroData
    assert re.search(r"^MAO-B inhibitors suggested: .*; all flagged against sertraline: True$", text, re.M)
    assert re.search(r"^\d+ notes: top-1 [\d.]+, top-3 [\d.]+", text, re.M)
    assert _images(nb) >= 2
