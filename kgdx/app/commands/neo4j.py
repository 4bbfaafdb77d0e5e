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
    read_only: Annotated[
        bool | None,
        typer.Option(
            "--read-only/--read-write",
            help="Make every database read-only for every client (Community has no read-only role).",
            show_default="KGDX_NEO4J_READ_ONLY or --read-write",
        ),
    ] = None,
) -> None:
    """Start Neo4j in the background and wait until Bolt answers.

    The first start builds a small launcher with Maven and downloads Neo4j 5.26 and APOC from Maven Central (once, into ~/.m2).

    Does nothing if the server already runs. It listens on 127.0.0.1 only, with auth on: the user
    neo4j has a password generated on the first start, kept in KGDX_HOME/neo4j-password (mode
    0600). LOAD CSV cannot read files, only read-only APOC helpers load, and one transaction may
    use at most KGDX_NEO4J_TX_MEMORY of heap (docs/security.md).
    """
    from kgdx.app import neo4j_server

    st = neo4j_server.start(port=port, data_dir=data_dir, wait_s=wait, read_only=read_only, console=_err)
    apoc = f"APOC {st.apoc_version}" if st.apoc else "no APOC"
    mode = ", every database read-only" if st.read_only else ""
    _out.print(
        f"[green]Neo4j {st.version or '?'} ready[/] at {st.uri} (pid {st.pid}, {apoc}, data {st.data_dir}; "
        f"user neo4j, password in {st.password_file}{mode})"
    )


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
    if st.running:
        table.add_row("auth", f"on (password in {st.password_file})" if st.auth else "off")
        table.add_row("read-only", "yes" if st.read_only else "no")
    table.add_row("data", st.data_dir or "")
    table.add_row("log", st.log or "")
    _out.print(table)
