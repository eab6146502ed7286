"""The embedded engine in-process: batching by token budget must not change any answer."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from serving_support import varied_texts
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from classifiers.batching import token_budget_batches
from classifiers.embedded import EmbeddedEngine, InvalidPrompt


def test_batches_respect_the_token_budget_and_the_padding_cap_and_cover_every_text():
    lengths = [5, 300, 12, 12, 80, 1, 700, 40, 11, 13, 14, 70, 75]
    batches = token_budget_batches(lengths, max_batch_tokens=256, max_padding=0.25)
    assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))
    for batch in batches:
        padded = len(batch) * max(lengths[i] for i in batch)
        assert len(batch) == 1 or (padded <= 256 and padded - sum(lengths[i] for i in batch) <= 0.25 * padded)
    flat = [lengths[i] for batch in batches for i in batch]
    assert flat == sorted(flat)  # shortest first: similar lengths share a batch
    assert [11, 12, 12, 13, 14] in [[lengths[i] for i in batch] for batch in batches]


@pytest.fixture(scope="module")
def engine(tiny_registry):
    return EmbeddedEngine.from_version(tiny_registry.current("sentiment"), max_batch_tokens=200)


def test_batched_probabilities_equal_one_text_at_a_time_transformers(engine):
    # short and review-length texts in right-padded batches: the engine's fused attention
    # (classifiers/fused_attention.py) against transformers' own, one unpadded text at a time
    texts = varied_texts(30) + [" ".join(varied_texts(n)) for n in (2, 4, 7)]
    assert 150 < max(len(ids) for ids in engine.tokenize(texts)) < engine.max_model_len
    tokenizer = AutoTokenizer.from_pretrained(engine.path)
    model = AutoModelForSequenceClassification.from_pretrained(engine.path).eval()
    with torch.inference_mode():
        expected = np.array([model(**tokenizer(t, return_tensors="pt")).logits.softmax(-1)[0].numpy() for t in texts])
    predictions = engine.classify(texts)
    got = np.array([list(p.probs.values()) for p in predictions])
    assert np.abs(got - expected).max() < 1e-5
    assert all(p.model_version == "sentiment-v1" and p.label == max(p.probs, key=p.probs.get) for p in predictions)


def test_truncation_follows_vllms_rules(engine):
    long_text = " ".join(varied_texts(60))
    with pytest.raises(InvalidPrompt, match="maximum context length"):
        engine.tokenize([long_text], truncate_prompt_tokens=None)
    assert len(engine.tokenize([long_text], truncate_prompt_tokens=-1)[0]) == engine.max_model_len
    full = engine.tokenizer(long_text)["input_ids"]
    assert engine.tokenize([long_text], 10, "left")[0] == full[-10:]
    assert engine.tokenize([long_text], 10, "right")[0] == full[:10]
    with pytest.raises(InvalidPrompt):
        engine.tokenize([""])


def test_int8_engine_stays_close_to_fp32(tiny_registry, engine):
    int8 = EmbeddedEngine.from_version(tiny_registry.current("sentiment"), precision="int8")
    texts = varied_texts(20)
    fp32 = np.array([list(p.probs.values()) for p in engine.classify(texts)])
    quantised = np.array([list(p.probs.values()) for p in int8.classify(texts)])
    assert np.abs(fp32 - quantised).max() < 0.05
