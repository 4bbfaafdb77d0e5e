"""The wheel: one top-level package, ``kgdx``, with its data; and the layers contract on it.

The folders stay at the repository root and map into ``kgdx.*`` (setuptools ``package-dir``), so
these checks run on what ``pip install`` really installs, not on the checkout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    # Built from a copy: setuptools builds in the source tree, and a stale build/ folder there
    # would carry deleted modules into the wheel.
    src = tmp_path_factory.mktemp("src") / "kgdx"
    shutil.copytree(
        REPO,
        src,
        ignore=shutil.ignore_patterns(
            ".git", "build", "dist", "*.egg-info", "__pycache__", "results", "notebooks", "docs", "runs"
        ),
    )
    out = tmp_path_factory.mktemp("wheel")
    build = tmp_path_factory.mktemp("build")
    r = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation", "-q", "-w", str(out)],
        capture_output=True,
        text=True,
        env={**os.environ, "PIP_BUILD_TRACKER": str(build)},
        cwd=build,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    (whl,) = out.glob("kgdx-*.whl")
    return whl


@pytest.fixture(scope="module")
def unpacked(wheel: Path, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("site")
    with zipfile.ZipFile(wheel) as z:
        z.extractall(root)
    return root


def test_the_wheel_installs_kgdx_only(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top == {"kgdx"}
    subpackages = {n.split("/")[1] for n in names if n.startswith("kgdx/") and n.count("/") >= 2}
    assert {"kg", "ingest", "synth", "encoders", "reasoning", "app"} <= subpackages
    assert not any(n.startswith(("tests/", "benchmarks/")) for n in names)


def test_the_wheel_carries_the_package_data(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
    expected = {
        f"kgdx/{p.relative_to(REPO).as_posix()}"
        for folder in (
            "kg/schemas",
            "kg/modules",
            "ingest/mappings",
            "encoders/model_configs",
            "encoders/pretrain_configs",
            "encoders/checkpoints",
            "reasoning/checkpoints",
        )
        for p in (REPO / folder).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    expected |= {
        f"kgdx/app/{p.relative_to(REPO / 'kgdx' / 'app').as_posix()}"
        for folder in ("neo4j_harness", "web/templates", "web/static")
        for p in (REPO / "kgdx" / "app" / folder).rglob("*")
        if p.is_file() and "target" not in p.parts
    }
    assert expected and not expected - names


def test_layers_hold_in_the_installed_package(unpacked: Path) -> None:
    """``lint-imports`` over the wheel's ``kgdx``: imports point down app → reasoning → encoders →
    synth/ingest → kg → base, function-local imports included (contracts in pyproject.toml)."""
    pytest.importorskip("importlinter")
    env = {**os.environ, "PYTHONPATH": str(unpacked)}
    r = subprocess.run(
        [
            sys.executable,
            "-c",
            "from importlinter.cli import lint_imports_command; lint_imports_command()",
            str(REPO / "pyproject.toml"),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=unpacked,
    )
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert "BROKEN" not in r.stdout and "Contracts: 3 kept, 0 broken." in r.stdout


def test_import_kgdx_is_light() -> None:
    """The front door loads no torch (nor networkx) until a model or store is first used."""
    code = (
        "import sys, kgdx; kgdx.__all__; print('torch' in sys.modules, 'networkx' in sys.modules);"
        "kgdx.KgdxError; kgdx.open_kg; print('torch' in sys.modules)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.split() == ["False", "False", "False"]


def test_front_door_names_resolve() -> None:
    import kgdx

    for name in kgdx.__all__:
        assert getattr(kgdx, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        kgdx.nope  # noqa: B018
