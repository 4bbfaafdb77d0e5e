"""API keys of the HTTP API: made, listed, revoked and checked; only their hashes are stored.

A key is ``kgdx_<id>_<secret>``: ``id`` (8 hex digits) names it in lists and logs, ``secret`` is
32 random bytes (``secrets.token_urlsafe``). The file ``$KGDX_HOME/api-keys.json`` (mode 0600)
keeps each key's id, name, creation and revocation times and the SHA-256 of the whole key, never
the key itself, which is shown once, when it is made. A slow password hash (argon2, bcrypt) is for
guessable secrets; a 256-bit random secret cannot be guessed, so one SHA-256 is enough, and a
request is checked in microseconds. Comparison is constant-time.

Example:
    >>> info, key = add_key("notebook")          # doctest: +SKIP
    >>> verify_key(key).id == info.id            # doctest: +SKIP
    True
    >>> revoke_key(info.id)                      # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from kgdx.errors import ConfigError
from kgdx.settings import get_settings

__all__ = ["ApiKey", "add_key", "list_keys", "revoke_key", "verify_key", "keys_file"]

_KEY_RE = re.compile(r"^kgdx_([0-9a-f]{8})_([A-Za-z0-9_-]{20,100})$")
_NAME_RE = re.compile(r"^[\w .@:-]{1,64}$")


@dataclass(frozen=True)
class ApiKey:
    """One key as stored: no secret, only its hash."""

    id: str
    name: str
    created_at: str
    sha256: str
    revoked_at: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def public(self) -> dict[str, str | bool | None]:
        """What `kgdx api keys list` shows (no hash)."""
        return {
            "id": self.id,
            "name": self.name,
            "created_at": self.created_at,
            "revoked_at": self.revoked_at,
            "active": self.active,
        }


def keys_file() -> Path:
    return get_settings().home_dir / "api-keys.json"


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _load(path: Path) -> list[ApiKey]:
    if not path.is_file():
        return []
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        return [ApiKey(**k) for k in doc["keys"]]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ConfigError(f"cannot read the API keys: {e}", file=path) from None


def _save(path: Path, keys: list[ApiKey]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump({"keys": [asdict(k) for k in keys]}, f, indent=2)
        f.write("\n")
    tmp.replace(path)  # atomic: a reader sees the old file or the new one


def add_key(name: str) -> tuple[ApiKey, str]:
    """Make a key named ``name``; returns its record and the key itself (shown only now)."""
    if not _NAME_RE.match(name):
        raise ConfigError(f"an API key name is 1 to 64 letters, digits, spaces or ._@:- (got {name!r})")
    path = keys_file()
    keys = _load(path)
    if any(k.name == name and k.active for k in keys):
        raise ConfigError(f"an active API key is already named {name!r}; revoke it or choose another name")
    taken = {k.id for k in keys}
    key_id = secrets.token_hex(4)
    while key_id in taken:
        key_id = secrets.token_hex(4)
    key = f"kgdx_{key_id}_{secrets.token_urlsafe(32)}"
    record = ApiKey(key_id, name, _now(), _digest(key))
    _save(path, [*keys, record])
    _CACHE.clear()
    return record, key


def list_keys() -> list[ApiKey]:
    return _load(keys_file())


def revoke_key(id_or_name: str) -> ApiKey:
    """Revoke the active key with this id or name; it stops working at once."""
    path = keys_file()
    keys = _load(path)
    hits = [k for k in keys if k.active and id_or_name in (k.id, k.name)]
    if not hits:
        raise ConfigError(f"no active API key with id or name {id_or_name!r} (see `kgdx api keys list`)")
    revoked = ApiKey(**{**asdict(hits[0]), "revoked_at": _now()})
    _save(path, [revoked if k is hits[0] else k for k in keys])
    _CACHE.clear()
    return revoked


# (path, mtime_ns, size) -> keys: the file is re-read only when it changes.
_CACHE: dict[tuple[str, int, int], dict[str, ApiKey]] = {}


def verify_key(key: str) -> ApiKey | None:
    """The active key that ``key`` is, or ``None``."""
    m = _KEY_RE.match(key or "")
    if not m:
        return None
    path = keys_file()
    try:
        st = path.stat()
    except OSError:
        return None
    cache_key = (str(path), st.st_mtime_ns, st.st_size)
    by_id = _CACHE.get(cache_key)
    if by_id is None:
        _CACHE.clear()
        by_id = {k.id: k for k in _load(path) if k.active}
        _CACHE[cache_key] = by_id
    record = by_id.get(m.group(1))
    if record is None or not hmac.compare_digest(record.sha256, _digest(key)):
        return None
    return record
