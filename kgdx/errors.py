"""One exception tree for all of kgdx.

Every error a user can cause derives from :class:`KgdxError`, so the CLI can print its message as
one line and exit non-zero without a traceback, while programming errors still surface in full.
Errors that come from a file say where: the file, the line and the field or key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = [
    "KgdxError",
    "SchemaError",
    "DataError",
    "RecordError",
    "StoreError",
    "ReadOnlyQueryError",
    "ModelError",
    "ConfigError",
    "DataWarning",
]


def _where(file: str | Path | None, line: int | None, field: str | None) -> str:
    parts = []
    if file is not None:
        parts.append(f"{file}:{line}" if line is not None else str(file))
    elif line is not None:
        parts.append(f"line {line}")
    if field:
        parts.append(field)
    return ": ".join(parts)


class KgdxError(Exception):
    """Root of every error a user can cause: bad input, bad config, an unreachable store.

    Args:
        message: What went wrong, in one sentence.
        file: The file the problem comes from, if any.
        line: The 1-based line in ``file``, if known.
        field: The key, column or property at fault, if known.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.message = message
        self.file = str(file) if file is not None else None
        self.line = line
        self.field = field
        where = _where(file, line, field)
        super().__init__(f"{where}: {message}" if where else message)

    def one_line(self) -> str:
        """The message on a single line, as the CLI prints it."""
        return " ".join(str(self).split())


class SchemaError(KgdxError):
    """A schema or module definition is invalid or conflicts with the current schema."""


class DataError(KgdxError):
    """Input data (an ontology file, a phenopacket, a volume, a report) cannot be used."""


class RecordError(DataError):
    """A node or edge record breaks the schema; it names the record as well as the place."""

    def __init__(self, message: str, *, record: Any = None, **where: Any) -> None:
        self.record = record
        super().__init__(message, **where)


class StoreError(KgdxError):
    """A store cannot be reached or refused an operation."""


class ReadOnlyQueryError(StoreError):
    """A query on the read-only Cypher path would write, change the schema or administer."""


class ModelError(KgdxError):
    """A model, config or checkpoint cannot be built or loaded."""


class ConfigError(KgdxError):
    """Settings or command-line options are inconsistent."""


class DataWarning(UserWarning):
    """Input that kgdx accepted after a repair the user should know about (e.g. a duplicate
    DICOM slice that was dropped). The CLI prints it as one ``kgdx: warning:`` line."""
