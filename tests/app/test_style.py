"""Lint and format (ruff, configured in pyproject.toml) are part of the test run, so CI checks them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _ruff() -> list[str]:
    exe = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    if not Path(exe).is_file():
        pytest.fail("ruff is not installed: pip install -e '.[dev]'")
    return [exe]


@pytest.mark.parametrize(
    "args", [["check", "--no-cache", "."], ["format", "--no-cache", "--check", "."]], ids=["lint", "format"]
)
def test_ruff(args: list[str]) -> None:
    r = subprocess.run([*_ruff(), *args], cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
