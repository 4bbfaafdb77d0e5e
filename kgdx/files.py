"""Opening input files, with the one typed error kgdx gives for any file it cannot read.

Text may come in any encoding: UTF-8 (with or without a BOM) is read as it is, UTF-16/32 by their
BOM, and anything else is detected with ``charset-normalizer``. A file that is not text (binary
data, or bytes no encoding explains) is refused with a one-line :class:`~kgdx.errors.DataError`
naming it, never a ``UnicodeDecodeError``. JSON is parsed with a nesting limit for the same reason:
deeply nested input gives a one-line error, not a ``RecursionError``.
"""

from __future__ import annotations

import codecs
import json
import unicodedata
from pathlib import Path
from typing import Any, TextIO

from kgdx.errors import DataError, KgdxError

__all__ = ["open_text", "read_text", "decode_text", "parse_json", "json_depth", "MAX_JSON_DEPTH"]

#: Deepest nesting of JSON objects and arrays kgdx reads (phenopackets nest about 8 levels).
MAX_JSON_DEPTH = 100
# Bytes looked at to choose the encoding of a file that is streamed.
_SNIFF_BYTES = 1 << 16
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# Share of control characters (other than tab, newline, carriage return, form feed) above which
# decoded "text" is taken to be binary data that some 8-bit code page happened to map.
_MAX_CONTROL_SHARE = 0.01


def _where(what: str | None) -> str:
    return f" the {what}" if what else ""


def _encoding_of(data: bytes, *, complete: bool) -> str | None:
    """The encoding of ``data`` (``None``: not text). ``complete``: ``data`` is the whole file."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            return name
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as e:
        if not complete and e.start >= len(data) - 3:  # a character cut by the sniff window
            return "utf-8"
    if b"\x00" in data:  # UTF-16/32 without a BOM is rare in clinical text; binary is not
        return None
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    return best.encoding if best is not None else None


def _looks_binary(text: str) -> bool:
    if not text:
        return False
    controls = sum(1 for ch in text if ch not in "\t\n\r\f" and unicodedata.category(ch) == "Cc")
    return controls > _MAX_CONTROL_SHARE * len(text)


def decode_text(
    data: bytes, *, file: str | Path | None = None, what: str | None = None, error: type[KgdxError] = DataError
) -> str:
    """``data`` as text in whatever encoding it is in.

    Raises:
        DataError: (or ``error``) the bytes are not text.
    """
    encoding = _encoding_of(data, complete=True)
    if encoding is None:
        raise error(f"cannot read{_where(what)}: not text (binary data, or an encoding kgdx cannot tell)", file=file)
    try:
        text = data.decode(encoding)
    except (UnicodeDecodeError, LookupError) as e:
        raise error(f"cannot read{_where(what)}: not valid {encoding} text ({e})", file=file) from None
    if _looks_binary(text):
        raise error(f"cannot read{_where(what)}: not text (it holds binary control characters)", file=file)
    return text


def open_text(
    path: str | Path, *, what: str | None = None, newline: str | None = None, error: type[KgdxError] = DataError
) -> TextIO:
    """``path`` opened as text, in the encoding its first 64 KiB show (UTF-8 by default).

    Raises:
        DataError: (or ``error``) "cannot read [the <what>]: <reason>", naming the file.
    """
    path = Path(path)
    try:
        with path.open("rb") as f:
            head = f.read(_SNIFF_BYTES)
        encoding = _encoding_of(head, complete=len(head) < _SNIFF_BYTES)
        if encoding is None:
            raise error(
                f"cannot read{_where(what)}: not text (binary data, or an encoding kgdx cannot tell)", file=path
            )
        return path.open(encoding=encoding, newline=newline)
    except OSError as e:
        raise error(f"cannot read{_where(what)}: {e.strerror or e}", file=path) from None


def read_text(
    path: str | Path, *, what: str | None = None, error: type[KgdxError] = DataError, max_bytes: int | None = None
) -> str:
    """The whole of ``path`` as text, in whatever encoding it is in (see :func:`decode_text`).

    Args:
        max_bytes: Refuse a larger file (before reading it).
    """
    path = Path(path)
    try:
        if max_bytes is not None and path.stat().st_size > max_bytes:
            raise error(
                f"cannot read{_where(what)}: {path.stat().st_size:,} bytes, more than the {max_bytes:,} allowed",
                file=path,
            )
        data = path.read_bytes()
    except OSError as e:
        raise error(f"cannot read{_where(what)}: {e.strerror or e}", file=path) from None
    return decode_text(data, file=path, what=what, error=error)


def json_depth(value: Any) -> int:
    """How deeply objects and arrays nest in ``value`` (a scalar is 0), without recursion."""
    depth, stack = 0, [(value, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict):
            depth = max(depth, d)
            stack.extend((x, d + 1) for x in v.values())
        elif isinstance(v, list):
            depth = max(depth, d)
            stack.extend((x, d + 1) for x in v)
    return depth


def parse_json(
    text: str | bytes,
    *,
    file: str | Path | None = None,
    what: str | None = None,
    max_depth: int = MAX_JSON_DEPTH,
    error: type[KgdxError] = DataError,
) -> Any:
    """``text`` parsed as JSON, nested at most ``max_depth`` levels.

    Raises:
        DataError: (or ``error``) invalid JSON (with its line), or nesting that is too deep.
    """
    if isinstance(text, bytes):
        text = decode_text(text, file=file, what=what, error=error)
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise error(f"invalid JSON{_where(what) and ' in' + _where(what)}: {e.msg}", file=file, line=e.lineno) from None
    except RecursionError:
        raise error(f"JSON nested too deeply (kgdx reads at most {max_depth} levels)", file=file) from None
    depth = json_depth(value)
    if depth > max_depth:
        raise error(f"JSON nested {depth} levels deep; kgdx reads at most {max_depth}", file=file)
    return value
