"""`kgdx kg ...`: build, load, query and export the knowledge graph."""

import typer

app = typer.Typer(help="Build, load, query and export the knowledge graph.", no_args_is_help=True)
