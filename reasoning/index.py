"""The KG as the sparse matrices that phenotype reasoning needs, built once per KG.

Phenotype matching happens on the HPO hierarchy: a patient's "Focal seizure" supports a disease
annotated with "Seizure" (and the other way round, less so). :class:`KGIndex` precomputes, from
any store, the transitive ``IS_A`` closure and each disease's annotation profile propagated up
that closure, so that scoring every disease for a patient is a few sparse products.

Shapes: ``T`` phenotypes, ``D`` diseases. Matrices are ``scipy.sparse`` (CSR by rows, plus CSC
copies where columns are read), since the propagation reads columns of single terms.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from kgdx.kg.records import Edge
from kgdx.kg.store import KGStore
from kgdx.kg.vocab import NodeLabel, RelType

__all__ = ["KGIndex", "DEFAULT_FREQUENCY", "PHENOTYPIC_ABNORMALITY", "annotation_profiles"]

#: Frequency assumed for an annotation whose source gives none (HPO's "frequent" midpoint range).
DEFAULT_FREQUENCY = 0.5
#: HPO's root of findings; its siblings (modifiers, onset, inheritance) are not findings.
PHENOTYPIC_ABNORMALITY = "HP:0000118"


def phenotype_bridges(schema) -> dict[str, list[str]]:  # noqa: ANN001 - kgdx.kg.schema.Schema
    """Node types that stand for phenotypes: type → relationship types that map its nodes to
    ``Phenotype`` nodes (e.g. a module's imaging findings, ``REPRESENTED_BY_PHENOTYPE``)."""
    out: dict[str, list[str]] = defaultdict(list)
    for rel, rt in sorted(schema.relationship_types.items()):
        if NodeLabel.PHENOTYPE in rt.target and not rt.hierarchy:
            for src in rt.source:
                if src not in (
                    NodeLabel.PHENOTYPE,
                    NodeLabel.DISEASE,
                    NodeLabel.PATIENT,
                    NodeLabel.LAB_TEST,
                    NodeLabel.DRUG,
                ):
                    out[src].append(rel)
    return dict(out)


def annotation_edges(store: KGStore) -> list[tuple[str, str, float | None]]:
    """Every disease–phenotype annotation as (disease, phenotype, frequency).

    ``HAS_PHENOTYPE`` edges, plus, found from the schema alone, those a module states through a
    node type that stands for phenotypes: a ``Disease`` relationship with a ``frequency`` to such
    a node, composed with that node's link to its phenotype. A module that adds such types is
    read by the model without code changes.
    """
    out = [(e.src, e.dst, e.props.get("frequency")) for e in store.iter_edges(RelType.HAS_PHENOTYPE)]
    bridges = phenotype_bridges(store.schema)
    for rel, target in phenotype_like_relations(store.schema):
        to_phen: dict[str, list[str]] = defaultdict(list)
        for bridge in bridges[target]:
            for e in store.iter_edges(bridge):
                to_phen[e.src].append(e.dst)
        for e in store.iter_edges(rel):
            for phen in to_phen.get(e.dst, ()):
                out.append((e.src, phen, e.props.get("frequency")))
    return out


def phenotype_like_relations(schema) -> list[tuple[str, str]]:  # noqa: ANN001 - kgdx.kg.schema.Schema
    """(relationship, node type) pairs through which diseases have phenotype-like features with a
    frequency, e.g. ``(HAS_NEUROIMAGING_FINDING, NeuroimagingFinding)``; such node types can be
    observed in a patient like phenotypes."""
    bridges = phenotype_bridges(schema)
    return [
        (rel, t)
        for rel, rt in sorted(schema.relationship_types.items())
        if rel != RelType.HAS_PHENOTYPE and NodeLabel.DISEASE in rt.source and "frequency" in rt.properties
        for t in rt.target
        if t in bridges
    ]


#: Which id names a disease entity, by vocabulary: OMIM first (what case reports and gene panels
#: use), then Orphanet, MONDO and DECIPHER; anything else after them.
_PREFERRED = ("OMIM:", "ORPHA:", "MONDO:", "DECIPHER:")


def disease_entities(names: dict[str, str], equivalences: Iterable[Edge]) -> list[tuple[str, ...]]:
    """Disease ids grouped into entities by ``EQUIVALENT_TO`` edges, each entity's representative
    first (see :data:`_PREFERRED`), entities sorted by representative."""
    from kgdx.kg.equivalence import equivalence_classes

    classes = equivalence_classes(e for e in equivalences if e.src in names and e.dst in names)

    def rank(d: str) -> tuple[int, str]:
        return next((i for i, p in enumerate(_PREFERRED) if d.startswith(p)), len(_PREFERRED)), d

    out, seen = [], set()
    for d in names:
        if d in seen:
            continue
        group = sorted(classes.get(d, (d,)), key=rank)
        seen.update(group)
        out.append(tuple(group))
    return sorted(out)


#: Bumped whenever :class:`KGIndex`'s fields or how they are built change, so old caches are rebuilt.
INDEX_FORMAT = "kgdx-index-1"


def _fingerprint(snapshot: Path) -> str:
    """A digest of a snapshot's files (manifest, schema, and each table's name, size and mtime)."""
    h = hashlib.sha256(INDEX_FORMAT.encode())
    for f in sorted([snapshot / "manifest.json", snapshot / "schema.yaml", *snapshot.glob("*/*.parquet")]):
        st = f.stat()
        h.update(f"{f.relative_to(snapshot)}:{st.st_size}:{st.st_mtime_ns};".encode())
    return h.hexdigest()[:16]


def _ragged(name: str, rows: Sequence[Sequence], dtype: type) -> dict[str, np.ndarray]:
    flat = [x for r in rows for x in r]
    return {
        f"{name}.flat": np.array(flat, dtype=dtype) if flat else np.zeros(0, dtype=dtype),
        f"{name}.offsets": np.cumsum([0, *map(len, rows)]),
    }


def _unragged(z: np.lib.npyio.NpzFile, name: str) -> list[list]:
    flat, off = z[f"{name}.flat"].tolist(), z[f"{name}.offsets"]
    return [flat[a:b] for a, b in zip(off[:-1], off[1:], strict=True)]


def annotation_profiles(
    diseases: Sequence[int], terms: Sequence[int], frequencies: Sequence[float], ancestors: sp.csc_matrix, D: int
) -> tuple[sp.csr_matrix, sp.csc_matrix]:
    """The ``(D, T)`` direct annotations and their profile (each annotation propagated to its
    term's ancestors), keeping the highest frequency per cell: an entity's members may annotate
    the same term. ``ancestors`` is :attr:`KGIndex.ancestors`."""
    T = ancestors.shape[0]
    ad_, at_, af_ = np.array(diseases, np.int64), np.array(terms, np.int64), np.array(frequencies, np.float32)
    if len(ad_):
        key = ad_ * T + at_
        order = np.lexsort((-af_, key))
        keep = np.ones(len(key), bool)
        keep[1:] = key[order][1:] != key[order][:-1]
        ad_, at_, af_ = ad_[order][keep], at_[order][keep], af_[order][keep]
    annotations = sp.csr_matrix((af_, (ad_, at_)), shape=(D, T))
    counts = np.diff(ancestors.indptr)[at_]
    pd = np.repeat(ad_, counts)
    pf = np.repeat(af_, counts)
    pt = (
        np.concatenate([ancestors.indices[ancestors.indptr[t] : ancestors.indptr[t + 1]] for t in at_])
        if len(at_)
        else np.array([], np.int64)
    )
    key = pd * T + pt
    order = np.lexsort((-pf, key))
    key, pf = key[order], pf[order]
    first = np.ones(len(key), bool)
    first[1:] = key[1:] != key[:-1]
    key, pf = key[first], pf[first]
    return annotations, sp.csc_matrix((pf, (key // T, key % T)), shape=(D, T))


@dataclass
class KGIndex:
    """Phenotype-reasoning view of a KG.

    A *disease* here is one disease entity: the ids the KG says are the same disease
    (``EQUIVALENT_TO``: an OMIM entry, its Orphanet twin, a module's MONDO class) are one row, with
    their annotations, exclusions and genes pooled, so one disease is ranked once and its evidence
    is not split across its ids. Every member id still finds its row (:attr:`disease_index`).

    Attributes:
        phenotypes: Phenotype ids, index order.
        diseases: One id per disease entity (OMIM first, then ORPHA, MONDO, DECIPHER), index order.
        members: Each entity's ids, its representative first.
        ic: ``(T,)`` information content per term.
        background: ``(T,)`` share of diseases whose profile reaches each term.
        ancestors: ``(T, T)`` CSC 0/1, ``[a, t] = 1`` if ``a`` is ``t`` or an ancestor of ``t``.
        profile: ``(D, T)`` CSC, the highest annotation frequency at or below each term, per
            disease: the disease's annotations propagated up the hierarchy.
        annotations: ``(D, T)`` CSR, direct annotations with their frequency.
        excludes: ``(D, T)`` CSC 0/1, direct ``EXCLUDES_PHENOTYPE`` (NOT) annotations.
        disease_genes: Gene symbol → disease indices (for the gene-aware mode).
        parents: Term index → parent term indices (direct ``IS_A``).
        similar: ``(T, T)`` CSR, each phenotype's nearest annotated phenotypes by text embedding
            outside its own lineage, valued by cosine similarity (:mod:`kgdx.reasoning.similar`),
            or ``None`` until :meth:`with_text` computes it.
        text_embedding: ``(T, 384)`` float16, each phenotype's L2-normalised text embedding (the
            same texts; ``None`` until :meth:`with_text`).
    """

    phenotypes: list[str]
    diseases: list[str]
    ic: np.ndarray
    background: np.ndarray
    ancestors: sp.csc_matrix
    profile: sp.csc_matrix
    annotations: sp.csr_matrix
    excludes: sp.csc_matrix
    disease_names: list[str] = field(default_factory=list)
    disease_genes: dict[str, list[int]] = field(default_factory=dict)
    parents: dict[int, list[int]] = field(default_factory=dict)
    members: list[tuple[str, ...]] = field(default_factory=list)
    similar: sp.csr_matrix | None = None
    text_embedding: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.phenotype_index = {t: i for i, t in enumerate(self.phenotypes)}
        if not self.members:
            self.members = [(d,) for d in self.diseases]
        self.disease_index = {m: i for i, ms in enumerate(self.members) for m in ms}

    @property
    def num_phenotypes(self) -> int:
        return len(self.phenotypes)

    @property
    def num_diseases(self) -> int:
        return len(self.diseases)

    def phenotype_ids(self, ids: list[str]) -> list[int]:
        """Indices of the ids this index knows, in order, without duplicates."""
        out, seen = [], set()
        for i in ids:
            j = self.phenotype_index.get(i)
            if j is not None and j not in seen:
                seen.add(j)
                out.append(j)
        return out

    @classmethod
    def from_store(cls, store: KGStore, *, merge_equivalents: bool = True) -> KGIndex:
        """Build the index from any store (a few seconds for the default KG).

        Args:
            store: The KG.
            merge_equivalents: One row per disease entity (``EQUIVALENT_TO``); ``False`` keeps one
                row per disease id (the v1 model's view, for comparisons).
        """
        terms = sorted(n.id for n in store.iter_nodes(NodeLabel.PHENOTYPE))
        names_of = {n.id: n.name for n in store.iter_nodes(NodeLabel.DISEASE)}
        members = disease_entities(names_of, store.iter_edges(RelType.EQUIVALENT_TO) if merge_equivalents else ())
        diseases = [m[0] for m in members]
        names = [names_of[d] for d in diseases]
        t_ix = {t: i for i, t in enumerate(terms)}
        d_ix = {m: i for i, ms in enumerate(members) for m in ms}
        T, D = len(terms), len(diseases)

        parents: dict[int, list[int]] = defaultdict(list)
        for e in store.iter_edges(RelType.IS_A):
            if e.src in t_ix and e.dst in t_ix:
                parents[t_ix[e.src]].append(t_ix[e.dst])
        anc: dict[int, np.ndarray] = {}

        def up(t: int) -> np.ndarray:
            got = anc.get(t)
            if got is None:
                s = {t}
                for p in parents.get(t, ()):
                    s.update(up(p).tolist())
                got = anc[t] = np.fromiter(sorted(s), dtype=np.int64)
            return got

        rows, cols = [], []
        for t in range(T):
            a = up(t)
            rows.append(a)
            cols.append(np.full(len(a), t))
        r, c = np.concatenate(rows), np.concatenate(cols)
        ancestors = sp.csr_matrix((np.ones(len(r), np.float32), (r, c)), shape=(T, T))

        ad, at, af = [], [], []
        for src, phenotype, f in annotation_edges(store):
            if src in d_ix and phenotype in t_ix:
                ad.append(d_ix[src])
                at.append(t_ix[phenotype])
                af.append(DEFAULT_FREQUENCY if f is None else max(float(f), 1e-3))
        anc_csc = ancestors.tocsc()
        annotations, profile = annotation_profiles(ad, at, af, anc_csc, D)
        background = np.diff(profile.indptr) / max(D, 1)

        xd, xt = [], []
        for e in store.iter_edges(RelType.EXCLUDES_PHENOTYPE):
            if e.src in d_ix and e.dst in t_ix:
                xd.append(d_ix[e.src])
                xt.append(t_ix[e.dst])
        excludes = sp.csc_matrix((np.ones(len(xd), np.float32), (xd, xt)), shape=(D, T))
        excludes.sum_duplicates()
        excludes.data[:] = 1.0  # members excluding the same term count once

        ic = np.zeros(T, np.float32)
        for n in store.iter_nodes(NodeLabel.PHENOTYPE):
            ic[t_ix[n.id]] = n.props.get("ic", 0.0)
        if not ic.any():  # a KG without precomputed IC: derive it from the profiles
            ic = -np.log(np.clip(background, 1.0 / max(D, 1), 1.0)).astype(np.float32)

        genes: dict[str, list[int]] = defaultdict(list)
        symbols = {n.id: n.props.get("symbol") or n.name for n in store.iter_nodes(NodeLabel.GENE)}
        for e in store.iter_edges(RelType.ASSOCIATED_WITH):
            if e.dst in d_ix and symbols.get(e.src) and d_ix[e.dst] not in genes[symbols[e.src]]:
                genes[symbols[e.src]].append(d_ix[e.dst])

        return cls(
            terms,
            diseases,
            ic,
            background.astype(np.float32),
            anc_csc,
            profile,
            annotations,
            excludes,
            names,
            dict(genes),
            dict(parents),
            members,
        )

    def with_text(self, store: KGStore, *, progress: bool = False) -> KGIndex:
        """Compute :attr:`text_embedding` and :attr:`similar` if they are missing (embeds every
        phenotype: minutes, once; the embeddings are cached in the user's cache folder). Returns
        ``self``."""
        if self.similar is None or self.text_embedding is None:
            from kgdx.reasoning.similar import phenotype_embeddings, similar_terms
            from kgdx.settings import get_settings

            emb = phenotype_embeddings(self, store, cache_dir=get_settings().cache_dir, progress=progress)
            self.text_embedding = emb.astype(np.float16)
            self.similar = similar_terms(self, emb)
        return self

    @classmethod
    def for_store(cls, store: KGStore, *, text: bool = False) -> KGIndex:
        """:meth:`from_store`, cached beside the snapshot the store was loaded from.

        Building the index takes seconds; reading it back takes a fraction of one, which is most
        of what a cold ``kgdx diagnose`` or a notebook's first cell waits for. The cache
        (``<snapshot>/cache/index-<fingerprint>.npz``, plain arrays, no pickle) is keyed on the
        snapshot's files, so ``kg extend`` or a rebuild makes a new one. A store changed in memory
        after loading, or one not loaded from a snapshot (Neo4j), is indexed afresh. A snapshot
        folder that cannot be written to is simply not cached.

        Args:
            store: The KG.
            text: Also compute the text embeddings and neighbours (:meth:`with_text`) if the
                cached index lacks them, and cache them with it.
        """
        folder = getattr(store, "snapshot_path", None)
        if folder is None:
            index = cls.from_store(store)
            return index.with_text(store, progress=True) if text else index
        cache = Path(folder) / "cache" / f"index-{_fingerprint(Path(folder))}.npz"
        index = None
        if cache.is_file():
            with contextlib.suppress(OSError, ValueError, KeyError):  # unreadable or older: rebuilt below
                index = cls.load(cache, text=text)
            if index is not None and (index.text_embedding is not None or not text):
                return index
        index = index or cls.from_store(store)
        if text:
            index.with_text(store, progress=True)
        try:
            for old in cache.parent.glob("index-*.npz"):
                old.unlink()
            index.save(cache)
        except OSError:
            pass
        return index

    def save(self, path: str | Path) -> Path:
        """Write the index as one ``.npz`` of plain arrays (atomically: a temporary file, then a rename)."""
        path = Path(path)
        arrays: dict[str, np.ndarray] = {
            "format": np.array(INDEX_FORMAT),
            "phenotypes": np.array(self.phenotypes, dtype=str),
            "diseases": np.array(self.diseases, dtype=str),
            "disease_names": np.array(self.disease_names, dtype=str),
            "ic": self.ic,
            "background": self.background,
        }
        for name in ("ancestors", "profile", "annotations", "excludes"):
            m = getattr(self, name)
            arrays |= {f"{name}.data": m.data, f"{name}.indices": m.indices, f"{name}.indptr": m.indptr}
            arrays[f"{name}.shape"] = np.array(m.shape)
        if self.similar is not None:
            m = self.similar
            arrays |= {"similar.data": m.data, "similar.indices": m.indices, "similar.indptr": m.indptr}
            arrays["similar.shape"] = np.array(m.shape)
        if self.text_embedding is not None:
            arrays["text_embedding"] = self.text_embedding
        arrays |= _ragged("members", self.members, str)
        arrays |= _ragged("genes", list(self.disease_genes.values()), np.int64)
        arrays["genes.keys"] = np.array(list(self.disease_genes), dtype=str)
        arrays |= _ragged("parents", list(self.parents.values()), np.int64)
        arrays["parents.keys"] = np.array(list(self.parents), dtype=np.int64)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, **arrays)
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path, *, text: bool = True) -> KGIndex:
        """Read an index written by :meth:`save`; with ``text=False`` its text embeddings and
        neighbours, if any, stay on disk (a model that reads no embedding starts faster).

        Raises:
            ValueError: if the file is from another index format.
        """
        with np.load(path, allow_pickle=False) as z:
            if str(z["format"]) != INDEX_FORMAT:
                raise ValueError(f"index format {z['format']} is not {INDEX_FORMAT}")

            def matrix(name: str, kind: type) -> sp.spmatrix:
                shape = tuple(int(x) for x in z[f"{name}.shape"])
                return kind((z[f"{name}.data"], z[f"{name}.indices"], z[f"{name}.indptr"]), shape=shape)

            members = [tuple(m) for m in _unragged(z, "members")]
            genes = dict(zip(z["genes.keys"].tolist(), [list(g) for g in _unragged(z, "genes")], strict=True))
            parents = dict(zip(z["parents.keys"].tolist(), [list(p) for p in _unragged(z, "parents")], strict=True))
            similar = matrix("similar", sp.csr_matrix) if text and "similar.shape" in z.files else None
            embedding = z["text_embedding"] if text and "text_embedding" in z.files else None
            return cls(
                z["phenotypes"].tolist(),
                z["diseases"].tolist(),
                z["ic"],
                z["background"],
                matrix("ancestors", sp.csc_matrix),
                matrix("profile", sp.csc_matrix),
                matrix("annotations", sp.csr_matrix),
                matrix("excludes", sp.csc_matrix),
                z["disease_names"].tolist(),
                genes,
                parents,
                members,
                similar,
                embedding,
            )

    def ancestors_of(self, t: int) -> np.ndarray:
        """Indices of ``t`` and its ancestors."""
        a = self.ancestors
        return a.indices[a.indptr[t] : a.indptr[t + 1]]

    @cached_property
    def _descendants(self) -> sp.csr_matrix:  # row t lists t and its descendants
        return self.ancestors.tocsr()

    def descendants_of(self, t: int) -> np.ndarray:
        """Indices of ``t`` and its descendants."""
        d = self._descendants
        return d.indices[d.indptr[t] : d.indptr[t + 1]]

    def closure(self, terms: Sequence[int]) -> np.ndarray:
        """``terms`` and all their ancestors, sorted and unique."""
        if not len(terms):
            return np.zeros(0, np.int64)
        return np.unique(np.concatenate([self.ancestors_of(int(t)) for t in terms]))

    def phenotypic_abnormalities(self) -> np.ndarray | None:
        """The terms under HPO's *Phenotypic abnormality* (itself included), or ``None`` for a KG
        without that root."""
        root = self.phenotype_index.get(PHENOTYPIC_ABNORMALITY)
        return None if root is None else self.descendants_of(root)

    def rows_reaching(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        """Diseases whose profile reaches term ``t``, and the frequency there."""
        p = self.profile
        lo, hi = p.indptr[t], p.indptr[t + 1]
        return p.indices[lo:hi], p.data[lo:hi]
