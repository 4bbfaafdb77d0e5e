"""Explanations: the KG paths behind each ranked disease, checked against the store.

The model's score is a sum of per-finding contributions (:meth:`EvidenceGNN.attribute`), so the
explanation starts from the findings that moved a disease most, up or down. For each it rebuilds
the KG path the evidence travelled (finding –IS_A→ shared term ←IS_A– annotated term
←HAS_PHENOTYPE– disease), never passing a node twice, fetches every edge from the store with its
provenance, and writes the Cypher that returns it from Neo4j. A path is verified only if that Cypher
returns it (Neo4j) or its exact edges are there (in memory). What argues
against a disease is shown the same way: excluded findings the disease usually has, findings the
disease is known to lack, and frequent features of the disease that the patient does not report.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kgdx.kg.queries import path_match
from kgdx.kg.records import Edge, Node
from kgdx.kg.vocab import NodeLabel, RelType

if TYPE_CHECKING:
    from kgdx.reasoning.diagnoser import Diagnoser
    from kgdx.reasoning.results import RankedDisease, Ranking

__all__ = ["EvidencePath", "DiseaseExplanation", "Explanation", "explain", "verify_in_neo4j"]


@dataclass
class EvidencePath:
    """One claim and the KG path that backs it, starting at the patient's finding (or, for an
    expected-but-absent feature, at the feature).

    ``forward[i]`` says whether ``edges[i]`` points along the path.
    """

    claim: str  # "supports" | "against"
    kind: str  # "observed" | "similar" | "excluded" | "contradicted" | "expected-absent" | "gene"
    contribution: float | None
    nodes: list[Node]
    edges: list[Edge]
    forward: list[bool]
    verified: bool = False
    # kind "similar": the patient's finding and its cosine similarity to the path's first node, the
    # disease's annotated phenotype nearest to it in text (kgdx.reasoning.similar). That step is
    # the model's, not a KG edge, so the path (its Cypher, what "verified" checks) starts there.
    similar_to: tuple[Node, float] | None = None

    @property
    def cypher(self) -> str:
        return path_match([(n.type, n.id) for n in self.nodes], [(e.type, f) for e, f in zip(self.edges, self.forward)])

    def text(self) -> str:
        parts = [f"{self.nodes[0].name} ({self.nodes[0].id})"]
        for node, edge, fwd in zip(self.nodes[1:], self.edges, self.forward):
            extra = []
            if "frequency" in edge.props:
                extra.append(f"frequency {edge.props['frequency']:.0%}")
            extra.append(edge.props.get("source", "no source"))
            label = f"{edge.type} [{'; '.join(extra)}]"
            arrow = f" –{label}→ " if fwd else f" ←{label}– "
            parts.append(f"{arrow}{node.name} ({node.id})")
        lead = {
            "observed": "patient has",
            "excluded": "patient lacks",
            "contradicted": "patient has",
            "expected-absent": "not reported in the patient:",
            "gene": "patient's gene",
            "similar": "patient has",
        }[self.kind]
        if self.similar_to is not None:
            finding, cosine = self.similar_to
            lead += f" {finding.name} ({finding.id}), text-similar (cosine {cosine:.2f}) to"
        return f"{lead} " + "".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "claim": self.claim,
            "kind": self.kind,
            "contribution": None if self.contribution is None else round(self.contribution, 4),
            "nodes": [{"id": n.id, "type": n.type, "name": n.name} for n in self.nodes],
            "edges": [{"type": e.type, "src": e.src, "dst": e.dst, **e.props} for e in self.edges],
            "text": self.text(),
            "cypher": self.cypher,
            "verified": self.verified,
            **(
                {"similar_to": {"id": self.similar_to[0].id, "cosine": round(self.similar_to[1], 4)}}
                if self.similar_to is not None
                else {}
            ),
        }


@dataclass
class DiseaseExplanation:
    disease: RankedDisease
    supports: list[EvidencePath] = field(default_factory=list)
    against: list[EvidencePath] = field(default_factory=list)
    # What each of the patient's encoder embeddings added (EvidenceGNNConfig.patient_embeddings):
    # a learned similarity to the disease's text profile, not a KG path, so it is shown apart.
    embeddings: dict[str, float] = field(default_factory=dict)

    @property
    def paths(self) -> list[EvidencePath]:
        return self.supports + self.against


@dataclass
class Explanation:
    """Evidence for the top diseases of one ranking."""

    case_id: str
    diseases: list[DiseaseExplanation]
    notes: list[str] = field(default_factory=list)

    def cited_edges(self) -> list[Edge]:
        return [e for d in self.diseases for p in d.paths for e in p.edges]

    @property
    def validity(self) -> float:
        """Share of cited paths verified in the store they came from: in Neo4j their own Cypher
        returned them, in memory their exact edges are there (must be 1.0)."""
        paths = [p for d in self.diseases for p in d.paths]
        return sum(p.verified for p in paths) / len(paths) if paths else 1.0

    def verify(self, store: Any) -> float:
        """Share of paths whose own Cypher returns them from ``store`` (a Neo4j store): each path is
        run as the query it shows, and counts only if that query finds it."""
        return verify_in_neo4j(self, store)

    def to_dict(self) -> dict[str, Any]:
        return {
            "case": self.case_id,
            "validity": self.validity,
            "notes": self.notes,
            "diseases": [
                {
                    **d.disease.to_dict(),
                    "supports": [p.to_dict() for p in d.supports],
                    "against": [p.to_dict() for p in d.against],
                    **({"embeddings": {m: round(v, 4) for m, v in d.embeddings.items()}} if d.embeddings else {}),
                }
                for d in self.diseases
            ],
        }

    def to_text(self, cypher: bool = False) -> str:
        lines = [f"Differential for {self.case_id}"]
        for d in self.diseases:
            r = d.disease
            lines.append(f"\n{r.rank}. {r.label}  score {r.score:.2f}  p={r.probability:.2f}")
            for title, paths in (("for", d.supports), ("against", d.against)):
                for p in paths:
                    c = "" if p.contribution is None else f"{p.contribution:+.2f} "
                    lines.append(f"   {title:7s} {c}{p.text()}" + ("" if p.verified else "  [NOT IN KG]"))
                    if cypher:
                        lines.append(f"           {p.cypher}")
            lines += [f"   {'embedding':7s} {v:+.2f} {_embedding_text(m)}" for m, v in d.embeddings.items()]
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    def to_markdown(self) -> str:
        out = [f"## Differential for `{self.case_id}`"]
        for d in self.diseases:
            r = d.disease
            out.append(f"\n### {r.rank}. {r.label}, score {r.score:.2f}, p = {r.probability:.2f}\n")
            for title, paths in (("For", d.supports), ("Against", d.against)):
                if paths:
                    out.append(f"**{title}**\n")
                    for p in paths:
                        c = "" if p.contribution is None else f"{p.contribution:+.2f} "
                        out.append(f"- {c}{p.text()}\n  ```cypher\n  {p.cypher}\n  ```")
            if d.embeddings:
                out.append("**Embeddings**\n")
                out += [f"- {v:+.2f} {_embedding_text(m)}" for m, v in d.embeddings.items()]
        out += [f"\n> {n}" for n in self.notes]
        return "\n".join(out)


def _embedding_text(modality: str) -> str:
    return f"the patient's {modality} embedding against the disease's text profile (learned similarity, not a KG path)"


class _PathBuilder:
    """Rebuilds KG paths from index positions and fetches their edges from the store."""

    def __init__(self, dx: Diagnoser) -> None:
        self.dx = dx
        self.ix = dx.index
        self._out: dict[tuple[str, str], dict[str, Edge]] = {}
        self._nodes: dict[str, Node] = {}

    def node(self, node_id: str) -> Node:
        if node_id not in self._nodes:
            self._nodes[node_id] = self.dx.store.node(node_id) or Node(NodeLabel.PHENOTYPE, node_id, {"name": node_id})
        return self._nodes[node_id]

    def edge(self, src: str, rel: str, dst: str) -> Edge | None:
        key = (src, rel)
        if key not in self._out:
            self._out[key] = {
                nb.edge.dst: nb.edge for nb in self.dx.store.neighbours(src, rel_types=[rel], direction="out")
            }
        return self._out[key].get(dst)

    def up_chain(self, lo: int, hi: int) -> list[int]:
        """Shortest IS_A chain from term ``lo`` up to its ancestor ``hi`` (both included)."""
        if lo == hi:
            return [lo]
        prev = {lo: -1}
        queue = deque([lo])
        while queue:
            t = queue.popleft()
            for p in sorted(self.ix.parents.get(t, ())):
                if p not in prev:
                    prev[p] = t
                    if p == hi:
                        chain = [p]
                        while prev[chain[-1]] != -1:
                            chain.append(prev[chain[-1]])
                        return chain[::-1]
                    queue.append(p)
        return [lo, hi]  # not an ancestor: the edge will fail verification

    def build(
        self, claim: str, kind: str, contribution: float | None, hops: list[tuple[str, str, str, bool]], start: str
    ) -> EvidencePath:
        """``hops``: (src, type, dst, forward) in stored direction, in path order from ``start``.

        The path is verified the way a user would check it: in Neo4j by running its own Cypher, in
        memory by walking its exact edges. A detour that comes back to a node it already passed
        is cut out first, since Cypher never matches a path that uses one edge twice.
        """
        hops = _without_loops(hops, start)
        nodes, edges, fwd, ok = [self.node(start)], [], [], True
        for src, rel, dst, forward in hops:
            e = self.edge(src, rel, dst)
            ok = ok and e is not None
            edges.append(e or Edge(rel, src, dst, {}))
            fwd.append(forward)
            nodes.append(self.node(dst if forward else src))
        path = EvidencePath(claim, kind, contribution, nodes, edges, fwd, ok)
        if ok and hasattr(self.dx.store, "cypher"):
            path.verified = bool(self.dx.store.cypher(path.cypher, max_rows=1).rows)
        return path

    def members(self, disease: str) -> tuple[str, ...]:
        """Every id of the disease entity ``disease`` (its representative first)."""
        return self.ix.members[self.ix.disease_index[disease]]

    def member_with(self, disease: str, rel: str, dst: str) -> str:
        """The id of the disease entity whose ``rel`` edge reaches ``dst`` (its representative if
        none does, so that the path fails verification visibly)."""
        return next((m for m in self.members(disease) if self.edge(m, rel, dst) is not None), disease)

    def annotation_hops(self, disease: str, phenotype: str) -> list[tuple[str, str, str, bool]]:
        """The edges by which ``disease`` (any of its ids) has ``phenotype``, walked from the
        phenotype: its ``HAS_PHENOTYPE`` edge, or a module's phenotype-like node in between (e.g.
        an imaging finding ``REPRESENTED_BY_PHENOTYPE`` the phenotype)."""
        from kgdx.reasoning.index import phenotype_bridges, phenotype_like_relations

        members = self.members(disease)
        for m in members:
            if self.edge(m, RelType.HAS_PHENOTYPE, phenotype) is not None:
                return [(m, RelType.HAS_PHENOTYPE, phenotype, False)]
        schema = self.dx.store.schema
        bridges = phenotype_bridges(schema)
        for m in members:
            for rel, node_type in phenotype_like_relations(schema):
                for nb in self.dx.store.neighbours(m, rel_types=[rel], direction="out", node_types=[node_type]):
                    for bridge in bridges[node_type]:
                        if self.edge(nb.node.id, bridge, phenotype) is not None:
                            return [(nb.node.id, bridge, phenotype, False), (m, rel, nb.node.id, False)]
        return [(disease, RelType.HAS_PHENOTYPE, phenotype, False)]  # fails verification, visibly

    def is_a_hops(self, chain: list[int], upward: bool) -> list[tuple[str, str, str, bool]]:
        ids = [self.ix.phenotypes[t] for t in chain]
        hops = [(a, RelType.IS_A, b, True) for a, b in zip(ids, ids[1:])]
        if upward:
            return hops
        # Walking down from the ancestor: each stored child→parent edge is traversed backwards.
        return [(child, RelType.IS_A, parent, False) for child, parent in reversed(list(zip(ids, ids[1:])))]


def _without_loops(hops: list[tuple[str, str, str, bool]], start: str) -> list[tuple[str, str, str, bool]]:
    """``hops`` with every closed detour removed, so that no node appears twice along the path
    (e.g. finding –IS_A→ parent ←IS_A– finding, when the finding itself is annotated)."""
    out: list[tuple[str, str, str, bool]] = []
    seen = [start]
    for hop in hops:
        src, _, dst, forward = hop
        nxt = dst if forward else src
        if nxt in seen:
            cut = seen.index(nxt)
            del out[cut:], seen[cut + 1 :]
            continue
        out.append(hop)
        seen.append(nxt)
    return out


def _best_annotation(ix, d: int, below: int) -> int | None:
    """The disease's direct annotation at or below term ``below`` with the highest frequency."""
    ann = ix.annotations
    lo, hi = ann.indptr[d], ann.indptr[d + 1]
    best, best_f = None, -1.0
    for b, f in zip(ann.indices[lo:hi], ann.data[lo:hi]):
        if below in ix.ancestors_of(int(b)) and f > best_f:
            best, best_f = int(b), float(f)
    return best


