"""What an adapter returns: its records and the report of what it read, skipped and mapped."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from kg.records import Edge, Node
from ingest.report import SourceReport

__all__ = ["SourceRecords"]


@dataclass
class SourceRecords:
    """Nodes and edges read from one source, plus its :class:`~ingest.report.SourceReport`.

    Iterating gives the nodes, then the edges, so the object can be handed straight to
    ``store.write(...)``; ``report.to_dict()`` goes into the build manifest.
    """

    nodes: list[Node]
    edges: list[Edge]
    report: SourceReport
    #: Ids that are not nodes but map to one (obsolete → replaced_by, alt_id → term).
    aliases: dict[str, str] = field(default_factory=dict)

    def records(self) -> Iterator[Node | Edge]:
        yield from self.nodes
        yield from self.edges

    def __iter__(self) -> Iterator[Node | Edge]:
        return self.records()
