"""BLOOM's attention core as one fused `scaled_dot_product_attention` call, for inference.

transformers' BLOOM materialises the scores of every head (`baddbmm` with the ALiBi bias), adds
the padding mask, runs a separate softmax and a batched matmul with the values, copying the
heads apart and back on the way: profiled on batches with full-length reviews, that core took
more time than all the projections. torch's fused kernel does the same arithmetic in cache-sized
blocks.

ALiBi is passed as the bias `slope x (key position - query position)`, -inf above the diagonal,
one (heads, length, length) tensor shared by every text of a batch and every layer. BLOOM builds
`slope x key position` instead; the two differ by a constant per row, which softmax ignores, so
the attention weights are the same. No padding mask is needed because the engine pads on the
right: a real token attends only to the tokens before it, which are all real, and the pooled
logits are read at each text's last real token. Left-padded input would be wrong here.

The scores are computed in the dtype of the query projection's output: fp32 in both engine
precisions (the bf16 engine casts the QKV output up; see classifiers/bf16_bloom.py).
"""

from __future__ import annotations

from functools import lru_cache
from types import MethodType
from typing import Any

import torch
import torch.nn.functional as F
from transformers.models.bloom.modeling_bloom import (
    BloomAttention,
    BloomForSequenceClassification,
    build_alibi_tensor,
    dropout_add,
)


@lru_cache(maxsize=16)
def _alibi_table(num_heads: int, size: int) -> torch.Tensor:
    """(1, heads, size, size) fp32: slope x (key - query) on and below the diagonal, -inf above."""
    slopes = build_alibi_tensor(torch.ones(1, 2, dtype=torch.long), num_heads, torch.float32)[
        :, 0, 1
    ]  # slope x position 1
    positions = torch.arange(size, dtype=torch.float32)
    distance = positions[None, :] - positions[:, None]
    bias = slopes[:, None, None] * distance
    return bias.masked_fill(distance > 0, float("-inf"))[None]


def _relative_alibi(num_heads: int, length: int) -> torch.Tensor:
    """The bias for `length` tokens: the top-left corner of a table cached per power of two, so
    batches of every width up to 512 share ten tables (together ~1.3x the 512 one: 8 MB for 8
    heads) instead of one cached per width."""
    size = 1 << max(0, length - 1).bit_length()
    return _alibi_table(num_heads, size)[..., :length, :length]


def _fused_forward(self: BloomAttention, hidden_states: torch.Tensor, residual: torch.Tensor, *args, **kwargs):
    batch, length, _ = hidden_states.shape
    fused_qkv = self.query_key_value(hidden_states).view(batch, length, self.num_heads, 3, self.head_dim)
    query, key, value = (fused_qkv[..., i, :].transpose(1, 2) for i in range(3))  # (batch, heads, length, head_dim)
    bias = _relative_alibi(self.num_heads, length).to(query.dtype)
    context = F.scaled_dot_product_attention(query, key, value, attn_mask=bias, scale=self.inv_norm_factor)
    output = self.dense(context.transpose(1, 2).reshape(batch, length, self.num_heads * self.head_dim))
    return dropout_add(output, residual, self.hidden_dropout, self.training), None


def use_fused_attention(model: BloomForSequenceClassification) -> BloomForSequenceClassification:
    """Every block's attention through `_fused_forward` (inference without a KV cache, right-padded)."""
    block: Any  # its attention's forward method is replaced
    for block in model.transformer.h:
        block.self_attention.forward = MethodType(_fused_forward, block.self_attention)
    return model