def _observed_path(pb: _PathBuilder, t: int, d: int, contribution: float) -> EvidencePath | None:
    ix = pb.ix
    disease = ix.diseases[d]
    exc = ix.excludes
    for x in sorted(ix.ancestors_of(t), key=lambda a: -ix.ic[a]):
        if d in exc.indices[exc.indptr[x] : exc.indptr[x + 1]]:
            hops = pb.is_a_hops(pb.up_chain(t, int(x)), upward=True)
            member = pb.member_with(disease, RelType.EXCLUDES_PHENOTYPE, ix.phenotypes[x])
            hops.append((member, RelType.EXCLUDES_PHENOTYPE, ix.phenotypes[x], False))
            return pb.build("against", "contradicted", contribution, hops, ix.phenotypes[t])
    shared = [
        a for a in ix.ancestors_of(t) if ix.ic[a] >= pb.dx.extractor.ic_floor and d in ix.rows_reaching(int(a))[0]
    ]
    if not shared:
        return None
    a = int(max(shared, key=lambda a: ix.ic[a]))
    b = _best_annotation(ix, d, a)
    if b is None:
        return None
    hops = pb.is_a_hops(pb.up_chain(t, a), upward=True) + pb.is_a_hops(pb.up_chain(b, a), upward=False)
    hops += pb.annotation_hops(disease, ix.phenotypes[b])
    return pb.build("supports" if contribution >= 0 else "against", "observed", contribution, hops, ix.phenotypes[t])


