"""Generic hetero GNN rankers (R-GCN, HGT) on the patient-in-KG graph, to measure against EvidenceGNN.

The reasoning architecture is chosen by measurement. This module holds the generic contenders,
built from PyG's stock operators, so ``benchmarks/architectures.py`` can train and evaluate them
on exactly the cases and metrics of the shipped :class:`~kgdx.reasoning.model.EvidenceGNN`.

The graph per case (:class:`SubgraphBuilder`):

* the ``Patient`` node, joined to its observed and excluded phenotypes by ``HAS_FINDING`` /
  ``LACKS_FINDING`` edges;
* those phenotypes and their ancestors up to ``ancestor_hops`` steps up ``IS_A``;
* the *candidate* diseases: every disease with a ``HAS_PHENOTYPE`` edge to one of those terms,
  with their ``HAS_PHENOTYPE`` and ``EXCLUDES_PHENOTYPE`` edges into the subgraph;
* every relation also reversed (``rev_HAS_FINDING`` …, the naming of PyG's ``ToUndirected``), as
  explicit types so that ``IS_A`` keeps its direction (child → parent and parent → child differ).

Message passing over the whole KG (~300,000 edges) per patient is out of reach on a CPU, hence the
subgraph. Diseases outside it get the lowest score, all tied (fair ties then count them honestly):
a generic GNN of this kind cannot rank a disease that shares no term, nor an ancestor of a term,
with the patient. :attr:`CaseGraph.gold_in_candidates` says how often that bites.

Node features "come from the encoders": the text encoder (offline MiniLM, 384-d) over each
Phenotype's and Disease's label and definition, computed once and cached under
``$KGDX_HOME/cache/gnn-text`` (:func:`node_text_features`), projected per node type to the hidden
size, plus a learned embedding per node type. The patient's feature is the mean text embedding of
its observed findings. Nothing is specific to one disease, so a disease added to the KG is scored
from its label and neighbourhood without retraining.

Two architectures (:class:`GenericGNNConfig`.``arch``):

* ``rgcn``: PyG ``RGCNConv`` (mean per relation, self-loop weight) over the homogeneous view of the
  subgraph with one relation id per edge type;
* ``hgt``: PyG ``HGTConv`` (type-specific attention) over the heterogeneous subgraph.

Each disease is scored by an MLP over ``[h_d, h_p, h_d ⊙ h_p]`` (disease and patient
representations after the last layer). Training is the softmax cross-entropy of the true disease
over the case's candidates, on cases from :class:`~kgdx.reasoning.simulate.CaseSimulator`.

The convolutions read no edge attributes, so annotation frequencies are not used; nor is
information content, except as far as the text embeddings carry specificity.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn
from torch_geometric.utils import scatter

from kgdx.encoders.schedule import cosine_warmup
from kgdx.reasoning.index import KGIndex

__all__ = [
    "ARCHITECTURES",
    "EDGE_TYPES",
    "NODE_TYPES",
    "CaseGraph",
    "GenericGNNConfig",
    "GenericHeteroGNN",
    "GenericRanker",
    "GenericTrainConfig",
    "SubgraphBuilder",
    "node_text_features",
    "node_texts",
    "train_generic",
]

ARCHITECTURES = ("rgcn", "hgt")
NODE_TYPES = ("Patient", "Phenotype", "Disease")
_FORWARD = (
    ("Patient", "HAS_FINDING", "Phenotype"),
    ("Patient", "LACKS_FINDING", "Phenotype"),
    ("Phenotype", "IS_A", "Phenotype"),
    ("Disease", "HAS_PHENOTYPE", "Phenotype"),
    ("Disease", "EXCLUDES_PHENOTYPE", "Phenotype"),
)
#: The subgraph's edge types: the schema's relations and their reverses (``rev_`` prefix).
EDGE_TYPES: tuple[tuple[str, str, str], ...] = _FORWARD + tuple((d, f"rev_{r}", s) for s, r, d in _FORWARD)


class _Encoder(Protocol):
    embed_dim: int

    def encode(self, texts: Sequence[str], *, batch_size: int = ..., progress: bool = ...) -> np.ndarray: ...


# -- node features ---------------------------------------------------------------------------------


def node_texts(store: Any, ids: Sequence[str]) -> list[str]:  # noqa: ANN401 - kgdx.kg.store.KGStore
    """``"label: definition"`` (or the label alone, or the id) for each node id."""
    out = []
    for i in ids:
        n = store.node(i)
        name = (n.name if n is not None else None) or i
        definition = (n.props.get("definition") if n is not None else None) or ""
        out.append(f"{name}: {definition}".strip() if definition.strip() else name)
    return out


def node_text_features(
    store: Any,  # noqa: ANN401 - kgdx.kg.store.KGStore
    index: KGIndex,
    *,
    encoder: _Encoder | None = None,
    cache_dir: str | Path | None = None,
    batch_size: int = 128,
    progress: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Text-encoder embeddings of every phenotype and disease, in ``index`` order.

    Computed once per (encoder, texts) and cached as ``.npy`` (float16) under ``cache_dir``
    (default ``$KGDX_HOME/cache/gnn-text``): all ~32,000 labels and definitions of the default KG
    take a few minutes on two cores with MiniLM, then load in a second.

    Args:
        store: The KG store (labels and definitions are read from it).
        index: The :class:`KGIndex` whose term and disease order the rows follow.
        encoder: Anything with ``embed_dim`` and ``encode(texts, batch_size=, progress=)``
            (default: the offline MiniLM :class:`~kgdx.encoders.text.TextEncoder`, loaded only on a cache
            miss).
        cache_dir: Where the cache file goes.
        batch_size: Texts per encoder batch.
        progress: Show a progress bar while encoding.

    Returns:
        ``(term_x, disease_x)``: float32 arrays ``(T, dim)`` and ``(D, dim)``.
    """
    texts = node_texts(store, index.phenotypes) + node_texts(store, index.diseases)
    name = "minilm-default" if encoder is None else repr(encoder)
    h = hashlib.sha1(name.encode())
    for t in texts:
        h.update(t.encode())
        h.update(b"\0")
    if cache_dir is None:
        from kgdx.settings import get_settings

        cache_dir = get_settings().home_dir / "cache" / "gnn-text"
    path = Path(cache_dir) / f"nodes-{h.hexdigest()[:20]}.npy"
    if path.is_file():
        x = np.load(path).astype(np.float32)
    else:
        if encoder is None:
            from kgdx.encoders.text import TextEncoder

            encoder = TextEncoder()
        if progress:
            print(
                f"embedding {len(texts)} phenotype and disease labels with {encoder!r} (cached in {path.parent})",
                flush=True,
            )
        x = encoder.encode(texts, batch_size=batch_size, progress=progress).astype(np.float32)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, x.astype(np.float16))
        tmp.replace(path)
    if x.shape[0] != len(texts):
        raise ValueError(f"cached features have {x.shape[0]} rows for {len(texts)} nodes: delete {path}")
    return x[: index.num_phenotypes], x[index.num_phenotypes :]


