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
"""

from __future__ import annotations

import torch
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


def to_bf16_with_fp32_attention(model: BloomForSequenceClassification) -> BloomForSequenceClassification:
    """The model in bf16 weights and activations, except the attention core (see module doc)."""
    model = model.to(torch.bfloat16)
    for block in model.transformer.h:
        block.self_attention.query_key_value.register_forward_hook(_output_as_fp32)
        block.self_attention.dense.register_forward_pre_hook(_input_as_bf16)
        if torch.backends.mkldnn.is_available():
            block.mlp.dense_h_to_4h = LinearTanhGelu(block.mlp.dense_h_to_4h)
            block.mlp.gelu_impl = torch.nn.Identity()
    return model
