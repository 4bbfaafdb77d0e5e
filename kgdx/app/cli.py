"""The ``kgdx`` command line. Each command group lives in ``kgdx/app/commands/<group>.py``.

User errors (any :class:`kgdx.errors.KgdxError`) print one line on stderr and exit with status 1;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import logging
import os
import sys
import warnings
from typing import NoReturn

import typer

from kgdx.app.commands import api as api_commands
from kgdx.app.commands import encoders as encoder_commands
from kgdx.app.commands import kg as kg_commands
from kgdx.app.commands import neo4j as neo4j_commands
from kgdx.app.commands import reasoning as reasoning_commands
from kgdx.app.commands import synth as synth_commands
from kgdx.errors import DataWarning, KgdxError

# PyG's import calls torch.jit.script, which newer torch marks deprecated; that is for PyG to
# change, and a command's user cannot act on it.
warnings.filterwarnings("ignore", message=r"`torch\.jit\.script` is deprecated", category=FutureWarning)

app = typer.Typer(
    name="kgdx",
    help="Knowledge-graph-grounded clinical reasoning.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(kg_commands.app, name="kg")
app.add_typer(neo4j_commands.app, name="neo4j")
app.add_typer(api_commands.app, name="api")
app.command("serve")(api_commands.serve)  # the API and the web report: `kgdx api serve` by its short name
# Other groups register here, one line each.
app.command("synth")(synth_commands.synth)
app.command("pretrain")(encoder_commands.pretrain)
app.command("encode")(encoder_commands.encode)
app.command("train-ct-head")(encoder_commands.train_ct_head)
app.command("diagnose")(reasoning_commands.diagnose)
app.command("train")(reasoning_commands.train)
app.command("calibrate")(reasoning_commands.calibrate)
app.add_typer(reasoning_commands.evaluate_app, name="evaluate")


@functools.cache
def _command() -> typer.core.TyperGroup:
    """The click command typer builds from the commands' signatures (about 0.1 s), built once, so
    a process that runs several commands (a test, a notebook, the security battery) pays it once."""
    return typer.main.get_command(app)


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    if issubclass(category, DataWarning):
        print(f"kgdx: warning: {' '.join(str(message).split())}", file=sys.stderr)
    else:
        _show_warning(message, category, filename, lineno, file, line)


_show_warning = warnings.showwarning


def main(*, hard_exit: bool | None = None) -> None:
    """Entry point of the ``kgdx`` script (and ``python -m kgdx``): run the command and exit with
    its status.

    Args:
        hard_exit: Once torch is loaded, end the process without tearing the interpreter down
            (see :func:`_exit`). ``None`` (default): only when the program's own top-level script
            called ``main``, that is, when ending the process is what comes next anyway; a caller
            that runs a command inside its own process (a test, a notebook) gets ``SystemExit``.
    """
    if hard_exit is None:
        caller = sys._getframe(1).f_code.co_filename
        hard_exit = bool(sys.argv and sys.argv[0]) and os.path.realpath(caller) == os.path.realpath(sys.argv[0])
    warnings.showwarning = _one_line_warning
    # The Neo4j driver logs a cut or lost connection itself; kgdx reports it as its one line.
    logging.getLogger("neo4j").addHandler(logging.NullHandler())
    code: int | str | None = 0
    try:
        _command()()
    except SystemExit as e:  # how typer ends every command
        code = e.code
    except KgdxError as e:
        print(f"kgdx: error: {e.one_line()}", file=sys.stderr)
        code = 1
    except KeyboardInterrupt:
        print("kgdx: interrupted", file=sys.stderr)
        code = 130
    if not hard_exit:
        sys.exit(code)
    _exit(code)


def _exit(code: int | str | None) -> NoReturn:
    """Exit with ``code`` as ``sys.exit`` would, but, once torch is loaded, without tearing the
    interpreter down.

    With PyPI's CUDA build of torch, freeing every object at exit takes about a third of a second
    and touches some 120 MB more memory than the command itself needed, which is what a cold
    ``kgdx diagnose`` was measured by. Everything that must happen at exit still happens: the
    ``atexit`` hooks run (logging's flush, temporary folders' cleanup) and the streams are flushed;
    only the freeing, which the operating system does anyway, is skipped.
    """
    if "torch" not in sys.modules:
        sys.exit(code)
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe ("| head"): nothing more to write
            stream.flush()
    os._exit(code or 0)