# -- per-case subgraphs ----------------------------------------------------------------------------


@dataclass
class CaseGraph:
    """One or more cases' subgraphs (batched as disjoint unions; see :meth:`batch`).

    ``phenotypes`` / ``diseases`` hold the KG index of every local Phenotype / Disease node;
    ``edges[edge_type]`` is a ``(2, E)`` long tensor of local indices (source, target) for each of
    :data:`EDGE_TYPES`; ``*_case`` give each node's case; ``observed_case`` / ``observed_terms``
    list (case, local term) of the observed findings (for the patient's feature); ``gold`` is each
    case's gold disease as a local disease index, or -1 when it is not among the candidates (or
    unknown).
    """

    phenotypes: torch.Tensor
    diseases: torch.Tensor
    term_case: torch.Tensor
    disease_case: torch.Tensor
    observed_case: torch.Tensor
    observed_terms: torch.Tensor
    edges: dict[tuple[str, str, str], torch.Tensor]
    gold: torch.Tensor
    num_cases: int = 1

    @property
    def gold_in_candidates(self) -> torch.Tensor:
        return self.gold >= 0

    @staticmethod
    def batch(items: list[CaseGraph]) -> CaseGraph:
        """Disjoint union: local indices are shifted per case."""
        if not items:
            raise ValueError("nothing to batch")
        off = {"Patient": 0, "Phenotype": 0, "Disease": 0}
        parts: dict[str, list[torch.Tensor]] = {
            k: []
            for k in ("phenotypes", "diseases", "term_case", "disease_case", "observed_case", "observed_terms", "gold")
        }
        edges: dict[tuple[str, str, str], list[torch.Tensor]] = {et: [] for et in EDGE_TYPES}
        c = 0
        for it in items:
            parts["phenotypes"].append(it.phenotypes)
            parts["diseases"].append(it.diseases)
            parts["term_case"].append(it.term_case + c)
            parts["disease_case"].append(it.disease_case + c)
            parts["observed_case"].append(it.observed_case + c)
            parts["observed_terms"].append(it.observed_terms + off["Phenotype"])
            parts["gold"].append(torch.where(it.gold >= 0, it.gold + off["Disease"], it.gold))
            for et in EDGE_TYPES:
                shift = torch.tensor([[off[et[0]]], [off[et[2]]]])
                edges[et].append(it.edges[et] + shift)
            off["Patient"] += it.num_cases
            off["Phenotype"] += len(it.phenotypes)
            off["Disease"] += len(it.diseases)
            c += it.num_cases
        return CaseGraph(
            **{k: torch.cat(v) for k, v in parts.items()},
            edges={k: torch.cat(v, 1) for k, v in edges.items()},
            num_cases=c,
        )

    def num_nodes(self) -> dict[str, int]:
        return {"Patient": self.num_cases, "Phenotype": len(self.phenotypes), "Disease": len(self.diseases)}


