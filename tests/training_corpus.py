"""Shared helpers of the training tests: a tiny labelled corpus that a tiny BLOOM learns in a few
steps (keyword-driven labels), its tokenizer, and a tiny classifier over the sentiment labels."""

import random

import torch
from transformers import BloomForSequenceClassification

from bloomwatch.tasks import labels_for
from training.data import Example
from training.finetune import FinetuneConfig, FinetuneResult, finetune
from training.modeling import bloom_config
from training.tokenizer import train_bpe_tokenizer

_WORDS = {
    "negative": ["awful", "broken", "terrible", "rude", "slow"],
    "neutral": ["listed", "scheduled", "located", "announced", "released"],
    "positive": ["great", "lovely", "superb", "friendly", "fast"],
}
_FILLER = ["the", "phone", "hotel", "order", "service", "was", "is", "today", "really", "and"]


def keyword_examples(n: int, seed: int = 0, source: str = "toy") -> list[Example]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        label = list(_WORDS)[i % 3]
        words = rng.sample(_FILLER, 4) + [rng.choice(_WORDS[label])]
        rng.shuffle(words)
        out.append(Example(" ".join(words), label, source))
    return out


def keyword_tokenizer():
    """A BPE tokenizer trained on the keyword corpus (seconds)."""
    return train_bpe_tokenizer([e.text for e in keyword_examples(300)], vocab_size=300)


def tiny_sentiment_classifier(tokenizer) -> BloomForSequenceClassification:
    """A tiny BLOOM over the sentiment labels, seeded: two calls start two runs from the same weights."""
    torch.manual_seed(0)
    labels = labels_for("sentiment")
    config = bloom_config(
        "tiny",
        tokenizer,
        num_labels=3,
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
    )
    return BloomForSequenceClassification(config)


def finetune_tiny(
    tokenizer, train: list[Example], val: list[Example], config: FinetuneConfig, **options
) -> FinetuneResult:
    """Fine-tune a fresh `tiny_sentiment_classifier` on CPU, quietly (`options`: finetune's keywords,
    e.g. soft=, origin=): runs compared with each other start from the same weights."""
    model = tiny_sentiment_classifier(tokenizer)
    return finetune(
        model, tokenizer, train, val, labels_for("sentiment"), config, device="cpu", progress=False, **options
    )
