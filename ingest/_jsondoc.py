"""Large JSON documents read element by element, each with the line it starts on.

``json.load`` says nothing about where a value came from, so an error in the 40 000th node of an
ontology could not name its line. :class:`JsonDoc` walks the outer containers itself and hands
each inner element to the C decoder (``raw_decode``), so it keeps the stdlib's speed and still
knows every element's line. Files ending in ``.gz``, ``.bz2`` or ``.xz`` are decompressed
(Hetionet ships as ``hetionet-v1.0.json.bz2``).

Example:
    >>> doc = JsonDoc("hetionet-v1.0.json")  # doctest: +SKIP
    >>> for path, value, line in doc.walk(lambda p: {(): "{", ("nodes",): "["}.get(p)):  # doctest: +SKIP
    ...     ...
"""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import re
from collections.abc import Callable, Generator, Iterator
from json.decoder import JSONDecodeError, scanstring
from pathlib import Path
from typing import Any

from kgdx.errors import DataError

__all__ = ["JsonDoc", "JsonPath", "path_text"]

#: Where a value sits in a document: object keys and array indexes from the root.
JsonPath = tuple[str | int, ...]

_WS = re.compile(r"[ \t\n\r]*")
_OPENERS = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}


def path_text(path: JsonPath) -> str:
    """``("graphs", 0, "nodes")`` as ``graphs[0].nodes``, for error messages."""
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else p)
    return out


def _read_text(path: Path) -> str:
    opener = _OPENERS.get(path.suffix.lower())
    try:
        if opener is None:
            return path.read_text(encoding="utf-8")
        with opener(path, "rt", encoding="utf-8") as f:
            return f.read()
    except UnicodeDecodeError as e:
        raise DataError(f"not UTF-8 text ({e.reason} at byte {e.start})", file=path) from None
    except (OSError, EOFError, lzma.LZMAError) as e:
        raise DataError(f"cannot read: {getattr(e, 'strerror', None) or e}", file=path) from None


class JsonDoc:
    """A JSON file held as text, walked with line numbers.

    Args:
        path: The file; ``.gz``/``.bz2``/``.xz`` are decompressed.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.text = _read_text(self.path)
        self._decoder = json.JSONDecoder()
        self._pos = 0
        self._line = 1

    def line_at(self, pos: int) -> int:
        """The 1-based line of character ``pos`` (fast when positions only grow)."""
        if pos < self._pos:
            return self.text.count("\n", 0, pos) + 1
        self._line += self.text.count("\n", self._pos, pos)
        self._pos = pos
        return self._line

    def error(self, message: str, pos: int, field: str | None = None) -> DataError:
        return DataError(message, file=self.path, line=self.text.count("\n", 0, pos) + 1, field=field)

    def walk(self, descend: Callable[[JsonPath], str | None]) -> Iterator[tuple[JsonPath, Any, int]]:
        """Yield ``(path, value, line)`` for every value the walk does not descend into.

        Args:
            descend: Called with each path reached; return ``"{"`` or ``"["`` to walk into the
                object or array there (it must be one), or ``None`` to decode it whole.

        Raises:
            DataError: for invalid JSON, or a container of the wrong kind, naming the line.
        """
        end = yield from self._walk(_WS.match(self.text, 0).end(), (), descend)
        end = _WS.match(self.text, end).end()
        if end != len(self.text):
            raise self.error("extra data after the JSON document", end)

    def _walk(
        self, pos: int, path: JsonPath, descend: Callable[[JsonPath], str | None]
    ) -> Generator[tuple[JsonPath, Any, int], None, int]:
        text = self.text
        want = descend(path)
        if want is None:
            try:
                value, end = self._decoder.raw_decode(text, pos)
            except JSONDecodeError as e:
                raise self.error(f"invalid JSON: {e.msg}", e.pos) from None
            yield path, value, self.line_at(pos)
            return end
        kind = "an object" if want == "{" else "a list"
        if not text.startswith(want, pos):
            raise self.error(f"'{path_text(path) or 'the document'}' must be {kind}", pos, path_text(path) or None)
        close = "}" if want == "{" else "]"
        pos = _WS.match(text, pos + 1).end()
        if text.startswith(close, pos):
            return pos + 1
        index = 0
        while True:
            if want == "{":
                if not text.startswith('"', pos):
                    raise self.error("invalid JSON: expected a key in double quotes", pos)
                try:
                    key, pos = scanstring(text, pos + 1)
                except JSONDecodeError as e:
                    raise self.error(f"invalid JSON: {e.msg}", e.pos) from None
                pos = _WS.match(text, pos).end()
                if not text.startswith(":", pos):
                    raise self.error("invalid JSON: expected ':' after a key", pos)
                pos = _WS.match(text, pos + 1).end()
                sub: JsonPath = (*path, key)
            else:
                sub = (*path, index)
            pos = yield from self._walk(pos, sub, descend)
            pos = _WS.match(text, pos).end()
            index += 1
            if text.startswith(",", pos):
                pos = _WS.match(text, pos + 1).end()
            elif text.startswith(close, pos):
                return pos + 1
            else:
                raise self.error(f"invalid JSON: expected ',' or '{close}'", pos)
