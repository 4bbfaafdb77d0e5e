"""What an adapter read: the source, its version and files, and what it skipped or mapped.

The build collects one :class:`SourceReport` per source into the snapshot's manifest, so every
count in the KG can be traced to a file with a hash, and every lenient skip is visible.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["SourceReport", "sha256"]


def sha256(path: str | Path) -> str:
    """The SHA-256 of a file, read in chunks."""
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class SourceReport:
    """One source of a build: name, version, files and counts.

    ``skipped`` counts lines left out by lenient parsing, by reason; ``mapped`` counts ids that
    were rewritten (an obsolete id to its replacement, say); ``examples`` keeps the first few
    skipped lines (file:line) per reason so a user can look.
    """

    name: str
    version: str | None = None
    release_date: str | None = None
    files: dict[str, str] = field(default_factory=dict)
    records: Counter = field(default_factory=Counter)
    skipped: Counter = field(default_factory=Counter)
    mapped: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def add_file(self, path: str | Path) -> None:
        self.files[Path(path).name] = sha256(path)

    def skip(self, reason: str, where: str | None = None) -> None:
        self.skipped[reason] += 1
        if where is not None and len(self.examples.setdefault(reason, [])) < 3:
            self.examples[reason].append(where)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "release_date": self.release_date,
            "files": dict(sorted(self.files.items())),
            "records": dict(sorted(self.records.items())),
            "skipped": dict(sorted(self.skipped.items())),
            "mapped": dict(sorted(self.mapped.items())),
            "examples": self.examples,
        }
