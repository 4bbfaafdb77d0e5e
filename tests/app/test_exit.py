"""The ``kgdx`` script's exit: the status and the exit hooks of a normal exit, without the teardown."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(("code", "status", "stderr"), [("3", 3, ""), ("None", 0, ""), ("'no data'", 1, "no data")])
def test_exit_after_torch_keeps_status_hooks_and_output(code: str, status: int, stderr: str) -> None:
    script = (
        "import atexit, torch; from kgdx.app import cli;"
        "atexit.register(lambda: print('hook ran', flush=False));"
        f"print('answer', end='');  cli._exit({code})"
    )
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert r.returncode == status
    assert r.stdout == "answerhook ran\n"  # buffered output is flushed, after the exit hooks
    assert r.stderr.strip() == stderr
