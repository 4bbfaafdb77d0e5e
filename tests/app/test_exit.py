"""The ``kgdx`` script's exit: the status and the exit hooks of a normal exit, without the teardown."""

from __future__ import annotations

import os
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


def test_main_called_inside_a_process_raises_system_exit_after_torch() -> None:
    """A test or a notebook that runs a command in its own process keeps its process."""
    import torch  # noqa: F401 - loaded, as after any command that ranks

    from kgdx.app import cli

    old = sys.argv
    sys.argv = ["kgdx", "--help"]
    try:
        with pytest.raises(SystemExit) as e:
            cli.main()
    finally:
        sys.argv = old
    assert e.value.code == 0


def test_the_script_exits_fast_with_its_status(tmp_path) -> None:
    """``python -m kgdx`` is the program itself: a usage error still exits 2, a bad file 1."""
    r = subprocess.run(
        [sys.executable, "-m", "kgdx", "diagnose", "-k", "0", "x.json"], capture_output=True, timeout=120
    )
    assert r.returncode == 2
    home = tmp_path / "home"  # no KG there: a missing file is reported before any KG is built
    r = subprocess.run(
        [sys.executable, "-m", "kgdx", "diagnose", str(tmp_path / "none.json")],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "KGDX_HOME": str(home)},
    )
    assert r.returncode == 1 and r.stderr.startswith("kgdx: error: "), r.stderr
    assert "none.json: cannot read the phenopacket" in r.stderr and not home.exists()
