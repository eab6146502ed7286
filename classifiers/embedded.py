"""The embedded engine: a registry model run in-process with transformers.

It is the default deployment (no vLLM process, no GPU) and the reference the vLLM server is
checked against, so it mirrors vLLM's input handling exactly: same tokenizer call (special tokens
added), same truncation rules (`truncate_prompt_tokens`: None rejects over-long prompts, -1 means
the model's max length; the side defaults to the tokenizer's), last-token pooling, softmax.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from bloomwatch.prediction import Prediction
from classifiers.batching import token_budget_batches
from classifiers.bf16_bloom import to_bf16_with_fp32_attention
from classifiers.fused_attention import use_fused_attention
from training.registry import DEFAULT_LANGUAGES, ModelVersion


class InvalidPrompt(ValueError):
    """The input cannot be classified as sent (empty, or too long without truncation)."""


def configure_threads(threads: int) -> None:
    """Pin torch's intra-op threads; on a shared 2-core box the default oversubscribes."""
    if threads > 0:
        torch.set_num_threads(threads)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


class EmbeddedEngine:
    def __init__(
        self,
        model_dir: Path | str,
        *,
        name: str,
        labels: tuple[str, ...],
        languages: tuple[str, ...] = DEFAULT_LANGUAGES,
        max_model_len: int = 512,
        max_batch_tokens: int = 8192,
        precision: str = "fp32",
    ):
        """`precision`: fp32, bf16 (weights and activations, attention scores in fp32; logits returned as fp32) or int8
        (dynamic int8 Linear layers). `classifiers.precision.load_engine` chooses for `auto`.
        `languages`: what the model reads (its version's manifest), announced on `/v1/models`."""
        self.name = name
        self.path = Path(model_dir)
        self.labels = labels
        self.languages = languages
        self.max_model_len = max_model_len
        self.max_batch_tokens = max_batch_tokens
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        model = AutoModelForSequenceClassification.from_pretrained(model_dir, dtype=torch.float32).eval()
        if model.config.num_labels != len(labels):
            raise ValueError(f"{model_dir} has {model.config.num_labels} outputs; labels are {labels}")
        if model.config.pad_token_id is None:
            # last-token pooling finds each text's end by the pad id
            model.config.pad_token_id = self.tokenizer.pad_token_id
        self.pad_token_id = model.config.pad_token_id
        for module in model.modules():
            if hasattr(module, "gelu_impl"):
                # BLOOM's GELU is the tanh approximation spelt as eight elementwise ops; torch's fused
                # kernel computes the same function (as vLLM's BLOOM does): ~1.4x the throughput
                # here, probabilities move < 1e-6.
                module.gelu_impl = torch.nn.GELU(approximate="tanh")
        # one fused attention kernel instead of transformers' separate scores, mask, softmax and
        # matmul: 1.6x (fp32) / 2.2x (bf16) a pass on full-length reviews, the same on short
        # texts, same probabilities (< 1e-6; bench/attention.py)
        model = use_fused_attention(model)
        if precision == "bf16":
            # bf16 weights rather than autocast: no per-pass cast of every weight matrix
            model = to_bf16_with_fp32_attention(model)
        elif precision == "int8":
            # Dynamic int8 (weights int8, activations quantised per batch) on every Linear layer:
            # faster matmuls on CPUs without native bf16, for a small accuracy cost; opt-in.
            model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
        elif precision != "fp32":
            raise ValueError(f"unknown precision {precision!r}; known: fp32, bf16, int8")
        self.precision = precision
        self.model = model

    @classmethod
    def from_version(cls, version: ModelVersion, **kwargs) -> EmbeddedEngine:
        return cls(version.path, name=version.name, labels=version.labels, languages=version.languages, **kwargs)

    def tokenize(
        self, texts: list[str], truncate_prompt_tokens: int | None = -1, truncation_side: str | None = None
    ) -> list[list[int]]:
        ids = self.tokenizer(texts, add_special_tokens=True)["input_ids"]
        if any(not row for row in ids):
            raise InvalidPrompt("The decoder prompt cannot be empty")
        if truncate_prompt_tokens is None:
            too_long = [i for i, row in enumerate(ids) if len(row) > self.max_model_len]
            if too_long:
                raise InvalidPrompt(
                    f"input {too_long[0]} has {len(ids[too_long[0]])} tokens; the maximum context length is "
                    f"{self.max_model_len} (send truncate_prompt_tokens=-1 to truncate)"
                )
            return ids
        limit = self.max_model_len if truncate_prompt_tokens == -1 else truncate_prompt_tokens
        if not 0 < limit <= self.max_model_len:
            raise InvalidPrompt(
                f"truncate_prompt_tokens={truncate_prompt_tokens} must be -1 or in 1..{self.max_model_len}"
            )
        side = truncation_side or self.tokenizer.truncation_side
        return [row[:limit] if side == "right" else row[-limit:] for row in ids]

    @torch.inference_mode()
    def logits(self, token_ids: list[list[int]]) -> np.ndarray:
        """Raw class scores, one row per input, in input order."""
        out = np.empty((len(token_ids), len(self.labels)), dtype=np.float32)
        for batch in token_budget_batches([len(row) for row in token_ids], self.max_batch_tokens):
            width = max(len(token_ids[i]) for i in batch)
            input_ids = torch.full((len(batch), width), self.pad_token_id, dtype=torch.long)
            attention_mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, index in enumerate(batch):
                length = len(token_ids[index])
                input_ids[row, :length] = torch.tensor(token_ids[index])
                attention_mask[row, :length] = 1
            scores = self.model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits
            out[batch] = scores.float().numpy()
        return out

    def classify(self, texts: list[str]) -> list[Prediction]:
        """Truncating to the model's max length, like the HTTP client asks vLLM to."""
        probs = softmax(self.logits(self.tokenize(texts)))
        return [
            Prediction(
                label=self.labels[int(row.argmax())],
                probs={label: float(p) for label, p in zip(self.labels, row, strict=True)},
                model_version=self.name,
            )
            for row in probs
        ]
