"""`kgdx neo4j start|stop|status`: a local Neo4j from Neo4j's own test harness."""

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="Start, stop and inspect a local Neo4j 5.26 (test harness).", no_args_is_help=True)

_out = Console(highlight=False, soft_wrap=True)
_err = Console(stderr=True, highlight=False, soft_wrap=True)


@app.command()
def start(
    port: Annotated[
        int | None,
        typer.Option("--port", help="Bolt port on 127.0.0.1.", show_default="KGDX_NEO4J_PORT or 7687"),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            help="Data folder of the server, kept across restarts.",
            show_default="KGDX_HOME/neo4j/db",
        ),
    ] = None,
    wait: Annotated[float, typer.Option("--wait", help="Seconds to wait for Bolt to answer before giving up.")] = 120.0,
) -> None:
    """Start Neo4j in the background and wait until Bolt answers.

    The first start builds a small launcher with Maven and downloads Neo4j 5.26 and APOC from Maven Central (once, into ~/.m2).

    Does nothing if the server already runs. It listens on 127.0.0.1 only, with auth disabled.
    """
    from kgdx.app import neo4j_server

    st = neo4j_server.start(port=port, data_dir=data_dir, wait_s=wait, console=_err)
    apoc = f"APOC {st.apoc_version}" if st.apoc else "no APOC"
    _out.print(f"[green]Neo4j {st.version or '?'} ready[/] at {st.uri} (pid {st.pid}, {apoc}, data {st.data_dir})")


@app.command()
def stop(
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds to wait for a clean shutdown before SIGKILL.")
    ] = 60.0,
) -> None:
    """Stop the Neo4j that `kgdx neo4j start` launched (SIGTERM, then SIGKILL after --timeout)."""
    from kgdx.app import neo4j_server

    neo4j_server.stop(timeout_s=timeout, console=_err)


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print the status as one JSON object.")] = False,
) -> None:
    """Show whether the local Neo4j runs, its pid, Bolt URI, version and whether APOC loaded."""
    from kgdx.app import neo4j_server

    st = neo4j_server.status()
    if as_json:
        print(json.dumps(st.to_dict()))
        return
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("running", "[green]yes[/]" if st.running else "[red]no[/]")
    if st.running:
        table.add_row("pid", str(st.pid))
    table.add_row("uri", st.uri)
    if st.running:
        table.add_row("version", f"{st.version} ({st.edition})" if st.version else "[yellow]Bolt not answering[/]")
        if st.apoc is not None:
            table.add_row("apoc", st.apoc_version if st.apoc else "not loaded")
    table.add_row("data", st.data_dir or "")
    table.add_row("log", st.log or "")
    _out.print(table)