def _locate(sorted_values: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions of ``values`` in ``sorted_values`` and whether each is there."""
    values = np.asarray(values, np.int64)
    if not len(sorted_values):
        return np.zeros(len(values), np.int64), np.zeros(len(values), bool)
    pos = np.searchsorted(sorted_values, values)
    ok = (pos < len(sorted_values)) & (sorted_values[np.minimum(pos, len(sorted_values) - 1)] == values)
    return pos, ok


class SubgraphBuilder:
    """Builds the per-case :class:`CaseGraph` from a :class:`KGIndex`.

    Args:
        index: The KG index (terms, diseases, ``IS_A`` parents, direct annotations, exclusions).
        ancestor_hops: How many steps up ``IS_A`` from each finding (``None``: all ancestors).
    """

    def __init__(self, index: KGIndex, ancestor_hops: int | None = 3) -> None:
        if ancestor_hops is not None and ancestor_hops < 0:
            raise ValueError(f"'ancestor_hops' must be >= 0 or None (got {ancestor_hops})")
        self.index = index
        self.ancestor_hops = ancestor_hops
        self._ann = index.annotations.tocsc()  # column t: diseases annotated with t
        self._exc = index.excludes.tocsc()
        self._parents = {t: np.asarray(sorted(p), np.int64) for t, p in index.parents.items()}

    def __repr__(self) -> str:
        return (
            f"SubgraphBuilder(phenotypes={self.index.num_phenotypes}, diseases={self.index.num_diseases}, "
            f"ancestor_hops={self.ancestor_hops})"
        )

    def terms_for(self, findings: Sequence[int]) -> np.ndarray:
        """The findings and their ancestors within ``ancestor_hops`` (sorted, unique)."""
        if not len(findings):
            return np.zeros(0, np.int64)
        if self.ancestor_hops is None:
            return self.index.closure(findings)
        seen = set(int(t) for t in findings)
        frontier = list(seen)
        for _ in range(self.ancestor_hops):
            nxt = []
            for t in frontier:
                for p in self._parents.get(t, ()):
                    p = int(p)
                    if p not in seen:
                        seen.add(p)
                        nxt.append(p)
            frontier = nxt
            if not frontier:
                break
        return np.fromiter(sorted(seen), np.int64, len(seen))

    def __call__(self, observed: Sequence[int], excluded: Sequence[int] = (), gold: int | None = None) -> CaseGraph:
        """The subgraph of one case (term indices of the observed and excluded findings)."""
        observed = list(dict.fromkeys(int(t) for t in observed))
        obs_set = set(observed)
        excluded = [t for t in dict.fromkeys(int(t) for t in excluded) if t not in obs_set]
        terms = self.terms_for(observed + excluded)
        ann, exc = self._ann, self._exc
        # HAS_PHENOTYPE: every annotation into the subgraph's terms; its diseases are the candidates.
        counts = ann.indptr[terms + 1] - ann.indptr[terms] if len(terms) else np.zeros(0, np.int64)
        hd = (
            np.concatenate([ann.indices[ann.indptr[t] : ann.indptr[t + 1]] for t in terms])
            if len(terms)
            else np.zeros(0, np.int64)
        )
        ht = np.repeat(np.arange(len(terms)), counts)
        diseases = np.unique(hd).astype(np.int64)
        hd_local = np.searchsorted(diseases, hd)
        # EXCLUDES_PHENOTYPE among the candidates.
        xd, xt = [], []
        for j, t in enumerate(terms):
            pos, ok = _locate(diseases, exc.indices[exc.indptr[t] : exc.indptr[t + 1]])
            xd.append(pos[ok])
            xt.append(np.full(int(ok.sum()), j))
        # IS_A inside the subgraph (child -> parent).
        ic_, ip_ = [], []
        for j, t in enumerate(terms):
            pos, ok = _locate(terms, self._parents.get(int(t), np.zeros(0, np.int64)))
            ic_.append(np.full(int(ok.sum()), j))
            ip_.append(pos[ok])
        loc = {int(t): j for j, t in enumerate(terms)}
        obs_local = np.array([loc[t] for t in observed], np.int64)
        exc_local = np.array([loc[t] for t in excluded], np.int64)

        def cat(parts: list[np.ndarray]) -> np.ndarray:
            return np.concatenate(parts) if parts else np.zeros(0, np.int64)

        def ei(src: np.ndarray, dst: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.stack([np.asarray(src, np.int64), np.asarray(dst, np.int64)]))

        fwd = {
            EDGE_TYPES[0]: ei(np.zeros(len(obs_local), np.int64), obs_local),
            EDGE_TYPES[1]: ei(np.zeros(len(exc_local), np.int64), exc_local),
            EDGE_TYPES[2]: ei(cat(ic_), cat(ip_)),
            EDGE_TYPES[3]: ei(hd_local, ht),
            EDGE_TYPES[4]: ei(cat(xd), cat(xt)),
        }
        edges = dict(fwd)
        for (s, r, d), e in fwd.items():
            edges[(d, f"rev_{r}", s)] = e.flip(0)
        g = -1
        if gold is not None:
            pos, ok = _locate(diseases, np.array([gold], np.int64))
            g = int(pos[0]) if ok[0] else -1
        return CaseGraph(
            phenotypes=torch.from_numpy(terms),
            diseases=torch.from_numpy(diseases),
            term_case=torch.zeros(len(terms), dtype=torch.long),
            disease_case=torch.zeros(len(diseases), dtype=torch.long),
            observed_case=torch.zeros(len(obs_local), dtype=torch.long),
            observed_terms=torch.from_numpy(obs_local),
            edges=edges,
            gold=torch.tensor([g]),
            num_cases=1,
        )


# -- the model -------------------------------------------------------------------------------------


@dataclass
class GenericGNNConfig:
    """Hyper-parameters of :class:`GenericHeteroGNN`."""

    arch: str = "rgcn"  # "rgcn" or "hgt"
    hidden: int = 64
    layers: int = 3  # 3 lets an ancestor's match reach a disease: patient → finding → ancestor → disease
    heads: int = 2  # HGT attention heads
    dropout: float = 0.1
    ancestor_hops: int | None = 3

    def __post_init__(self) -> None:
        if self.arch not in ARCHITECTURES:
            raise ValueError(f"'arch' must be one of {ARCHITECTURES} (got {self.arch!r})")
        if self.hidden < 1 or self.layers < 1 or self.heads < 1:
            raise ValueError(
                f"'hidden', 'layers' and 'heads' must be positive (got {self.hidden}, {self.layers}, {self.heads})"
            )
        if self.arch == "hgt" and self.hidden % self.heads:
            raise ValueError(f"'hidden' ({self.hidden}) must be divisible by 'heads' ({self.heads}) for HGT")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"'dropout' must be in [0, 1) (got {self.dropout})")


class GenericHeteroGNN(nn.Module):
    """R-GCN or HGT over a :class:`CaseGraph`, scoring each candidate disease.

    Args:
        config: Hyper-parameters (``arch`` picks the convolution).
        term_x: ``(T, F)`` text features of the KG's phenotypes (index order).
        disease_x: ``(D, F)`` text features of the KG's diseases.

    The feature tables are non-persistent buffers: a state dict holds only learned weights, so a
    model trained on one KG loads over another (extended) KG's features.
    """

    def __init__(
        self, config: GenericGNNConfig, term_x: torch.Tensor | np.ndarray, disease_x: torch.Tensor | np.ndarray
    ) -> None:
        super().__init__()
        term_x, disease_x = torch.as_tensor(term_x, dtype=torch.float), torch.as_tensor(disease_x, dtype=torch.float)
        if term_x.dim() != 2 or disease_x.dim() != 2 or term_x.shape[1] != disease_x.shape[1]:
            raise ValueError(
                f"'term_x' and 'disease_x' must be 2-d with the same width (got {tuple(term_x.shape)}, "
                f"{tuple(disease_x.shape)})"
            )
        self.config = c = config
        self.register_buffer("term_x", term_x, persistent=False)
        self.register_buffer("disease_x", disease_x, persistent=False)
        f, h = term_x.shape[1], c.hidden
        self.proj = nn.ModuleDict({t: nn.Linear(f, h) for t in NODE_TYPES})
        self.type_emb = nn.Embedding(len(NODE_TYPES), h)
        metadata = (list(NODE_TYPES), list(EDGE_TYPES))
        if c.arch == "rgcn":
            from torch_geometric.nn import RGCNConv

            self.convs = nn.ModuleList(
                RGCNConv(h, h, num_relations=len(EDGE_TYPES), aggr="mean") for _ in range(c.layers)
            )
            self.norms = nn.ModuleList(nn.LayerNorm(h) for _ in range(c.layers))
        else:
            from torch_geometric.nn import HGTConv

            self.convs = nn.ModuleList(HGTConv(h, h, metadata, heads=c.heads) for _ in range(c.layers))
            self.norms = nn.ModuleList(nn.ModuleDict({t: nn.LayerNorm(h) for t in NODE_TYPES}) for _ in range(c.layers))
        self.head = nn.Sequential(nn.Linear(3 * h, h), nn.SiLU(), nn.Linear(h, 1))

    def __repr__(self) -> str:
        c = self.config
        return (
            f"GenericHeteroGNN(arch={c.arch}, hidden={c.hidden}, layers={c.layers}"
            + (f", heads={c.heads}" if c.arch == "hgt" else "")
            + f", ancestor_hops={c.ancestor_hops}, params={sum(p.numel() for p in self.parameters())})"
        )

    def reset_parameters(self) -> None:
        for m in self.modules():
            if m is not self and hasattr(m, "reset_parameters"):
                m.reset_parameters()

    def _inputs(self, g: CaseGraph) -> dict[str, torch.Tensor]:
        tx = self.term_x[g.phenotypes]
        # The patient's feature: the mean text embedding of its observed findings (zeros if none).
        px = scatter(tx[g.observed_terms], g.observed_case, dim=0, dim_size=g.num_cases, reduce="mean")
        raw = {"Patient": px, "Phenotype": tx, "Disease": self.disease_x[g.diseases]}
        return {t: self.proj[t](raw[t]) + self.type_emb.weight[i] for i, t in enumerate(NODE_TYPES)}

    def embed(self, g: CaseGraph) -> dict[str, torch.Tensor]:
        """Node representations after the last layer."""
        x = self._inputs(g)
        drop = self.config.dropout
        if self.config.arch == "rgcn":
            sizes = [x[t].shape[0] for t in NODE_TYPES]
            off = dict(zip(NODE_TYPES, np.cumsum([0] + sizes[:-1]).tolist()))
            ei = torch.cat([g.edges[et] + torch.tensor([[off[et[0]]], [off[et[2]]]]) for et in EDGE_TYPES], 1)
            et_ = torch.cat(
                [torch.full((g.edges[et].shape[1],), i, dtype=torch.long) for i, et in enumerate(EDGE_TYPES)]
            )
            h = torch.cat([x[t] for t in NODE_TYPES])
            for conv, norm in zip(self.convs, self.norms):
                h = norm(h + nn.functional.dropout(nn.functional.gelu(conv(h, ei, et_)), drop, self.training))
            return dict(zip(NODE_TYPES, torch.split(h, sizes)))
        edges = {et: e for et, e in g.edges.items() if e.shape[1]}
        for conv, norms in zip(self.convs, self.norms):
            out = conv(x, edges)
            x = {
                t: norms[t](nn.functional.dropout(out[t], drop, self.training)) if out.get(t) is not None else x[t]
                for t in NODE_TYPES
            }
        return x

    def forward(self, g: CaseGraph) -> torch.Tensor:
        """A score per candidate disease node, ``(len(g.diseases),)``; ``g.disease_case`` says whose."""
        h = self.embed(g)
        hd, hp = h["Disease"], h["Patient"][g.disease_case]
        return self.head(torch.cat([hd, hp, hd * hp], -1)).squeeze(-1)

    def loss(self, g: CaseGraph) -> torch.Tensor:
        """Softmax cross-entropy of the gold disease over each case's candidates (cases whose gold
        is not a candidate are left out; the mean is over the rest)."""
        s = self(g)
        case = g.disease_case
        mx = scatter(s.detach(), case, dim=0, dim_size=g.num_cases, reduce="max")
        lse = mx + torch.log(scatter((s - mx[case]).exp(), case, dim=0, dim_size=g.num_cases, reduce="sum") + 1e-30)
        ok = g.gold >= 0
        if not bool(ok.any()):
            return s.sum() * 0.0
        return (lse[ok] - s[g.gold[ok]]).mean()

    @torch.no_grad()
    def score_all(self, g: CaseGraph, num_diseases: int) -> np.ndarray:
        """Scores of every KG disease, ``(num_cases, num_diseases)``: the candidates' scores, and one
        value below the lowest candidate for every disease outside the subgraph (all tied)."""
        was = self.training
        self.eval()
        try:
            s = self(g) if len(g.diseases) else torch.zeros(0)
        finally:
            self.train(was)
        out = np.zeros((g.num_cases, num_diseases), np.float32)
        case, dis, sv = g.disease_case.numpy(), g.diseases.numpy(), s.numpy()
        for b in range(g.num_cases):
            m = case == b
            if m.any():
                out[b] = sv[m].min() - 1.0
                out[b, dis[m]] = sv[m]
        return out

    def config_dict(self) -> dict:
        return asdict(self.config)


class GenericRanker:
    """A :class:`SubgraphBuilder` plus a :class:`GenericHeteroGNN`: scores every disease of a case.

    Example:
        >>> ranker = GenericRanker(index, model)  # doctest: +SKIP
        >>> ranker.scores(observed_terms, excluded_terms).shape  # doctest: +SKIP
        (num_diseases,)
    """

    def __init__(self, index: KGIndex, model: GenericHeteroGNN) -> None:
        self.index = index
        self.model = model
        self.builder = SubgraphBuilder(index, model.config.ancestor_hops)

    def __repr__(self) -> str:
        return f"GenericRanker({self.builder!r}, {self.model!r})"

    def scores(self, observed: Sequence[int], excluded: Sequence[int] = ()) -> np.ndarray:
        return self.model.score_all(self.builder(observed, excluded), self.index.num_diseases)[0]

    def scores_batch(self, cases: Sequence[tuple[Sequence[int], Sequence[int]]]) -> np.ndarray:
        if not cases:
            return np.zeros((0, self.index.num_diseases), np.float32)
        g = CaseGraph.batch([self.builder(o, x) for o, x in cases])
        return self.model.score_all(g, self.index.num_diseases)


# -- training --------------------------------------------------------------------------------------


@dataclass
class GenericTrainConfig:
    """Training settings for :func:`train_generic`."""

    steps: int = 300
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup: int = 30
    seed: int = 0
    model: GenericGNNConfig = field(default_factory=GenericGNNConfig)

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError(f"'steps' and 'batch_size' must be positive (got {self.steps}, {self.batch_size})")


def _lr(step: int, c: GenericTrainConfig) -> float:
    return cosine_warmup(step, c.warmup, c.steps, peak=c.lr)


def train_generic(
    index: KGIndex,
    term_x: np.ndarray | torch.Tensor,
    disease_x: np.ndarray | torch.Tensor,
    cases: Iterable[Any],
    config: GenericTrainConfig | None = None,
    *,
    progress: bool = True,
    on_step: Callable[[int, float], None] | None = None,
) -> tuple[GenericRanker, dict[str, Any]]:
    """Train a generic hetero GNN on simulated cases.

    Args:
        index: The KG index.
        term_x, disease_x: Node text features (:func:`node_text_features`).
        cases: Training cases with ``disease``, ``observed`` and ``excluded`` (e.g.
            :class:`~kgdx.reasoning.simulate.SimulatedCase`), consumed ``batch_size`` per step; pass the
            same list to every architecture so all see the same cases.
        config: Training settings.
        progress: Draw a progress bar.
        on_step: Called with ``(step, loss)`` after each step.

    Returns:
        The trained :class:`GenericRanker` and a summary (losses, seconds, the share of training
        cases whose disease was among the candidates).
    """
    from kgdx.progress import progress as bar

    c = config or GenericTrainConfig()
    torch.manual_seed(c.seed)
    np.random.seed(c.seed)
    model = GenericHeteroGNN(c.model, term_x, disease_x)
    ranker = GenericRanker(index, model)
    opt = torch.optim.AdamW(model.parameters(), lr=c.lr, weight_decay=c.weight_decay)
    it = iter(cases)
    losses: list[float] = []
    covered = seen = 0
    t0 = time.perf_counter()
    model.train()
    with bar(f"training {c.model.arch}", c.steps, enabled=progress) as advance:
        for step in range(c.steps):
            batch = [next(it) for _ in range(c.batch_size)]
            g = CaseGraph.batch([ranker.builder(s.observed, s.excluded, s.disease) for s in batch])
            covered += int(g.gold_in_candidates.sum())
            seen += g.num_cases
            for grp in opt.param_groups:
                grp["lr"] = _lr(step, c)
            loss = model.loss(g)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            losses.append(loss.item())
            advance(1)
            if on_step:
                on_step(step, losses[-1])
    model.eval()
    k = max(1, len(losses) // 10)
    return ranker, {
        "steps": c.steps,
        "batch_size": c.batch_size,
        "cases": seen,
        "seconds": round(time.perf_counter() - t0, 1),
        "loss_first": round(float(np.mean(losses[:k])), 4),
        "loss_last": round(float(np.mean(losses[-k:])), 4),
        "train_gold_in_candidates": round(covered / max(seen, 1), 4),
        "config": asdict(c),
    }
