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
    neo4j_password: str | None = Field(
        default=None,
        description="Neo4j password; unset: the one `kgdx neo4j start` generated in HOME/neo4j-password (mode 0600).",
    )
    neo4j_database: str = "neo4j"
    neo4j_port: int = Field(default=7687, description="Bolt port of the server that `kgdx neo4j start` launches.")
    neo4j_data_dir: Path | None = Field(
        default=None, description="Data folder of the launched server; default HOME/neo4j."
    )
    neo4j_heap: str = Field(default="2g", description="JVM heap of the launched server.")
    neo4j_tx_memory: str = Field(
        default="512m",
        description="Most heap one transaction may use on the launched server (db.memory.transaction.max).",
    )
    neo4j_read_only: bool = Field(
        default=False, description="Start the local server with every database read-only, for every client."
    )

    query_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description="Timeout of user Cypher on the read-only path (a ceiling: callers can only lower it).",
    )
    query_max_rows: int = Field(
        default=1000, gt=0, description="Row cap of user Cypher on the read-only path (a ceiling)."
    )
    query_max_bytes: int = Field(
        default=16_000_000, gt=0, description="Cap on the JSON size of a user query's rows (a ceiling)."
    )
    batch_size: int = Field(default=10_000, gt=0, description="Rows per transaction when writing to Neo4j.")

    api_allow_loopback_without_key: bool = Field(
        default=False,
        description="HTTP API: serve clients on 127.0.0.1/::1 without an API key (`kgdx api serve` says so at start).",
    )
    api_rate_limit: str = Field(
        default="120/minute", description="HTTP API: requests per API key (per client address without one)."
    )
    api_max_body_bytes: int = Field(
        default=2_000_000, gt=0, description="HTTP API: largest request body, refused before it is read."
    )
    api_max_list_items: int = Field(default=1000, gt=0, description="HTTP API: most items in a list of ids.")
    api_max_note_chars: int = Field(default=100_000, gt=0, description="HTTP API: longest clinical note.")

    llm_provider: Literal["none", "ollama", "openai"] = Field(
        default="none",
        description="Chat model that writes explanations: none (the deterministic templates, no network), ollama "
        "(a local Ollama server; pip install langchain-ollama) or openai (any OpenAI-compatible server, e.g. "
        "llama.cpp's or vLLM's, at KGDX_LLM_BASE_URL; pip install langchain-openai).",
    )
    llm_model: str | None = Field(default=None, description="The chat model's name on that server, e.g. llama3.2.")
    llm_base_url: str | None = Field(
        default=None, description="The server's URL, e.g. http://127.0.0.1:11434 (Ollama) or http://127.0.0.1:8080/v1."
    )
    llm_mode: Literal["flag", "reject"] = Field(
        default="flag",
        description="What happens to a generated sentence that no verified KG path supports: flag it, or drop it.",
    )
    web_access: Literal["loopback", "key", "off"] = Field(
        default="loopback",
        description="Who may use the web report at /ui: loopback clients only (no key), clients with an API key "
        "(entered once on the page, kept in an HttpOnly cookie), or nobody.",
    )

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

    @property
    def neo4j_password_file(self) -> Path:
        """The password `kgdx neo4j start` generates for the local server (mode 0600)."""
        return self.home_dir / "neo4j-password"

    def neo4j_auth(self) -> tuple[str, str]:
        """(user, password): ``KGDX_NEO4J_PASSWORD`` if set, else the generated password file.

        With neither, the password is empty and a server with auth on refuses it (the error says
        how to fix that).
        """
        if self.neo4j_password is not None:
            return self.neo4j_user, self.neo4j_password
        try:
            return self.neo4j_user, self.neo4j_password_file.read_text(encoding="utf-8").strip()
        except OSError:
            return self.neo4j_user, ""


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
