"""Typed settings from ``KGDX_*`` environment variables (pydantic-settings).

Every default works on a laptop with no server: the embedded in-memory store, a home folder
under ``~/.kgdx``, and a Neo4j on 127.0.0.1 for when one is started with ``kgdx neo4j start``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "get_settings"]


class Settings(BaseSettings):
    """kgdx configuration. Each field reads the variable ``KGDX_<FIELD>``, e.g. ``KGDX_NEO4J_URI``."""

    model_config = SettingsConfigDict(env_prefix="KGDX_", extra="ignore")

    home: Path = Field(default=Path("~/.kgdx"), description="Root for snapshots, checkpoints and Neo4j data.")
    store: Literal["memory", "neo4j"] = Field(default="memory", description="The store commands use by default.")

    neo4j_uri: str = "bolt://127.0.0.1:7687"
    neo4j_user: str = "neo4j"
    neo4j_password: str = "kgdx-dev-password"
    neo4j_database: str = "neo4j"
    neo4j_port: int = Field(default=7687, description="Bolt port of the server that `kgdx neo4j start` launches.")
    neo4j_data_dir: Path | None = Field(
        default=None, description="Data folder of the launched server; default HOME/neo4j."
    )
    neo4j_heap: str = Field(default="2g", description="JVM heap of the launched server.")

    query_timeout_s: float = Field(default=30.0, gt=0, description="Timeout of user Cypher on the read-only path.")
    query_max_rows: int = Field(default=1000, gt=0, description="Row cap of user Cypher on the read-only path.")
    batch_size: int = Field(default=10_000, gt=0, description="Rows per transaction when writing to Neo4j.")

    ct_model: str | None = Field(
        default=None,
        description="CT encoder checkpoint (name or path) with a trained finding head, for cases with a CT and for "
        "`kgdx encode` of a volume (train one with `kgdx train-ct-head`); unset: no CT findings, and `kgdx encode` "
        "uses ct-tiny with seeded random weights, marked untrained.",
    )

    @property
    def home_dir(self) -> Path:
        return self.home.expanduser()

    @property
    def kg_dir(self) -> Path:
        """Where ``kgdx kg build`` writes the default KG snapshot."""
        return self.home_dir / "kg" / "default"

    @property
    def cache_dir(self) -> Path:
        """Caches that can be rebuilt at any time (e.g. the linker's vocabulary embeddings)."""
        return self.home_dir / "cache"

    @property
    def checkpoints_dir(self) -> Path:
        """Where encoder checkpoints are looked up by name, before the ones that ship with kgdx."""
        return self.home_dir / "checkpoints"

    @property
    def neo4j_dir(self) -> Path:
        return (self.neo4j_data_dir or self.home_dir / "neo4j").expanduser()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
