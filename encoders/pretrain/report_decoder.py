"""The report-generation decoder: a causal transformer cross-attending to the fused slice tokens.

MedMPT uses a 6-layer BERT decoder with BLIP-style weight sharing with the text encoder. Here
the decoder shares the text encoder's word embeddings for its input and (transposed) for its
output layer, so both towers speak one vocabulary; self- and cross-attention layers are its own.
Tokens come from the text encoder's tokenizer.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from kgdx.encoders.pretrain.config import ReportDecoderCfg
from kgdx.encoders.vit import init_transformer_weights

__all__ = ["ReportDecoder"]


class ReportDecoder(nn.Module):
    """Predict report tokens from scan slice tokens.

    Args:
        word_embeddings: The text encoder's token embedding (tied; shape ``(V, E)``).
        memory_dim: Width of the fused slice tokens.
        cfg: Width, depth, heads, maximum length, dropout.
    """

    def __init__(self, word_embeddings: nn.Embedding, memory_dim: int, cfg: ReportDecoderCfg) -> None:
        super().__init__()
        self.cfg = cfg
        self.word_embeddings = word_embeddings  # shared, not owned: the text encoder registers it too
        e = word_embeddings.embedding_dim
        self.in_proj = nn.Linear(e, cfg.width) if e != cfg.width else nn.Identity()
        self.out_proj = nn.Linear(cfg.width, e) if e != cfg.width else nn.Identity()
        self.memory_proj = nn.Linear(memory_dim, cfg.width)
        self.pos_embed = nn.Parameter(torch.zeros(1, cfg.max_length, cfg.width))
        layer = nn.TransformerDecoderLayer(
            cfg.width, cfg.heads, 4 * cfg.width, cfg.dropout, activation="gelu", batch_first=True, norm_first=True
        )
        self.decoder = nn.TransformerDecoder(layer, cfg.depth)
        self.norm = nn.LayerNorm(cfg.width)
        self.out_bias = nn.Parameter(torch.zeros(word_embeddings.num_embeddings))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.zeros_(self.out_bias)
        for m in (self.in_proj, self.out_proj, self.memory_proj, self.decoder, self.norm):
            init_transformer_weights(m)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        """Next-token logits ``(B, T, V)`` for tokens ``(B, T)`` given slice tokens ``(B, S, D)``."""
        t = input_ids.shape[1]
        if t > self.cfg.max_length:
            raise ValueError(f"reports of {t} tokens exceed report.max_length {self.cfg.max_length}")
        x = self.in_proj(self.word_embeddings(input_ids)) + self.pos_embed[:, :t]  # (B, T, W)
        causal = torch.triu(torch.ones(t, t, dtype=torch.bool, device=x.device), diagonal=1)  # True: may not attend
        h = self.decoder(
            x,
            self.memory_proj(memory),
            tgt_mask=causal,
            tgt_key_padding_mask=~attention_mask.bool(),
            tgt_is_causal=True,
        )
        h = self.out_proj(self.norm(h))  # (B, T, E)
        return F.linear(h, self.word_embeddings.weight, self.out_bias)  # tied output layer

    def loss(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        """Teacher-forced cross-entropy of each next token, padding ignored."""
        logits = self(input_ids[:, :-1], attention_mask[:, :-1], memory)  # (B, T-1, V)
        target = input_ids[:, 1:].masked_fill(attention_mask[:, 1:] == 0, -100)
        return F.cross_entropy(logits.float().flatten(0, 1), target.flatten(), ignore_index=-100)

    @torch.no_grad()
    def generate(self, memory: torch.Tensor, bos_id: int, eos_id: int, max_new: int = 60) -> torch.Tensor:
        """Greedy decoding from ``bos_id`` until ``eos_id``: token ids ``(B, ≤ max_new + 1)``."""
        b = memory.shape[0]
        ids = torch.full((b, 1), bos_id, dtype=torch.long, device=memory.device)
        done = torch.zeros(b, dtype=torch.bool, device=memory.device)
        for _ in range(min(max_new, self.cfg.max_length - 1)):
            logits = self(ids, torch.ones_like(ids), memory)[:, -1]
            nxt = logits.argmax(-1).masked_fill(done, eos_id)
            ids = torch.cat([ids, nxt[:, None]], dim=1)
            done |= nxt == eos_id
            if done.all():
                break
        return ids

    def extra_repr(self) -> str:
        c = self.cfg
        return f"width={c.width}, depth={c.depth}, heads={c.heads}, max_length={c.max_length}, vocab={self.out_bias.numel()}"
