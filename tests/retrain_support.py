"""A small world for the retraining tests and bench: an original corpus a tiny model is trained on,
and a 'new vocabulary' (slang) the same task's documents start to arrive in, which it gets wrong."""

from __future__ import annotations

import json
import random
from pathlib import Path

from training.finetune import FinetuneConfig
from training.pipeline import fast_options, train_task
from training.pretrain import PretrainConfig
from training.registry import ModelVersion, Registry
from training.synthetic import synthetic_examples

# `bloomwatch retrain` settings for this tiny model (the test and the bench). The LoRA rate 1e-2:
# with the retrain's LoRA on the word embeddings the new-label holdout goes 0.26 -> 0.98 (5e-3:
# 0.90, 2e-2 diverges and is rejected); with the embeddings frozen it went only 0.26 -> 0.36.
# The fixed test split holds ~20 sentences (one is 5 %), hence the wider gate margin. The slang
# has 144 distinct sentences (labels are one per text), so ~25 are held out: the minimum is 20.
RETRAIN_ENV = {
    "BLOOMWATCH_RETRAIN_EPOCHS": "10",
    "BLOOMWATCH_RETRAIN_LR": "1e-2",
    "BLOOMWATCH_RETRAIN_GATE_MARGIN": "0.1",
    "BLOOMWATCH_RETRAIN_MIN_HOLDOUT": "20",
    # the tiny model is underconfident (ECE 0.33): its top probability on its own corpus's
    # sentences is 0.55-0.74 (median 0.71, measured 2026-12-07), never the default 0.8
    "BLOOMWATCH_RETRAIN_REHEARSAL_MIN_CONFIDENCE": "0.6",
    "BLOOMWATCH_RELOAD_POLL_S": "0.5",
}

SLANG = {
    "negative": [
        "is straight up mid",
        "got ratioed so hard",
        "is giving the ick",
        "is lowkey trash",
        "flopped big time",
        "is a whole scam fr",
    ],
    "neutral": [
        "dropped at noon today",
        "is on the roadmap",
        "comes in two sizes",
        "got a new sku",
        "ships next week",
        "is in the group chat",
    ],
    "positive": [
        "absolutely slaps",
        "is bussin fr",
        "ate and left no crumbs",
        "is lowkey goated",
        "hits different",
        "is a total vibe",
    ],
}
SLANG_SUBJECTS = [
    "the drip",
    "this collab",
    "the merch",
    "the new drop",
    "that playlist",
    "the glow up",
    "this fit",
    "the sequel",
]


def slang_examples(n: int, seed: int = 7, prefix: str = "slang") -> list[dict]:
    """`n` documents in the new vocabulary with their true sentiment, over two sources."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        label = rng.choice(list(SLANG))
        text = f"{rng.choice(SLANG_SUBJECTS).capitalize()} {rng.choice(SLANG[label])}."
        source = "slang-shop" if i % 2 else "slang-wire"
        out.append({"id": f"{prefix}-{i:04d}", "source": source, "kind": "review", "text": text, "label": label})
    return out


def write_original_corpus(path: Path) -> Path:
    """The current model's training data (split 80/10/10 by the pipeline: its fixed test split)."""
    path.write_text(
        "".join(json.dumps({"text": e.text, "label": e.label}) + "\n" for e in synthetic_examples("sentiment"))
    )
    return path


def train_current_model(registry: Registry, home: Path, data_file: Path) -> ModelVersion:
    """A tiny sentiment model trained on the original corpus (about half a minute on 2 cores)."""
    options = fast_options(
        "sentiment",
        data_file=data_file,
        progress=False,
        pretrain=PretrainConfig(steps=40, seq_len=32, batch_size=16, lr=3e-3),
        finetune=FinetuneConfig(epochs=6, batch_size=16, lr=3e-3, max_len=32, patience=3),
    )
    return train_task(options=options, registry=registry, home=home)


def accuracy(sentiment_url: str, examples: list[dict]) -> tuple[float, set[str]]:
    """Accuracy of the served sentiment model on labelled examples, and the versions that answered."""
    import asyncio

    from classifiers.client import ClassifyClient

    async def classify():
        async with ClassifyClient(sentiment_url, "sentiment") as client:
            return await client.classify([e["text"] for e in examples])

    predictions = asyncio.run(classify())
    correct = sum(p.label == e["label"] for p, e in zip(predictions, examples, strict=True))
    return correct / len(examples), {p.model_version for p in predictions}
