"""Opening input files, with the one typed error kgdx gives for any file it cannot read."""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from kgdx.errors import DataError, KgdxError

__all__ = ["open_text", "read_text"]


def open_text(
    path: str | Path, *, what: str | None = None, newline: str | None = None, error: type[KgdxError] = DataError
) -> TextIO:
    """``path`` opened as UTF-8 text.

    Raises:
        DataError: (or ``error``) "cannot read [the <what>]: <reason>", naming the file.
    """
    path = Path(path)
    try:
        return path.open(encoding="utf-8", newline=newline)
    except OSError as e:
        raise error(f"cannot read{f' the {what}' if what else ''}: {e.strerror or e}", file=path) from None


def read_text(path: str | Path, *, what: str | None = None, error: type[KgdxError] = DataError) -> str:
    """The whole of ``path`` as UTF-8 text; errors as :func:`open_text`."""
    with open_text(path, what=what, error=error) as f:
        return f.read()
