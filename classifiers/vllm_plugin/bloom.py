"""BLOOM sequence classifier for vLLM with the checkpoint names transformers writes.

vLLM 0.32 builds BLOOM classifiers by wrapping `BloomForCausalLM` (`as_seq_cls_model`), whose
weight loader prefixes every checkpoint name with `transformer.`; the classification head
`score.weight` then becomes `transformer.score.weight` and loading fails ("There is no module or
parameter named 'score' in BloomModel"). Upstream fixed the same bug for GPT-2 only (vLLM PR
43579) by leaving `score.*` unprefixed; this does the same for BLOOM. Everything else (backbone,
last-token pooling, softmax) is vLLM's own code.
"""

from collections.abc import Iterable

import torch
from vllm.model_executor.models.adapters import as_seq_cls_model
from vllm.model_executor.models.bloom import BloomForCausalLM
from vllm.model_executor.models.utils import AutoWeightsLoader

_TOP_LEVEL_PREFIXES = ("transformer.", "score.", "lm_head.")


def _prefix_backbone_weights(weights: Iterable[tuple[str, torch.Tensor]]) -> Iterable[tuple[str, torch.Tensor]]:
    """HF BLOOM checkpoints may omit the `transformer.` prefix; heads keep their own names."""
    for name, tensor in weights:
        yield (name if name.startswith(_TOP_LEVEL_PREFIXES) else f"transformer.{name}"), tensor


class _BloomForCausalLMWithHeads(BloomForCausalLM):
    def load_weights(self, weights: Iterable[tuple[str, torch.Tensor]]) -> set[str]:
        return AutoWeightsLoader(self).load_weights(_prefix_backbone_weights(weights))


BloomForSequenceClassification = as_seq_cls_model(_BloomForCausalLMWithHeads)
BloomForSequenceClassification.__name__ = "BloomForSequenceClassification"
