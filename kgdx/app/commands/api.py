"""`kgdx api …`: serve the HTTP API and manage its keys."""

from __future__ import annotations

import json
import os
from enum import Enum
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="Serve the HTTP API and manage its API keys.", no_args_is_help=True)
keys_app = typer.Typer(
    help="Make, list and revoke API keys (stored hashed in KGDX_HOME/api-keys.json).", no_args_is_help=True
)
app.add_typer(keys_app, name="keys")

_out = Console(highlight=False, soft_wrap=True)
_err = Console(stderr=True, highlight=False, soft_wrap=True)


class WebAccess(str, Enum):
    loopback = "loopback"
    key = "key"
    off = "off"


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    allow_loopback_without_key: Annotated[
        bool,
        typer.Option(
            "--allow-loopback-without-key",
            help="Let clients on 127.0.0.1/::1 in without an API key (KGDX_API_ALLOW_LOOPBACK_WITHOUT_KEY).",
        ),
    ] = False,
    web: Annotated[
        WebAccess | None,
        typer.Option(
            help="Who may use the web report at /ui: loopback clients only (no key; the default), clients "
            "with an API key, or nobody (KGDX_WEB_ACCESS)."
        ),
    ] = None,
) -> None:
    """Serve the HTTP API and the web report at /ui (uvicorn). Every API endpoint but /health needs
    an API key unless --allow-loopback-without-key is given, and then only for loopback clients;
    the start says which.

    Access logs are JSON lines on stderr (request id, method, path, status, duration, key id; no
    bodies, no query strings). Limits: KGDX_API_MAX_BODY_BYTES, KGDX_API_MAX_LIST_ITEMS,
    KGDX_API_MAX_NOTE_CHARS, KGDX_API_RATE_LIMIT (docs/security.md). Explanations are written
    from templates unless KGDX_LLM_PROVIDER names a chat model (docs/llm.md).
    """
    import logging

    import uvicorn

    from kgdx.app.api_keys import list_keys
    from kgdx.settings import get_settings

    if allow_loopback_without_key:
        os.environ["KGDX_API_ALLOW_LOOPBACK_WITHOUT_KEY"] = "true"
    if web is not None:
        os.environ["KGDX_WEB_ACCESS"] = web.value
    get_settings.cache_clear()
    s = get_settings()
    active = sum(k.active for k in list_keys())
    if s.api_allow_loopback_without_key:
        _err.print(
            f"[yellow]warning:[/] clients on loopback (127.0.0.1, ::1) need NO API key; "
            f"others need one of the {active} active keys."
        )
    else:
        _err.print(
            f"Every request needs an API key ({active} active"
            + ("; make one with `kgdx api keys add NAME`" if not active else "")
            + ")."
        )
    _err.print(f"Serving the kgdx API on http://{host}:{port} (docs at /docs; rate limit {s.api_rate_limit} per key).")
    try:
        import kgdx.app.web  # noqa: F401 - is the web extra installed?

        where = {"loopback": "loopback clients only, no key", "key": "with an API key", "off": "off"}[s.web_access]
        _err.print(f"Web report: http://{host}:{port}/ui ({where}; KGDX_WEB_ACCESS={s.web_access}).")
    except ImportError:
        _err.print('No web report: pip install "kgdx[web]".')
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    log = logging.getLogger("kgdx.api.access")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    uvicorn.run("kgdx.app.api:app", host=host, port=port, access_log=False, log_level="warning")


@keys_app.command("add")
def keys_add(
    name: Annotated[str, typer.Argument(help="A name for the key (who or what uses it).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Make an API key. It is printed once, now; only its hash is kept."""
    from kgdx.app.api_keys import add_key

    record, key = add_key(name)
    if as_json:
        print(json.dumps({**record.public(), "key": key}))
        return
    _out.print(f"API key {record.id} ({record.name}); keep it, it is not shown again:\n{key}")


@keys_app.command("list")
def keys_list(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List API keys (ids, names, dates; never the keys)."""
    from kgdx.app.api_keys import list_keys

    keys = list_keys()
    if as_json:
        print(json.dumps([k.public() for k in keys], indent=2))
        return
    table = Table("id", "name", "created", "revoked")
    for k in keys:
        table.add_row(k.id, k.name, k.created_at, k.revoked_at or "")
    _out.print(table if keys else "no API keys yet; make one with `kgdx api keys add NAME`")


@keys_app.command("revoke")
def keys_revoke(id_or_name: Annotated[str, typer.Argument(help="The key's id or name.")]) -> None:
    """Revoke an API key; it stops working at once."""
    from kgdx.app.api_keys import revoke_key

    k = revoke_key(id_or_name)
    _out.print(f"revoked API key {k.id} ({k.name})")
