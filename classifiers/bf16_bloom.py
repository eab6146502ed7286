"""BLOOM in bf16 for inference, with its attention core computed in fp32.

BLOOM's ALiBi bias grows with position (a bias of ~250 at position 500 for the steepest head).
In bf16 (8 bits of mantissa) that is rounded to a multiple of 1-2, and the scores it is added to
lose the same: on long texts the attention weights, and so the labels, change. Measured on the
shipped `sentiment-v1` over the first 600 IMDB test reviews (~280 tokens each): plain bf16 kept
99.5% of fp32's labels with a largest probability change of 0.41; with the scores, softmax and
weighted sum of values in fp32 100% and 0.0076, and the pass was faster too (torch's bf16 batched
matmuls with 32-wide heads are slow here). The projections (QKV, output, MLP), which hold almost
all the FLOPs of a short text, stay bf16.

Done with hooks, so the attention code (classifiers/fused_attention.py) runs unchanged: the QKV
projection hands fp32 to the attention core, the output projection casts back to bf16.

The MLP's first projection and its tanh GELU run as one oneDNN call (the GELU applied to each
output block while it is in cache, as torch's own compiler does on CPU): in bf16 the separate
GELU pass cost about as much as in fp32, 17% of a pass on short texts, against ~0 fused.

Every projection sees its rows (batch x width tokens) padded to a multiple of `ROW_QUANTUM`.
oneDNN builds (JIT-compiles) a bf16 matmul kernel for each new input shape, and a batch of texts
of arbitrary lengths is almost always a new shape: on an AMX host (2026-12-02) a first-seen shape
cost 40-90 ms on top of a 60-170 ms pass, and a cold server classified 1,000 short texts at
~220 docs/s against ~500 once their shapes had been seen. Padded, the 8,192-token batch budget
leaves at most 32 shapes per projection, compiled in the first few batches, and the cold pass
ran at 456-475 docs/s for at most 255 wasted rows per call. fp32 (MKL) has no per-shape cost.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from transformers.models.bloom.modeling_bloom import BloomForSequenceClassification


def _output_as_fp32(module, inputs, output: torch.Tensor) -> torch.Tensor:
    return output.float()


def _input_as_bf16(module, inputs: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    return tuple(x.to(torch.bfloat16) for x in inputs)


class LinearTanhGelu(torch.nn.Module):
    """`gelu_tanh(linear(x))` in one oneDNN call (torch.ops.mkldnn, the kernel torch.compile uses on CPU)."""

    def __init__(self, linear: torch.nn.Linear):
        super().__init__()
        self.weight, self.bias = linear.weight, linear.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.mkldnn._linear_pointwise(x, self.weight, self.bias, "gelu", [], "tanh")


ROW_QUANTUM = 256


class PaddedRows(torch.nn.Module):
    """`module(x)` with x's rows (all dimensions but the last) padded to a multiple of ROW_QUANTUM."""

    def __init__(self, module: torch.nn.Module):
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.reshape(-1, x.shape[-1])
        padded = F.pad(rows, (0, 0, 0, -rows.shape[0] % ROW_QUANTUM))
        out = self.module(padded)[: rows.shape[0]]
        return out.reshape(*x.shape[:-1], out.shape[-1])


def to_bf16_with_fp32_attention(model: BloomForSequenceClassification) -> BloomForSequenceClassification:
    """The model in bf16 weights and activations, except the attention core (see module doc)."""
    model = model.to(torch.bfloat16)  # type: ignore[arg-type]  # transformers wraps `to` with functools.wraps, which mypy does not bind
    block: Any  # its layers are replaced by modules of other classes than BLOOM declares
    for block in model.transformer.h:
        attention, mlp = block.self_attention, block.mlp
        if torch.backends.mkldnn.is_available():
            mlp.dense_h_to_4h = LinearTanhGelu(mlp.dense_h_to_4h)
            mlp.gelu_impl = torch.nn.Identity()
        attention.query_key_value, attention.dense = PaddedRows(attention.query_key_value), PaddedRows(attention.dense)
        mlp.dense_h_to_4h, mlp.dense_4h_to_h = PaddedRows(mlp.dense_h_to_4h), PaddedRows(mlp.dense_4h_to_h)
        attention.query_key_value.register_forward_hook(_output_as_fp32)
        attention.dense.register_forward_pre_hook(_input_as_bf16)
    model.set_submodule("score", PaddedRows(model.score))
    return model