def _similar_path(pb: _PathBuilder, t: int, d: int, contribution: float) -> EvidencePath | None:
    """For a message the text embeddings carried (no shared ancestor): the disease's annotated
    phenotype most similar to finding ``t``, and the KG edge by which the disease has it."""
    ix = pb.ix
    if not pb.dx.extractor.uses_text:
        return None  # the model sent no message through text embeddings
    ann = ix.annotations
    terms = ann.indices[ann.indptr[d] : ann.indptr[d + 1]]
    if not len(terms):
        return None
    cos = ix.text_embedding[terms].astype("float32") @ ix.text_embedding[t].astype("float32")
    b = int(terms[int(cos.argmax())])
    claim = "supports" if contribution >= 0 else "against"
    path = pb.build(
        claim, "similar", contribution, pb.annotation_hops(ix.diseases[d], ix.phenotypes[b]), ix.phenotypes[b]
    )
    path.similar_to = (pb.node(ix.phenotypes[t]), float(cos.max()))
    return path


def _excluded_path(pb: _PathBuilder, x: int, d: int, contribution: float) -> EvidencePath | None:
    ix = pb.ix
    disease = ix.diseases[d]
    claim = "supports" if contribution >= 0 else "against"
    exc = ix.excludes
    if d in exc.indices[exc.indptr[x] : exc.indptr[x + 1]]:
        return pb.build(
            claim,
            "excluded",
            contribution,
            [
                (
                    pb.member_with(disease, RelType.EXCLUDES_PHENOTYPE, ix.phenotypes[x]),
                    RelType.EXCLUDES_PHENOTYPE,
                    ix.phenotypes[x],
                    False,
                )
            ],
            ix.phenotypes[x],
        )
    b = _best_annotation(ix, d, x)
    if b is None:
        return None
    hops = pb.is_a_hops(pb.up_chain(b, x), upward=False) + pb.annotation_hops(disease, ix.phenotypes[b])
    return pb.build(claim, "excluded", contribution, hops, ix.phenotypes[x])


