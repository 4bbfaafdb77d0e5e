"""`kgdx neo4j start|stop|status`: a local Neo4j from Neo4j's own test harness."""

import typer

app = typer.Typer(help="Start, stop and inspect a local Neo4j 5.26 (test harness).", no_args_is_help=True)
