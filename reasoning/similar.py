"""Text-embedding neighbours of phenotypes: evidence the ``IS_A`` closure cannot carry.

Two findings can mean nearly the same and still share no informative ancestor in HPO: *Dysphagia*
and *Feeding difficulties*, *Tremor* and *Myoclonic tremor*. The closure-based messages
(:mod:`kgdx.reasoning.evidence`) send nothing between them. Here every phenotype is embedded once
with the project's text encoder (MiniLM; its name, three synonyms and the first sentence of its
definition) and keeps its ``k`` nearest phenotypes that some disease is annotated with, excluding
its own ancestors and descendants (those the closure already covers). A finding then also sends a
message to the diseases annotated with one of its neighbours, carrying the cosine similarity, and
the model learns how much such a match is worth (``EvidenceGNNConfig.text_neighbours``). Each
disease also gets a text profile, its annotated phenotypes' embeddings weighted by frequency ×
IC, which a finding can fit (``EvidenceGNNConfig.text_fit``). Both are opt-in: measured on the
same budget, neither beat the embedding-free model (docs/reasoning.md).

The embeddings and the sparse ``(T, T)`` neighbour table are saved with the KG index beside the
snapshot, so they are computed once per KG (minutes on 2 cores) and read back in milliseconds;
the embeddings are also cached under the user's cache folder, keyed on the texts, so rebuilding
the same KG does not embed it again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from kgdx.kg.store import KGStore

__all__ = ["TEXT_WIDTH", "phenotype_text", "phenotype_embeddings", "similar_terms", "disease_embeddings"]

#: Width of the text encoder's embeddings (MiniLM), and so of every text profile.
TEXT_WIDTH = 384

#: Neighbours kept per phenotype, and the least cosine similarity that still counts.
NEIGHBOURS = 8
MIN_COSINE = 0.5


def phenotype_text(props: dict) -> str:
    """What is embedded for a phenotype: ``"name; synonym; …. First sentence of its definition."``"""
    synonyms = props.get("synonyms") or []
    definition = (props.get("definition") or "").split(". ")[0].strip()
    text = "; ".join([str(props.get("name") or ""), *[str(s) for s in list(synonyms)[:3]]]).strip("; ")
    return f"{text}. {definition}" if definition else text


def _embed(texts: Sequence[str], cache_dir: Path | None, progress: bool) -> np.ndarray:
    """L2-normalised MiniLM embeddings of ``texts``, read from / written to ``cache_dir``."""
    from kgdx.encoders.text import TextEncoder

    key = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]
    cache = cache_dir / f"phenotype-text-{key}.npy" if cache_dir is not None else None
    if cache is not None and cache.is_file():
        emb = np.load(cache, allow_pickle=False)
        if emb.shape[0] == len(texts):
            return emb
    emb = TextEncoder().encode(list(texts), batch_size=128, progress=progress)
    if cache is not None:
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_name(cache.name + ".tmp.npy")
            np.save(tmp, emb)
            tmp.replace(cache)
        except OSError:
            pass  # an unwritable cache only costs the next build the same minutes
    return emb


def phenotype_embeddings(
    index,  # noqa: ANN001 - kgdx.reasoning.index.KGIndex (imported lazily there)
    store: KGStore,
    *,
    cache_dir: Path | None = None,
    progress: bool = False,
) -> np.ndarray:
    """``(T, D)`` L2-normalised text embeddings of the index's phenotypes (:func:`phenotype_text`)."""
    texts = []
    for t in index.phenotypes:
        node = store.node(t)
        texts.append(phenotype_text(node.props if node is not None else {"name": t}) or t)
    return _embed(texts, cache_dir, progress)


def similar_terms(
    index,  # noqa: ANN001 - kgdx.reasoning.index.KGIndex
    embeddings: np.ndarray,
    *,
    k: int = NEIGHBOURS,
    min_cosine: float = MIN_COSINE,
) -> sp.csr_matrix:
    """Each phenotype's ``k`` most similar annotated phenotypes outside its own lineage.

    Args:
        index: The KG index (its phenotypes, annotations and hierarchy).
        embeddings: ``(T, D)`` L2-normalised embeddings in the index's phenotype order
            (:func:`phenotype_embeddings`).
        k: Neighbours kept per phenotype.
        min_cosine: Less similar neighbours are dropped.

    Returns:
        ``(T, T)`` CSR matrix: row ``t`` holds the cosine similarity of each kept neighbour.
    """
    T = index.num_phenotypes
    emb = np.asarray(embeddings, np.float32)
    ann = index.annotations.tocsc()
    targets = np.flatnonzero(np.diff(ann.indptr) > 0)  # terms some disease is annotated with
    rows, cols, vals = [], [], []
    if len(targets):
        sims_all = emb @ emb[targets].T  # (T, A); a few seconds for HPO
        for t in range(T):
            sims = sims_all[t]
            m = min(4 * k + 8, len(sims))
            top = np.argpartition(-sims, m - 1)[:m]
            order = top[np.argsort(-sims[top], kind="stable")]
            lineage = np.union1d(index.ancestors_of(t), index.descendants_of(t))
            kept = 0
            for j in order:
                if sims[j] < min_cosine or kept >= k:
                    break
                a = targets[j]
                if a == t or np.isin(a, lineage, assume_unique=True):
                    continue
                rows.append(t)
                cols.append(a)
                vals.append(sims[j])
                kept += 1
    return sp.csr_matrix((np.array(vals, np.float32), (rows, cols)), shape=(T, T))


def disease_embeddings(index, embeddings: np.ndarray) -> np.ndarray:  # noqa: ANN001
    """``(D, D')`` L2-normalised text profile of each disease: its annotated phenotypes'
    embeddings weighted by frequency × information content, so specific, frequent features
    dominate (a disease's "description" in the phenotypes' own words)."""
    weighted = index.annotations.multiply(index.ic[None, :]).tocsr()
    out = np.asarray(weighted @ np.asarray(embeddings, np.float32), np.float32)
    out /= np.linalg.norm(out, axis=1, keepdims=True) + 1e-9
    return out