def explain(
    dx: Diagnoser, result: Ranking, top: int = 3, per_disease: int = 5, expected: int = 2, use_genes: bool | None = None
) -> Explanation:
    """Evidence paths for the ``top`` diseases of ``result``.

    Args:
        dx: The diagnoser that produced ``result``.
        result: A ranking from :meth:`Diagnoser.rank`.
        top: How many diseases to explain.
        per_disease: Most contributing findings shown per disease, for and against.
        expected: Frequent features of the disease that the patient does not report, shown against.
    """
    ix, att = dx.index, result.attribution
    use_genes = result.use_genes if use_genes is None else use_genes
    pb = _PathBuilder(dx)
    reached = set(ix.closure(result.observed).tolist())
    for t in result.observed:
        reached.update(ix.descendants_of(t).tolist())
    excluded = set(result.excluded)
    out = []
    for r in result.top[:top]:
        d = ix.disease_index[r.id]
        paths: list[EvidencePath] = []
        contrib = [(float(att.observed[j, d]), "o", t) for j, t in enumerate(result.observed)]
        contrib += [(float(att.excluded[k, d]), "x", t) for k, t in enumerate(result.excluded)]
        contrib = [c for c in contrib if abs(c[0]) > 1e-6]
        pos = sorted((c for c in contrib if c[0] > 0), key=lambda c: -c[0])[:per_disease]
        neg = sorted((c for c in contrib if c[0] < 0), key=lambda c: c[0])[:per_disease]
        for value, kind, t in pos + neg:
            if kind == "o":
                p = _observed_path(pb, t, d, value) or _similar_path(pb, t, d, value)
            else:
                p = _excluded_path(pb, t, d, value)
            if p is not None:
                paths.append(p)
        if use_genes:
            for m in pb.members(r.id):
                for nb in dx.store.neighbours(
                    m, rel_types=[RelType.ASSOCIATED_WITH], direction="in", node_types=[NodeLabel.GENE]
                ):
                    if nb.node.props.get("symbol", nb.node.name) in result.case.genes:
                        hop = [(nb.node.id, RelType.ASSOCIATED_WITH, m, True)]
                        paths.append(pb.build("supports", "gene", None, hop, nb.node.id))
        ann = ix.annotations
        lo, hi = ann.indptr[d], ann.indptr[d + 1]
        missing = [
            (float(f) * float(ix.ic[b]), int(b))
            for b, f in zip(ann.indices[lo:hi], ann.data[lo:hi])
            if f >= 0.5 and int(b) not in reached and int(b) not in excluded
        ]
        for _, b in sorted(missing, reverse=True)[:expected]:
            # The same edges as from the phenotype, walked the other way: from the disease.
            hops = [(src, rel, dst, True) for src, rel, dst, _ in reversed(pb.annotation_hops(r.id, ix.phenotypes[b]))]
            paths.append(pb.build("against", "expected-absent", None, hops, hops[0][0]))
        embedded = {}
        if att.embedding is not None:
            names = list(dx.model.config.patient_embeddings)
            embedded = {
                names[m]: float(att.embedding[m, d]) for m in range(len(names)) if abs(att.embedding[m, d]) > 1e-6
            }
        out.append(
            DiseaseExplanation(
                r, [p for p in paths if p.claim == "supports"], [p for p in paths if p.claim == "against"], embedded
            )
        )
    return Explanation(result.case.id, out, list(result.notes))


def verify_in_neo4j(explanation: Explanation, store: Any) -> float:
    """Share of the explanation's paths that their own Cypher finds in a Neo4j store (run on the
    read-only path, as a user would)."""
    paths = [p for d in explanation.diseases for p in d.paths]
    if not paths:
        return 1.0
    return sum(bool(store.cypher(p.cypher, max_rows=1).rows) for p in paths) / len(paths)
