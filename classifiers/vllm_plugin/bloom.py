"""BLOOM sequence classifier for vLLM that loads and computes like transformers' BLOOM.

Two fixes to vLLM 0.32's BLOOM, everything else (backbone, last-token pooling, softmax) is vLLM's:
- Weight names. vLLM builds BLOOM classifiers by wrapping `BloomForCausalLM` (`as_seq_cls_model`),
  whose loader prefixes every checkpoint name with `transformer.`; the head `score.weight` becomes
  `transformer.score.weight` and loading fails ("There is no module or parameter named 'score' in
  BloomModel"). Upstream fixed this for GPT-2 only (vLLM PR 43579) by leaving `score.*`
  unprefixed; this does the same for BLOOM.
- Activation. vLLM's BloomMLP uses the exact (erf) GELU; BLOOM was trained with, and transformers
  runs, the tanh approximation. On a trained model the difference moved logits by up to 1.3e-3
  and probabilities by up to 2.9e-4 (1000 texts); with the tanh GELU vLLM matches transformers.
"""

from collections.abc import Iterable

import torch
from vllm.model_executor.layers.activation import get_act_fn
from vllm.model_executor.models.adapters import as_seq_cls_model
from vllm.model_executor.models.bloom import BloomForCausalLM, BloomMLP
from vllm.model_executor.models.utils import AutoWeightsLoader

_TOP_LEVEL_PREFIXES = ("transformer.", "score.", "lm_head.")


def _prefix_backbone_weights(weights: Iterable[tuple[str, torch.Tensor]]) -> Iterable[tuple[str, torch.Tensor]]:
    """HF BLOOM checkpoints may omit the `transformer.` prefix; heads keep their own names."""
    for name, tensor in weights:
        yield (name if name.startswith(_TOP_LEVEL_PREFIXES) else f"transformer.{name}"), tensor


class _BloomForCausalLMWithHeads(BloomForCausalLM):
    def __init__(self, *, vllm_config, prefix: str = ""):
        super().__init__(vllm_config=vllm_config, prefix=prefix)
        for module in self.modules():
            if isinstance(module, BloomMLP):
                module.gelu_impl = get_act_fn("gelu_pytorch_tanh")

    def load_weights(self, weights: Iterable[tuple[str, torch.Tensor]]) -> set[str]:
        return AutoWeightsLoader(self).load_weights(_prefix_backbone_weights(weights))


BloomForSequenceClassification = as_seq_cls_model(_BloomForCausalLMWithHeads)
BloomForSequenceClassification.__name__ = "BloomForSequenceClassification"
