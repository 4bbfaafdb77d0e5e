"""What an adapter returns: its records and the report of what it read, skipped and mapped."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from kgdx.ingest.report import SourceReport
from kgdx.kg.records import Edge, Node

__all__ = ["SourceRecords"]


@dataclass
class SourceRecords:
    """Nodes and edges read from one source, plus its :class:`~kgdx.ingest.report.SourceReport`.

    Iterating gives the nodes, then the edges, so the object can be handed straight to
    ``store.write(...)``; ``report.to_dict()`` goes into the build manifest.
    """

    nodes: list[Node]
    edges: list[Edge]
    report: SourceReport
    #: Ids that are not nodes but map to one (obsolete → replaced_by, alt_id → term).
    aliases: dict[str, str] = field(default_factory=dict)

    @classmethod
    def collect(cls, nodes: Iterable[Node], edges: Iterable[Edge], report: SourceReport) -> SourceRecords:
        """Nodes sorted by id and edges by (type, src, dst), so a source always yields the same
        order, with each type counted into ``report.records``."""
        node_list = sorted(nodes, key=lambda n: n.id)
        edge_list = sorted(edges, key=lambda e: (e.type, e.src, e.dst))
        for r in (*node_list, *edge_list):
            report.records[r.type] += 1
        return cls(node_list, edge_list, report)

    def records(self) -> Iterator[Node | Edge]:
        yield from self.nodes
        yield from self.edges

    def __iter__(self) -> Iterator[Node | Edge]:
        return self.records()
